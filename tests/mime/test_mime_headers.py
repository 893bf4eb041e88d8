"""Header blocks by offset and MIME parameters (RFC 2045 §5.1, RFC 2231)."""

from __future__ import annotations

import pytest
from mimehelpers import crlf

from mailhost.mime.headers import merge_rfc2231, param, parse_params, scan_header


def test_scan_header_offsets() -> None:
    data = crlf("A: 1\nB-Long:  two\n  folded\nC : obsolete\n\nbody\n")
    fields, end = scan_header(data, 0, len(data))
    assert [f.name for f in fields] == ["A", "B-Long", "C"]
    assert [data[f.start : f.end] for f in fields] == [
        b"A: 1\r\n",
        b"B-Long:  two\r\n  folded\r\n",
        b"C : obsolete\r\n",
    ]
    assert [f.value for f in fields] == [b"1", b"two\r\n  folded", b"obsolete"]
    assert data[end:] == b"body\r\n"


def test_scan_header_stops_at_limit() -> None:
    data = b"A: 1\r\nB: 2\r\n\r\nbody"
    fields, end = scan_header(data, 0, 8)
    assert end == 8 and [f.name for f in fields] == ["A", "B"]


def test_scan_header_skips_mbox_from_line() -> None:
    data = b"From someone Thu Nov 26 09:00:00 2026\r\nSubject: x\r\n\r\n"
    fields, end = scan_header(data, 0, len(data))
    assert [f.name for f in fields] == ["Subject"] and end == len(data)


def test_leading_continuation_line_is_ignored() -> None:
    data = b" stray\r\nSubject: x\r\n\r\n"
    fields, end = scan_header(data, 0, len(data))
    assert [f.name for f in fields] == ["Subject"] and end == len(data)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('; a=1; b="two; three"', [("a", "1"), ("b", "two; three")]),
        (";;; a=1;", [("a", "1")]),
        ("; A=MiXeD", [("A", "MiXeD")]),
        ("; a = 1 ; b=2", [("a", "1"), ("b", "2")]),
        ("; a=", [("a", "")]),
        ("; =x; b=2", [("b", "2")]),
        ('; a="x" junk; b=2', [("a", "x"), ("b", "2")]),
        ("; a=(c)1(d)", [("a", "1")]),
    ],
)
def test_parse_params(text: str, expected: list[tuple[str, str]]) -> None:
    assert parse_params(text, 0) == expected


def test_rfc2231_merge_like_dovecot() -> None:
    # The case from Dovecot's test-rfc2231-parser.c.
    params = parse_params(
        "; key4*=us-ascii''foo; key*2=ba%; key2*0=a; key3*0*=us-ascii'en'xyz"
        '; key*0="foo"; key2*1*=b%25; key3*1=plop%; key*1=baz',
        0,
    )
    assert params == [
        ("key", "foobazba%"),
        ("key2*", "''ab%25"),
        ("key3*", "us-ascii'en'xyzplop%25"),
        ("key4*", "us-ascii''foo"),
    ]


def test_rfc2231_plain_params_first_and_gaps_left_alone() -> None:
    raw = [("b*0", "x"), ("a", "1"), ("c*0", "p"), ("c*2*", "q"), ("b*1", "y")]
    assert merge_rfc2231(raw) == [("a", "1"), ("b", "xy"), ("c*0", "p"), ("c*2*", "q")]


def test_param_decodes_rfc2231() -> None:
    params = [("filename*", "UTF-8''R%C3%A9sum%C3%A9.pdf"), ("filename", "fallback.pdf")]
    assert param(params, "FILENAME") == "Résumé.pdf"
    assert param([("charset", "utf-8")], "Charset") == "utf-8"
    assert param([("x*", "no-such-charset''%FF")], "x") == "\ufffd"
    assert param([], "x") is None
