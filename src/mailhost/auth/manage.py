"""Account administration behind ``mailhost user``, ``mailhost 2fa`` and ``app-password``.

Plain blocking functions over :class:`~mailhost.auth.passwd.PasswdFile` and
:class:`~mailhost.auth.state.StateStore`, so the CLI and tests share them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mailhost.auth import apppasswords, twofactor
from mailhost.auth.passwd import (
    Argon2Params,
    NoSuchUser,
    PasswdFile,
    hash_password,
)
from mailhost.auth.state import AppPassword, RecoveryCode, StateStore, TOTPState, UserState

PROTOCOLS = ("pop3", "imap", "web", "lmtp")
_DURATION_RE = re.compile(r"^(\d+)\s*([smhdw]?)$")
_UNITS = {"": 86400, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MIN_PASSWORD_LENGTH = 8


class InputError(ValueError):
    """Bad input from the administrator (EX_DATAERR)."""


def parse_duration(text: str) -> float:
    """``90d``, ``12h``, ``2w``, ``3600s`` or a bare number of days, in seconds."""
    m = _DURATION_RE.match(text.strip().lower())
    if not m or int(m.group(1)) == 0:
        raise InputError(f"not a duration such as 90d or 12h: {text!r}")
    return float(int(m.group(1)) * _UNITS[m.group(2)])


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if any(c in password for c in "\r\n\0"):
        raise InputError("password may not contain line breaks or NUL")
    if apppasswords.parse(password) is not None:
        raise InputError("password may not look like an app password")


def add_user(passwd: PasswdFile, user: str, password: str, params: Argon2Params) -> None:
    check_new_password(password)
    passwd.add(user, hash_password(password, params))


def set_password(
    passwd: PasswdFile, state: StateStore, user: str, password: str, params: Argon2Params
) -> int:
    """Change the password; revokes every app password and device grant (returns how many)."""
    check_new_password(password)
    if passwd.lookup(user) is None:
        raise NoSuchUser(user)
    passwd.change(user, hash_password(password, params))

    def revoke(s: UserState) -> int:
        n = len(s.app_passwords) + len(s.grants)
        s.app_passwords.clear()
        s.grants.clear()
        return n

    return state.update(user, revoke)


def delete_user(passwd: PasswdFile, state: StateStore, user: str) -> None:
    passwd.delete(user)
    state.remove(user)


# -- two-factor ---------------------------------------------------------------------------


def enable_2fa(
    state: StateStore, user: str, secret: str, code: str, now: float, recovery_count: int = 10
) -> list[str] | None:
    """Switch TOTP on if ``code`` is current for ``secret``; the new recovery codes, or None."""
    step = twofactor.matched_step(secret, code.strip(), now)
    if step is None:
        return None
    codes = twofactor.new_recovery_codes(recovery_count)

    def enable(s: UserState) -> None:
        s.totp = TOTPState(secret=secret, enabled_at=now, last_step=step)
        s.recovery = [
            RecoveryCode(twofactor.digest(twofactor.normalise_recovery(c))) for c in codes
        ]
        s.grants.clear()

    state.update(user, enable)
    return codes


def new_recovery_codes(state: StateStore, user: str, count: int = 10) -> list[str] | None:
    """Replace the recovery codes (old ones stop working); None if 2FA is off."""
    codes = twofactor.new_recovery_codes(count)

    def replace(s: UserState) -> bool:
        if s.totp is None:
            return False
        s.recovery = [
            RecoveryCode(twofactor.digest(twofactor.normalise_recovery(c))) for c in codes
        ]
        return True

    return codes if state.update(user, replace) else None


def disable_2fa(state: StateStore, user: str) -> bool:
    """Switch TOTP off; drops recovery codes and grants.  False if it was off."""

    def disable(s: UserState) -> bool:
        was = s.totp is not None
        s.totp = None
        s.recovery.clear()
        s.grants.clear()
        return was

    return state.update(user, disable)


def revoke_grant(state: StateStore, user: str, grant_id: str | None) -> int:
    """Revoke one device grant (or all with None); how many were revoked."""

    def revoke(s: UserState) -> int:
        before = len(s.grants)
        s.grants = [g for g in s.grants if grant_id is not None and g.id != grant_id]
        return before - len(s.grants)

    return state.update(user, revoke)


# -- app passwords ------------------------------------------------------------------------


def add_app_password(
    state: StateStore,
    user: str,
    label: str,
    now: float,
    *,
    protocols: Iterable[str] = (),
    expires_in: float | None = None,
    networks: Iterable[str] = (),
    limit: int = 25,
) -> tuple[str, str]:
    """Make an app password; ``(id, the password to show once)``."""
    label = label.strip()
    if not label or len(label) > 100 or any(ord(c) < 32 for c in label):
        raise InputError("label must be 1 to 100 printable characters")
    protos = sorted({p.strip().lower() for p in protocols if p.strip()})
    for p in protos:
        if p not in PROTOCOLS:
            raise InputError(f"unknown protocol {p!r}; choose from {', '.join(PROTOCOLS)}")
    nets = [n.strip() for n in networks if n.strip()]
    import ipaddress

    for n in nets:
        try:
            ipaddress.ip_network(n, strict=False)
        except ValueError:
            raise InputError(f"not a network such as 192.0.2.0/24: {n!r}") from None
    ap_id, secret, display = apppasswords.generate()

    def add(s: UserState) -> None:
        live = [a for a in s.app_passwords if a.usable(now)]
        if len(live) >= limit:
            raise InputError(f"{user} already has {limit} app passwords; revoke one first")
        s.app_passwords = [
            *live,
            AppPassword(
                id=ap_id,
                label=label,
                digest=twofactor.digest(secret),
                created=now,
                expires=now + expires_in if expires_in else None,
                protocols=protos,
                networks=nets,
            ),
        ]

    state.update(user, add)
    return ap_id, display


def revoke_app_password(state: StateStore, user: str, ap_id: str | None) -> int:
    """Revoke one app password (or all with None); how many were revoked."""

    def revoke(s: UserState) -> int:
        before = len(s.app_passwords)
        s.app_passwords = [a for a in s.app_passwords if ap_id is not None and a.id != ap_id]
        return before - len(s.app_passwords)

    return state.update(user, revoke)
