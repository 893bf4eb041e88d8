"""The IMAP4rev1 session: states, commands and their responses (RFC 3501 §3, §6).

Reactor-free: the connection adapter (:mod:`mailhost.imap.server`) feeds received bytes
to :meth:`IMAPSession.data_received` and gives the session a :class:`Connection` to write
to.  Store calls and password checks go through :class:`mailhost.blocking.Blocking`; with
``InlineBlocking`` a whole transcript runs synchronously, which the tests rely on.

Commands are read by :class:`mailhost.imap.parser.CommandReader` and run strictly one at
a time, in the order received, by the handlers registered in :mod:`mailhost.imap.dispatch`;
untagged updates for the selected mailbox come from the session's
:class:`mailhost.imap.view.View` at the end of each command and at once while the client
IDLEs.  The session never writes between commands otherwise.

The change feed is a reliable pull (``Folder.changes_since``) plus best-effort wake-ups
(:class:`mailhost.changes.ChangeHub`).  Without wake-ups a command (but LOGOUT) pulls
before it runs and again after it.  While they are pushed it pulls before only if woken
or its last pull is :data:`LOOK_AFTER` old, and after only if woken meanwhile or it
changed the mailbox itself.  An IDLE session pulls on a wake-up, every
``idle_poll_interval`` seconds without one and at each keep-alive tick, so a lost wake-up
(or none at all) delays an update but never hides it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol

from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from mailhost import errors
from mailhost.auth import sasl
from mailhost.auth.api import Authenticator, LoginContext, MailUser
from mailhost.blocking import Blocking
from mailhost.changes import ChangeHub
from mailhost.imap import anystate, authenticated, login, pulls, selected  # noqa: F401  (they register)
from mailhost.imap import commands as grammar
from mailhost.imap.args import Args, ParseError
from mailhost.imap.capabilities import capabilities
from mailhost.imap.config import IMAPConfig
from mailhost.imap.dispatch import (
    AUTH,
    AUTHENTICATED,
    COMMANDS,
    LOGOUT,
    NO_EXPUNGE,
    NOT_AUTHENTICATED,
    PURE,
    SEL,
    SELECTED,
    UID_COMMANDS,
    Closed,
)
from mailhost.imap.parse_helper import ParseHelpers
from mailhost.imap.parser import Command, CommandReader, Continue, Rejected
from mailhost.imap.responses import KNOWN, Bad, No, to_no
from mailhost.imap.session import Limits
from mailhost.imap.structures import StructureCache
from mailhost.imap.view import View, ViewReset
from mailhost.store.api import (
    Account,
    Folder,
    uid_ranges,
)

log = Logger()

#: Seconds after which a command pulls before it runs even without a wake-up.
LOOK_AFTER = 1.0


class Connection(Protocol):
    """What a session needs from its transport."""

    def write(self, data: bytes) -> None: ...

    def drain(self) -> Deferred[None] | None:
        """None when more may be written now, else a Deferred fired when it may."""

    def start_tls(self) -> None: ...

    def start_compress(self, pending: bytes) -> None:
        """Deflate both ways from now on (RFC 4978); ``pending`` is what the client sent
        after its COMPRESS command, already compressed."""

    def close(self) -> None: ...

    def quiet(self) -> None:
        """The session waits for nothing of ours now (IDLE): see :mod:`mailhost.admission`."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class IMAPSession:
    def __init__(
        self,
        conn: Connection,
        *,
        config: IMAPConfig,
        authenticator: Authenticator,
        blocking: Blocking,
        hostname: str,
        changes: ChangeHub,
        clock: IReactorTime,
        peer: str,
        secure: bool,
        starttls_available: bool,
        max_message_size: int,
        limits: Limits | None = None,
        structures: StructureCache | None = None,
        parse_helpers: ParseHelpers | None = None,
    ) -> None:
        self.conn = conn
        self.config = config
        self.authenticator = authenticator
        self.blocking = blocking
        self.hostname = hostname
        self.changes = changes
        #: Typed loosely: mypy cannot call methods through zope interfaces.
        self.clock: Any = clock
        self.peer = peer
        self.secure = secure
        self.starttls_available = starttls_available and not secure
        self.max_message_size = max_message_size
        self.limits = limits or Limits(0, 0)
        #: ENVELOPE, BODYSTRUCTURE and BODY kept for every session of the host (or None).
        self.structures = structures
        #: Processes that build a share of a big batch of those (or None).
        self.parse_helpers = parse_helpers
        self.reader = CommandReader(config.max_line_length, self._big_literal_limit)
        self.state = NOT_AUTHENTICATED
        self.user: MailUser | None = None
        self.account: Account | None = None
        self.folder: Folder | None = None
        self.view: View | None = None
        #: COMPRESS=DEFLATE is on (RFC 4978): a second COMPRESS gets COMPRESSIONACTIVE.
        self.compressed = False
        #: The tag of the command being run (ESEARCH quotes it in its answer).
        self.current_tag = b""
        #: A CONDSTORE enabling command was given (RFC 7162 §3.1): for the connection.
        self.condstore = False
        #: ENABLE QRESYNC was given (RFC 7162 §3.2): expunges are reported as VANISHED.
        self.qresync = False
        #: ENABLE UTF8=ACCEPT was given (RFC 6855): mailbox names go both ways as UTF-8.
        self.utf8 = False
        #: The HIGHESTMODSEQ the client was last told of the selected mailbox.
        self.told_modseq = 0
        self._unsubscribe: Callable[[], None] | None = None
        self._recent_claimed: frozenset[int] = frozenset()
        self._busy = False
        self._pumping = False
        self._line_waiter: Deferred[bytes] | None = None
        self._closed = False
        self._bad_in_a_row = 0
        self._timer: Any = None
        self._keepalive: Any = None
        self._idle_poll: Any = None
        #: When the last pull of the selected mailbox began (``clock.seconds()``), and
        #: the change hub's stamp of the folder then (see :meth:`_must_look`).
        self._last_pull = 0.0
        self._pulled_generation = 0
        #: Something may have changed the selected mailbox since the last pull began: a
        #: wake-up arrived or the command changed it.  While the hub pushes wake-ups, a
        #: command that leaves this False needs no second pull (see :meth:`_pull_again`).
        self.stale = True
        self._idling = False
        self._idle_sync_running = False
        self._idle_sync_again = False
        self._reading_paused = False
        self._counted_user: str | None = None
        self._current_name = b""
        #: Untagged lines held to go out in one write with the next response
        #: (the updates before a tagged line, LOGOUT's BYE).
        self._held = b""
        #: Run once the tagged response is written (STARTTLS begins the handshake).
        self.after_response: Callable[[], None] | None = None
        #: Unexpected exceptions (bugs); tests assert this stays empty.
        self.failures: list[Failure] = []
        #: (folder_id, uid) -> (data, part) of recently parsed messages.
        #: The bool says whether the whole message was parsed or only its header.
        self.parsed_cache: dict[tuple[str, int], tuple[bytes, Any, bool]] = {}

    # -- connection events -------------------------------------------------------------

    def _ctx(self) -> LoginContext:
        return LoginContext("imap", self.peer, self.secure)

    def connection_made(self) -> None:
        caps = b" ".join(self._capabilities())
        self._send(b"* OK [CAPABILITY " + caps + b"] " + self.config.greeting.encode())
        self._arm_timer()

    def refuse(self, text: str) -> None:
        """Greet with BYE and close (connection limits)."""
        self._send(b"* BYE " + text.encode())
        self._close()

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        self.reader.feed(data)
        self._pump()
        if self.reader.buffered > 2 * self.config.max_line_length and not self._reading_paused:
            self._reading_paused = True
            self.conn.pause_reading()

    def connection_lost(self) -> None:
        if self._closed and self.state == LOGOUT:
            return
        self._closed = True
        self.state = LOGOUT
        self._cleanup()

    def _cleanup(self) -> None:
        self._deselect()
        for call in (self._timer, self._keepalive, self._idle_poll):
            if call is not None and call.active():
                call.cancel()
        self._timer = self._keepalive = self._idle_poll = None
        if self._counted_user is not None:
            self.limits.logout(self._counted_user)
            self._counted_user = None
        if self.user is not None:
            user, self.user = self.user, None
            user.logout()
        if self._line_waiter is not None:
            d, self._line_waiter = self._line_waiter, None
            d.errback(Closed())

    def _close(self) -> None:
        if self._closed:
            return
        if self._held:
            self.write(b"")
        self._closed = True
        self._cleanup()
        self.state = LOGOUT
        self.conn.close()

    # -- output ------------------------------------------------------------------------

    def _send(self, line: bytes) -> None:
        if not self._closed:
            if self._held:
                line, self._held = self._held + line, b""
            self.conn.write(line + b"\r\n")

    def write(self, data: bytes) -> None:
        if not self._closed:
            if self._held:
                data, self._held = self._held + data, b""
            self.conn.write(data)

    def hold(self, data: bytes) -> None:
        """Send ``data`` (whole lines) with the next write: one segment, not two."""
        self._held += data

    async def drain(self) -> None:
        d = self.conn.drain()
        if d is not None:
            await d
        if self._closed:
            raise Closed()

    # -- timers ------------------------------------------------------------------------

    def _arm_timer(self) -> None:
        timeout = self.config.login_timeout if self.user is None else self.config.idle_timeout
        if self._timer is not None and self._timer.active():
            self._timer.reset(timeout)
        else:
            self._timer = self.clock.callLater(timeout, self._autologout)

    def _autologout(self) -> None:
        self._timer = None
        if self._busy and not self._idling and self._line_waiter is None:
            # a command is still working (a large FETCH to a slow reader): not idle
            self._arm_timer()
            return
        self._send(b"* BYE Autologout; idle for too long")
        self._close()

    def _arm_keepalive(self) -> None:
        if self.config.idle_keepalive:
            self._keepalive = self.clock.callLater(self.config.idle_keepalive, self._still_here)

    def _still_here(self) -> None:
        self._keepalive = None
        if self.user is not None and not self.user.still_valid():
            # a client may IDLE for hours: do not wait for its next command
            self._send(b"* BYE Your credentials are no longer valid")
            self._close()
            return
        if self._idling and not self._closed:
            self._wake()  # a wake-up may have been lost: look anyway
            if self._closed:
                return
            self._send(b"* OK Still here")
            self._arm_keepalive()

    def begin_idle(self) -> None:
        """RFC 2177: from now on updates are sent as they are learnt."""
        self._idling = True
        self.conn.quiet()
        self._arm_keepalive()
        self._arm_idle_poll(self.config.idle_poll_interval)

    def end_idle(self) -> None:
        self._idling = False
        for call in (self._keepalive, self._idle_poll):
            if call is not None and call.active():
                call.cancel()
        self._keepalive = self._idle_poll = None

    def _arm_idle_poll(self, delay: float) -> None:
        if self.config.idle_poll_interval and self.view is not None:
            self._idle_poll = self.clock.callLater(delay, self._idle_poll_due)

    def _idle_poll_due(self) -> None:
        """The safety net under wake-ups: pull, unless some pull began within the interval.

        A wake-up (or a command) that pulled meanwhile moves the next poll on, so a
        session whose wake-ups arrive never pulls more often than it would without polls.
        """
        self._idle_poll = None
        if not self._idling or self._closed or self.view is None:
            return
        interval = self.config.idle_poll_interval
        wait = self._last_pull + interval - self.clock.seconds()
        if wait > interval / 1000:
            self._arm_idle_poll(wait)
            return
        self._wake()
        if self._idling and not self._closed:
            self._arm_idle_poll(interval)

    # -- the command loop --------------------------------------------------------------

    def _big_literal_limit(self, name: bytes, index: int) -> int | None:
        if name == b"APPEND" and self.state in AUTH:
            return self.max_message_size if index < self.config.max_append_messages else 0
        return None

    def _pump(self) -> None:
        if self._pumping:
            return
        self._pumping = True
        try:
            while not self._closed:
                if self._line_waiter is not None:
                    line = self.reader.next_line()
                    if line is None:
                        break
                    d, self._line_waiter = self._line_waiter, None
                    d.callback(line)
                    continue
                if self._busy:
                    break
                if self._wait_for_reader():
                    break
                event = self.reader.next_event()
                if event is None:
                    break
                if isinstance(event, Continue):
                    self._continue()
                elif isinstance(event, Rejected):
                    self._rejected(event)
                else:
                    self._start(event)
        finally:
            self._pumping = False
        if self._reading_paused and self.reader.buffered <= self.config.max_line_length:
            self._reading_paused = False
            self.conn.resume_reading()

    def _wait_for_reader(self) -> bool:
        """Hold the next command while the client is not reading our responses.

        A client that pipelines commands without reading would otherwise grow the
        transport's write buffer without bound; unread input then fills the reader's
        buffer, which pauses reading from the socket (see :meth:`data_received`).
        """
        d = self.conn.drain()
        if d is None:
            return False
        self._busy = True
        d.addBoth(self._finished)
        return True

    def _continue(self) -> None:
        """Invite a synchronising literal, unless it is an APPEND to nowhere.

        RFC 3501 §6.3.11: the server may refuse APPEND before the message is sent;
        checking the mailbox first spares the client uploading it for a ``[TRYCREATE]``.
        """
        pending = self.reader.pending()
        if pending is None or pending.name != b"APPEND" or pending.literals or self.account is None:
            self._send(b"+ Ready for literal data")
            return
        try:
            name = grammar.mailbox(Args(pending, self.utf8))
        except (ParseError, grammar.BadMailboxName):
            self._send(b"+ Ready for literal data")  # the command itself will say BAD/NO
            return
        self._busy = True
        d = self.blocking.run(self.account.folder, name)

        def found(_: object) -> None:
            self._send(b"+ Ready for literal data")

        def missing(failure: Failure) -> None:
            failure.trap(*KNOWN)
            if not failure.check(errors.NoSuchFolder):
                # let the command itself meet (and report) the trouble
                self._send(b"+ Ready for literal data")
                return
            self.reader.refuse_literal()
            self._send(pending.tag + b" NO [TRYCREATE] No such mailbox")

        d.addCallbacks(found, missing)
        d.addErrback(self._failed)
        d.addBoth(self._finished)

    def _rejected(self, event: Rejected) -> None:
        tag = event.tag or b"*"
        if event.reason == "toobig":
            self._send(tag + b" NO [TOOBIG] Message too large")
            return
        text = {
            "line": b"Command line too long",
            "literal": b"Literal too large for this command",
            "syntax": b"Missing tag or command" if event.tag is None else b"Missing command",
        }[event.reason]
        self._bad(tag + b" BAD " + text)

    def _bad(self, line: bytes) -> None:
        self._send(line)
        self._bad_in_a_row += 1
        limit = self.config.max_bad_commands
        if limit and self._bad_in_a_row >= limit:
            self._send(b"* BYE Too many invalid commands")
            self._close()

    def _start(self, cmd: Command) -> None:
        self._busy = True
        d = ensureDeferred(self._run(cmd))
        d.addErrback(self._failed)
        d.addBoth(self._finished)

    def _finished(self, _: object) -> None:
        self._busy = False
        if not self._closed:
            self._arm_timer()
            self._pump()

    def _failed(self, failure: Failure) -> None:
        if failure.check(Closed):
            return
        if self._closed:
            # the connection went away while the command waited on the store
            log.failure("IMAP command ended after the connection closed", failure)
            return
        self.failures.append(failure)
        log.failure("IMAP command failed unexpectedly", failure)
        self._send(b"* BYE Internal server error")
        self._close()

    async def _run(self, cmd: Command) -> None:
        self._arm_timer()
        if self.user is not None and not self.user.still_valid():
            self._send(b"* BYE Your credentials are no longer valid")
            self._close()
            return
        tag = cmd.tag
        name = cmd.name
        self.current_tag = tag
        entry = COMMANDS.get(name)
        if entry is None:
            self._bad(tag + b" BAD Unknown command")
            return
        if self.state not in entry.states:
            need = b"Log in first" if self.state == NOT_AUTHENTICATED else b"Wrong state"
            if name in (b"LOGIN", b"AUTHENTICATE"):
                need = b"Already logged in"
            elif self.state == AUTHENTICATED and entry.states <= SEL:
                need = b"No mailbox selected"
            self._bad(tag + b" BAD " + need)
            return
        args = Args(cmd, self.utf8)
        uid = False
        full_name = name
        status, text = b"OK", b""
        try:
            if name == b"UID":
                sub = args.atom().upper()
                if sub not in UID_COMMANDS:
                    raise ParseError("unknown UID command")
                args.sp()
                uid, name = True, sub
                full_name = b"UID " + sub
                entry = COMMANDS[sub]
            self._current_name = full_name
            if self.view is not None and name != b"LOGOUT":
                if self._must_look():
                    await self._pull()
                if uid:
                    # RFC 3501 §7.4.1: a UID command may report expunges, and doing so
                    # first means its UID set never names a message that is gone
                    self._flush(allow_expunge=True)
            text = await entry.handler(self, args, uid)
        except (ParseError, Bad) as e:
            status, text = b"BAD", str(e).encode("utf-8", errors="replace") or b"Syntax error"
        except No as e:
            status, text = b"NO", e.line()
        except ViewReset:
            self._send(b"* BYE Mailbox was recreated; select it again")
            self._close()
            return
        except KNOWN as e:
            status, text = b"NO", to_no(e).line()
        if self._closed:
            return
        if name not in PURE:
            self.stale = True
        if self.view is not None:
            pulled = True
            if self._pull_again():
                try:
                    await self._pull()
                except ViewReset:
                    self._send(b"* BYE Mailbox was recreated; select it again")
                    self._close()
                    return
                except errors.NoSuchFolder:
                    self._send(b"* BYE Selected mailbox was deleted")
                    self._close()
                    return
                except KNOWN as e:
                    # transient store trouble: the updates wait for the next command
                    log.warn("IMAP update pull failed: {error!r}", error=e)
                    pulled = False
            if pulled:
                self._flush(allow_expunge=uid or name not in NO_EXPUNGE, hold=True)
        if status == b"BAD":
            self._bad(tag + b" BAD " + text)
            return
        self._bad_in_a_row = 0
        if self.state == LOGOUT:
            self._send(tag + b" OK " + text)
            self._close()
            return
        view = self.view
        if (
            status == b"OK"
            and self.condstore
            and view is not None
            and view.modseq > self.told_modseq
            and not text.startswith(b"[")
        ):
            # the mailbox changed during the command: its new HIGHESTMODSEQ, so that a
            # client resyncing later starts from there (as Dovecot tells it)
            text = b"[HIGHESTMODSEQ %d] " % view.modseq + text
            self.told_modseq = view.modseq
        self._send(tag + b" " + status + b" " + text)
        if self.after_response is not None:
            after, self.after_response = self.after_response, None
            after()

    async def next_line(self) -> bytes:
        """The next raw line from the client (AUTHENTICATE responses, IDLE's DONE)."""
        d: Deferred[bytes] = Deferred()
        self._line_waiter = d
        self._pump()
        return await d

    # -- the selected mailbox ----------------------------------------------------------

    def _pull_again(self) -> bool:
        """Whether a command must pull again once it has run (it always pulls first).

        RFC 3501 §5.2: changes by others must reach the client.  While the hub pushes,
        every change to the selected mailbox made through the store or seen by the
        watcher wakes this session, so with no wake-up since the pull before the command
        and a command that changed nothing itself (:data:`~mailhost.imap.dispatch.PURE`)
        the second pull would learn nothing.  Without push every command pulls twice.
        """
        return (
            self.stale
            or not self.changes.push_enabled
            or self._generation() != self._pulled_generation
        )

    def _must_look(self) -> bool:
        """Whether a command pulls before it runs.

        While the hub pushes, every change to the selected mailbox (by this process's
        store, including folder deletion and rename, or by another program through the
        watcher) wakes this session and makes it stale; with no wake-up since the last
        pull there is nothing to learn, and the command skips a trip to the thread pool.
        A pull older than :data:`LOOK_AFTER` is repeated anyway, which bounds what a lost
        wake-up (or a change in the instant between a SELECT's listing and its
        subscription) can hide.
        """
        return (
            self.stale
            or not self.changes.push_enabled
            or self.clock.seconds() - self._last_pull >= LOOK_AFTER
            # a change whose wake-up is still on its way to the reactor
            or self._generation() != self._pulled_generation
        )

    def _generation(self) -> int:
        view, account = self.view, self.account
        if view is None or account is None:
            return 0
        return self.changes.generation(account.username, view.folder_id)

    def _began_pull(self) -> None:
        self._last_pull = self.clock.seconds()
        self._pulled_generation = self._generation()
        self.stale = False

    async def _pull(self) -> None:
        view, folder = self.view, self.folder
        assert view is not None and folder is not None
        self._began_pull()
        try:
            changes, claimed = await pulls.pull(
                self.blocking, folder, view.modseq, claim=not view.read_only
            )
        except BaseException:
            self.stale = True  # nothing learnt: the next command tries again
            raise
        if self.view is not view:
            return
        if view.apply(changes):
            self._recent_claimed |= claimed

    def _flush(self, allow_expunge: bool, hold: bool = False) -> None:
        """Write the selected mailbox's pending updates (``hold``: with the next write)."""
        if self.view is None:
            return
        lines = self.view.flush(allow_expunge, self._recent_claimed)
        self._recent_claimed = frozenset()
        if lines:
            data = b"\r\n".join(lines) + b"\r\n"  # one write: a delivery wakes many
            if hold:
                self.hold(data)
            else:
                self.write(data)

    def _wake(self) -> None:
        """A change to the selected folder (or an IDLE poll): pull and report it now if
        the client is IDLEing."""
        self.stale = True
        if self._idling and not self._closed:
            if self._idle_sync_running:
                self._idle_sync_again = True
                return
            self._idle_pull()

    def _idle_pull(self) -> None:
        """The pull of an IDLE session, by plain callbacks: one delivery wakes every
        session that waits on the folder, and this is the path all of them take."""
        view, folder = self.view, self.folder
        if view is None or folder is None or not self._idling or self._closed:
            return
        self._idle_sync_running = True
        self._idle_sync_again = False
        self._began_pull()
        pulls.request(
            self.blocking,
            folder,
            view.modseq,
            not view.read_only,
            functools.partial(self._idle_pulled, view),
            self._idle_pull_failed,
            self._next_turn,
        )

    def _next_turn(self, f: Callable[[], None]) -> object:
        return self.clock.callLater(0, f)

    def _idle_pulled(self, view: View, result: pulls.Result) -> None:
        self._idle_sync_running = False
        if self.view is view:
            changes, claimed = result
            if view.apply(changes):
                self._recent_claimed |= claimed
            if self._idling:
                self._flush(allow_expunge=True)
        if self._idle_sync_again:
            self._idle_pull()

    def _idle_pull_failed(self, failure: Failure) -> None:
        self._idle_sync_running = False
        self.stale = True  # nothing learnt: the next command tries again
        self._idle_failed(failure)

    def _idle_failed(self, failure: Failure) -> None:
        if failure.check(ViewReset, errors.NoSuchFolder):
            self._send(b"* BYE Selected mailbox is gone")
            self._close()
            return
        if failure.check(*KNOWN):
            return  # transient: the next wake-up or command tries again
        self._failed(failure)

    def enable_condstore(self) -> None:
        """Take a CONDSTORE enabling command (RFC 7162 §3.1): from now on flag updates
        carry MODSEQ, and a mailbox already selected has its HIGHESTMODSEQ announced."""
        if self.condstore:
            return
        self.condstore = True
        if self.view is not None:
            self.view.condstore = True
            self._send(b"* OK [HIGHESTMODSEQ %d] Highest" % self.view.modseq)
            self.told_modseq = self.view.modseq

    def enable_qresync(self) -> None:
        """ENABLE QRESYNC (RFC 7162 §3.2.3): CONDSTORE too, and VANISHED for EXPUNGE."""
        self.enable_condstore()
        self.qresync = True
        if self.view is not None:
            self.view.qresync = True

    def expunged(self, pairs: list[tuple[int, int]]) -> None:
        """Tell the client of messages this session removed, as ``(seq, uid)``: one
        ``EXPUNGE`` each, or one ``VANISHED`` under QRESYNC."""
        if not pairs:
            return
        if self.qresync:
            self._send(b"* VANISHED " + uid_ranges(sorted(u for _, u in pairs)).encode())
            return
        for seq, _ in pairs:
            self._send(b"* %d EXPUNGE" % seq)

    def _deselect(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.folder = None
        self.view = None
        self._recent_claimed = frozenset()
        self.parsed_cache.clear()
        if self.state == SELECTED:
            self.state = AUTHENTICATED

    def resolve(self, s: grammar.SeqSet, uid: bool, strict: bool = True) -> list[int]:
        """UIDs of a sequence set or UID set, in order (RFC 3501 §6.4.8, RFC 9051 §6.4.9)."""
        import bisect

        view = self.view
        assert view is not None
        if s.saved:
            # RFC 5182 §2.1: the saved messages not expunged since, by UID either way
            known = view.flags
            return [u for u in view.saved if u in known]
        uids = view.uids
        if uid:
            if not uids:
                return []
            spans = []
            for lo, hi in sorted(s.bounds(uids[-1])):
                i = bisect.bisect_left(uids, lo)
                j = bisect.bisect_right(uids, hi)
                if i < j:
                    spans.append((i, j))
            return _join_spans(uids, spans)
        n = len(uids)
        if n == 0 and s.has_star:
            return []  # "1:*" in an empty mailbox names nothing; not worth a BAD
        if strict and s.max_number() > n:
            raise Bad("Invalid message sequence number")
        if n == 0:
            return []
        spans = []
        for lo, hi in sorted(s.bounds(n)):
            i, j = max(lo, 1) - 1, min(hi, n)
            if i < j:
                spans.append((i, j))
        return _join_spans(uids, spans)

    # -- helpers -----------------------------------------------------------------------

    def _capabilities(self) -> list[bytes]:
        ctx = self._ctx()
        plain = self.authenticator.plaintext_allowed(ctx)
        return capabilities(
            authenticated=self.user is not None,
            starttls=self.starttls_available,
            plaintext_allowed=plain,
            mechanisms=[
                m
                for m in (self.authenticator.mechanisms(ctx) if plain else [])
                if m.upper() in sasl.MECHANISMS
            ],
            append_limit=self.max_message_size,
            compress=self.config.compress_level > 0,
        )

    async def _login(self, username: str, password: str) -> bytes:
        try:
            user = await self.authenticator.login(username, password, self._ctx())
        except UnauthorizedLogin:
            raise No(b"AUTHENTICATIONFAILED", "Authentication failed") from None
        if self._closed:
            user.logout()
            raise Closed()
        if not self.limits.login(user.username):
            user.logout()
            raise No(b"LIMIT", "Too many sessions for this user")
        self._counted_user = user.username
        self.user = user
        self.account = user.account
        self.state = AUTHENTICATED
        return b"[CAPABILITY " + b" ".join(self._capabilities()) + b"] Logged in"

    def run(self, f: Callable[..., Any], *args: Any) -> Deferred[Any]:
        return self.blocking.run(f, *args)

    def writable_target(self, folder: Folder) -> None:
        if folder.read_only:
            raise errors.ReadOnly(folder.name)


def _join_spans(uids: list[int], spans: list[tuple[int, int]]) -> list[int]:
    """``uids[i:j]`` of each span, in order and without repeats; spans sorted by start.

    ``1:*`` is one slice: no set of 100,000 numbers is built and sorted.
    """
    out: list[int] = []
    end = 0
    for i, j in spans:
        i = max(i, end)
        if i < j:
            out.extend(uids[i:j])
            end = j
    return out
