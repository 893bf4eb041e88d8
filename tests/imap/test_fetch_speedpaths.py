"""FETCH over messages parsed on the quick path: the parsed messages a session keeps (whose
header field lists are built only when asked for) answer later section FETCHes exactly."""

from __future__ import annotations

from imapkit import Host

from mailhost.imap.bodystructure import bodystructure
from mailhost.imap.envelope import envelope
from mailhost.mime.structure import parse

MESSAGES = [
    (
        b"Return-Path: <b@example.com>\r\n"
        b'From: "Sender 1" <s1@example.com>\r\n'
        b"To: Perf User <user@example.net>\r\n"
        b"Subject:  Test   message\t1\r\n"
        b"Date: Tue, 14 Nov 2023 22:14:20 +0000\r\n"
        b"Message-ID: <perf.1@example.com>\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n"
        b"\r\n"
        b"body one\r\nline two\r\n"
    ),
    (
        b"From: a@example.org\r\n"
        b"Received: from x\r\n\tby y\r\n"
        b"Subject: folded\r\n and more\r\n"
        b"received: second\r\n"
        b"Content-Type: text/html\r\n"
        b"\r\n"
        b"<p>hi</p>\r\n"
    ),
    # bare LF endings: the store serves them as CRLF
    b"From: lf@example.org\nSubject: lf\nContent-Transfer-Encoding: 8bit\n\nbody\n",
]


def test_structure_then_sections_from_the_kept_parse(host: Host) -> None:
    c = host.selected(*MESSAGES)
    out = c.cmd("a FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
    for seq, raw in enumerate(MESSAGES, 1):
        data = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        part = parse(data)
        line = b"* %d FETCH (ENVELOPE %s BODYSTRUCTURE %s)\r\n" % (
            seq,
            envelope(part, data),
            bodystructure(part, data),
        )
        assert line in out
    # the same session asks for header fields of messages it has just parsed
    out = c.cmd("b FETCH 1:* (BODY.PEEK[HEADER.FIELDS (RECEIVED SUBJECT)] UID)")
    wanted = [
        b"Subject:  Test   message\t1\r\n\r\n",
        b"Received: from x\r\n\tby y\r\nSubject: folded\r\n and more\r\nreceived: second\r\n\r\n",
        b"Subject: lf\r\n\r\n",
    ]
    assert out == b"".join(
        b"* %d FETCH (BODY[HEADER.FIELDS (RECEIVED SUBJECT)] {%d}\r\n%s UID %d)\r\n"
        % (seq, len(fields), fields, seq)
        for seq, fields in enumerate(wanted, 1)
    ) + (b"b OK FETCH completed\r\n")


def test_items_keep_the_order_asked_for(host: Host) -> None:
    c = host.selected(*MESSAGES)
    out = c.cmd("a FETCH 1 (UID BODY ENVELOPE FLAGS BODYSTRUCTURE)")
    first = out.split(b"\r\n", 1)[0]
    labels = [b"UID 1 ", b" BODY (", b" ENVELOPE (", b" FLAGS (", b" BODYSTRUCTURE ("]
    positions = [first.find(label) for label in labels]
    assert -1 not in positions and positions == sorted(positions)
    assert b' "Test message 1" (("Sender 1" NIL "s1" "example.com")) ' in first
