"""Body sections and partials (RFC 3501 §6.4.5): exact slices of the stored octets."""

from __future__ import annotations

import pytest
from mimehelpers import crlf

from mailhost.imap.sections import (
    UnknownTransferEncoding,
    binary_section,
    find_part,
    parse_section_spec,
    partial,
    section_bytes,
    section_label,
)
from mailhost.mime.structure import parse

MESSAGE = crlf(
    "From: a@example.org\n"
    "Subject: test\n"
    "Received: one\n"
    "X-Folded: first\n"
    "  second\n"
    "Received: two\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=b1\n"
    "\n"
    "preamble\n"
    "--b1\n"
    "Content-Type: text/plain\n"
    "\n"
    "part one\n"
    "--b1\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "From: c@example.com\n"
    "Subject: inner\n"
    "Content-Type: multipart/alternative; boundary=b2\n"
    "\n"
    "--b2\n"
    "Content-Type: text/plain\n"
    "\n"
    "inner plain\n"
    "--b2\n"
    "Content-Type: text/html\n"
    "\n"
    "<p>inner</p>\n"
    "--b2--\n"
    "--b1\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "Subject: simple inner\n"
    "\n"
    "just text\n"
    "--b1\n"
    "Content-Type: multipart/alternative; boundary=b3\n"
    "\n"
    "--b3\n"
    "\n"
    "alt one\n"
    "--b3--\n"
    "--b1--\n"
    "epilogue\n"
)

ROOT = parse(MESSAGE)


def sec(
    path: tuple[int, ...], text: str | None = None, fields: tuple[str, ...] = ()
) -> bytes | None:
    return section_bytes(ROOT, MESSAGE, path, text, fields)


def test_whole_message_header_and_text() -> None:
    assert sec(()) == MESSAGE
    header = sec((), "HEADER")
    assert header is not None and header.endswith(b"boundary=b1\r\n\r\n")
    assert MESSAGE.startswith(header)
    assert sec((), "TEXT") == MESSAGE[len(header) :]
    assert sec((), "MIME") is None


def test_header_fields_keep_lines_order_and_folding() -> None:
    assert sec((), "HEADER.FIELDS", ("RECEIVED", "x-folded")) == (
        b"Received: one\r\nX-Folded: first\r\n  second\r\nReceived: two\r\n\r\n"
    )
    assert sec((), "HEADER.FIELDS", ("nonexistent",)) == b"\r\n"
    not_fields = sec((), "header.fields.not", ("Received", "X-Folded", "Content-Type"))
    assert not_fields == b"From: a@example.org\r\nSubject: test\r\nMIME-Version: 1.0\r\n\r\n"


def test_a_leaf_is_its_own_part_one() -> None:
    # As Dovecot's imap_msgpart_find: any non-multipart part has a part 1, itself.
    assert sec((1, 1)) == sec((1,))
    assert sec((4, 1, 1)) == b"alt one"
    assert sec((2, 1, 1)) == b"inner plain"


def test_leaf_parts() -> None:
    assert sec((1,)) == b"part one"
    assert sec((1,), "MIME") == b"Content-Type: text/plain\r\n\r\n"
    assert sec((4, 1)) == b"alt one"
    assert sec((4, 1), "MIME") == b"\r\n"


def test_nested_message_rfc822() -> None:
    whole = sec((2,))
    assert whole is not None
    assert whole.startswith(b"From: c@example.com\r\n") and whole.endswith(b"--b2--")
    assert sec((2,), "MIME") == b"Content-Type: message/rfc822\r\n\r\n"
    assert sec((2,), "HEADER") == (
        b"From: c@example.com\r\nSubject: inner\r\n"
        b"Content-Type: multipart/alternative; boundary=b2\r\n\r\n"
    )
    assert sec((2,), "HEADER.FIELDS", ("subject",)) == b"Subject: inner\r\n\r\n"
    text = sec((2,), "TEXT")
    assert text is not None and text.startswith(b"--b2\r\n") and whole.endswith(text)
    assert sec((2, 1)) == b"inner plain"
    assert sec((2, 2)) == b"<p>inner</p>"
    assert sec((2, 2), "MIME") == b"Content-Type: text/html\r\n\r\n"
    assert sec((2, 3)) is None


def test_non_multipart_encapsulated_message() -> None:
    assert sec((3,)) == b"Subject: simple inner\r\n\r\njust text"
    assert sec((3,), "HEADER") == b"Subject: simple inner\r\n\r\n"
    assert sec((3,), "TEXT") == b"just text"
    # Its only part is itself (RFC 3501: a non-multipart message has a part 1).
    assert sec((3, 1)) == b"just text"
    assert sec((3, 1), "MIME") == b"Subject: simple inner\r\n\r\n"
    assert sec((3, 2)) is None
    assert sec((3, 1, 1)) is None


@pytest.mark.parametrize(
    "path", [(0,), (5,), (1, 2), (1, 1, 1), (2, 0), (4, 2), (4, 1, 2), (99, 1), (2, 1, 2)]
)
def test_nonexistent_parts(path: tuple[int, ...]) -> None:
    assert sec(path) is None
    assert sec(path, "MIME") is None
    assert find_part(ROOT, path) is None


