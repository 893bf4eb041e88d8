"""Exact BODYSTRUCTURE and BODY output (RFC 3501 §7.4.2), written the way Dovecot writes it."""

from __future__ import annotations

import email
import email.policy

import pytest
from mimehelpers import crlf, read

from mailhost.imap.bodystructure import bodystructure
from mailhost.mime.structure import parse

SIMPLE = crlf(
    "From: Alice <alice@example.org>\n"
    "To: Bob <bob@example.net>\n"
    "Subject: Hello\n"
    "Date: Thu, 26 Nov 2026 09:00:00 +0000\n"
    "Message-ID: <1@example.org>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=UTF-8\n"
    "Content-Transfer-Encoding: 7bit\n"
    "\n"
    "Hello Bob,\n"
    "this is line two.\n"
)

ATTACHMENT = crlf(
    "From: a@example.org\n"
    "MIME-Version: 1.0\n"
    'Content-Type: multipart/mixed; boundary="XyZ-Boundary"\n'
    "\n"
    "This is a multi-part message in MIME format.\n"
    "--XyZ-Boundary\n"
    "Content-Type: text/plain; charset=us-ascii\n"
    "\n"
    "See attached.\n"
    "--XyZ-Boundary\n"
    'Content-Type: application/pdf; name="Report.PDF"\n'
    "Content-Transfer-Encoding: base64\n"
    'Content-Disposition: attachment; filename="Report.PDF"\n'
    "\n"
    "JVBERi0xLjQK\n"
    "--XyZ-Boundary--\n"
    "epilogue\n"
)

NESTED = crlf(
    "From: a@example.org\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=outer\n"
    "\n"
    "--outer\n"
    "Content-Type: multipart/alternative; boundary=inner\n"
    "\n"
    "--inner\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "Hi =E2=82=AC\n"
    "two\n"
    "--inner\n"
    "Content-Type: text/html; charset=utf-8\n"
    "\n"
    "<p>Hi</p>\n"
    "--inner--\n"
    "\n"
    "--outer\n"
    "Content-Type: image/png\n"
    "Content-Transfer-Encoding: base64\n"
    "Content-ID: <img1@example.org>\n"
    "Content-Disposition: inline\n"
    "\n"
    "iVBORw0KGgo=\n"
    "--outer--\n"
)

FORWARD = crlf(
    "From: a@example.org\n"
    "Subject: Fwd: report\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=b1\n"
    "\n"
    "--b1\n"
    "Content-Type: text/plain\n"
    "\n"
    "See below.\n"
    "--b1\n"
    "Content-Type: message/rfc822\n"
    "Content-Disposition: attachment\n"
    "\n"
    "From: Carol <carol@example.com>\n"
    "To: dave@example.com\n"
    "Subject: report\n"
    "Date: Mon, 2 Nov 2026 10:00:00 +0100\n"
    "Message-ID: <r@example.com>\n"
    "\n"
    "The report.\n"
    "--b1--\n"
)


def bs(data: bytes, extensible: bool = True) -> bytes:
    out = bodystructure(parse(data), data, extensible)
    read(out)  # always well-formed IMAP
    return out


def test_simple_text() -> None:
    assert bs(SIMPLE) == b'("text" "plain" ("charset" "UTF-8") NIL NIL "7bit" 31 2 NIL NIL NIL NIL)'
    assert bs(SIMPLE, False) == b'("text" "plain" ("charset" "UTF-8") NIL NIL "7bit" 31 2)'


def test_size_is_body_octets_not_message() -> None:
    python = email.message_from_bytes(SIMPLE, policy=email.policy.SMTP)
    payload = python.get_payload()
    assert isinstance(payload, str)
    assert b" 31 2" in bs(SIMPLE)
    assert len(payload.encode()) == 31 and payload.count("\n") == 2
    assert len(SIMPLE) != 31


def test_missing_content_type_defaults() -> None:
    data = crlf("From: a@b\nSubject: x\n\nhi\n")
    assert bs(data) == b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 4 1 NIL NIL NIL NIL)'


def test_trailing_semicolon() -> None:
    data = crlf("Content-Type: text/plain;\n\nhi\n")
    assert bs(data) == b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 4 1 NIL NIL NIL NIL)'
    data = crlf('Content-Type: text/plain; charset="utf-8";; format=flowed;\n\nhi\n')
    assert bs(data, False) == (
        b'("text" "plain" ("charset" "utf-8" "format" "flowed") NIL NIL "7bit" 4 1)'
    )


