"""The Twisted side of POP3: a thin Protocol around :class:`~mailhost.pop3.protocol.Session`.

It owns everything with I/O or time in it: the transport, TLS, the idle timer, the
maildrop lease and its renewal, store calls (always through ``blocking.run``) and the
streaming of big messages with a push producer.  Lines are taken one at a time: while a
command's Deferred is outstanding, later pipelined lines wait in a bounded queue.
"""

from __future__ import annotations

import itertools
import os
import weakref
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import Protocol, ServerFactory
from twisted.logger import Logger
from twisted.python.failure import Failure

from mailhost import direct_write
from mailhost.admission import Admission, HeldGreeting
from mailhost.auth import apop, sasl
from mailhost.auth.api import Authenticator, LoginContext, MailUser
from mailhost.blocking import Blocking
from mailhost.pop3 import responses as r
from mailhost.pop3.config import POP3Config
from mailhost.pop3.mailbox import Maildrop
from mailhost.pop3.protocol import (
    TOO_LONG,
    Authenticate,
    AuthenticateAPOP,
    Close,
    Effect,
    LineReader,
    Reply,
    Retrieve,
    Session,
    StartTLS,
    Update,
)
from mailhost.pop3.readahead import ReadAhead, read_rendered
from mailhost.pop3.streaming import MessageProducer, StreamBroken
from mailhost.pop3.uidl import uidl_function
from mailhost.pop3.usersettings import MAX_LOGIN_DELAY, UserPolicy, user_policy
from mailhost.store.api import INBOX, SEEN, Account, FlagMode, Folder, Lease, MessageInfo
from mailhost.tls import TLSProvider

log = Logger()
_session_ids = itertools.count(1)


def _mapped(failure: Failure) -> BaseException:
    """The error of ``failure`` if responses.py maps it; anything else is re-raised."""
    failure.trap(*r.MAPPED_ERRORS)
    return cast(BaseException, failure.value)


def _open_maildrop(
    account: Account, owner: str, ttl: float
) -> tuple[Lease, Folder, list[MessageInfo], int]:
    """Take the lease and snapshot INBOX (runs off the reactor thread)."""
    lease = account.acquire_maildrop(owner, ttl)
    try:
        folder = account.folder(INBOX)
        messages = folder.list_messages()
        uidvalidity = folder.uidvalidity
    except BaseException:
        lease.release()
        raise
    return lease, folder, messages, uidvalidity


def _apply_update(
    lease: Lease, folder: Folder, expunge: Sequence[int], seen: Sequence[int]
) -> None:
    """RFC 1939 §6 UPDATE, only while the lease is still ours (runs off the reactor thread)."""
    try:
        lease.check()
        if seen:
            folder.set_flags(seen, [SEEN], FlagMode.ADD)
        if expunge:
            folder.expunge(expunge)
    finally:
        lease.release()


