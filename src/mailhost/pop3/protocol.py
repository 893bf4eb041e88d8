"""The POP3 session: command parser and state machine, free of I/O.

The Twisted adapter (:mod:`mailhost.pop3.server`) feeds lines in and carries out the
returned effects: write a reply, close, start TLS, check a password, send a message,
apply the UPDATE state.  Slow effects report back through the ``*_done``/``*_failed``
methods; the adapter feeds no further line until they have (PIPELINING, RFC 2449 §6.6:
answers go out in command order).

States (RFC 1939 §3): AUTHORIZATION → TRANSACTION → UPDATE.  Deletions are applied only
on QUIT from TRANSACTION; a dropped connection applies none (RFC 1939 §6).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from twisted.cred.error import UnauthorizedLogin

from mailhost.auth import sasl
from mailhost.pop3 import responses as r
from mailhost.pop3.capabilities import Offer, capabilities
from mailhost.pop3.config import POP3Config
from mailhost.pop3.mailbox import Entry, Maildrop
from mailhost.pop3.stuffing import BodyWriter, NulToHighBit, TopFilter, Transform
from mailhost.pop3.usersettings import UserPolicy


class State(enum.Enum):
    AUTHORIZATION = "authorization"
    TRANSACTION = "transaction"
    UPDATE = "update"
    CLOSED = "closed"


# --- effects -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    data: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection once everything before has been written."""


@dataclass(frozen=True, slots=True)
class StartTLS:
    """Start TLS now and drop every byte already received (RFC 2595 §4, no injection)."""


@dataclass(frozen=True, slots=True)
class Authenticate:
    username: str
    secret: str


@dataclass(frozen=True, slots=True)
class AuthenticateAPOP:
    """RFC 1939 §7: check ``digest`` against the greeting's ``timestamp``."""

    username: str
    timestamp: str
    digest: str


@dataclass(frozen=True, slots=True)
class Retrieve:
    """Send ``status`` then the message body (RETR, or TOP when ``body_lines`` is set)."""

    entry: Entry
    status: bytes
    body_lines: int | None = None
    outlook_no_nuls: bool = False
    oe_ns_eoh: bool = False

    def writer(self) -> BodyWriter:
        transforms: list[Transform] = []
        if self.body_lines is not None:
            transforms.append(TopFilter(self.body_lines, self.oe_ns_eoh))
        if self.outlook_no_nuls:
            transforms.append(NulToHighBit())
        return BodyWriter(transforms)


@dataclass(frozen=True, slots=True)
class Update:
    """The UPDATE state: expunge and flag these UIDs, then reply and close."""

    expunge: tuple[int, ...]
    seen: tuple[int, ...]


Effect = Reply | Close | StartTLS | Authenticate | AuthenticateAPOP | Retrieve | Update


# --- lines -------------------------------------------------------------------------


class _TooLong:
    def __repr__(self) -> str:
        return "TOO_LONG"


#: Stands for a line longer than the limit (its text is dropped).
TOO_LONG = _TooLong()


class LineReader:
    """Splits the byte stream into lines (LF or CRLF), holding at most ``max_length``.

    A longer line is reported once as :data:`TOO_LONG` and skipped up to its LF, so the
    session stays in step with the client.
    """

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length
        self._buf = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes | _TooLong]:
        out: list[bytes | _TooLong] = []
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                if not self._skipping:
                    self._buf += data[start:]
                    if len(self._buf) > self.max_length + 1:  # +1: a CR may follow
                        self._buf.clear()
                        self._skipping = True
                        out.append(TOO_LONG)
                return out
            if self._skipping:
                self._skipping = False
            else:
                self._buf += data[start:nl]
                line = bytes(self._buf)
                self._buf.clear()
                if line.endswith(b"\r"):
                    line = line[:-1]
                out.append(TOO_LONG if len(line) > self.max_length else line)
            start = nl + 1

    def clear(self) -> None:
        self._buf.clear()
        self._skipping = False


# --- the session ---------------------------------------------------------------------

