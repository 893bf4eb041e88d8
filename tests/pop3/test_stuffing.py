"""Dot-stuffing, TOP and the NUL workaround, at every chunking of the input."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from mailhost.pop3.stuffing import BodyWriter, DotStuffer, NulToHighBit, TopFilter, render


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in [*points, len(data)]:
        pieces.append(data[last:p])
        last = p
    return pieces


def reference_stuff(data: bytes) -> bytes:
    """Line-by-line stuffing and termination, the slow obvious way."""
    lines = data.split(b"\n")
    out = b"\n".join((b"." + line) if line.startswith(b".") else line for line in lines)
    if data and not data.endswith(b"\r\n"):
        out += b"\r\n"
    return out + b".\r\n"


def unstuff(wire: bytes) -> bytes:
    """What a client recovers (RFC 1939 §3), given the message's own ending."""
    assert wire.endswith(b".\r\n")
    body = wire[:-3]
    lines = body.split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


crlf_messages = st.lists(
    st.sampled_from([b".", b"..", b".x", b"a", b"", b"\0\xff", b"a.b", b"\r", b"From: x"]),
    max_size=30,
).map(lambda parts: b"\r\n".join(parts))


@given(crlf_messages, st.lists(st.integers(0, 10_000), max_size=8))
def test_stuffing_independent_of_chunks(data: bytes, cuts: list[int]) -> None:
    expected = reference_stuff(data)
    assert render([data], []) == expected
    assert render(chunked(data, cuts), []) == expected


@given(crlf_messages)
def test_client_recovers_message(data: bytes) -> None:
    # the CRLF added to a message without a final newline belongs to the termination
    expected = data if not data or data.endswith(b"\r\n") else data + b"\r\n"
    assert unstuff(render([data], [])) == expected


def test_lone_dot_at_chunk_boundary() -> None:
    data = b"x" * 16382 + b"\r\n.\r\nafter\r\n"
    out = render([data[:16384], data[16384:]], [])
    assert b"\r\n..\r\nafter\r\n.\r\n" in out
    assert out.count(b"\r\n.\r\n") == 1


def test_message_starting_with_dot() -> None:
    assert render([b".hidden\r\n"], []) == b"..hidden\r\n.\r\n"
    assert render([b"", b".", b"x\r\n"], []) == b"..x\r\n.\r\n"


def test_no_final_newline_gets_crlf_before_terminator() -> None:
    assert render([b"abc"], []) == b"abc\r\n.\r\n"
    assert render([b"abc\r"], []) == b"abc\r\r\n.\r\n"
    assert render([b""], []) == b".\r\n"
    s = DotStuffer()
    assert s.feed(b"a\r") + s.feed(b"\n") + s.finish() == b"a\r\n.\r\n"


def test_nul_workaround_keeps_size() -> None:
    data = b"a\0b\r\n\0\r\n"
    out = render([data], [NulToHighBit()])
    assert out == b"a\x80b\r\n\x80\r\n.\r\n"


MSG = b"H1: a\r\nH2: b\r\n continued\r\n\r\nbody1\r\n.body2\r\nbody3\r\n"


def top(data: bytes, lines: int, cuts: list[int] | None = None, eoh: bool = False) -> bytes:
    return render(chunked(data, cuts or []), [TopFilter(lines, eoh)])


def test_top_zero_is_header_and_blank_line() -> None:
    assert top(MSG, 0) == b"H1: a\r\nH2: b\r\n continued\r\n\r\n.\r\n"


def test_top_counts_body_lines_after_separator() -> None:
    assert top(MSG, 1) == b"H1: a\r\nH2: b\r\n continued\r\n\r\nbody1\r\n.\r\n"
    assert top(MSG, 2) == b"H1: a\r\nH2: b\r\n continued\r\n\r\nbody1\r\n..body2\r\n.\r\n"
    assert top(MSG, 99) == render([MSG], [])


def test_top_without_separator_and_oe_ns_eoh() -> None:
    assert top(b"H: only\r\n", 0) == b"H: only\r\n.\r\n"
    assert top(b"H: only\r\n", 0, eoh=True) == b"H: only\r\n\r\n.\r\n"
    assert top(b"H: only", 0, eoh=True) == b"H: only\r\n\r\n.\r\n"
    assert top(b"", 0, eoh=True) == b"\r\n.\r\n"


def test_top_message_starting_with_blank_line() -> None:
    assert top(b"\r\nbody\r\n", 0) == b"\r\n.\r\n"


def reference_top(data: bytes, n: int) -> bytes:
    lines = re.findall(rb"[^\n]*\n|[^\n]+\Z", data)
    for i, line in enumerate(lines):
        if line in (b"\r\n", b"\n"):
            return b"".join(lines[: i + 1 + n])
    return data


@given(
    st.lists(st.sampled_from([b"H: v", b" cont", b"", b".", b"b", b"\r"]), max_size=20).map(
        lambda p: b"\r\n".join(p)
    ),
    st.integers(0, 5),
    st.lists(st.integers(0, 500), max_size=6),
)
def test_top_matches_reference_at_any_chunking(data: bytes, lines: int, cuts: list[int]) -> None:
    expected = render([reference_top(data, lines)], [])
    assert top(data, lines) == expected
    assert top(data, lines, cuts) == expected


def test_body_writer_done_when_top_complete() -> None:
    w = BodyWriter([TopFilter(0)])
    w.feed(b"H: x\r\n\r\nrest")
    assert w.done