class POP3ServerProtocol(HeldGreeting, Protocol):
    """One POP3 connection."""

    def __init__(self, factory: POP3Factory) -> None:
        self.factory = factory
        self.config = factory.config
        self.blocking = factory.blocking
        self.clock: Any = factory.clock
        self.reader = LineReader(factory.config.max_line_length)
        self.queue: deque[bytes | object] = deque()
        self.session: Session | None = None
        self.ctx: LoginContext | None = None
        self.peer_ip = ""
        self.user: MailUser | None = None
        self.lease: Lease | None = None
        self.folder: Folder | None = None
        # what a single RETR may already hold in memory bounds what is read ahead
        threshold = self.config.stream_threshold
        self.read_ahead = ReadAhead(budget=threshold, threshold=threshold)
        self._busy = False
        self._draining = False
        self._closing = False
        self._disconnected = False
        self._updating = False
        self._paused_reading = False
        self._counted_ip = False
        self._last_activity = 0.0
        self._idle_call: IDelayedCall | None = None
        self._renew_call: IDelayedCall | None = None
        self._id = next(_session_ids)

    @property
    def wire(self) -> Any:
        """The transport, untyped: zope interfaces confuse the type checker."""
        return self.transport

    # -- connection -------------------------------------------------------------------

    def connectionMade(self) -> None:
        self.factory.connections.add(self)
        transport: Any = self.transport
        nodelay = getattr(transport, "setTcpNoDelay", None)
        if nodelay is not None:
            try:
                nodelay(True)
            except (AttributeError, OSError):
                pass  # not a TCP socket (UNIX socket, test transport)
        peer = transport.getPeer()
        self.peer_ip = str(getattr(peer, "host", "") or "")
        secure = self.factory.implicit_tls
        self.ctx = LoginContext("pop3", self.peer_ip, secure)
        auth = self.factory.authenticator
        stls = self.factory.tls is not None and self.config.stls and not secure
        self.session = Session(
            config=self.config,
            hostname=self.factory.hostname,
            secure=secure,
            stls_available=stls,
            plaintext=auth.plaintext_allowed(self.ctx),
            mechanisms=self._mechanisms(),
            apop_timestamp=self._apop_timestamp(),
        )
        if not self.factory.ip_connected(self.peer_ip):
            self._closing = True
            transport.write(r.TOO_MANY_FROM_IP)
            transport.loseConnection()
            return
        self._counted_ip = True
        # a busy host greets when a talking session goes quiet (admission.py)
        self.wait_for_greeting(self.factory.admission)

    def greet(self) -> None:
        assert self.session is not None
        direct_write.write(self.wire, self.session.greeting())
        self.touch()
        self._schedule_idle(self.config.idle_timeout)

    def _apop_timestamp(self) -> str | None:
        """RFC 1939 §7: a greeting timestamp unique to this connection, if APOP is on."""
        if not self.config.apop:
            return None
        return apop.new_timestamp(os.getpid(), self.clock.seconds(), self.factory.hostname)

    def dataReceived(self, data: bytes) -> None:
        if self.held(data):
            return
        if self._closing or self.session is None:
            return
        self.factory.admission.heard(self)
        self.touch()
        self.queue.extend(self.reader.feed(data))
        if len(self.queue) > self.config.max_pipelined_commands and not self._paused_reading:
            self._paused_reading = True
            self.wire.pauseProducing()
        self._drain()

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.factory.connections.discard(self)
        self.factory.admission.leave(self)
        self._disconnected = True
        self._closing = True
        calls: list[Any] = [self._idle_call, self._renew_call]
        for call in calls:
            if call is not None and call.active():
                call.cancel()
        self._idle_call = self._renew_call = None
        self.read_ahead.clear()
        if self.lease is not None and not self._updating:
            # RFC 1939 §6: no QUIT, no UPDATE; just give the maildrop back
            self.blocking.run(self.lease.release)
        self.lease = None
        if self.user is not None:
            self.factory.user_disconnected(self.user.username)
            self.user.logout()
            self.user = None
        if self._counted_ip:
            self.factory.ip_disconnected(self.peer_ip)
            self._counted_ip = False

    # -- timers -----------------------------------------------------------------------

    def touch(self) -> None:
        """Note activity: the idle timer counts from the last one."""
        self._last_activity = self.clock.seconds()

    def _schedule_idle(self, delay: float) -> None:
        self._idle_call = self.clock.callLater(delay, self._idle_check)

    def _idle_check(self) -> None:
        self._idle_call = None
        if self._disconnected:
            return
        left = self._last_activity + self.config.idle_timeout - self.clock.seconds()
        if left > 0:
            self._schedule_idle(left)
            return
        # RFC 1939 §3: autologout without entering UPDATE
        self._closing = True
        if self._busy:
            self.wire.abortConnection()
            return
        self.wire.write(r.IDLE_TIMEOUT)
        self.wire.loseConnection()

    def _schedule_renew(self) -> None:
        self._renew_call = self.clock.callLater(self.factory.lease_ttl / 3, self._renew)

    def _renew(self) -> None:
        self._renew_call = None
        if self.lease is None or self._disconnected:
            return
        d = self.blocking.run(self.lease.renew)
        d.addCallbacks(lambda _: self._schedule_renew(), self._renew_failed)

    def _renew_failed(self, failure: Failure) -> None:
        _mapped(failure)
        log.warn("POP3 maildrop lease of {user} lost: {f}", user=self._username(), f=failure)
        if self.session is not None:
            self.session.lease_lost()

    def _username(self) -> str:
        return self.user.username if self.user else ""

    # -- the command loop -------------------------------------------------------------

    def _drain(self) -> None:
        if self._draining:
            return
        self._draining = True
        try:
            while self.queue and not self._busy and not self._closing:
                assert self.session is not None
                item = self.queue.popleft()
                if item is TOO_LONG:
                    effects = self.session.line_too_long()
                else:
                    assert isinstance(item, bytes)
                    effects = self.session.line_received(item)
                self._apply(effects)
        finally:
            self._draining = False
        if (
            self._paused_reading
            and not self._closing
            and len(self.queue) <= self.config.max_pipelined_commands // 2
        ):
            self._paused_reading = False
            self.wire.resumeProducing()

    def _apply(self, effects: list[Effect]) -> None:
        transport: Any = self.transport
        for effect in effects:
            if isinstance(effect, Reply):
                direct_write.write(transport, effect.data)
            elif isinstance(effect, Close):
                self._closing = True
                transport.loseConnection()
            elif isinstance(effect, StartTLS):
                self._start_tls()
            elif isinstance(effect, Retrieve) and self._retrieve_read_ahead(effect):
                pass
            else:
                self._busy = True
                d = self._run_async(effect)
                d.addCallback(self._apply)
                d.addErrback(self._async_crashed)
                d.addBoth(self._async_done)

    def _run_async(
        self, effect: Authenticate | AuthenticateAPOP | Retrieve | Update
    ) -> Deferred[list[Effect]]:
        if isinstance(effect, Authenticate | AuthenticateAPOP):
            return self._login(effect)
        if isinstance(effect, Retrieve):
            return self._retrieve(effect)
        return self._update(effect)

    def _async_done(self, _: object) -> None:
        self._busy = False
        self.touch()
        self._drain()

    def _async_crashed(self, failure: Failure) -> None:
        if isinstance(failure.value, StreamBroken):
            log.info("POP3 stream to {peer} ended: {f}", peer=self.peer_ip, f=failure.value)
        else:
            log.failure("POP3 command failed unexpectedly", failure)
        self._closing = True
        self.wire.abortConnection()

    def _start_tls(self) -> None:
        assert self.factory.tls is not None and self.session is not None
        # RFC 2595 §4 / CVE-2011-0411: nothing received before the handshake may run
        self.queue.clear()
        self.reader.clear()
        self.wire.startTLS(self.factory.tls.options())
        self.ctx = LoginContext("pop3", self.peer_ip, True)
        auth = self.factory.authenticator
        self.session.tls_started(auth.plaintext_allowed(self.ctx), tuple(auth.mechanisms(self.ctx)))

    def _mechanisms(self) -> tuple[str, ...]:
        """The authenticator's mechanisms that this server can run (auth/sasl.py)."""
        assert self.ctx is not None
        offered = self.factory.authenticator.mechanisms(self.ctx)
        return tuple(m.upper() for m in offered if m.upper() in sasl.MECHANISMS)

    # -- login ------------------------------------------------------------------------

    def _login(self, effect: Authenticate | AuthenticateAPOP) -> Deferred[list[Effect]]:
        assert self.session is not None and self.ctx is not None
        session = self.session
        auth = self.factory.authenticator
        d: Deferred[Any]
        if isinstance(effect, AuthenticateAPOP):
            d = maybeDeferred(
                auth.login_apop, effect.username, effect.timestamp, effect.digest, self.ctx
            )
        else:
            d = maybeDeferred(auth.login, effect.username, effect.secret, self.ctx)
        d.addCallback(self._authenticated)

        def failed(failure: Failure) -> list[Effect]:
            error = _mapped(failure)
            log.info(
                "POP3 login failed for {user!r} from {peer}: {error}",
                user=effect.username,
                peer=self.peer_ip,
                error=type(error).__name__,
            )
            return session.login_failed(error)

        return d.addErrback(failed)

    def _authenticated(self, user: MailUser) -> list[Effect] | Deferred[list[Effect]]:
        assert self.session is not None
        session = self.session
        name = user.username
        if self._disconnected:
            user.logout()
            return []
        policy = self._policy(user)
        if self.factory.login_too_soon(name, policy.login_delay):
            user.logout()
            return session.login_refused(r.login_delay(policy.login_delay))
        if not self.factory.user_connected(name):
            user.logout()
            return session.login_refused(r.TOO_MANY_FOR_USER)
        owner = f"pop3:{self.peer_ip}:{self._id}"
        d = self.blocking.run(_open_maildrop, user.account, owner, self.factory.lease_ttl)

        def opened(result: tuple[Lease, Folder, list[MessageInfo], int]) -> list[Effect]:
            lease, folder, messages, uidvalidity = result
            if self._disconnected:
                self.blocking.run(lease.release)
                self.factory.user_disconnected(name)
                user.logout()
                return []
            self.user, self.lease, self.folder = user, lease, folder
            self.factory.record_login(name, policy.login_delay)
            log.info(
                "POP3 login {user} from {peer}: {count} messages",
                user=name,
                peer=self.peer_ip,
                count=len(messages),
            )
            self._schedule_renew()
            maildrop = Maildrop(messages, uidvalidity, uidl_function(self.config.uidl_format))
            return session.login_succeeded(name, maildrop, user.still_valid, policy)

        def failed(failure: Failure) -> Failure:
            self.factory.user_disconnected(name)
            user.logout()
            return failure

        return d.addCallbacks(opened, failed)

    def _policy(self, user: MailUser) -> UserPolicy:
        """The user's EXPIRE and LOGIN-DELAY (per-user settings, when enabled)."""
        policy, ignored = user_policy(self.config, user.settings)
        if ignored:
            log.warn(
                "POP3: ignoring bad per-user settings of {user}: {bad}",
                user=user.username,
                bad=" ".join(ignored),
            )
        return policy

    # -- RETR / TOP -------------------------------------------------------------------

    def _retrieve_read_ahead(self, effect: Retrieve) -> bool:
        """Answer a RETR from the messages read ahead, if it is one of them."""
        if effect.body_lines is not None:
            return False
        body = self.read_ahead.take(effect.entry.number)
        if body is None:
            return False
        assert self.session is not None
        self.wire.writeSequence((effect.status, body))
        self.session.retrieve_done(effect)
        self._refill()
        return True

    def _refill(self) -> None:
        """Read the next messages of a RETR run in the background (see readahead.py)."""
        maildrop = self.session.maildrop if self.session is not None else None
        if self._disconnected or self.folder is None or maildrop is None:
            return
        entries = self.read_ahead.refill(maildrop)
        if not entries:
            return
        generation = self.read_ahead.generation
        uids = [e.uid for e in entries]
        d = self.blocking.run(read_rendered, self.folder, uids, self.config.outlook_no_nuls)

        def done(result: list[bytes] | Failure) -> None:
            bodies = result if isinstance(result, list) else []
            self.read_ahead.arrived(generation, entries, bodies)
            if isinstance(result, Failure) and not result.check(*r.MAPPED_ERRORS):
                log.failure("POP3 read-ahead failed unexpectedly", result)

        d.addBoth(done)

    def _read_small(self, effect: Retrieve) -> Deferred[list[Effect]]:
        """RETR of a message under ``stream_threshold``: read (and read ahead), send."""
        assert self.folder is not None and self.session is not None
        session = self.session
        assert session.maildrop is not None
        entries = self.read_ahead.plan(session.maildrop, effect.entry)
        uids = [e.uid for e in entries]
        d = self.blocking.run(read_rendered, self.folder, uids, effect.outlook_no_nuls)

        def send(bodies: list[bytes]) -> list[Effect]:
            if self._disconnected:
                return []
            self.wire.writeSequence((effect.status, bodies[0]))
            self.read_ahead.keep(entries[1:], bodies[1:])
            session.retrieve_done(effect)
            self._refill()
            return []

        return d.addCallback(send)

    def _retrieve(self, effect: Retrieve) -> Deferred[list[Effect]]:
        assert self.folder is not None and self.session is not None
        session = self.session
        folder = self.folder
        uid = effect.entry.uid
        d: Deferred[Any]
        if effect.body_lines is None and effect.entry.size <= self.config.stream_threshold:
            if self.read_ahead.reading(effect.entry.number):

                def after_wait(_: None) -> list[Effect] | Deferred[list[Effect]]:
                    if self._retrieve_read_ahead(effect):
                        return []
                    return self._read_small(effect)

                d = self.read_ahead.wait().addCallback(after_wait)
            else:
                d = self._read_small(effect)
        elif effect.entry.size <= self.config.stream_threshold:
            d = self.blocking.run(folder.read_message, uid)

            def send(data: bytes) -> list[Effect]:
                writer = effect.writer()
                direct_write.write(self.wire, effect.status + writer.feed(data) + writer.finish())
                session.retrieve_done(effect)
                return []

            d.addCallback(send)
        else:
            if effect.body_lines is None:
                self.read_ahead.passed(effect.entry.number)
            d = self.blocking.run(folder.open_message, uid)

            def stream(source: BinaryIO) -> Deferred[list[Effect]] | list[Effect]:
                if self._disconnected:
                    self.blocking.run(source.close)
                    return []
                direct_write.write(self.wire, effect.status)
                producer = MessageProducer(
                    self.wire,
                    self.blocking,
                    source,
                    effect.writer(),
                    self.config.stream_chunk_size,
                    self.touch,
                )
                producer.start()
                done = producer.deferred

                def finished(_: None) -> list[Effect]:
                    session.retrieve_done(effect)
                    return []

                return done.addCallback(finished)

            d.addCallback(stream)

        def failed(failure: Failure) -> list[Effect]:
            if isinstance(failure.value, StreamBroken):
                failure.raiseException()
            return session.retrieve_failed(_mapped(failure))

        d.addErrback(failed)
        return d

    # -- UPDATE -----------------------------------------------------------------------

    def _update(self, effect: Update) -> Deferred[list[Effect]]:
        assert self.session is not None and self.lease is not None and self.folder is not None
        session = self.session
        self._updating = True
        lease, self.lease = self.lease, None
        d: Deferred[Any] = self.blocking.run(
            _apply_update, lease, self.folder, effect.expunge, effect.seen
        )
        d.addCallback(lambda _: session.update_done())
        d.addErrback(lambda f: session.update_failed(_mapped(f)))
        return d


