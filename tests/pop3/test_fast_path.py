"""RETR of small messages: whole-message rendering and reading ahead in message order.

Every byte must be what the chunked (streaming) path sends; reading ahead must never
change what a client sees, only how many trips to the worker threads it takes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import Deferred

from mailhost.blocking import InlineBlocking
from mailhost.errors import MessageGone
from mailhost.pop3.readahead import ReadAhead, read_rendered
from mailhost.pop3.stuffing import BodyWriter, NulToHighBit, Transform, render_message, stuff_lines
from mailhost.store.crlf import to_crlf
from mailhost.store.memory import MemoryFolder, MemoryStore

from .helpers import Conn, make_factory, make_store

P = ParamSpec("P")
T = TypeVar("T")


def chunked(data: bytes, size: int, no_nuls: bool = False) -> bytes:
    """The streaming path's output for ``data`` cut into ``size``-octet chunks."""
    transforms: list[Transform] = [NulToHighBit()] if no_nuls else []
    writer = BodyWriter(transforms)
    out = [writer.feed(data[i : i + size]) for i in range(0, len(data), size)]
    return b"".join(out) + writer.finish()


# -- exact bytes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        (b"", b".\r\n"),
        (b".", b"..\r\n.\r\n"),
        (b".\r\n", b"..\r\n.\r\n"),
        (b"a\r\n", b"a\r\n.\r\n"),
        (b"a\r\n.", b"a\r\n..\r\n.\r\n"),
        (b"no newline", b"no newline\r\n.\r\n"),
        (b"ends in CR\r", b"ends in CR\r\r\n.\r\n"),
        (b".a\r\n.b\r\nc.d\r\n..e\r\n", b"..a\r\n..b\r\nc.d\r\n...e\r\n.\r\n"),
        (b"S: x\r\n\r\n.\r\n", b"S: x\r\n\r\n..\r\n.\r\n"),
        (b"a\r\n\r\n", b"a\r\n\r\n.\r\n"),
    ],
)
def test_render_message_exact_bytes(message: bytes, wire: bytes) -> None:
    assert render_message(message) == wire
    assert all(chunked(message, n) == wire for n in range(1, len(message) + 2))


def test_leading_dot_at_every_position() -> None:
    base = b"Subject: dots\r\n\r\n" + b"".join(b"line %03d\r\n" % i for i in range(40))
    for pos in range(len(base) + 1):
        message = base[:pos] + b"." + base[pos:]
        stuffed = message.replace(b"\n.", b"\n..")
        if stuffed.startswith(b"."):
            stuffed = b"." + stuffed
        tail = b"" if stuffed.endswith(b"\r\n") else b"\r\n"
        assert render_message(message) == stuffed + tail + b".\r\n", pos
        assert chunked(message, 7) == render_message(message), pos


def test_many_dots_before_a_dot_line() -> None:
    """Prose has many dots; past the probes the full search must still find the line."""
    prose = b"One. Two. Three. Four.\r\n" * 20
    message = prose + b".hidden\r\n" + prose
    assert render_message(message) == prose + b"..hidden\r\n" + prose + b".\r\n"
    assert stuff_lines(prose) is prose  # nothing to stuff: no copy


def test_lf_message_from_store_is_crlf_and_stuffed() -> None:
    lf = b"Subject: lf\n\n.one\nmid.dle\n..two\nlast"
    assert render_message(to_crlf(lf)) == (
        b"Subject: lf\r\n\r\n..one\r\nmid.dle\r\n...two\r\nlast\r\n.\r\n"
    )


def test_outlook_no_nuls_in_whole_rendering() -> None:
    message = b"a\0b\r\n.\0\r\n"
    assert render_message(message, True) == b"a\x80b\r\n..\x80\r\n.\r\n"
    assert render_message(message, True) == chunked(message, 3, no_nuls=True)


_octets = st.lists(st.sampled_from([b".", b"\r", b"\n", b"\r\n", b"x", b"\0", b"\r\n."]))


@given(parts=_octets, size=st.integers(min_value=1, max_value=9), no_nuls=st.booleans())
def test_whole_rendering_equals_streaming(parts: list[bytes], size: int, no_nuls: bool) -> None:
    message = b"".join(parts)
    assert render_message(message, no_nuls) == chunked(message, size, no_nuls)


