"""direct_write: sent at once when nothing is queued, in order when something is."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import StringTransport

from mailhost import direct_write
from mailhost.reactor_thread import ReactorThread, reactor_thread


class _Keep(Protocol):
    def connectionMade(self) -> None:
        self.factory.made.append(self)  # type: ignore[attr-defined]


@pytest.fixture
def pair() -> Iterator[tuple[ReactorThread, Any, socket.socket]]:
    """A real server-side tcp.Server transport and the client socket talking to it."""
    rt = reactor_thread()
    factory = Factory.forProtocol(_Keep)
    factory.made = []  # type: ignore[attr-defined]
    port = rt.listen(factory)
    client = socket.create_connection(("127.0.0.1", port.getHost().port))
    client.settimeout(10)
    for _ in range(200):
        if factory.made:  # type: ignore[attr-defined]
            break
        rt.call(lambda: None)
    transport = factory.made[0].transport  # type: ignore[attr-defined]
    yield rt, transport, client
    client.close()
    rt.call(transport.loseConnection)
    rt.stop_listening(port)


def _read(client: socket.socket, n: int) -> bytes:
    got = b""
    while len(got) < n:
        chunk = client.recv(1 << 20)
        assert chunk, "connection closed early"
        got += chunk
    return got


def test_the_pinned_twisted_has_what_the_fast_path_reads() -> None:
    # (a Twisted release that renames these internals turns the fast path off quietly)
    assert direct_write._DIRECT


def test_sent_without_waiting_for_the_reactor(
    pair: tuple[ReactorThread, Any, socket.socket],
) -> None:
    rt, transport, client = pair

    def send() -> tuple[bool, int]:
        direct_write.write(transport, b"* OK hello\r\n")
        # nothing was queued, so the socket was never registered for writing
        return transport in rt.reactor.getWriters(), len(transport._tempDataBuffer)

    assert rt.call(send) == (False, 0)
    assert _read(client, 12) == b"* OK hello\r\n"


def test_what_the_socket_cannot_take_is_queued_in_order(
    pair: tuple[ReactorThread, Any, socket.socket],
) -> None:
    rt, transport, client = pair
    sent: list[bytes] = []

    def send() -> bool:
        # the client reads nothing: direct writes fill the socket until one is cut short
        for i in range(200):
            chunk = bytes([i % 256]) * direct_write.MAX_DIRECT
            direct_write.write(transport, chunk)
            sent.append(chunk)
            if transport._tempDataBuffer or transport.dataBuffer:
                break
        else:
            return False
        # with bytes queued, the next write must wait behind them
        direct_write.write(transport, b"tail\r\n")
        sent.append(b"tail\r\n")
        return True

    assert rt.call(send) is True
    expected = b"".join(sent)
    assert _read(client, len(expected)) == expected


def test_large_writes_take_the_transports_path(
    pair: tuple[ReactorThread, Any, socket.socket],
) -> None:
    rt, transport, client = pair
    big = bytes(range(256)) * (direct_write.MAX_DIRECT // 256 + 1)

    def send() -> int:
        direct_write.write(transport, big)
        return transport._tempDataLen

    assert rt.call(send) == len(big)
    assert _read(client, len(big)) == big


def test_other_transports_take_the_normal_path() -> None:
    transport = StringTransport()
    direct_write.write(transport, b"a")
    direct_write.write(transport, b"")
    direct_write.write(transport, b"b")
    assert transport.value() == b"ab"


def test_a_closed_socket_is_left_to_the_transport(
    pair: tuple[ReactorThread, Any, socket.socket],
) -> None:
    rt, transport, client = pair
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()  # RST: the server's next send fails

    def send() -> None:
        for _ in range(3):
            direct_write.write(transport, b"x" * 1000)

    rt.call(send)
    for _ in range(200):
        if not rt.call(lambda: transport.connected):
            break
        rt.call(lambda: None)
    assert not rt.call(lambda: transport.connected)
