"""The Twisted adapter: one :class:`IMAPSession` per TCP connection.

Thin on purpose: it turns transport events into session calls and gives the session a
write path with flow control (this protocol is registered as the transport's streaming
producer, so a large FETCH waits while the client is slow to read), STARTTLS through
the host's :class:`~mailhost.tls.TLSProvider`, and ``TCP_NODELAY``.
"""

from __future__ import annotations

import zlib
from typing import Any, cast
from weakref import WeakKeyDictionary

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer, IReactorTime
from twisted.internet.protocol import Protocol, ServerFactory
from twisted.python.failure import Failure
from zope.interface import implementer

from mailhost import direct_write
from mailhost.admission import Admission, HeldGreeting
from mailhost.auth.api import Authenticator
from mailhost.blocking import Blocking
from mailhost.changes import ChangeHub
from mailhost.imap.config import IMAPConfig
from mailhost.imap.parse_helper import ParseHelpers
from mailhost.imap.protocol import IMAPSession
from mailhost.imap.session import Limits
from mailhost.imap.structures import StructureCache
from mailhost.tls import TLSProvider


@implementer(IPushProducer)
class IMAPServerProtocol(HeldGreeting, Protocol):
    factory: IMAPFactory
    session: IMAPSession | None = None

    def __init__(self) -> None:
        self._paused = False
        self._waiters: list[Deferred[None]] = []
        self._ip = ""
        self._counted = False
        # COMPRESS=DEFLATE (RFC 4978), once the session turned it on
        self._deflate: Any = None
        self._inflate: Any = None
        #: Compressed input not inflated yet (held while the session reads no more).
        self._compressed_in = b""
        self._reading_paused = False

    # -- transport events --------------------------------------------------------------

    def connectionMade(self) -> None:
        f = self.factory
        f.connections.add(self)
        transport: Any = self.transport
        if hasattr(transport, "setTcpNoDelay"):
            try:
                transport.setTcpNoDelay(True)
            except OSError:
                pass
        peer = transport.getPeer()
        self._ip = str(getattr(peer, "host", ""))
        transport.registerProducer(self, True)
        self.session = IMAPSession(
            self,
            config=f.config,
            authenticator=f.authenticator,
            blocking=f.blocking,
            hostname=f.hostname,
            changes=f.changes,
            clock=f.clock,
            peer=self._ip,
            secure=f.implicit_tls,
            starttls_available=f.tls is not None and f.config.starttls and not f.implicit_tls,
            max_message_size=f.max_message_size,
            limits=f.limits,
            structures=f.structures,
            parse_helpers=f.parse_helpers,
        )
        if not f.limits.connect(self._ip):
            self.session.refuse("Too many connections from your address")
            return
        self._counted = True
        # a busy host greets when a talking session goes quiet (admission.py)
        self.wait_for_greeting(f.admission)

    def greet(self) -> None:
        assert self.session is not None
        self.session.connection_made()

    def dataReceived(self, data: bytes) -> None:
        if self.held(data):
            return
        assert self.session is not None
        self.factory.admission.heard(self)
        if self._inflate is not None:
            self._compressed_in += data
            self._inflate_input()
            return
        self.session.data_received(data)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.factory.connections.discard(self)
        self.factory.admission.leave(self)
        if self._counted:
            self._counted = False
            self.factory.limits.disconnect(self._ip)
        if self.session is not None:
            self.session.connection_lost()
        self._release()

    # -- IPushProducer (the transport tells us to stop writing) ------------------------

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        self._release()

    def stopProducing(self) -> None:
        self._paused = False
        self._release()

    def _release(self) -> None:
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(None)

    # -- the session's Connection ------------------------------------------------------

    @property
    def _t(self) -> Any:
        """The transport, typed loosely: mypy cannot call through zope interfaces."""
        return self.transport

    def write(self, data: bytes) -> None:
        if self._deflate is not None:
            # each response flushed whole, so that the client can read it at once
            data = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        direct_write.write(self.transport, data)

    def start_compress(self, pending: bytes) -> None:
        # the client may deflate with a 32 KB window; ours is smaller, to keep the state
        # of a compressed connection near 90 KB
        self._deflate = zlib.compressobj(
            self.factory.config.compress_level, zlib.DEFLATED, -_DEFLATE_WINDOW_BITS, 5
        )
        self._inflate = zlib.decompressobj(-15)
        self._compressed_in = pending
        if pending:
            # (not from inside the command that turned compression on)
            self.factory.clock.callLater(0, self._inflate_input)

    def _inflate_input(self) -> None:
        """Hand the session the inflated input a step at a time, and no more while it
        has paused reading: a few compressed octets may stand for megabytes."""
        session = self.session
        while self._compressed_in and not self._reading_paused and session is not None:
            try:
                data = self._inflate.decompress(self._compressed_in, _INFLATE_STEP)
            except zlib.error:
                self._compressed_in = b""
                self.close()  # nothing can be read past a corrupt stream
                return
            self._compressed_in = self._inflate.unconsumed_tail
            if data:
                session.data_received(data)
            if self._inflate.eof:
                self._compressed_in = b""
                self.close()  # the client ended its stream: it has no more to say
                return
            if not data and not self._compressed_in:
                return

    def quiet(self) -> None:
        self.factory.admission.quiet(self)

    def drain(self) -> Deferred[None] | None:
        if not self._paused:
            return None
        d: Deferred[None] = Deferred()
        self._waiters.append(d)
        return d

    def start_tls(self) -> None:
        tls = self.factory.tls
        assert tls is not None
        self._t.startTLS(tls.options())

    def close(self) -> None:
        # TLS shuts down only once no producer is registered on the transport
        self._t.unregisterProducer()
        self._t.loseConnection()

    def pause_reading(self) -> None:
        self._reading_paused = True
        self._t.pauseProducing()

    def resume_reading(self) -> None:
        self._reading_paused = False
        if self._compressed_in:
            self._inflate_input()
        if not self._reading_paused:
            self._t.resumeProducing()