# -- reading ahead ---------------------------------------------------------------------------


class CountingBlocking(InlineBlocking):
    """Runs inline and counts the trips a threaded Blocking would make."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def run(self, f: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        self.calls.append(getattr(f, "__name__", repr(f)))
        return super().run(f, *args, **kwargs)


MESSAGES = [
    b"Subject: 1\n\n.lf only\nend\n",
    b"Subject: 2\r\n\r\nno final newline",
    b".Subject: 3\r\n\r\n.\r\n..\r\n",
    b"Subject: 4\r\n\r\nbody\r\n",
    b"Subject: 5\r\n\r\n" + b"x" * 3000 + b"\r\n.big\r\n",
    b"Subject: 6\r\n\r\nsix\r\n",
]


def session(
    commands: bytes, read_ahead: int | None = None, **config: Any
) -> tuple[bytes, list[str]]:
    """What the server sends for ``commands`` after login, and its blocking calls."""
    factory = make_factory(make_store(*MESSAGES), **config)
    blocking = CountingBlocking()
    factory.blocking = blocking
    c = Conn(factory)
    if read_ahead is not None:
        c.proto.read_ahead.budget = read_ahead
    c.login()
    blocking.calls.clear()
    return c.send(commands), blocking.calls


RETR_ALL = b"".join(b"RETR %d\r\n" % n for n in range(1, len(MESSAGES) + 1))


def test_read_ahead_sends_the_same_bytes_as_every_other_path() -> None:
    ahead, _ = session(RETR_ALL)
    one_by_one, _ = session(RETR_ALL, read_ahead=0)
    streamed, _ = session(RETR_ALL, stream_threshold=0, stream_chunk_size=1024)
    assert ahead == one_by_one == streamed
    assert ahead.count(b"+OK") == len(MESSAGES)
    assert b"\r\n..lf only\r\n" in ahead and b"\r\n...Subject: 3" not in ahead
    assert b"+OK 22 octets\r\n..Subject: 3\r\n\r\n..\r\n...\r\n.\r\n" in ahead


def test_sequential_retr_reads_in_one_trip() -> None:
    _, calls = session(RETR_ALL)
    assert calls == ["read_rendered"]
    _, calls = session(RETR_ALL, read_ahead=0)
    assert calls == ["read_rendered"] * len(MESSAGES)


def test_read_ahead_budget_and_stream_threshold() -> None:
    # message 5 (3 KB) is streamed: the run stops before it, then starts again after it
    out, calls = session(RETR_ALL, stream_threshold=1024)
    assert out == session(RETR_ALL, read_ahead=0)[0]
    trips = [c for c in calls if c not in ("read", "close")]  # the stream's own steps
    assert trips == ["read_rendered", "open_message", "read_rendered"]
    # a budget smaller than the next message reads one at a time
    _, calls = session(RETR_ALL, read_ahead=10)
    assert calls == ["read_rendered"] * len(MESSAGES)


def test_out_of_order_retr_reads_only_what_is_asked() -> None:
    out, calls = session(b"RETR 3\r\nRETR 1\r\nRETR 2\r\nRETR 4\r\n")
    # only a RETR that follows the one before (or RETR 1 first) reads ahead: RETR 2
    assert calls == ["read_rendered"] * 3
    expected, _ = session(b"RETR 3\r\nRETR 1\r\nRETR 2\r\nRETR 4\r\n", read_ahead=0)
    assert out == expected


def test_deleted_messages_are_skipped_and_refused() -> None:
    commands = b"RETR 1\r\nDELE 2\r\nRETR 2\r\nRETR 3\r\nRSET\r\nRETR 2\r\n"
    out, _ = session(commands)
    assert out == session(commands, read_ahead=0)[0]
    assert b"-ERR Message 2 already deleted\r\n" in out
    assert out.count(b"Subject: 2\r\n") == 1  # only after RSET


def test_top_is_never_answered_from_read_ahead() -> None:
    out, calls = session(b"RETR 1\r\nTOP 2 0\r\nRETR 2\r\n")
    assert out == session(b"RETR 1\r\nTOP 2 0\r\nRETR 2\r\n", read_ahead=0)[0]
    assert b"+OK Top of message follows\r\nSubject: 2\r\n\r\n.\r\n" in out
    assert calls == ["read_rendered", "read_message"]


def test_error_reading_ahead_is_reported_by_that_retr(monkeypatch: pytest.MonkeyPatch) -> None:
    real = MemoryFolder.read_message

    def gone_at_3(self: MemoryFolder, uid: int) -> bytes:
        if uid == 3:
            raise MessageGone(uid)
        return real(self, uid)

    monkeypatch.setattr(MemoryFolder, "read_message", gone_at_3)
    commands = b"RETR 1\r\nRETR 2\r\nRETR 3\r\nRETR 4\r\n"
    out, calls = session(commands)
    assert out == session(commands, read_ahead=0)[0]
    assert out.count(b"+OK") == 3 and out.count(b"-ERR") == 1
    assert calls == ["read_rendered", "read_rendered", "read_rendered"]


def test_read_rendered_raises_only_for_the_first() -> None:
    store = MemoryStore()
    folder = store.account("alice").folder("INBOX")
    uid = folder.append(b"a\r\n").uid
    assert read_rendered(folder, [uid, uid + 1, uid], False) == [b"a\r\n.\r\n"]
    with pytest.raises(MessageGone):
        read_rendered(folder, [uid + 1, uid], False)


def test_read_ahead_is_dropped_on_a_miss_and_on_close() -> None:
    factory = make_factory(make_store(*MESSAGES))
    c = Conn(factory)
    c.login()
    c.send(b"RETR 1\r\n")
    assert len(c.proto.read_ahead) == len(MESSAGES) - 1
    c.send(b"RETR 1\r\n")  # not read ahead: a miss drops the rest
    assert len(c.proto.read_ahead) == 0
    c.send(b"RETR 2\r\n")  # in order again: 3..6 read ahead
    assert len(c.proto.read_ahead) == len(MESSAGES) - 2
    c.send(b"RETR 4\r\n")  # taken: 3, 5, 6 stay
    assert len(c.proto.read_ahead) == len(MESSAGES) - 3
    c.proto.connectionLost()
    assert len(c.proto.read_ahead) == 0


def test_plan_respects_budget() -> None:
    from mailhost.pop3.mailbox import Maildrop
    from mailhost.store.api import MessageInfo

    infos = [MessageInfo(n, frozenset(), 100, 0.0, 1) for n in (1, 2, 3)]
    maildrop = Maildrop(infos, 1, lambda v, u: str(u))
    first = maildrop.entry(1)
    assert first is not None
    assert [e.number for e in ReadAhead(250, 1000).plan(maildrop, first)] == [1, 2, 3]
    assert [e.number for e in ReadAhead(150, 1000).plan(maildrop, first)] == [1, 2]
    assert [e.number for e in ReadAhead(0, 1000).plan(maildrop, first)] == [1]
    assert [e.number for e in ReadAhead(250, 50).plan(maildrop, first)] == [1]


def test_read_ahead_budget_is_the_stream_threshold() -> None:
    c = Conn(make_factory(make_store(*MESSAGES), stream_threshold=40))
    c.login()
    assert c.proto.read_ahead.budget == 40
    c.send(b"RETR 1\r\n")  # 2 (30 octets) fits, 3 (22 more) does not
    assert len(c.proto.read_ahead) == 1


# -- reading ahead in the background ------------------------------------------------------


class ManualBlocking:
    """Holds each call until the test runs it, as a busy worker thread would."""

    def __init__(self) -> None:
        self.pending: list[tuple[Callable[..., Any], tuple[Any, ...], Deferred[Any]]] = []
        self.names: list[str] = []

    def run(self, f: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        d: Deferred[T] = Deferred()
        self.names.append(getattr(f, "__name__", repr(f)))
        self.pending.append((f, args, d))
        return d

    def step(self) -> None:
        f, args, d = self.pending.pop(0)
        try:
            result = f(*args)
        except Exception:  # handed to the Deferred, as deferToThreadPool does
            d.errback()
        else:
            d.callback(result)


SAME_SIZE = [b"Subject: %d\r\n\r\nbody\r\n" % n for n in range(1, 9)]  # 20 octets each


def background_conn(threshold: int) -> tuple[Conn, ManualBlocking]:
    factory = make_factory(make_store(*SAME_SIZE), stream_threshold=threshold)
    c = Conn(factory)
    c.login()  # inline: login needs no worker here
    blocking = ManualBlocking()
    c.proto.blocking = blocking
    return c, blocking


def retr(n: int) -> bytes:
    return b"+OK 20 octets\r\n" + SAME_SIZE[n - 1] + b".\r\n"


def test_background_read_refills_before_the_client_asks() -> None:
    c, blocking = background_conn(threshold=60)  # budget: three messages
    assert c.send(b"RETR 1\r\n") == b""
    blocking.step()  # reads 1 and 2..4
    assert c.take() == retr(1) and len(c.proto.read_ahead) == 3
    assert c.send(b"RETR 2\r\n") == retr(2) and not blocking.pending  # 40 octets held
    assert c.send(b"RETR 3\r\n") == retr(3)  # 20 held: the next two are read meanwhile
    assert blocking.names == ["read_rendered", "read_rendered"]
    assert c.proto.read_ahead.reading(5) and c.proto.read_ahead.reading(6)
    assert c.send(b"RETR 4\r\n") == retr(4)
    assert c.send(b"RETR 5\r\nNOOP\r\n") == b""  # waits for the read in progress
    blocking.step()
    assert c.take() == retr(5) + b"+OK\r\n"
    blocking.step()  # the refill started when 5 was sent: 7 and 8
    assert c.send(b"RETR 6\r\nRETR 7\r\nRETR 8\r\n") == retr(6) + retr(7) + retr(8)
    assert blocking.names == ["read_rendered"] * 3 and not blocking.pending


def test_background_read_dropped_by_an_out_of_order_retr() -> None:
    c, blocking = background_conn(threshold=60)
    c.send(b"RETR 1\r\n")
    blocking.step()
    assert c.take() == retr(1)
    assert c.send(b"RETR 2\r\nRETR 3\r\n") == retr(2) + retr(3)
    assert len(blocking.pending) == 1  # the refill of 5 and 6
    assert c.send(b"RETR 8\r\n") == b""  # a miss: 4 and the refill are dropped
    assert len(c.proto.read_ahead) == 0 and not c.proto.read_ahead.reading(5)
    blocking.step()  # the stale refill ends first: nothing is kept
    assert len(c.proto.read_ahead) == 0
    blocking.step()
    assert c.take() == retr(8)
    assert c.send(b"RETR 5\r\n") == b""  # read again, not from the stale refill
    blocking.step()
    assert c.take() == retr(5)
    assert not blocking.pending


def test_background_read_error_is_reported_by_that_retr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = MemoryFolder.read_message

    def gone_at_5(self: MemoryFolder, uid: int) -> bytes:
        if uid == 5:
            raise MessageGone(uid)
        return real(self, uid)

    monkeypatch.setattr(MemoryFolder, "read_message", gone_at_5)
    c, blocking = background_conn(threshold=60)
    c.send(b"RETR 1\r\n")
    blocking.step()
    c.send(b"RETR 2\r\nRETR 3\r\nRETR 4\r\n")
    assert c.proto.read_ahead.reading(5)
    assert c.send(b"RETR 5\r\n") == b""
    blocking.step()  # the refill fails on its first message: the RETR reads again
    blocking.step()
    assert c.take().startswith(b"-ERR")
    assert c.send(b"RETR 6\r\n") == b""
    blocking.step()
    assert c.take() == retr(6)


def test_connection_lost_while_reading_ahead() -> None:
    c, blocking = background_conn(threshold=60)
    c.send(b"RETR 1\r\n")
    blocking.step()
    c.send(b"RETR 2\r\nRETR 3\r\n")
    c.proto.connectionLost()
    while blocking.pending:
        blocking.step()
    assert len(c.proto.read_ahead) == 0
