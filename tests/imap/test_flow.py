"""Flow control both ways, and commands whose store calls finish later."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imapkit import Host
from twisted.internet.defer import Deferred

from mailhost.imap.config import IMAPConfig


class ManualBlocking:
    """Store calls wait until the test releases them, as a thread pool would make them."""

    def __init__(self) -> None:
        self.pending: list[tuple[Deferred[Any], Callable[[], Any]]] = []

    def run(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.pending.append((d, lambda: f(*args, **kwargs)))
        return d

    def release_all(self) -> None:
        while self.pending:
            d, call = self.pending.pop(0)
            try:
                result = call()
            except Exception as e:
                d.errback(e)
            else:
                d.callback(result)


def test_large_fetch_waits_for_a_slow_reader() -> None:
    h = Host(IMAPConfig(chunk_size=1024))
    body = b"Subject: big\r\n\r\n" + b"x" * 100_000
    h.deliver(body)
    c = h.connect()
    c.login()
    c.select()
    write = c.transport.write

    def write_and_fill(data: bytes) -> None:
        write(data)
        if len(c.transport.value()) > 1000:
            c.proto.pauseProducing()  # as a real transport does when its buffer is full

    c.transport.write = write_and_fill  # type: ignore[method-assign]
    out = c.cmd("a FETCH 1 BODY.PEEK[]")
    assert out == b"* 1 FETCH (BODY[] {%d}\r\n" % len(body) + body[:1024]
    c.transport.write = write  # type: ignore[method-assign]
    c.proto.resumeProducing()
    rest = c.take()
    assert rest == body[1024:] + b")\r\na OK FETCH completed\r\n"


def test_disconnect_during_a_large_fetch() -> None:
    h = Host(IMAPConfig(chunk_size=1024))
    h.deliver(b"Subject: big\r\n\r\n" + b"x" * 100_000)
    c = h.connect()
    c.login()
    c.select()
    write = c.transport.write

    def write_and_fill(data: bytes) -> None:
        write(data)
        if len(c.transport.value()) > 1000:
            c.proto.pauseProducing()

    c.transport.write = write_and_fill  # type: ignore[method-assign]
    c.cmd("a FETCH 1 BODY.PEEK[]")  # stops after the first chunk
    c.lose()
    assert not c.session.failures
    assert h.hub.subscriber_count() == 0


def test_pipelined_commands_with_slow_store() -> None:
    blocking = ManualBlocking()
    h = Host(IMAPConfig(max_line_length=1000), blocking=blocking)
    h.deliver()
    c = h.connect()
    assert c.send(b"a LOGIN alice secret\r\n").startswith(b"a OK")  # no store call
    out = c.send(b"b SELECT INBOX\r\nc FETCH 1 UID\r\nd NOOP\r\n")
    assert out == b""  # SELECT waits for the store; nothing else runs meanwhile
    # a flood of pipelined input while busy: reading is paused, not buffered forever
    c.send(b"e NOOP\r\n" * 400)
    assert c.transport.producerState == "paused"
    while blocking.pending:
        blocking.release_all()
    out = c.take()
    tags = [ln.split(b" ")[0] for ln in out.split(b"\r\n") if ln and not ln.startswith(b"* ")]
    assert tags == [b"b", b"c", b"d"] + [b"e"] * 400
    assert c.transport.producerState == "producing"


def test_no_new_command_while_the_client_does_not_read(host: Host) -> None:
    c = host.connect()
    c.proto.pauseProducing()
    assert c.send(b"a NOOP\r\nb NOOP\r\n") == b""
    c.send(b"c NOOP\r\n" * 30_000)
    assert c.transport.producerState == "paused"  # reading stops too
    c.proto.resumeProducing()
    out = c.take()
    assert out.startswith(b"a OK NOOP completed\r\nb OK NOOP completed\r\n")
    assert out.count(b"c OK NOOP completed\r\n") == 30_000


def test_disconnect_during_select_leaves_no_listener() -> None:
    blocking = ManualBlocking()
    h = Host(blocking=blocking)
    c = h.connect()
    c.cmd("a LOGIN alice secret")
    c.cmd("b SELECT INBOX")
    c.lose()
    blocking.release_all()
    assert h.hub.subscriber_count() == 0
