"""FETCH of structure, sections, BINARY and partials (RFC 3501 §6.4.5, RFC 3516)."""

from __future__ import annotations

import re
import time

import pytest
from imapkit import Host

from mailhost.imap import fetch
from mailhost.imap.fetch import read_header

MULTIPART = (
    b"From: a@example.org\r\n"
    b"Subject: parts\r\n"
    b'Content-Type: multipart/mixed; boundary="XyZ"\r\n'
    b"\r\n"
    b"--XyZ\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"first\r\n"
    b"--XyZ\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"AAEC\r\n"
    b"--XyZ--\r\n"
)


def test_sections_and_labels(host: Host) -> None:
    c = host.selected(MULTIPART)
    out = c.cmd(
        "a FETCH 1 (BODY.PEEK[HEADER.FIELDS (subject)] BODY.PEEK[1] BODY.PEEK[2.MIME]"
        " BODY.PEEK[9] BODY.PEEK[1]<1.3>)"
    )
    assert out == (
        b"* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {18}\r\nSubject: parts\r\n\r\n"
        b" BODY[1] {5}\r\nfirst"
        b" BODY[2.MIME] {77}\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        b" BODY[9] {0}\r\n"
        b" BODY[1]<1> {3}\r\nirs)\r\n"
        b"a OK FETCH completed\r\n"
    )


def test_bodystructure_and_envelope_are_lists(host: Host) -> None:
    c = host.selected(MULTIPART)
    out = c.cmd("a FETCH 1 (BODYSTRUCTURE BODY ENVELOPE)")
    assert out.startswith(b'* 1 FETCH (BODYSTRUCTURE (("text" "plain" ')
    assert b' BODY (("text" "plain" ' in out
    assert re.search(rb' ENVELOPE \(NIL "parts" \(\(NIL NIL "a" "example.org"\)\)', out)
    assert out.endswith(b"a OK FETCH completed\r\n")


def test_binary(host: Host) -> None:
    c = host.selected(MULTIPART)
    assert "BINARY" in c.cmd("x CAPABILITY").decode()
    assert c.cmd("a FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2] BINARY.PEEK[1])") == (
        b"* 1 FETCH (BINARY[2] ~{3}\r\n\x00\x01\x02 BINARY.SIZE[2] 3 BINARY[1] {5}\r\nfirst)\r\n"
        b"a OK FETCH completed\r\n"
    )
    # BINARY (not PEEK) sets \Seen
    assert c.cmd("b FETCH 1 BINARY[1]") == (
        b"* 1 FETCH (BINARY[1] {5}\r\nfirst FLAGS (\\Recent \\Seen))\r\nb OK FETCH completed\r\n"
    )
    uv = host.inbox().uidvalidity
    assert c.send(b"c APPEND INBOX ~{3+}\r\na\x00b\r\n") == (
        b"* 2 EXISTS\r\n* 2 RECENT\r\nc OK [APPENDUID %d 2] APPEND completed\r\n" % uv
    )


def test_binary_of_header_text_and_mime_sections_is_the_body_section(host: Host) -> None:
    """RFC 3516 names parts by number only; Dovecot (and imaptest) also take HEADER, TEXT
    and MIME, giving what BODY[...] gives: only a part's own body has an encoding to undo."""
    c = host.selected(MULTIPART)
    for spec in ("HEADER", "TEXT", "2.MIME", "HEADER.FIELDS (SUBJECT)"):
        body = c.cmd(f"a FETCH 1 BODY.PEEK[{spec}]")
        assert c.cmd(f"a FETCH 1 BINARY.PEEK[{spec}]") == body.replace(b"(BODY[", b"(BINARY[")
        label, size = re.match(rb"\* 1 FETCH \(BODY(\[[^]]*\]) \{(\d+)\}", body).groups()  # type: ignore[union-attr]
        assert c.cmd(f"b FETCH 1 BINARY.SIZE[{spec}]") == (
            b"* 1 FETCH (BINARY.SIZE%s %s)\r\nb OK FETCH completed\r\n" % (label, size)
        )
    assert c.cmd("d FETCH 1 BINARY.PEEK[TEXT]<0.4>").startswith(
        b"* 1 FETCH (BINARY[TEXT]<0> {4}\r\n--Xy)"
    )


def test_rfc822_forms(host: Host) -> None:
    c = host.selected(MULTIPART)
    head = MULTIPART[: MULTIPART.index(b"\r\n\r\n") + 4]
    assert c.cmd("a FETCH 1 RFC822.HEADER") == (
        b"* 1 FETCH (RFC822.HEADER {%d}\r\n%s)\r\na OK FETCH completed\r\n" % (len(head), head)
    )
    text = MULTIPART[len(head) :]
    assert c.cmd("b FETCH 1 RFC822.TEXT") == (
        b"* 1 FETCH (RFC822.TEXT {%d}\r\n%s FLAGS (\\Recent \\Seen))\r\nb OK FETCH completed\r\n"
        % (len(text), text)
    )