@dataclass
class _Counters:
    per_ip: Counter[str] = field(default_factory=Counter)
    per_user: Counter[str] = field(default_factory=Counter)
    last_login: dict[str, float] = field(default_factory=dict)


_counters: weakref.WeakKeyDictionary[object, _Counters] = weakref.WeakKeyDictionary()


def _shared_counters(authenticator: object) -> _Counters:
    """Counters shared by every factory of one host (the plain and the implicit-TLS
    listeners share one authenticator), so limits and LOGIN-DELAY cannot be dodged by
    switching ports."""
    try:
        return _counters.setdefault(authenticator, _Counters())
    except TypeError:  # not weak-referenceable: count per factory
        return _Counters()


class POP3Factory(ServerFactory):
    """Builds POP3 connections and keeps what spans them: connection counts, last logins."""

    protocol = POP3ServerProtocol

    def __init__(
        self,
        *,
        config: POP3Config,
        authenticator: Authenticator,
        blocking: Blocking,
        hostname: str,
        tls: TLSProvider | None,
        implicit_tls: bool = False,
        clock: IReactorTime | None = None,
        store_lease_ttl: float = 300.0,
        admission: Admission | None = None,
    ) -> None:
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        assert clock is not None
        self.config = config
        self.authenticator = authenticator
        self.blocking = blocking
        self.hostname = hostname
        self.tls = tls
        self.implicit_tls = implicit_tls
        self.clock: Any = clock
        self.lease_ttl = store_lease_ttl
        shared = _shared_counters(authenticator)
        self.per_ip: Counter[str] = shared.per_ip
        self.per_user: Counter[str] = shared.per_user
        self.last_login: dict[str, float] = shared.last_login
        #: Open connections, so a stopping host can close them.
        self.connections: set[POP3ServerProtocol] = set()
        #: Shared by every listener of the host (None: greet at once).
        self.admission = admission or Admission(clock, 0, 0.0)

    def buildProtocol(self, addr: object) -> POP3ServerProtocol:
        return POP3ServerProtocol(self)

    # -- connection limits ------------------------------------------------------------

    def ip_connected(self, ip: str) -> bool:
        limit = self.config.max_connections_per_ip
        if limit and self.per_ip[ip] >= limit:
            return False
        self.per_ip[ip] += 1
        return True

    def ip_disconnected(self, ip: str) -> None:
        self.per_ip[ip] -= 1
        if self.per_ip[ip] <= 0:
            del self.per_ip[ip]

    def user_connected(self, username: str) -> bool:
        limit = self.config.max_connections_per_user
        if limit and self.per_user[username] >= limit:
            return False
        self.per_user[username] += 1
        return True

    def user_disconnected(self, username: str) -> None:
        self.per_user[username] -= 1
        if self.per_user[username] <= 0:
            del self.per_user[username]

    # -- LOGIN-DELAY (RFC 2449 §6.8) --------------------------------------------------

    def login_too_soon(self, username: str, delay: int | None = None) -> bool:
        """Whether ``username`` logged in less than ``delay`` (default: the config's)
        seconds ago."""
        if delay is None:
            delay = self.config.login_delay
        if delay <= 0:
            return False
        last = self.last_login.get(username)
        return last is not None and self.clock.seconds() - last < delay

    def record_login(self, username: str, delay: int | None = None) -> None:
        """Note a login that LOGIN-DELAY (``delay`` seconds) applies to."""
        if delay is None:
            delay = self.config.login_delay
        if delay <= 0:
            return
        now = self.clock.seconds()
        if len(self.last_login) > 10000:
            longest = MAX_LOGIN_DELAY if self.config.per_user_settings else delay
            horizon = now - max(longest, self.config.login_delay)
            for name in [n for n, t in self.last_login.items() if t < horizon]:
                del self.last_login[name]
        self.last_login[username] = now
