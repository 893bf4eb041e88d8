"""The command reader: literals, LITERAL+, limits, chunking (RFC 3501 §7.5, RFC 7888)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mailhost.imap.parser import Command, CommandReader, Continue, Event, Rejected


def _limit(name: bytes, index: int) -> int | None:
    return 100 if name == b"APPEND" else None


def drain(reader: CommandReader) -> list[Event]:
    out = []
    while (ev := reader.next_event()) is not None:
        out.append(ev)
    return out


def feed_all(data: bytes, chunk: int, max_line: int = 200) -> list[Event]:
    reader = CommandReader(max_line, _limit)
    events: list[Event] = []
    for i in range(0, len(data), chunk):
        reader.feed(data[i : i + chunk])
        events += drain(reader)
    return events


STREAM = (
    b"a1 NOOP\r\n"
    b"a2 LOGIN {5}\r\nalice {6+}\r\nsecret\r\n"
    b"\r\n"
    b"a3 APPEND INBOX {500+}\r\n" + b"x" * 500 + b" more\r\n"
    b"a4 APPEND INBOX {500}\r\n"
    b"a5 SELECT " + b"y" * 300 + b"\r\n"
    b"a6 LOGIN {300+}\r\n" + b"z" * 300 + b"\r\n"
    b"a7 CAPABILITY\r\n"
)

EXPECTED: list[Event] = [
    Command(b"a1", b"NOOP", (b"a1 NOOP",), (), 7),
    Continue(),
    Command(b"a2", b"LOGIN", (b"a2 LOGIN ", b" ", b""), (b"alice", b"secret"), 9),
    Rejected(b"a3", b"APPEND", "toobig"),
    Rejected(b"a4", b"APPEND", "toobig"),
    Rejected(b"a5", b"SELECT", "line"),
    Rejected(b"a6", b"LOGIN", "literal"),
    Command(b"a7", b"CAPABILITY", (b"a7 CAPABILITY",), (), 13),
]


def test_burst() -> None:
    assert feed_all(STREAM, len(STREAM)) == EXPECTED


def test_byte_by_byte() -> None:
    assert feed_all(STREAM, 1) == EXPECTED


def test_every_chunk_size() -> None:
    for size in (2, 3, 7, 64, 511):
        assert feed_all(STREAM, size) == EXPECTED, size


def test_sync_literal_waits_for_continuation() -> None:
    reader = CommandReader(200)
    reader.feed(b"a LOGIN {5}\r\n")
    assert reader.next_event() == Continue()
    assert reader.next_event() is None
    reader.feed(b"alice x\r\n")
    ev = reader.next_event()
    assert isinstance(ev, Command) and ev.literals == (b"alice",)


def test_literal_plus_is_data_not_a_command() -> None:
    # Twisted ran "alice secret" as a command; here it is the literal's content
    events = feed_all(b"a LOGIN {12+}\r\nb LOGOUT\r\n\r\n x\r\n", 1)
    assert events == [Command(b"a", b"LOGIN", (b"a LOGIN ", b" x"), (b"b LOGOUT\r\n\r\n",), 8)]


def test_bad_tag() -> None:
    assert feed_all(b"+ NOOP\r\na NOOP\r\n", 100) == [
        Rejected(None, b"", "syntax"),
        Command(b"a", b"NOOP", (b"a NOOP",), (), 6),
    ]
    assert feed_all(b"lonely\r\n", 100) == [Rejected(b"lonely", b"", "syntax")]


def test_clear_drops_pipelined_plaintext() -> None:
    reader = CommandReader(200)
    reader.feed(b"a STARTTLS\r\nb LOGIN evil x\r\n")
    assert isinstance(reader.next_event(), Command)
    reader.clear()
    assert reader.next_event() is None


def test_an_over_long_line_after_a_refused_literal_does_not_hold_up_the_next_line() -> None:
    # (found by the chunking property test: fed whole, the last line waited for more input)
    data = b"{0+}\n" + b"\x00" * 66 + b"\n" + b"\x00\n"
    whole = feed_all(data, len(data), max_line=64)
    assert whole == feed_all(data, 1, max_line=64)
    assert len(whole) == 2


def test_next_line() -> None:
    reader = CommandReader(10)
    reader.feed(b"DONE\r\n" + b"x" * 30 + b"\r\nok\n")
    assert reader.next_line() == b"DONE"
    assert reader.next_line() == b"x" * 11
    assert reader.next_line() == b"ok"
    assert reader.next_line() is None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.binary(max_size=40)
        | st.sampled_from(
            [b"\r\n", b"{3}\r\n", b"{4+}\r\n", b"{999+}\r\n", b"a NOOP\r\n", b"{", b"\n"]
        ),
        max_size=30,
    ),
    st.integers(1, 17),
)
def test_random_streams_never_crash_and_chunking_does_not_matter(
    parts: list[bytes], chunk: int
) -> None:
    data = b"".join(parts)
    whole = feed_all(data, max(1, len(data)), max_line=64)
    pieces = feed_all(data, chunk, max_line=64)
    assert whole == pieces
    # after the junk, a clean command is still understood
    reader = CommandReader(64, _limit)
    reader.feed(data)
    drain(reader)
    # whatever state the junk left (a literal being read or dropped, a line being
    # skipped), enough filler and a line end bring the reader back in step
    reader.feed(b" " * 1100 + b"\r\n")
    drain(reader)
    if reader._literal is not None:
        reader.feed(b" " * reader._literal_want + b"\r\n")
        drain(reader)
    reader.feed(b"z9 NOOP\r\n")
    assert drain(reader) == [Command(b"z9", b"NOOP", (b"z9 NOOP",), (), 7)]


def test_endless_empty_literals_are_bounded() -> None:
    reader = CommandReader(100)
    reader.feed(b"a LOGIN {0+}\r\n" + b"{0+}\r\n" * 200)
    events = drain(reader)
    assert events == [Rejected(b"a", b"LOGIN", "literal")]
