"""ENVELOPE (RFC 3501 §7.4.2): values as sent, addresses parsed, groups framed."""

from __future__ import annotations

import pytest
from imapclient.response_parser import parse_fetch_response
from mimehelpers import crlf, imaplib_form, read

from mailhost.imap.envelope import envelope
from mailhost.mime.address import Address, parse_address_list
from mailhost.mime.structure import parse


def env(data: bytes) -> bytes:
    out = envelope(parse(data, headers_only=True), data)
    assert out == envelope(parse(data), data)
    read(out)
    return out


def test_simple() -> None:
    data = crlf(
        "Date: Thu, 26 Nov 2026 09:00:00 +0000\n"
        "Subject: Hello\n"
        "From: Alice <alice@example.org>\n"
        "To: Bob <bob@example.net>, carol@example.com\n"
        'Cc: "Doe, Jane" <jane@example.com>\n'
        "Bcc: secret@example.com\n"
        "In-Reply-To: <0@example.org>\n"
        "Message-ID: <1@example.org>\n"
        "\n"
        "body\n"
    )
    assert env(data) == (
        b'("Thu, 26 Nov 2026 09:00:00 +0000" "Hello"'
        b' (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org"))'
        b' (("Alice" NIL "alice" "example.org"))'
        b' (("Bob" NIL "bob" "example.net")(NIL NIL "carol" "example.com"))'
        b' (("Doe, Jane" NIL "jane" "example.com")) ((NIL NIL "secret" "example.com"))'
        b' "<0@example.org>" "<1@example.org>")'
    )


def test_sender_and_reply_to() -> None:
    data = crlf("From: a@x\nSender: s@x\nReply-To: r@x\n\n")
    assert env(data) == (
        b'(NIL NIL ((NIL NIL "a" "x")) ((NIL NIL "s" "x")) ((NIL NIL "r" "x")) NIL NIL NIL NIL NIL)'
    )
    # Present but empty Sender/Reply-To also default to From.
    data = crlf("From: a@x\nSender:\nReply-To: \n\n")
    assert env(data) == (
        b'(NIL NIL ((NIL NIL "a" "x")) ((NIL NIL "a" "x")) ((NIL NIL "a" "x")) NIL NIL NIL NIL NIL)'
    )


def test_missing_from() -> None:
    data = crlf("Subject: no sender\nTo: b@y\n\n")
    assert env(data) == b'(NIL "no sender" NIL NIL NIL ((NIL NIL "b" "y")) NIL NIL NIL NIL)'


def test_empty_message() -> None:
    assert env(b"") == b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"


def test_present_but_empty_strings() -> None:
    data = crlf("Date:\nSubject:\nMessage-ID: \n\n")
    assert env(data) == b'("" "" NIL NIL NIL NIL NIL NIL NIL "")'


def test_utf8_subject_is_a_literal() -> None:
    data = crlf("Subject: Grüße aus Köln\nFrom: Jörg <joerg@example.de>\n\n")
    subject = "Grüße aus Köln".encode()
    name = "Jörg".encode()
    assert env(data) == (
        b"(NIL {%d}\r\n%s" % (len(subject), subject)
        + b' (({%d}\r\n%s NIL "joerg" "example.de"))' % (len(name), name)
        + b' (({%d}\r\n%s NIL "joerg" "example.de"))' % (len(name), name)
        + b' (({%d}\r\n%s NIL "joerg" "example.de"))' % (len(name), name)
        + b" NIL NIL NIL NIL NIL)"
    )


def test_utf8_subject_as_a_client_reads_it() -> None:
    data = crlf("Subject: Grüße aus Köln\nFrom: Jörg <joerg@example.de>\n\n")
    line = b"1 (ENVELOPE " + env(data) + b")"
    parsed = parse_fetch_response(imaplib_form(line))[1][b"ENVELOPE"]
    assert parsed.subject == "Grüße aus Köln".encode()
    assert parsed.from_[0].name == "Jörg".encode()


def test_latin1_raw_header_does_not_crash() -> None:
    data = b"Subject: caf\xe9\r\nFrom: \xe9 <a@b>\r\n\r\n"
    out = env(data)
    assert b"{4}\r\ncaf\xe9" in out


def test_rfc2047_left_encoded() -> None:
    data = crlf(
        "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= =?UTF-8?B?YXVz?=\n"
        "From: =?ISO-8859-1?Q?J=F6rg?= <j@example.de>\n\n"
    )
    assert env(data) == (
        b'(NIL "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= =?UTF-8?B?YXVz?="'
        + b' (("=?ISO-8859-1?Q?J=F6rg?=" NIL "j" "example.de"))' * 3
        + b" NIL NIL NIL NIL NIL)"
    )


def test_folded_subject_is_unfolded() -> None:
    data = crlf("Subject: a long\n subject\n\tline\n\n")
    assert env(data) == b'(NIL "a long subject line" NIL NIL NIL NIL NIL NIL NIL NIL)'


def test_quotes_in_subject() -> None:
    data = crlf('Subject: say "hi" \\o/\n\n')
    assert env(data) == b'(NIL "say \\"hi\\" \\\\o/" NIL NIL NIL NIL NIL NIL NIL NIL)'


def test_groups() -> None:
    data = crlf("From: a@x\nTo: undisclosed-recipients:;\nCc: Team: b@y, Carol <c@z>;, d@w\n\n")
    assert env(data) == (
        b'(NIL NIL ((NIL NIL "a" "x")) ((NIL NIL "a" "x")) ((NIL NIL "a" "x"))'
        b' ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))'
        b' ((NIL NIL "Team" NIL)(NIL NIL "b" "y")("Carol" NIL "c" "z")(NIL NIL NIL NIL)'
        b'(NIL NIL "d" "w")) NIL NIL NIL)'
    )