@pytest.mark.parametrize(
    ("header", "params"),
    [
        ('text/plain; name="a;b.txt"', b'("name" "a;b.txt" "charset" "us-ascii")'),
        ("text/plain; name=Mixed.Case.TXT", b'("name" "Mixed.Case.TXT" "charset" "us-ascii")'),
        ('text/plain; CharSet="ISO-8859-1"', b'("CharSet" "ISO-8859-1")'),
        ("text/plain; charset=us-ascii (Plain text)", b'("charset" "us-ascii")'),
        ("text/plain; name=my file.txt", b'("name" "my file.txt" "charset" "us-ascii")'),
        ('text/plain; q="a\\"b\\\\c"', b'("q" "a\\"b\\\\c" "charset" "us-ascii")'),
        ("text/plain; novalue; x=1", b'("x" "1" "charset" "us-ascii")'),
        ('text/plain; name="unterminated', b'("name" "unterminated" "charset" "us-ascii")'),
        ("TEXT/Plain", b'("charset" "us-ascii")'),
    ],
)
def test_parameters(header: str, params: bytes) -> None:
    out = bs(crlf(f"Content-Type: {header}\n\nx"), False)
    assert out.split(b" NIL NIL ")[0].split(b'" ', 2)[2] == params


def test_type_case_is_kept() -> None:
    out = bs(crlf("Content-Type: TEXT/HTML; Charset=UTF-8\n\n<p>\n"), False)
    assert out == b'("TEXT" "HTML" ("Charset" "UTF-8") NIL NIL "7bit" 5 1)'


@pytest.mark.parametrize(
    "header",
    ["", "text", "/plain", "text/", "garbage!!", "text/plain/extra"],
)
def test_invalid_content_type_is_text_plain(header: str) -> None:
    out = bs(crlf(f"Content-Type: {header}\n\nx\n"), False)
    if header == "text/plain/extra":
        assert out.startswith(b'("text" "plain" ')
    else:
        assert out == b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 1)'


def test_invalid_encoding_is_7bit() -> None:
    out = bs(crlf("Content-Transfer-Encoding: ?invalid\n\nx\n"), False)
    assert out == b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 1)'
    out = bs(crlf("Content-Transfer-Encoding: Base64 \n\nx\n"), False)
    assert b' "Base64" 3 1)' in out


def test_multipart_with_attachment() -> None:
    assert bs(ATTACHMENT) == (
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 13 0 NIL NIL NIL NIL)'
        b'("application" "pdf" ("name" "Report.PDF") NIL NIL "base64" 12 NIL'
        b' ("attachment" ("filename" "Report.PDF")) NIL NIL)'
        b' "mixed" ("boundary" "XyZ-Boundary") NIL NIL NIL)'
    )
    assert bs(ATTACHMENT, False) == (
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 13 0)'
        b'("application" "pdf" ("name" "Report.PDF") NIL NIL "base64" 12) "mixed")'
    )


def test_nested_alternative_in_mixed() -> None:
    assert bs(NESTED) == (
        b'((("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 17 1 NIL NIL NIL NIL)'
        b'("text" "html" ("charset" "utf-8") NIL NIL "7bit" 9 0 NIL NIL NIL NIL)'
        b' "alternative" ("boundary" "inner") NIL NIL NIL)'
        b'("image" "png" NIL "<img1@example.org>" NIL "base64" 12 NIL ("inline" NIL) NIL NIL)'
        b' "mixed" ("boundary" "outer") NIL NIL NIL)'
    )


def test_message_rfc822_attachment() -> None:
    inner_env = (
        b'("Mon, 2 Nov 2026 10:00:00 +0100" "report"'
        b' (("Carol" NIL "carol" "example.com")) (("Carol" NIL "carol" "example.com"))'
        b' (("Carol" NIL "carol" "example.com")) ((NIL NIL "dave" "example.com"))'
        b' NIL NIL NIL "<r@example.com>")'
    )
    assert bs(FORWARD) == (
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 0 NIL NIL NIL NIL)'
        b'("message" "rfc822" NIL NIL NIL "7bit" 152 ' + inner_env + b' ("text" "plain"'
        b' ("charset" "us-ascii") NIL NIL "7bit" 11 0 NIL NIL NIL NIL) 6 NIL'
        b' ("attachment" NIL) NIL NIL)'
        b' "mixed" ("boundary" "b1") NIL NIL NIL)'
    )
    assert bs(FORWARD, False) == (
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 0)'
        b'("message" "rfc822" NIL NIL NIL "7bit" 152 ' + inner_env + b' ("text" "plain"'
        b' ("charset" "us-ascii") NIL NIL "7bit" 11 0) 6) "mixed")'
    )


