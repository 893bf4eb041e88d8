"""What the protocols need from authentication, and nothing more.

POP3 and IMAP4 hold an :class:`Authenticator`; it wraps the one ``twisted.cred`` Portal
of the host, passing a :class:`LoginContext` (protocol, client address, TLS or not) that
the stock servers never give a checker.  A successful login yields a :class:`MailUser`
avatar whose ``account`` is the user's store account.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from twisted.internet.defer import Deferred

from mailhost.store.api import Account

ProtocolName = Literal["pop3", "imap", "web", "lmtp"]
PlaintextPolicy = Literal["never", "loopback", "always"]


@dataclass(frozen=True, slots=True)
class LoginContext:
    """Who is asking: the checker's view of one connection."""

    protocol: ProtocolName
    peer: str
    secure: bool

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.peer.split("%", 1)[0]).is_loopback
        except ValueError:
            return self.peer in ("localhost", "")


def plaintext_allowed(policy: PlaintextPolicy, ctx: LoginContext) -> bool:
    """May a password be sent in the clear on this connection? (RFC 2595 §2.1, RFC 8314)."""
    if ctx.secure or policy == "always":
        return True
    return policy == "loopback" and ctx.loopback


def _always_valid() -> bool:
    return True


@dataclass(eq=False)
class MailUser:
    """The avatar both protocols get: a user name and that user's store account."""

    username: str
    account: Account
    #: False once the credential this session used was revoked (an app password):
    #: protocols check it before each command and end the session.
    still_valid: Callable[[], bool] = field(default=_always_valid)
    logout: Callable[[], None] = field(default=lambda: None)
    #: Per-user settings from the user database (the passwd-file's extra fields, with any
    #: ``userdb_`` prefix removed), e.g. ``{"pop3_login_delay": "600"}``.
    settings: Mapping[str, str] = field(default_factory=dict)


class Authenticator(Protocol):
    """The login seam the protocols call."""

    def plaintext_allowed(self, ctx: LoginContext) -> bool:
        """Whether USER/PASS, LOGIN and AUTH PLAIN/LOGIN may be offered and used."""

    def mechanisms(self, ctx: LoginContext) -> list[str]:
        """SASL mechanisms to advertise on this connection, e.g. ``["PLAIN", "LOGIN"]``."""

    def login(self, username: str, secret: str, ctx: LoginContext) -> Deferred[MailUser]:
        """Check a user name and secret.

        Fails with :class:`twisted.cred.error.UnauthorizedLogin` for a wrong user name or
        secret (which of the two is never said), :class:`mailhost.errors.LoginDelayed` when
        throttled, :class:`mailhost.errors.TemporaryFailure` when the user database or
        store is unavailable.
        """

    def login_apop(
        self, username: str, timestamp: str, digest: str, ctx: LoginContext
    ) -> Deferred[MailUser]:
        """Check a POP3 APOP digest (RFC 1939 §7): MD5 hex of ``timestamp`` + secret.

        Only users whose stored secret is plaintext-equivalent can pass; every other user
        fails exactly like a wrong digest.  Failures as for :meth:`login`.
        """
