"""The ``twisted.cred`` checker of the host and the credentials it accepts.

The stock servers hand a checker nothing but user name and password; mailhost's
credentials also carry the :class:`~mailhost.auth.api.LoginContext` of the connection
(protocol, client address, TLS), the time of the attempt and whether password+code is
open for the user, so the checker can scope app passwords and device grants.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import ICredentials, IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import Attribute, implementer

from mailhost.auth.api import LoginContext
from mailhost.auth.apop import check_apop
from mailhost.auth.passwd import PasswdError
from mailhost.auth.state import StateError
from mailhost.auth.verifier import CheckResult, Verifier
from mailhost.blocking import Blocking
from mailhost.errors import TemporaryFailure


class IContextCredentials(IUsernamePassword):
    """A user name and secret presented on one connection."""

    context = Attribute("The LoginContext of the connection.")
    time = Attribute("When the attempt was made (reactor seconds).")
    code_allowed = Attribute("Whether password+code logins are open for this user now.")


@implementer(IContextCredentials)
@dataclass
class ContextCredentials:
    username: str
    password: str
    context: LoginContext
    time: float
    code_allowed: bool = True
    #: Set by the checker: how the check went (for throttling, logging and notices).
    result: CheckResult | None = None

    def checkPassword(self, password: bytes) -> bool:  # IUsernamePassword
        raise NotImplementedError("checked by MailChecker, which may need more than a compare")


class IAPOPCredentials(ICredentials):
    """A POP3 APOP answer (RFC 1939 §7): user name, greeting timestamp, MD5 digest."""

    username = Attribute("The user name sent with APOP.")
    timestamp = Attribute("The <...> timestamp of this connection's greeting.")
    digest = Attribute("The 32 hex digit digest the client sent.")
    context = Attribute("The LoginContext of the connection.")
    time = Attribute("When the attempt was made (reactor seconds).")


@implementer(IAPOPCredentials)
@dataclass
class APOPCredentials:
    username: str
    timestamp: str
    digest: str
    context: LoginContext
    time: float
    #: Set by the checker, as for :class:`ContextCredentials`.
    result: CheckResult | None = None


class AvatarId(str):
    """The avatar id the checker returns: the user name plus how the login was proved."""

    result: CheckResult
    #: What the checker's ``prepare`` opened for the realm in the same trip to the thread
    #: pool (``None``: the realm opens it itself).
    opened: Any = None

    def __new__(cls, result: CheckResult) -> AvatarId:
        self = super().__new__(cls, result.user)
        self.result = result
        return self


class CheckFailed(UnauthorizedLogin):
    """UnauthorizedLogin that keeps the check's details for throttling and logging."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__()
        self.result = result


@implementer(ICredentialsChecker)
class MailChecker:
    """Runs :meth:`Verifier.check` in the thread pool (never on the reactor)."""

    credentialInterfaces = (IContextCredentials, IAPOPCredentials)
    log = Logger()

    def __init__(
        self, verifier: Verifier, blocking: Blocking, prepare: Prepare | None = None
    ) -> None:
        self.verifier = verifier
        self.blocking = blocking
        #: Run after a successful check in the same blocking call (the realm's
        #: ``open_account``), so a login costs one trip to the thread pool, not two.
        self.prepare = prepare

    # Twisted declares avatar ids as bytes; Portal passes any object through to the realm.
    def requestAvatarId(  # type: ignore[override]
        self, credentials: ContextCredentials | APOPCredentials
    ) -> Deferred[AvatarId]:
        d: Deferred[tuple[CheckResult, Any]]
        if isinstance(credentials, APOPCredentials):
            d = self.blocking.run(
                _checked,
                self.prepare,
                check_apop,
                self.verifier.passwd,
                self.verifier.state,
                credentials.username,
                credentials.timestamp,
                credentials.digest,
            )
        else:
            d = self.blocking.run(
                _checked,
                self.prepare,
                self.verifier.check,
                credentials.username,
                credentials.password,
                credentials.context,
                credentials.time,
                credentials.code_allowed,
            )

        def done(answer: tuple[CheckResult, Any]) -> AvatarId:
            result, opened = answer
            credentials.result = result
            if not result.ok:
                raise CheckFailed(result)
            avatar_id = AvatarId(result)
            avatar_id.opened = opened
            return avatar_id

        def trouble(f: Failure) -> Failure:
            f.trap(PasswdError, StateError)
            self.log.error("cannot check login: {error}", error=f.value)
            return Failure(TemporaryFailure(str(f.value)))

        return d.addCallbacks(done, trouble)


#: ``(user name) -> whatever the realm needs opened``; blocking (runs in the thread pool).
Prepare = Callable[[str], Any]


def _checked(
    prepare: Prepare | None, check: Callable[..., CheckResult], *args: Any
) -> tuple[CheckResult, Any]:
    """``check(*args)`` and, when it succeeds, ``prepare(user)``: one blocking call.

    A ``prepare`` that fails leaves the opening to the realm, which meets (and reports)
    the same trouble on its own path.
    """
    result = check(*args)
    if not result.ok or prepare is None:
        return result, None
    try:
        return result, prepare(result.user)
    except Exception:
        return result, None