def test_rfc2231_parameters() -> None:
    data = crlf(
        "Content-Type: application/pdf;\n"
        " name*0*=UTF-8''R%C3%A9; name*1*=sum%C3%A9;\n"
        ' name*2=".pdf"\n'
        "Content-Disposition: attachment; filename*=UTF-8''R%C3%A9sum%C3%A9.pdf\n"
        "\n"
        "x"
    )
    part = parse(data)
    assert part.params == [("name*", "UTF-8''R%C3%A9sum%C3%A9.pdf")]
    assert bs(data) == (
        b'("application" "pdf" ("name*" "UTF-8\'\'R%C3%A9sum%C3%A9.pdf") NIL NIL "7bit" 1 NIL'
        b' ("attachment" ("filename*" "UTF-8\'\'R%C3%A9sum%C3%A9.pdf")) NIL NIL)'
    )


def test_rfc2231_plain_continuations() -> None:
    data = crlf('Content-Type: text/plain; name*1="name.txt"; name*0="long "\n\nx')
    assert parse(data).params == [("name", "long name.txt")]


def test_8bit_parameter_is_a_literal() -> None:
    data = crlf('Content-Type: text/plain; name="Grüße.txt"\n\nx')
    out = bs(data, False)
    name = "Grüße.txt".encode()
    assert out == (
        b'("text" "plain" ("name" {11}\r\n' + name + b' "charset" "us-ascii") NIL NIL "7bit" 1 0)'
    )


def test_extension_fields() -> None:
    data = crlf(
        "Content-Type: text/plain\n"
        "Content-ID: <id@x>\n"
        "Content-Description: =?utf-8?q?D=C3=A9?=\n"
        "Content-MD5: Q2hlY2s=\n"
        "Content-Disposition: INLINE; Filename=A.txt\n"
        "Content-Language: en, de-CH\n"
        "Content-Location: http://example.com/a\n"
        "\n"
        "x\n"
    )
    assert bs(data) == (
        b'("text" "plain" ("charset" "us-ascii") "<id@x>" "=?utf-8?q?D=C3=A9?=" "7bit" 3 1'
        b' "Q2hlY2s=" ("INLINE" ("Filename" "A.txt")) ("en" "de-CH") "http://example.com/a")'
    )


def test_first_content_type_wins() -> None:
    data = crlf("Content-Type: text/html\nContent-Type: image/gif\n\nx")
    assert bs(data, False).startswith(b'("text" "html" ')


def test_multipart_without_boundary_is_a_single_part() -> None:
    data = crlf("Content-Type: multipart/mixed\n\n--x\n\nhello\n--x--\n")
    assert bs(data, False) == b'("multipart" "mixed" NIL NIL NIL "7bit" 21)'


def test_multipart_without_any_delimiter_has_an_empty_part() -> None:
    data = crlf("Content-Type: multipart/mixed; boundary=zz\n\nno parts here\n")
    assert bs(data) == (
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)'
        b' "mixed" ("boundary" "zz") NIL NIL NIL)'
    )
    assert (
        bs(data, False) == b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "mixed")'
    )


def test_missing_end_boundary() -> None:
    data = crlf(
        "Content-Type: multipart/mixed; boundary=a\n\n"
        "--a\nContent-Type: multipart/alternative; boundary=b\n\n"
        "--b\n\none\n--b\n\ntwo\n"  # inner never closed
        "--a\n\nthree\n"  # outer never closed
    )
    assert bs(data, False) == (
        b'((("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 0)'
        b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 0) "alternative")'
        b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 7 1) "mixed")'
    )


def test_boundary_prefix_of_another() -> None:
    data = crlf(
        "Content-Type: multipart/mixed; boundary=ab\n\n"
        "--ab\nContent-Type: multipart/alternative; boundary=abc\n\n"
        "--abc\n\none\n--abc\n\ntwo\n--abc--\n"
        "--ab--\n"
    )
    part = parse(data)
    assert [c.subtype for c in part.children] == ["alternative"]
    assert len(part.children[0].children) == 2


def test_boundary_case_is_significant() -> None:
    data = crlf(
        "Content-Type: multipart/mixed; boundary=XyZ\n\n--xyz\n\nno\n--XyZ\n\nyes\n--XyZ--\n"
    )
    part = parse(data)
    assert len(part.children) == 1
    assert data[part.children[0].header_end : part.children[0].body_end] == b"yes"


def test_digest_defaults_to_message_rfc822() -> None:
    data = crlf(
        "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nbody\n--d--\n"
    )
    assert bs(data, False) == (
        b'(("message" "rfc822" NIL NIL NIL "7bit" 20 (NIL "one" NIL NIL NIL NIL NIL NIL NIL NIL)'
        b' ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 4 0) 2) "digest")'
    )


def test_lf_only_message() -> None:
    data = b"Content-Type: multipart/mixed; boundary=q\n\n--q\n\nhello\n--q--\n"
    assert (
        bs(data, False) == b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0) "mixed")'
    )


def test_no_blank_line_after_header() -> None:
    data = crlf("Subject: x\nthis is body\n")
    part = parse(data)
    assert data[part.header_end :] == b"this is body\r\n"
    assert bs(data, False) == b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 14 1)'