def test_header_of_a_part_that_is_not_a_message() -> None:
    # RFC 3501: HEADER/TEXT with a part number need a message/rfc822 part.
    assert sec((1,), "HEADER") is None
    assert sec((1,), "TEXT") is None
    assert sec((4,), "HEADER.FIELDS", ("Content-Type",)) is None


def test_single_part_message() -> None:
    data = crlf("Subject: x\n\nhello\n")
    root = parse(data)
    assert section_bytes(root, data, (1,), None) == b"hello\r\n"
    assert section_bytes(root, data, (1,), "MIME") == b"Subject: x\r\n\r\n"
    assert section_bytes(root, data, (2,), None) is None
    assert section_bytes(root, data, (1, 1), None) is None
    assert section_bytes(root, data, (1,), "HEADER") is None


def test_top_level_message_rfc822() -> None:
    data = crlf("Content-Type: message/rfc822\n\nSubject: in\n\nbody\n")
    root = parse(data)
    assert section_bytes(root, data, (1,), None) == b"Subject: in\r\n\r\nbody\r\n"
    assert section_bytes(root, data, (1,), "HEADER") == b"Subject: in\r\n\r\n"
    assert section_bytes(root, data, (1, 1), None) == b"body\r\n"


def test_header_without_blank_line() -> None:
    data = b"Subject: x\r\nFrom: y"
    root = parse(data)
    assert section_bytes(root, data, (), "HEADER") == data
    assert section_bytes(root, data, (), "TEXT") == b""
    assert section_bytes(root, data, (), "HEADER.FIELDS", ("from",)) == b"From: y\r\n"


def test_partial() -> None:
    data = b"0123456789"
    assert partial(data, 0, 4) == b"0123"
    assert partial(data, 5, 100) == b"56789"
    assert partial(data, 10, 5) == b""
    assert partial(data, 50, 5) == b""
    assert partial(data, 3, 0) == b""
    assert partial(data, 3, None) == b"3456789"
    sec2 = sec((2,), "TEXT")
    assert sec2 is not None
    assert partial(sec2, 2, 3) == b"b2\r"


def test_sections_concatenate_back_to_the_message() -> None:
    header, text = sec((), "HEADER"), sec((), "TEXT")
    assert header is not None and text is not None
    assert header + text == MESSAGE
    inner_header, inner_text = sec((2,), "HEADER"), sec((2,), "TEXT")
    assert inner_header is not None and inner_text is not None
    assert inner_header + inner_text == sec((2,))


@pytest.mark.parametrize(
    ("spec", "parsed", "label"),
    [
        ("", ((), None, ()), b""),
        ("TEXT", ((), "TEXT", ()), b"TEXT"),
        ("1", ((1,), None, ()), b"1"),
        ("1.2.mime", ((1, 2), "MIME", ()), b"1.2.MIME"),
        ("2.header", ((2,), "HEADER", ()), b"2.HEADER"),
        (
            'HEADER.FIELDS (From "To" x-Spam)',
            ((), "HEADER.FIELDS", ("From", "To", "x-Spam")),
            b"HEADER.FIELDS (From To x-Spam)",
        ),
        (
            "3.HEADER.FIELDS.NOT (a)",
            ((3,), "HEADER.FIELDS.NOT", ("a",)),
            b"3.HEADER.FIELDS.NOT (a)",
        ),
    ],
)
def test_section_spec(spec: str, parsed: object, label: bytes) -> None:
    assert parse_section_spec(spec) == parsed
    path, text, fields = parse_section_spec(spec)
    assert section_label(path, text, fields) == label


@pytest.mark.parametrize(
    "spec",
    [
        "MIME",
        "0",
        "1.0",
        "BOGUS",
        "1.BOGUS",
        "HEADER.FIELDS",
        "HEADER.FIELDS ()",
        "TEXT (a)",
        'HEADER.FIELDS ("a)',
        "HEADER.FIELDS a",
    ],
)
def test_bad_section_spec(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_section_spec(spec)


def test_binary_sections() -> None:
    data = crlf(
        "Content-Type: multipart/mixed; boundary=b\n\n"
        "--b\nContent-Transfer-Encoding: base64\n\naGVsbG8g\nd29ybGQ=\n"
        "--b\nContent-Transfer-Encoding: quoted-printable\n\ncaf=C3=A9 =\nau lait\n"
        "--b\nContent-Transfer-Encoding: x-uuencode\n\nbegin\n"
        "--b\n\nplain\n"
        "--b--\n"
    )
    root = parse(data)
    assert binary_section(root, data, ()) == data
    assert binary_section(root, data, (1,)) == b"hello world"
    assert binary_section(root, data, (2,)) == "café au lait".encode()
    assert binary_section(root, data, (4,)) == b"plain"
    assert binary_section(root, data, (5,)) is None
    with pytest.raises(UnknownTransferEncoding):
        binary_section(root, data, (3,))


def test_headers_only_parse_gives_the_same_answers() -> None:
    light = parse(MESSAGE, headers_only=True)
    assert not light.complete and not light.children
    for path, text in [((), None), ((), "HEADER"), ((), "TEXT"), ((2,), "HEADER"), ((2, 1), None)]:
        assert section_bytes(light, MESSAGE, path, text) == sec(path, text)