_NUMBER = re.compile(rb"[0-9]{1,10}")
_KEYWORD = re.compile(rb"[A-Za-z0-9]{1,16}")
_DIGEST = re.compile(rb"[0-9A-Fa-f]{32}")

_AUTH_STATE = {"USER", "PASS", "AUTH", "APOP", "STLS", "UTF8", "LANG", "CAPA", "QUIT"}
_TRANS_STATE = {
    "STAT",
    "LIST",
    "RETR",
    "DELE",
    "NOOP",
    "RSET",
    "TOP",
    "UIDL",
    "LANG",
    "CAPA",
    "QUIT",
}

#: RFC 6856 §3 LANG: the languages response texts exist in.
LANGUAGES = {"en": "English"}
_KNOWN = _AUTH_STATE | _TRANS_STATE


class BadArguments(Exception):
    """The command's arguments do not parse."""


@dataclass
class Session:
    """One connection's POP3 state."""

    config: POP3Config
    hostname: str
    #: TLS is active (implicit TLS, or after STLS).
    secure: bool
    #: STLS may be offered (a provider is configured and TLS is not active yet).
    stls_available: bool
    plaintext: bool
    mechanisms: tuple[str, ...]
    state: State = State.AUTHORIZATION
    maildrop: Maildrop | None = None
    username: str | None = None
    still_valid: Callable[[], bool] = field(default=lambda: True)
    utf8: bool = False
    #: RFC 1939 §7: the greeting's ``<...>`` timestamp; set only when APOP is offered.
    apop_timestamp: str | None = None
    #: The logged-in user's EXPIRE and LOGIN-DELAY (RFC 2449 §6.7, §6.8).
    policy: UserPolicy | None = None
    _pending_user: str | None = None
    _sasl: sasl.Mechanism | None = None
    _auth_failures: int = 0
    _bad_commands: int = 0
    _lease_lost: bool = False

    # -- replies outside commands -----------------------------------------------------

    def greeting(self) -> bytes:
        text = f"{self.hostname} POP3 server ready"
        if self.apop_timestamp is not None:
            text += " " + self.apop_timestamp
        return r.ok(text)

    def offer(self) -> Offer:
        policy = self.policy
        return Offer(
            authenticated=self.state is not State.AUTHORIZATION,
            stls=self.stls_available and not self.secure,
            plaintext=self.plaintext,
            mechanisms=self.mechanisms,
            expire=policy.expire if policy is not None else None,
            login_delay=policy.login_delay if policy is not None else None,
        )

    # -- input ------------------------------------------------------------------------

    def line_received(self, line: bytes) -> list[Effect]:
        if self.state in (State.UPDATE, State.CLOSED):
            return []
        if self._sasl is not None:
            return self._sasl_response(line)
        if self.state is State.TRANSACTION:
            if not self.still_valid():
                return self._close(r.REVOKED)
            if self._lease_lost:
                return self._close(r.LOCK_LOST)
        keyword, _, rest = line.partition(b" ")
        if not _KEYWORD.fullmatch(keyword):
            return self._bad(r.UNKNOWN_COMMAND)
        name = keyword.decode().upper()
        allowed = _AUTH_STATE if self.state is State.AUTHORIZATION else _TRANS_STATE
        if name not in allowed:
            return self._bad(r.NOT_IN_STATE if name in _KNOWN else r.UNKNOWN_COMMAND)
        handler = getattr(self, "do_" + name)
        try:
            effects: list[Effect] = handler(rest)
        except BadArguments:
            return self._bad(r.BAD_SYNTAX)
        return effects

    def line_too_long(self) -> list[Effect]:
        if self._sasl is not None:
            self._sasl = None
            return self._auth_failed(r.BAD_BASE64)
        return self._bad(r.LINE_TOO_LONG)

    # -- helpers ----------------------------------------------------------------------

    def _close(self, reply: bytes) -> list[Effect]:
        self.state = State.CLOSED
        return [Reply(reply), Close()]

    def _bad(self, reply: bytes) -> list[Effect]:
        self._bad_commands += 1
        if self._bad_commands >= self.config.max_bad_commands:
            return self._close(r.TOO_MANY_BAD)
        return [Reply(reply)]

    def _auth_failed(self, reply: bytes) -> list[Effect]:
        self._auth_failures += 1
        if self._auth_failures >= self.config.max_auth_failures:
            return self._close(r.TOO_MANY_AUTH_FAILURES)
        return [Reply(reply)]

    @staticmethod
    def _no_args(rest: bytes) -> None:
        if rest.strip():
            raise BadArguments

    @staticmethod
    def _args(rest: bytes, least: int, most: int) -> list[int]:
        parts = rest.split()
        if not least <= len(parts) <= most or not all(_NUMBER.fullmatch(p) for p in parts):
            raise BadArguments
        return [int(p) for p in parts]

    def _message(self, number: int) -> Entry | bytes:
        """The live message numbered ``number``, or the ``-ERR`` to send."""
        assert self.maildrop is not None
        entry = self.maildrop.entry(number)
        if entry is None:
            return r.NO_SUCH_MESSAGE
        if number in self.maildrop.deleted:
            return r.already_deleted(number)
        return entry

    # -- AUTHORIZATION ----------------------------------------------------------------

    def do_CAPA(self, rest: bytes) -> list[Effect]:
        self._no_args(rest)
        caps = capabilities(self.config, self.offer())
        return [Reply(r.multiline(r.ok("Capability list follows"), caps))]

    def do_QUIT(self, rest: bytes) -> list[Effect]:
        self._no_args(rest)
        if self.state is State.TRANSACTION:
            assert self.maildrop is not None
            self.state = State.UPDATE
            expunge, seen = self.maildrop.update_plan()
            return [Update(expunge, seen)]
        return self._close(r.ok(f"{self.hostname} POP3 server signing off"))

    def do_STLS(self, rest: bytes) -> list[Effect]:
        self._no_args(rest)
        if not self.stls_available or self.secure:
            return self._bad(r.STLS_REFUSED)
        self._pending_user = None
        return [Reply(r.ok("Begin TLS negotiation now")), StartTLS()]

    def tls_started(self, plaintext: bool, mechanisms: tuple[str, ...]) -> None:
        """TLS is on: what the authenticator allows now (RFC 2595 §4: CAPA may change)."""
        self.secure = True
        self.plaintext = plaintext
        self.mechanisms = mechanisms

    def do_UTF8(self, rest: bytes) -> list[Effect]:
        self._no_args(rest)
        if not self.config.utf8:
            return self._bad(r.UNKNOWN_COMMAND)
        self.utf8 = True
        return [Reply(r.ok("UTF8 enabled"))]

    def do_LANG(self, rest: bytes) -> list[Effect]:
        """RFC 6856 §3: list languages, or pick one (``*``: the server's default)."""
        if not self.config.utf8:
            return self._bad(r.UNKNOWN_COMMAND)
        parts = rest.split()
        if not parts:
            lines = [f"{tag} {name}" for tag, name in LANGUAGES.items()]
            return [Reply(r.multiline(r.ok("Language listing follows"), lines))]
        if len(parts) > 1:
            raise BadArguments
        tag = parts[0].decode("ascii", "replace").lower()
        if tag == "*":
            tag = "en"
        if tag not in LANGUAGES:
            return self._bad(r.err("Unsupported language"))
        return [Reply(r.ok(f"{tag} {LANGUAGES[tag]}"))]

    def do_APOP(self, rest: bytes) -> list[Effect]:
        """RFC 1939 §7 ``APOP name digest``; allowed without TLS (no password is sent).

        A digest that is not 32 hex digits is checked (and fails) like any wrong one.
        """
        self._pending_user = None
        if self.apop_timestamp is None:
            return self._bad(r.APOP_UNSUPPORTED)
        parts = rest.split()
        if len(parts) != 2:
            raise BadArguments
        try:
            user = parts[0].decode("utf-8")
        except UnicodeDecodeError:
            raise BadArguments from None
        answer = parts[1]
        digest = answer.decode("ascii").lower() if _DIGEST.fullmatch(answer) else ""
        return [AuthenticateAPOP(user, self.apop_timestamp, digest)]

    def do_USER(self, rest: bytes) -> list[Effect]:
        parts = rest.split()
        if len(parts) != 1:
            raise BadArguments
        if not self.plaintext:
            return self._auth_failed(r.PLAINTEXT_REFUSED)
        try:
            self._pending_user = parts[0].decode("utf-8")
        except UnicodeDecodeError:
            raise BadArguments from None
        return [Reply(r.ok("Send PASS"))]

    def do_PASS(self, rest: bytes) -> list[Effect]:
        # RFC 1939 §7: the password is the rest of the line; it may contain spaces.
        user, self._pending_user = self._pending_user, None
        if user is None:
            return self._bad(r.USER_FIRST)
        if not self.plaintext:
            return self._auth_failed(r.PLAINTEXT_REFUSED)
        if not rest:
            raise BadArguments
        try:
            secret = rest.decode("utf-8")
        except UnicodeDecodeError:
            return self._auth_failed(r.AUTH_FAILED)
        return [Authenticate(user, secret)]

    def do_AUTH(self, rest: bytes) -> list[Effect]:
        self._pending_user = None
        parts = rest.split()
        if not parts:
            # Old-style SASL discovery (Outlook): +OK, one mechanism per line, "."
            return [Reply(r.multiline(r.ok("Methods supported"), self.mechanisms))]
        if len(parts) > 2:
            raise BadArguments
        name = parts[0].decode("ascii", "replace").upper()
        if name not in self.mechanisms:
            if name in sasl.MECHANISMS and not self.plaintext:
                return self._auth_failed(r.PLAINTEXT_REFUSED)
            return self._bad(r.UNKNOWN_MECHANISM)
        mech = sasl.mechanism(name)
        assert mech is not None
        initial = None
        if len(parts) == 2:
            try:
                initial = sasl.decode_response(parts[1])
            except sasl.SASLError:
                return self._auth_failed(r.BAD_BASE64)
        return self._sasl_step(mech, lambda: mech.start(initial))

    def _sasl_response(self, line: bytes) -> list[Effect]:
        mech, self._sasl = self._sasl, None
        assert mech is not None
        if line.strip() == b"*":
            return [Reply(r.AUTH_CANCELLED)]
        try:
            data = sasl.decode_response(line)
        except sasl.SASLError:
            return self._auth_failed(r.BAD_BASE64)
        return self._sasl_step(mech, lambda: mech.feed(data))

    def _sasl_step(self, mech: sasl.Mechanism, step: Callable[[], sasl.Step]) -> list[Effect]:
        try:
            result = step()
        except sasl.SASLError:
            return self._auth_failed(r.AUTH_FAILED)
        if isinstance(result, sasl.Challenge):
            self._sasl = mech
            return [Reply(r.challenge(result.encoded))]
        if result.authzid and result.authzid != result.username:
            return self._auth_failed(r.AUTHZID_REFUSED)
        return [Authenticate(result.username, result.password)]

    # -- login results ----------------------------------------------------------------

    def login_succeeded(
        self,
        username: str,
        maildrop: Maildrop,
        still_valid: Callable[[], bool],
        policy: UserPolicy | None = None,
    ) -> list[Effect]:
        self.state = State.TRANSACTION
        self.username = username
        self.policy = policy
        self.maildrop = maildrop
        self.still_valid = still_valid
        count, size = maildrop.stat()
        return [Reply(r.ok(f"Logged in, {count} messages ({size} octets)"))]

    def login_failed(self, failure: BaseException) -> list[Effect]:
        """Authentication or opening the maildrop failed (the error is mapped here)."""
        reply = r.error_reply(failure)
        if isinstance(failure, UnauthorizedLogin):
            return self._auth_failed(reply)
        return [Reply(reply)]

    def login_refused(self, reply: bytes) -> list[Effect]:
        """The login was refused by a local policy (LOGIN-DELAY, connection limits)."""
        return [Reply(reply)]

    # -- TRANSACTION ------------------------------------------------------------------

    def do_STAT(self, rest: bytes) -> list[Effect]:
        self._no_args(rest)
        assert self.maildrop is not None
        count, size = self.maildrop.stat()
        return [Reply(r.ok(f"{count} {size}"))]

    def do_LIST(self, rest: bytes) -> list[Effect]:
        assert self.maildrop is not None
        args = self._args(rest, 0, 1)
        if args:
            found = self._message(args[0])
            if isinstance(found, bytes):
                return self._bad(found)
            return [Reply(r.ok(f"{found.number} {found.size}"))]
        live = self.maildrop.live()
        size = sum(e.size for e in live)
        # (each line starts with a number: nothing to dot-stuff)
        body = b"".join([b"%d %d\r\n" % (e.number, e.size) for e in live])
        return [Reply(r.ok(f"{len(live)} messages ({size} octets)") + body + b".\r\n")]

    def do_UIDL(self, rest: bytes) -> list[Effect]:
        assert self.maildrop is not None
        args = self._args(rest, 0, 1)
        if args:
            found = self._message(args[0])
            if isinstance(found, bytes):
                return self._bad(found)
            return [Reply(r.ok(f"{found.number} {found.unique_id}"))]
        # (each line starts with a number: nothing to dot-stuff)
        body = "".join([f"{e.number} {e.unique_id}\r\n" for e in self.maildrop.live()])
        return [Reply(r.ok("Unique-ID listing follows") + body.encode() + b".\r\n")]

    def do_RETR(self, rest: bytes) -> list[Effect]:
        (number,) = self._args(rest, 1, 1)
        found = self._message(number)
        if isinstance(found, bytes):
            return self._bad(found)
        status = r.ok(f"{found.size} octets")
        return [Retrieve(found, status, None, self.config.outlook_no_nuls)]

    def do_TOP(self, rest: bytes) -> list[Effect]:
        number, lines = self._args(rest, 2, 2)
        found = self._message(number)
        if isinstance(found, bytes):
            return self._bad(found)
        status = r.ok("Top of message follows")
        return [Retrieve(found, status, lines, self.config.outlook_no_nuls, self.config.oe_ns_eoh)]

    def retrieve_done(self, effect: Retrieve) -> None:
        """A RETR went out whole: the message gets ``\\Seen`` at QUIT (TOP does not count)."""
        if effect.body_lines is None and self.maildrop is not None:
            self.maildrop.retrieved.add(effect.entry.number)

    def retrieve_failed(self, failure: BaseException) -> list[Effect]:
        """Reading the message failed before its status line was sent."""
        return self._bad(r.error_reply(failure))

    def do_DELE(self, rest: bytes) -> list[Effect]:
        assert self.maildrop is not None
        (number,) = self._args(rest, 1, 1)
        found = self._message(number)
        if isinstance(found, bytes):
            return self._bad(found)
        self.maildrop.delete(number)
        return [Reply(r.ok(f"Message {number} deleted"))]

    def do_NOOP(self, rest: bytes) -> list[Effect]:
        self._no_args(rest)
        return [Reply(r.ok())]

    def do_RSET(self, rest: bytes) -> list[Effect]:
        self._no_args(rest)
        assert self.maildrop is not None
        self.maildrop.reset()
        count, size = self.maildrop.stat()
        return [Reply(r.ok(f"Maildrop has {count} messages ({size} octets)"))]

    # -- UPDATE -----------------------------------------------------------------------

    def update_done(self) -> list[Effect]:
        assert self.maildrop is not None
        count = len(self.maildrop) - len(self.maildrop.deleted)
        left = f"{count} messages left" if count else "maildrop empty"
        return self._close(r.ok(f"{self.hostname} POP3 server signing off ({left})"))

    def update_failed(self, failure: BaseException) -> list[Effect]:
        r.error_reply(failure)  # unknown errors propagate
        return self._close(r.UPDATE_FAILED)

    def lease_lost(self) -> None:
        """The maildrop lock could not be renewed: the next command ends the session."""
        self._lease_lost = True