def test_empty_message() -> None:
    assert bs(b"", False) == b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0)'


def test_deep_nesting_is_bounded() -> None:
    depth = 300
    head = b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1)
        for i in range(depth)
    )
    data = b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n" + head + b"x\r\n"
    read(bodystructure(parse(data), data))


def test_headers_only_parse_is_completed() -> None:
    light = parse(NESTED, headers_only=True)
    assert bodystructure(light, NESTED) == bs(NESTED)


def test_parse_is_pure_and_picklable() -> None:
    import pickle

    first, second = parse(FORWARD), pickle.loads(pickle.dumps(parse(FORWARD)))
    assert bodystructure(first, FORWARD) == bodystructure(second, FORWARD)


# The message of Dovecot's src/lib-imap/test-imap-bodystructure.c, with its expected
# output (Dovecot counts sizes with CRLF line ends, as we store them).
DOVECOT = (
    b"From: user@domain.org\n"
    b"Date: Sat, 24 Mar 2007 23:00:00 +0200\n"
    b"Mime-Version: 1.0\n"
    b'Content-Type: multipart/mixed; boundary="foo\n'
    b' bar"\n'
    b"\n"
    b"Root MIME prologue\n"
    b"\n"
    b"--foo bar\n"
    b'Content-Type: text/x-myown; charset=us-ascii; foo="quoted\\"string"\n'
    b"Content-ID: <foo@example.com>\n"
    b"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
    b"Content-Disposition: inline; foo=bar\n"
    b"Content-Description: hellodescription\n"
    b"Content-Language: en, fi, se\n"
    b"Content-Location: http://example.com/test.txt\n"
    b"\n"
    b"hello\n"
    b"\n"
    b"--foo bar\n"
    b"Content-Type: message/rfc822\n"
    b"\n"
    b"From: sub@domain.org\n"
    b"To: sub-to1@domain.org, sub-to2@domain.org\n"
    b"Date: Sun, 12 Aug 2012 12:34:56 +0300\n"
    b"Subject: submsg\n"
    b'Content-Type: multipart/alternative; boundary="sub1"\n'
    b"\n"
    b"Sub MIME prologue\n"
    b"--sub1\n"
    b"Content-Type: text/html\n"
    b"Content-Transfer-Encoding: 8bit\n"
    b"\n"
    b"<p>Hello world</p>\n"
    b"\n"
    b"--sub1\n"
    b"Content-Type: text/plain\n"
    b"Content-Transfer-Encoding: ?invalid\n"
    b"\n"
    b"Hello another world\n"
    b"\n"
    b"--sub1--\n"
    b"Sub MIME epilogue\n"
    b"\n"
    b"--foo bar--\n"
    b"Root MIME epilogue\n"
).replace(b"\n", b"\r\n")


def test_dovecot_reference_message() -> None:
    assert bs(DOVECOT) == (
        b'(("text" "x-myown" ("charset" "us-ascii" "foo" "quoted\\"string") "<foo@example.com>"'
        b' "hellodescription" "7bit" 7 1 "Q2hlY2sgSW50ZWdyaXR5IQ==" ("inline" ("foo" "bar"))'
        b' ("en" "fi" "se") "http://example.com/test.txt")("message" "rfc822" NIL NIL NIL "7bit"'
        b' 412 ("Sun, 12 Aug 2012 12:34:56 +0300" "submsg" ((NIL NIL "sub" "domain.org"))'
        b' ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org"))'
        b' ((NIL NIL "sub-to1" "domain.org")(NIL NIL "sub-to2" "domain.org")) NIL NIL NIL NIL)'
        b' (("text" "html" ("charset" "us-ascii") NIL NIL "8bit" 20 1 NIL NIL NIL NIL)'
        b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 21 1 NIL NIL NIL NIL)'
        b' "alternative" ("boundary" "sub1") NIL NIL NIL) 21 NIL NIL NIL NIL)'
        b' "mixed" ("boundary" "foo bar") NIL NIL NIL)'
    )
    assert bs(DOVECOT, False) == (
        b'(("text" "x-myown" ("charset" "us-ascii" "foo" "quoted\\"string") "<foo@example.com>"'
        b' "hellodescription" "7bit" 7 1)("message" "rfc822" NIL NIL NIL "7bit" 412'
        b' ("Sun, 12 Aug 2012 12:34:56 +0300" "submsg" ((NIL NIL "sub" "domain.org"))'
        b' ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org"))'
        b' ((NIL NIL "sub-to1" "domain.org")(NIL NIL "sub-to2" "domain.org")) NIL NIL NIL NIL)'
        b' (("text" "html" ("charset" "us-ascii") NIL NIL "8bit" 20 1)'
        b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 21 1) "alternative") 21) "mixed")'
    )
