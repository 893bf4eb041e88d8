"""Send a response at once when the connection's send buffer is empty.

Twisted's TCP transport never writes in ``write()``: it queues the bytes, registers the
socket for writability, and sends on the next turn of the reactor, then unregisters.
That is two ``epoll_ctl`` calls and one more reactor turn for every response, which a
mail server (one short answer per command, and thousands of IDLE sessions woken by one
delivery) pays on almost every write.

:func:`write` sends straight to the socket when nothing is queued before it, and hands
only what the kernel did not take to ``transport.write``; byte order and flow control
stay the transport's.  Anything but a plain TCP transport (TLS, in-memory test
transports, another reactor) takes the normal path.
"""

from __future__ import annotations

import errno
from typing import Any

from twisted.internet import tcp

_RETRY = frozenset((errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS, errno.EINTR))
#: Larger writes take the transport's path, which sends a large buffer without copying
#: what is left of it after each ``send``.
MAX_DIRECT = 256 * 1024


def write(transport: Any, data: bytes) -> None:
    """``transport.write(data)``, sending what the socket takes right away."""
    if (
        _DIRECT
        and type(transport) is tcp.Server
        and _idle(transport)
        and 0 < len(data) <= MAX_DIRECT
    ):
        try:
            sent = transport.socket.send(data)
        except OSError as e:
            # a lost connection is found (and reported) by the transport's own write
            if e.errno not in _RETRY:
                transport.write(data)
                return
            sent = 0
        if sent >= len(data):
            return
        data = data[sent:]
    transport.write(data)


def _idle(transport: Any) -> bool:
    """Connected, plain TCP, and nothing queued to send (Twisted's internals)."""
    return bool(
        transport.connected
        and not transport.TLS
        and not transport._writeDisconnected
        and not transport.dataBuffer
        and not transport._tempDataBuffer
    )


def _twisted_has_what_we_read() -> bool:
    """The transport internals :func:`_idle` reads, checked once: a Twisted release
    without them gets the plain path instead of errors."""
    try:
        probe = tcp.Server.__new__(tcp.Server)
        probe.connected = 1
        probe._tempDataBuffer = []
        if not _idle(probe):
            return False
        return callable(getattr(tcp.Server, "write", None))
    except AttributeError:
        return False


_DIRECT = _twisted_has_what_we_read()