def test_macros(host: Host) -> None:
    c = host.selected(MULTIPART)
    out = c.cmd("a FETCH 1 FAST")
    assert re.fullmatch(
        rb'\* 1 FETCH \(FLAGS \(\\Recent\) INTERNALDATE "\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d \+0000"'
        rb" RFC822.SIZE %d\)\r\na OK FETCH completed\r\n" % len(MULTIPART),
        out,
    )
    assert b" ENVELOPE (" in c.cmd("b FETCH 1 ALL")
    assert b" BODY ((" in c.cmd("c FETCH 1 FULL")


def test_header_is_read_without_the_body(host: Host) -> None:
    big = b"Subject: big\r\nFrom: a@example.org\r\n\r\n" + b"x" * 3_000_000
    uid = host.deliver(big)
    data, whole = read_header(host.inbox(), uid)
    assert data == b"Subject: big\r\nFrom: a@example.org\r\n\r\n" and not whole
    data, whole = read_header(host.inbox(), host.deliver(b"Subject: only\r\n"))
    assert data == b"Subject: only\r\n" and whole
    c = host.connect()
    c.login()
    c.select()
    assert c.cmd("a FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])") == (
        b"* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: big\r\n\r\n)\r\n"
        b"a OK FETCH completed\r\n"
    )
    # the header-only parse is not mistaken for the whole message afterwards
    assert c.cmd("b FETCH 1 BODY.PEEK[TEXT]<2999998.10>") == (
        b"* 1 FETCH (BODY[TEXT]<2999998> {2}\r\nxx)\r\nb OK FETCH completed\r\n"
    )


def test_fetch_syntax_errors(host: Host) -> None:
    c = host.selected(MULTIPART)
    for bad in (
        "a FETCH 1 BODY[MIME]",
        "a FETCH 1 BODY[1.BOGUS]",
        "a FETCH 1 BODY[]<1>",
        "a FETCH 1 (FLAGS",
        "a FETCH 0 FLAGS",
        "a FETCH 1 BINARY[MIME]",
        "a FETCH 1 BINARY[1.BOGUS]",
    ):
        assert c.cmd(bad).startswith(b"a BAD "), bad


def test_header_listing_is_read_in_batches() -> None:
    from mailhost.blocking import InlineBlocking

    class Counting(InlineBlocking):
        calls = 0

        def run(self, f, *args, **kwargs):  # type: ignore[no-untyped-def]
            Counting.calls += 1
            return super().run(f, *args, **kwargs)

    h = Host(blocking=Counting())
    n = fetch._BATCH + 44
    for i in range(n):
        h.deliver(b"Subject: %d\r\nFrom: a@example.org\r\n\r\nbody\r\n" % i)
    c = h.connect()
    c.login()
    c.select()
    Counting.calls = 0
    out = c.cmd("a UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)] ENVELOPE)")
    assert out.count(b" FETCH (UID ") == n
    last = b"* %d FETCH (UID %d FLAGS (\\Recent) BODY[HEADER.FIELDS (SUBJECT)] {%d}\r\n"
    assert last % (n, n, len(b"Subject: %d\r\n\r\n" % (n - 1))) in out
    # two batches of headers (and without wake-ups a pull before and one after)
    assert Counting.calls == (2 if h.push else 4)


def test_internaldate_is_shown_and_searched_in_the_hosts_time_zone(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As Dovecot does: an INTERNALDATE in the host's zone (``TZ``), and SEARCH BEFORE, ON
    and SINCE on its day there (imaptest's search-intdate expects EET/EEST)."""
    monkeypatch.setenv("TZ", "Europe/Helsinki")
    time.tzset()
    try:
        c = host.selected(MULTIPART)
        # 24 Mar 2007 22:30 UTC is 25 Mar 00:30 in Helsinki (EET, +0200) ...
        c.send(b'a APPEND INBOX "24-Mar-2007 22:30:00 +0000" {9+}\r\nx: y\r\n\r\nz\r\n')
        # ... and 27 Oct 2007 21:30 UTC is 28 Oct 00:30 in summer time (EEST, +0300)
        c.send(b'b APPEND INBOX "28-Oct-2007 00:30:00 +0300" {9+}\r\nx: y\r\n\r\nz\r\n')
        out = c.cmd("c FETCH 2:3 INTERNALDATE")
        assert b'* 2 FETCH (INTERNALDATE "25-Mar-2007 00:30:00 +0200")' in out
        assert b'* 3 FETCH (INTERNALDATE "28-Oct-2007 00:30:00 +0300")' in out
        assert b"* SEARCH 2\r\n" in c.cmd("d SEARCH 2:3 ON 25-Mar-2007")
        assert b"* SEARCH\r\n" in c.cmd("e SEARCH 2:3 ON 24-Mar-2007")
        assert b"* SEARCH 3\r\n" in c.cmd("f SEARCH 2:3 SINCE 28-Oct-2007")
        assert b"* SEARCH 2\r\n" in c.cmd("g SEARCH 2:3 BEFORE 28-Oct-2007")
    finally:
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()
