"""The host's :class:`~mailhost.auth.api.Authenticator`: throttle, Portal, logging.

``login`` wraps the secret in :class:`~mailhost.auth.checkers.ContextCredentials` and asks
the one Portal for the protocol's avatar interface.  A failure answer is held back by the
throttle's delay (``reactor.callLater``) so guessing is slow while the reactor stays free.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import Portal
from twisted.internet.defer import Deferred, fail
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure

from mailhost.auth.api import LoginContext, MailUser, PlaintextPolicy, plaintext_allowed
from mailhost.auth.checkers import APOPCredentials, CheckFailed, ContextCredentials
from mailhost.auth.notify import notice
from mailhost.auth.realm import AVATAR_INTERFACES
from mailhost.auth.sessions import SessionWatch
from mailhost.auth.throttle import Throttle
from mailhost.auth.verifier import CheckResult, Event
from mailhost.blocking import Blocking
from mailhost.errors import LoginDelayed
from mailhost.store.api import INBOX, Store

MECHANISMS = ["PLAIN", "LOGIN"]


class PortalAuthenticator:
    log = Logger()

    def __init__(
        self,
        portal: Portal,
        reactor: Any,
        throttle: Throttle,
        sessions: SessionWatch,
        *,
        policy: PlaintextPolicy,
        store: Store,
        blocking: Blocking,
        hostname: str,
        notify: bool = True,
        warnings: list[str] | None = None,
    ) -> None:
        self.portal = portal
        self.reactor = reactor
        self.throttle = throttle
        self.sessions = sessions
        self.policy = policy
        self.store = store
        self.blocking = blocking
        self.hostname = hostname
        self.notify = notify
        self._warnings = list(warnings or [])
        self._fp_key = os.urandom(32)

    # -- Authenticator ------------------------------------------------------------------

    def plaintext_allowed(self, ctx: LoginContext) -> bool:
        return plaintext_allowed(self.policy, ctx)

    def mechanisms(self, ctx: LoginContext) -> list[str]:
        return list(MECHANISMS) if self.plaintext_allowed(ctx) else []

    def login(self, username: str, secret: str, ctx: LoginContext) -> Deferred[MailUser]:
        if not self.plaintext_allowed(ctx):
            self.log.info(
                "refused {protocol} login from {peer}: no TLS", protocol=ctx.protocol, peer=ctx.peer
            )
            return fail(UnauthorizedLogin())
        now = self.reactor.seconds()
        if self.throttle.refused(ctx.peer, now):
            self.log.info("refused login from {peer}: too many failures", peer=ctx.peer)
            return fail(LoginDelayed())
        creds = ContextCredentials(
            username, secret, ctx, now, self.throttle.code_allowed(username, now)
        )
        d: Deferred[Any] = self.portal.login(creds, None, AVATAR_INTERFACES[ctx.protocol])
        d.addCallbacks(
            self._succeeded,
            self._failed,
            callbackArgs=(creds,),
            errbackArgs=(username, secret, ctx, now),
        )
        return d

    def login_apop(
        self, username: str, timestamp: str, digest: str, ctx: LoginContext
    ) -> Deferred[MailUser]:
        """RFC 1939 §7 APOP through the same Portal, throttle and logging as :meth:`login`.

        No plaintext check: the password does not cross the wire.  Each wrong digest
        counts as a distinct failure (a digest never repeats across connections).
        """
        now = self.reactor.seconds()
        if self.throttle.refused(ctx.peer, now):
            self.log.info("refused login from {peer}: too many failures", peer=ctx.peer)
            return fail(LoginDelayed())
        creds = APOPCredentials(username, timestamp, digest, ctx, now)
        d: Deferred[Any] = self.portal.login(creds, None, AVATAR_INTERFACES[ctx.protocol])
        d.addCallbacks(
            self._succeeded,
            self._failed,
            callbackArgs=(creds,),
            errbackArgs=(username, "apop\0" + timestamp + digest, ctx, now),
        )
        return d

    # -- outcomes -------------------------------------------------------------------------

    def _succeeded(
        self, answer: tuple[Any, MailUser, Any], creds: ContextCredentials | APOPCredentials
    ) -> MailUser:
        _, user, _ = answer
        assert creds.result is not None
        self._record_success(user, creds.result, creds.context)
        return user

    def _failed(
        self, f: Failure, username: str, secret: str, ctx: LoginContext, now: float
    ) -> Deferred[MailUser] | Failure:
        if not f.check(UnauthorizedLogin):
            return f
        result = f.value.result if isinstance(f.value, CheckFailed) else CheckResult(False)
        self._events(result)
        if result.code_failed:
            self.throttle.code_failure(username, now)
        fp = hmac.new(self._fp_key, f"{username}\0{secret}".encode(), hashlib.sha256).digest()
        delay = self.throttle.failure(ctx.peer, username, fp, now)
        self.log.info(
            "failed {protocol} login for {user!r} from {peer} (answer in {delay:.0f} s)",
            protocol=ctx.protocol,
            user=username,
            peer=ctx.peer,
            delay=delay,
        )
        if delay <= 0:
            return f
        # Returning the Failure from a callback fails the Deferred with it, late.
        late: Deferred[None] = deferLater(self.reactor, delay, lambda: None)
        return late.addCallback(lambda _: f)

    def _record_success(self, user: MailUser, result: CheckResult, ctx: LoginContext) -> None:
        """Throttle bookkeeping and events after a successful login."""
        now = self.reactor.seconds()
        self.throttle.success(ctx.peer, user.username, result.via != "app-password", now)
        self._events(result)
        self.log.info(
            "{protocol} login of {user} from {peer} via {via}",
            protocol=ctx.protocol,
            user=user.username,
            peer=ctx.peer,
            via=result.via,
        )

    def _events(self, result: CheckResult) -> None:
        for event in result.events:
            self.log.info(
                "2fa: {kind} for {user} {detail}",
                kind=event.kind,
                user=event.user,
                detail=event.detail,
            )
            if self.notify:
                self._notify(event)

    def _notify(self, event: Event) -> None:
        data = notice(event, self.hostname)
        if data is None:
            return

        def append() -> None:
            self.store.account(event.user).folder(INBOX).append(data)

        self.blocking.run(append).addErrback(
            lambda f: self.log.failure("cannot deliver notice to {user}", f, user=event.user)
        )

    # -- service hooks -------------------------------------------------------------------

    def warnings(self) -> list[str]:
        """Start-up warnings for the service to log (clear-text passwords...)."""
        return list(self._warnings)

    def stop(self) -> None:
        """Stop the periodic revocation check (service shutdown)."""
        self.sessions.stop()
