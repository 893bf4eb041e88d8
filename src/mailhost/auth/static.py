"""A fixed-table authenticator for protocol unit tests and throw-away embedded hosts."""

from __future__ import annotations

import hmac

from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, fail, succeed

from mailhost.auth.api import LoginContext, MailUser, PlaintextPolicy, plaintext_allowed
from mailhost.store.api import Store


class StaticAuthenticator:
    """Checks passwords against an in-memory ``{user: password}`` table, synchronously."""

    def __init__(
        self,
        users: dict[str, str],
        store: Store,
        policy: PlaintextPolicy = "always",
    ) -> None:
        self.users = users
        self.store = store
        self.policy = policy

    def plaintext_allowed(self, ctx: LoginContext) -> bool:
        return plaintext_allowed(self.policy, ctx)

    def mechanisms(self, ctx: LoginContext) -> list[str]:
        return ["PLAIN", "LOGIN"] if self.plaintext_allowed(ctx) else []

    def login(self, username: str, secret: str, ctx: LoginContext) -> Deferred[MailUser]:
        expected = self.users.get(username)
        if expected is None or not hmac.compare_digest(expected.encode(), secret.encode()):
            return fail(UnauthorizedLogin())
        return succeed(MailUser(username, self.store.account(username)))