#: log2 of the window the host deflates its responses with (8 KB: IMAP responses repeat
#: within a few hundred octets).
_DEFLATE_WINDOW_BITS = 13
#: Most inflated input handed to the session at once.
_INFLATE_STEP = 64 * 1024

_LIMITS: WeakKeyDictionary[ChangeHub, Limits] = WeakKeyDictionary()
_STRUCTURES: WeakKeyDictionary[ChangeHub, StructureCache | None] = WeakKeyDictionary()


class IMAPFactory(ServerFactory):
    """Makes IMAP connections; one per listener (plain or implicit TLS)."""

    protocol = IMAPServerProtocol  # type: ignore[assignment]

    def __init__(
        self,
        *,
        config: IMAPConfig,
        authenticator: Authenticator,
        blocking: Blocking,
        hostname: str,
        tls: TLSProvider | None,
        changes: ChangeHub,
        implicit_tls: bool = False,
        clock: IReactorTime | None = None,
        max_message_size: int = 64 * 1024 * 1024,
        admission: Admission | None = None,
        parse_helpers: ParseHelpers | None = None,
    ) -> None:
        if clock is None:
            from twisted.internet import reactor

            clock = cast(IReactorTime, reactor)
        self.config = config
        self.authenticator = authenticator
        self.blocking = blocking
        self.hostname = hostname
        self.tls = tls
        self.changes = changes
        self.implicit_tls = implicit_tls
        self.clock = clock
        self.max_message_size = max_message_size
        # one host has one ChangeHub and (plain + implicit TLS) several factories: the
        # connection limits count across all of them
        limits = _LIMITS.get(changes)
        if limits is None:
            limits = Limits(config.max_connections_per_ip, config.max_connections_per_user)
            _LIMITS[changes] = limits
        self.limits = limits
        if changes not in _STRUCTURES:
            size = config.structure_cache_mb * 1024 * 1024
            _STRUCTURES[changes] = StructureCache(size) if size else None
        self.structures = _STRUCTURES[changes]
        #: The host's parse helper processes (None: parse in this process only).
        self.parse_helpers = parse_helpers
        #: Shared by every listener of the host (None: greet at once).
        self.admission = admission or Admission(clock, 0, 0.0)
        #: Open connections, so a stopping host can close them.
        self.connections: set[IMAPServerProtocol] = set()
