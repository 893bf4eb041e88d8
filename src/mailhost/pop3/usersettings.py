"""Per-user EXPIRE and LOGIN-DELAY (RFC 2449 §6.7, §6.8).

With ``[pop3] per_user_settings`` on, a user's ``pop3_expire`` and ``pop3_login_delay``
settings (the passwd-file's extra fields, see :attr:`mailhost.auth.api.MailUser.settings`)
replace the section's ``expire`` and ``login_delay`` for that user.  A value that does not
parse is ignored (the global one applies) and reported, so a typo cannot lock anyone out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from mailhost.pop3.config import POP3Config

EXPIRE_KEY = "pop3_expire"
LOGIN_DELAY_KEY = "pop3_login_delay"
_EXPIRE_RE = re.compile(r"NEVER|[0-9]{1,5}")
_DELAY_RE = re.compile(r"[0-9]{1,6}")
#: The longest LOGIN-DELAY a user can have (``[pop3] login_delay`` allows the same).
MAX_LOGIN_DELAY = 86400 * 7


@dataclass(frozen=True, slots=True)
class UserPolicy:
    """The EXPIRE text and LOGIN-DELAY seconds that apply to one user."""

    expire: str
    login_delay: int


def global_policy(config: POP3Config) -> UserPolicy:
    return UserPolicy(config.expire, config.login_delay)


def user_policy(config: POP3Config, settings: Mapping[str, str]) -> tuple[UserPolicy, list[str]]:
    """The user's policy, and the settings that were ignored because they do not parse."""
    policy = global_policy(config)
    if not config.per_user_settings:
        return policy, []
    expire, delay = policy.expire, policy.login_delay
    bad: list[str] = []
    value = settings.get(EXPIRE_KEY)
    if value is not None:
        if _EXPIRE_RE.fullmatch(value.upper()):
            expire = value.upper()
        else:
            bad.append(f"{EXPIRE_KEY}={value}")
    value = settings.get(LOGIN_DELAY_KEY)
    if value is not None:
        if _DELAY_RE.fullmatch(value) and int(value) <= MAX_LOGIN_DELAY:
            delay = int(value)
        else:
            bad.append(f"{LOGIN_DELAY_KEY}={value}")
    return UserPolicy(expire, delay), bad