def test_first_field_wins() -> None:
    data = crlf("Subject: one\nSubject: two\n\n")
    assert env(data) == b'(NIL "one" NIL NIL NIL NIL NIL NIL NIL NIL)'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a@b", [Address(None, None, "a", "b")]),
        ("John Q. Public <john@x.org>", [Address("John Q. Public", None, "john", "x.org")]),
        ("John   Smith <j@x>", [Address("John Smith", None, "j", "x")]),
        ('"Doe, Jane" <jane@y>', [Address("Doe, Jane", None, "jane", "y")]),
        ("x@y (Comment Name)", [Address("Comment Name", None, "x", "y")]),
        ("<@r1,@r2:u@h>", [Address(None, "@r1,@r2", "u", "h")]),
        ('"john doe"@x', [Address(None, None, '"john doe"', "x")]),
        ('"john"@x', [Address(None, None, "john", "x")]),
        ("justname", [Address(None, None, "justname", "MISSING_DOMAIN")]),
        ("Name <>", [Address("Name", None, "MISSING_MAILBOX", "MISSING_DOMAIN")]),
        ("a@[192.0.2.1]", [Address(None, None, "a", "[192.0.2.1]")]),
        ("a@b c@d", [Address(None, None, "a", "b")]),
        ("", []),
        (", ,", []),
        ("g:;", [Address(None, None, "g", None), Address(None, None, None, None)]),
        (
            "g: a@b",
            [
                Address(None, None, "g", None),
                Address(None, None, "a", "b"),
                Address(None, None, None, None),
            ],
        ),
    ],
)
def test_address_parsing(value: str, expected: list[Address]) -> None:
    assert parse_address_list(value) == expected


def test_envelope_of_garbage_never_raises() -> None:
    for data in [
        b"From: <<<@@@>>>\r\n\r\n",
        b'To: "unterminated\r\n\r\n',
        b"Cc: (((\r\n\r\n",
        b"From: a@b, ;;; :: <\r\n\r\n",
        b"\x00\xff: x\r\n\r\n",
    ]:
        env(data)


def test_subject_and_names_tidied_like_dovecot() -> None:
    data = crlf('Subject:   lots \t of   space  \nFrom: "  Spaced \t Name " <a@b>\n\n')
    assert env(data) == (
        b'(NIL "lots of space"' + b' (("Spaced Name" NIL "a" "b"))' * 3 + b" NIL NIL NIL NIL NIL)"
    )


def test_nul_octets_are_not_sent() -> None:
    out = env(b"Subject: a\x00b\r\nMessage-ID: <\x00>\r\n\r\n")
    assert b"\x00" not in out


# Cases from imaptest, as Dovecot's test-imap-envelope.c carries them.
_DATE = "Date: Thu, 15 Feb 2007 01:02:03 +0200\n"
_D = b'"Thu, 15 Feb 2007 01:02:03 +0200"'


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "Message-ID: <msg@id>\nIn-Reply-To: <reply@to.id>\n"
            + _DATE
            + "Subject: subject header\n"
            "From: From Real <fromuser@fromdomain.org>\nTo: To Real <touser@todomain.org>\n"
            "Cc: Cc Real <ccuser@ccdomain.org>\nBcc: Bcc Real <bccuser@bccdomain.org>\n"
            "Sender: Sender Real <senderuser@senderdomain.org>\n"
            "Reply-To: ReplyTo Real <replytouser@replytodomain.org>\n",
            _D + b' "subject header" (("From Real" NIL "fromuser" "fromdomain.org"))'
            b' (("Sender Real" NIL "senderuser" "senderdomain.org"))'
            b' (("ReplyTo Real" NIL "replytouser" "replytodomain.org"))'
            b' (("To Real" NIL "touser" "todomain.org")) (("Cc Real" NIL "ccuser" "ccdomain.org"))'
            b' (("Bcc Real" NIL "bccuser" "bccdomain.org")) "<reply@to.id>" "<msg@id>"',
        ),
        (
            _DATE + "From: user@domain\n",
            _D + b' NIL ((NIL NIL "user" "domain")) ((NIL NIL "user" "domain"))'
            b' ((NIL NIL "user" "domain")) NIL NIL NIL NIL NIL',
        ),
        (
            _DATE + "From: user@domain (Real Name)\n"
            "To: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;\n"
            "Cc: group:;, group2: (foo) ;\n",
            _D + b" NIL" + b' (("Real Name" NIL "user" "domain"))' * 3 + b" ((NIL NIL"
            b' "group" NIL)(NIL NIL "g1" "d1.org")(NIL NIL "g2" "d2.org")(NIL NIL NIL NIL)'
            b'(NIL NIL "group2" NIL)(NIL NIL "g3" "d3.org")(NIL NIL NIL NIL))'
            b' ((NIL NIL "group" NIL)(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL NIL NIL))'
            b" NIL NIL NIL",
        ),
        (
            _DATE + "From: user@domain (Real Name)\nSender: \nReply-To: \n",
            _D + b" NIL" + b' (("Real Name" NIL "user" "domain"))' * 3 + b" NIL NIL NIL NIL NIL",
        ),
        (
            _DATE + "From: <@route:user@domain>\n",
            _D + b" NIL" + b' ((NIL "@route" "user" "domain"))' * 3 + b" NIL NIL NIL NIL NIL",
        ),
    ],
)
def test_imaptest_cases(header: str, expected: bytes) -> None:
    assert env(crlf(header + "\nbody\n")) == b"(" + expected + b")"
