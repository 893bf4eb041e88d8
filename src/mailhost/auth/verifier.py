"""The credential check itself: synchronous, run in the thread pool.

Order of checks for ``(user, secret)``:

1. an app password (self-identifying: one record looked up by its id), scoped by
   protocol, network and expiry; works with or without 2FA;
2. the passwd-file entry (unknown users cost a dummy Argon2 verify);
3. without 2FA: the password (through the short-lived verification cache);
4. with 2FA: a live device grant for this exact string, protocol and network; else
   password then code (one step of skew, replays refused, RFC 6238 §5.2) or password
   then a one-time recovery code.  The bare password is refused.

Nothing in the answer tells an unknown user from a wrong secret.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from twisted.logger import Logger

from mailhost.auth import apppasswords, twofactor
from mailhost.auth.api import LoginContext
from mailhost.auth.passwd import (
    Argon2Params,
    PasswdError,
    PasswdFile,
    dummy_verify,
    hash_password,
    needs_rehash,
    plaintext_scheme,
    verify_password,
)
from mailhost.auth.state import Grant, LastUse, StateStore, UserState

log = Logger()
Via = Literal["password", "app-password", "code", "grant", "recovery"]
#: Don't rewrite a credential's "last used" more often than this unless the place changed.
LAST_USED_RESOLUTION = 60.0


@dataclass(frozen=True)
class Event:
    """Something worth logging or telling the user: ``kind`` and details."""

    kind: str
    user: str
    detail: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    user: str = ""
    via: Via | None = None
    #: App password or grant id for revocable credentials.
    credential_id: str | None = None
    #: The password was right but the second factor wrong, replayed or refused.
    code_failed: bool = False
    events: tuple[Event, ...] = ()


FAILED = CheckResult(False)


class VerifyCache:
    """Successful password checks, keyed by an HMAC of the secret (per-process key).

    Lets a client that polls every few minutes skip the Argon2 cost; the entry is only
    used while the passwd-file version and the stored hash are unchanged.
    """

    def __init__(self, ttl: float, size: int) -> None:
        self.ttl = ttl
        self.size = size
        self._key = os.urandom(32)
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, bytes], tuple[str, float]] = OrderedDict()

    def _k(self, user: str, secret: str) -> tuple[str, bytes]:
        return user, hmac.new(self._key, secret.encode("utf-8"), hashlib.sha256).digest()

    def hit(self, user: str, secret: str, stored: str, now: float) -> bool:
        if self.ttl <= 0:
            return False
        key = self._k(user, secret)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False
            if entry[1] <= now or not hmac.compare_digest(entry[0], stored):
                del self._entries[key]
                return False
            self._entries.move_to_end(key)
            return True

    def add(self, user: str, secret: str, stored: str, now: float) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._entries[self._k(user, secret)] = (stored, now + self.ttl)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Verifier:
    """Checks one login; every method may block (disk, Argon2)."""

    def __init__(
        self,
        passwd: PasswdFile,
        state: StateStore,
        *,
        params: Argon2Params,
        cache: VerifyCache,
        rehash: bool = True,
        keep_plaintext: bool = False,
        grant_lifetime: float = 12 * 3600.0,
        grant_max_age: float = 30 * 86400.0,
        verify: Callable[[str, str], bool] = verify_password,
    ) -> None:
        self.passwd = passwd
        self.state = state
        self.params = params
        self.cache = cache
        self.rehash = rehash
        #: APOP needs {PLAIN} values: never replace them with a hash.
        self.keep_plaintext = keep_plaintext
        self.grant_lifetime = grant_lifetime
        self.grant_max_age = grant_max_age
        self._verify = verify
        self._server_key: bytes | None = None

    def server_key(self) -> bytes:
        if self._server_key is None:
            self._server_key = self.state.server_key()
        return self._server_key

    # -- the check ---------------------------------------------------------------------

    def check(
        self, user: str, secret: str, ctx: LoginContext, now: float, code_allowed: bool = True
    ) -> CheckResult:
        # a cached success is bound to the stored hash it was checked against, so a
        # changed or rehashed password misses without dropping everyone else's entries
        self.passwd.refresh()
        entry = self.passwd.lookup(user)
        parsed = apppasswords.parse(secret)
        if parsed is not None and entry is not None:
            state = self.state.load(user)
            if state.app_password(parsed[0]) is not None:
                return self._check_app_password(user, parsed, ctx, now)
        if entry is None or not entry.password:
            dummy_verify(secret, self.params)
            return FAILED
        state = self.state.load(user)
        if not state.two_factor:
            if not self._password_ok(user, secret, entry.password, now):
                return FAILED
            return CheckResult(True, user, "password")
        return self._check_two_factor(user, secret, entry.password, state, ctx, now, code_allowed)

    def _password_ok(self, user: str, password: str, stored: str, now: float) -> bool:
        if self.cache.hit(user, password, stored, now):
            return True
        if not self._verify(stored, password):
            return False
        if (
            self.rehash
            and needs_rehash(stored, self.params)
            and not (self.keep_plaintext and plaintext_scheme(stored))
        ):
            new = hash_password(password, self.params)
            try:
                self.passwd.change(user, new, expect=stored)
            except PasswdError as e:  # e.g. a read-only /etc: the login still succeeds
                log.warn("cannot rehash the password of {user}: {error}", user=user, error=e)
            else:
                stored = new  # what the file holds now: the next login must hit the cache
        self.cache.add(user, password, stored, now)
        return True

    def _check_app_password(
        self, user: str, parsed: tuple[str, str], ctx: LoginContext, now: float
    ) -> CheckResult:
        ap_id, secret = parsed
        state = self.state.load(user)
        ap = state.app_password(ap_id)
        if ap is None:
            return FAILED
        ok = hmac.compare_digest(ap.digest, twofactor.digest(secret))
        if not ok or not ap.usable(now):
            return FAILED
        if ap.protocols and ctx.protocol not in ap.protocols:
            return FAILED
        if ap.networks and not apppasswords.in_networks(ctx.peer, ap.networks):
            return FAILED
        events: tuple[Event, ...] = ()
        if ap.last_used is None:
            detail = _where(ctx) | {"id": ap_id, "label": ap.label}
            events = (Event("app-password-first-use", user, detail),)
        if _stale(ap.last_used, ctx, now):

            def touch(s: UserState) -> None:
                a = s.app_password(ap_id)
                if a is not None:
                    a.last_used = LastUse(now, ctx.peer, ctx.protocol)

            self.state.update(user, touch)
        return CheckResult(True, user, "app-password", ap_id, events=events)

    def _check_two_factor(
        self,
        user: str,
        secret: str,
        stored: str,
        state: UserState,
        ctx: LoginContext,
        now: float,
        code_allowed: bool,
    ) -> CheckResult:
        key = twofactor.grant_key(self.server_key(), user, secret)
        network = twofactor.client_network(ctx.peer)
        for g in state.grants:
            if (
                hmac.compare_digest(g.key, key)
                and g.protocol == ctx.protocol
                and g.network == network
                and g.usable(now, self.grant_max_age)
            ):
                self._slide_grant(user, g.id, ctx, now)
                return CheckResult(True, user, "grant", g.id)
        recovery = twofactor.split_recovery(secret)
        candidates = twofactor.split_code(secret)
        if recovery is not None:
            result = self._check_recovery(user, recovery, stored, ctx, now)
            if result.ok or not candidates:
                return result
        if not candidates:
            # The bare password no longer opens POP3/IMAP; spend the same time anyway.
            self._password_ok(user, secret, stored, now)
            return FAILED
        code = next((c for p, c in candidates if self._password_ok(user, p, stored, now)), None)
        if code is None:
            return FAILED
        if not code_allowed:
            event = Event("code-login-suspended", user, _where(ctx))
            return CheckResult(False, user, code_failed=True, events=(event,))
        totp = state.totp
        assert totp is not None
        step = twofactor.matched_step(totp.secret, code, now)
        if step is None:
            return CheckResult(
                False, user, code_failed=True, events=(Event("code-wrong", user, _where(ctx)),)
            )

        def accept(s: UserState) -> Grant | None:
            if s.totp is None or step <= s.totp.last_step:
                return None
            s.totp.last_step = step
            g = Grant(
                id=secrets.token_hex(4),
                key=key,
                protocol=ctx.protocol,
                network=network,
                created=now,
                expires=now + self.grant_lifetime,
                last_used=LastUse(now, ctx.peer, ctx.protocol),
            )
            s.grants.append(g)
            return g

        grant = self.state.update(user, accept)
        if grant is None:
            return CheckResult(
                False, user, code_failed=True, events=(Event("code-replayed", user, _where(ctx)),)
            )
        event = Event("grant-created", user, _where(ctx) | {"id": grant.id, "network": network})
        return CheckResult(True, user, "code", grant.id, events=(event,))

    def _check_recovery(
        self, user: str, recovery: tuple[str, str], stored: str, ctx: LoginContext, now: float
    ) -> CheckResult:
        password, code = recovery
        if not self._password_ok(user, password, stored, now):
            return FAILED
        wanted = twofactor.digest(code)

        def use(s: UserState) -> bool:
            for rc in s.recovery:
                if rc.used_at is None and hmac.compare_digest(rc.digest, wanted):
                    rc.used_at = now
                    return True
            return False

        if not self.state.update(user, use):
            event = Event("recovery-code-wrong", user, _where(ctx))
            return CheckResult(False, user, code_failed=True, events=(event,))
        left = sum(1 for rc in self.state.load(user).recovery if rc.used_at is None)
        event = Event("recovery-code-used", user, _where(ctx) | {"left": str(left)})
        return CheckResult(True, user, "recovery", events=(event,))

    def _slide_grant(self, user: str, grant_id: str, ctx: LoginContext, now: float) -> None:
        state = self.state.load(user)
        g = state.grant(grant_id)
        if g is None:
            return
        target = min(now + self.grant_lifetime, g.created + self.grant_max_age)
        if target - g.expires < LAST_USED_RESOLUTION and not _stale(g.last_used, ctx, now):
            return

        def slide(s: UserState) -> None:
            live = s.grant(grant_id)
            if live is not None:
                live.expires = max(live.expires, target)
                live.last_used = LastUse(now, ctx.peer, ctx.protocol)

        self.state.update(user, slide)


def _where(ctx: LoginContext) -> dict[str, str]:
    return {"ip": ctx.peer, "protocol": ctx.protocol, "tls": "yes" if ctx.secure else "no"}


def _stale(last: LastUse | None, ctx: LoginContext, now: float) -> bool:
    return (
        last is None
        or last.ip != ctx.peer
        or last.protocol != ctx.protocol
        or now - last.time >= LAST_USED_RESOLUTION
    )
