"""A fixed-table authenticator for protocol unit tests and throw-away embedded hosts."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, fail, succeed

from mailhost.auth import apop
from mailhost.auth.api import LoginContext, MailUser, PlaintextPolicy, plaintext_allowed
from mailhost.store.api import Store


class StaticAuthenticator:
    """Checks passwords against an in-memory ``{user: password}`` table, synchronously.

    Every password is known in the clear, so APOP works for every user; ``settings``
    gives users per-user settings (:attr:`MailUser.settings`).
    """

    def __init__(
        self,
        users: dict[str, str],
        store: Store,
        policy: PlaintextPolicy = "always",
        settings: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.users = users
        self.store = store
        self.policy = policy
        self.settings = dict(settings or {})

    def plaintext_allowed(self, ctx: LoginContext) -> bool:
        return plaintext_allowed(self.policy, ctx)

    def mechanisms(self, ctx: LoginContext) -> list[str]:
        return ["PLAIN", "LOGIN"] if self.plaintext_allowed(ctx) else []

    def login(self, username: str, secret: str, ctx: LoginContext) -> Deferred[MailUser]:
        expected = self.users.get(username)
        if expected is None or not hmac.compare_digest(expected.encode(), secret.encode()):
            return fail(UnauthorizedLogin())
        return succeed(self._user(username))

    def login_apop(
        self, username: str, timestamp: str, digest: str, ctx: LoginContext
    ) -> Deferred[MailUser]:
        password = self.users.get(username)
        expected = apop.digest(timestamp, password if password is not None else "")
        if password is None or not hmac.compare_digest(expected.encode(), digest.encode()):
            return fail(UnauthorizedLogin())
        return succeed(self._user(username))

    def _user(self, username: str) -> MailUser:
        settings = dict(self.settings.get(username, {}))
        return MailUser(username, self.store.account(username), settings=settings)
