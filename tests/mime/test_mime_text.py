"""Decoded header and body text for SEARCH: RFC 2047, transfer encodings, charsets."""

from __future__ import annotations

from mimehelpers import crlf

from mailhost.mime.structure import parse
from mailhost.mime.text import body_text, decode_words, header_text, header_values


def test_rfc2047_words() -> None:
    assert decode_words(b"=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= =?UTF-8?B?IGF1cw==?=") == "Grüße aus"
    assert decode_words(b"=?iso-8859-1?q?J=F6rg_M?= <j@x>") == "Jörg M <j@x>"
    assert decode_words(b"a =?utf-8*en?q?b?= c") == "a b c"
    assert decode_words(b"plain") == "plain"


def test_broken_encoded_words_never_raise() -> None:
    assert decode_words(b"=?nonexistent-charset?q?abc?=") == "abc"
    assert decode_words(b"=?utf-8?b?!!!?=") == ""
    assert decode_words(b"=?utf-8?b?YWJjZA?=") == "abcd"  # missing padding
    assert decode_words(b"=?utf-8?b?YWJjZ?=") == "abc"  # stray sextet
    assert decode_words(b"=?utf-8?q?=ZZ?=") == "=ZZ"
    assert decode_words(b"=?base64?b?YQ==?=") == "a"  # not a text codec: read as UTF-8
    assert decode_words(b"=?utf-8?q?\xff?=") == "\ufffd"


def test_raw_8bit_headers() -> None:
    assert decode_words("Grüße".encode()) == "Grüße"
    assert decode_words("café".encode("latin-1")) == "café"


def test_header_values() -> None:
    data = crlf(
        "From: =?utf-8?q?J=C3=B6rg?= <j@x>\nReceived: one\nreceived: two\n folded\n\nbody\n"
    )
    root = parse(data, headers_only=True)
    assert header_values(root, data, "FROM") == ["Jörg <j@x>"]
    assert header_values(root, data, "Received") == ["one", "two folded"]
    assert header_values(root, data, "Cc") == []
    assert header_text(root, data) == "From: Jörg <j@x>\nReceived: one\nreceived: two folded\n"


def test_body_text_decodes_every_text_part() -> None:
    data = crlf(
        "Content-Type: multipart/mixed; boundary=b\n"
        "\n"
        "--b\n"
        "Content-Type: text/plain; charset=iso-8859-1\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "caf=E9 au=\n"
        " lait\n"
        "--b\n"
        "Content-Type: text/html; charset=utf-8\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "PHA+R3LDvMOfZTwvcD4=\n"
        "--b\n"
        "Content-Type: application/octet-stream\n"
        "\n"
        "not text\n"
        "--b\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "Subject: inner\n"
        "\n"
        "inner body\n"
        "--b\n"
        "Content-Type: text/plain; charset=x-no-such-charset\n"
        "\n"
        "odd \xff\n"
        "--b--\n"
    )
    text = body_text(parse(data), data)
    assert "café au lait" in text
    assert "<p>Grüße</p>" in text
    assert "not text" not in text
    assert "inner body" in text
    assert "odd ÿ" in text
    assert "Subject" not in text


def test_body_text_of_headers_only_parse() -> None:
    data = crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nfound\n--b--\n")
    assert body_text(parse(data, headers_only=True), data) == "found"
