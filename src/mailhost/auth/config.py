"""``[auth]``: where users live, how they may log in, and how guessing is slowed down."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


def _networks(value: tuple[str, ...]) -> str | None:
    for net in value:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            return f"{net!r} is not a network such as '192.0.2.0/24'"
    return None


@dataclass(frozen=True)
class AuthConfig:
    #: Dovecot-format passwd-file (``user:{SCHEME}hash:uid:gid::home::extra``).
    passwd_file: Path = Path("/etc/mailhost/passwd")
    #: Passwords in the clear: "never", only from "loopback", or "always" (RFC 8314 §3).
    #: TLS connections may always send them.
    allow_plaintext_auth: Literal["never", "loopback", "always"] = "loopback"
    #: Replace an older hash (bcrypt, SHA-crypt, weaker Argon2) with Argon2id at the next
    #: successful login.
    rehash: bool = True
    #: Argon2id cost for new hashes: time cost (passes) ...
    argon2_time_cost: int = 3
    #: ... memory in KiB (64 MiB, the RFC 9106 §4 second recommendation) ...
    argon2_memory_kib: int = 65536
    #: ... and lanes.
    argon2_parallelism: int = 4
    #: Seconds a successful password check is remembered, so a client polling every few
    #: minutes does not cost a full hash each time (0 turns the cache off).  Any change to
    #: the passwd-file drops it.
    cache_ttl: float = 600.0
    #: Most remembered checks.
    cache_size: int = 10000
    #: First delay before a failure answer, in seconds; doubled per failure ...
    fail_delay: float = 2.0
    #: ... up to this many seconds.
    fail_delay_max: float = 15.0
    #: Failures are counted over this many seconds.
    fail_window: float = 900.0
    #: Failures from one address within the window before it is refused altogether.
    max_failures_per_address: int = 20
    #: Seconds an address stays refused after that.
    lockout_time: float = 900.0
    #: Wrong second-factor codes (after a right password) within the window before
    #: password+code logins are refused for that account; app passwords keep working.
    max_code_failures: int = 5
    #: Addresses and logins remembered by the throttle (least recently seen forgotten).
    throttle_entries: int = 100000
    #: Networks never delayed or refused by the throttle (monitoring, webmail proxy).
    trusted_networks: tuple[str, ...] = field(default=(), metadata={"check": _networks})
    #: Sliding lifetime of a device grant made by a password+code login, in seconds.
    grant_lifetime: float = 12 * 3600.0
    #: Hard cap on a device grant's age, in seconds, however often it is used.
    grant_max_age: float = 30 * 86400.0
    #: Most active app passwords per user.
    max_app_passwords: int = 25
    #: Issuer shown by authenticator apps for TOTP secrets.
    totp_issuer: str = "mailhost"
    #: Mail the user's INBOX when a new device grant is made or an app password is first
    #: used.
    notify_new_devices: bool = True
    #: Seconds between checks for revoked credentials of open sessions.
    revocation_check_interval: float = 10.0

    def __post_init__(self) -> None:
        from mailhost.config import ConfigValueError

        if self.argon2_time_cost < 1:
            raise ConfigValueError("argon2_time_cost", "must be at least 1")
        if self.argon2_memory_kib < 8 * self.argon2_parallelism:
            raise ConfigValueError("argon2_memory_kib", "must be at least 8 x argon2_parallelism")
        if not 1 <= self.argon2_parallelism <= 64:
            raise ConfigValueError("argon2_parallelism", "must be between 1 and 64")
        if self.cache_ttl < 0:
            raise ConfigValueError("cache_ttl", "must be 0 (off) or more")
        if self.cache_size < 1:
            raise ConfigValueError("cache_size", "must be at least 1")
        if not 0 <= self.fail_delay <= self.fail_delay_max <= 300:
            raise ConfigValueError(
                "fail_delay", "need 0 <= fail_delay <= fail_delay_max <= 300 seconds"
            )
        for key in ("fail_window", "lockout_time", "revocation_check_interval"):
            if getattr(self, key) <= 0:
                raise ConfigValueError(key, "must be more than 0 seconds")
        for key in ("max_failures_per_address", "max_code_failures", "max_app_passwords"):
            if getattr(self, key) < 1:
                raise ConfigValueError(key, "must be at least 1")
        if self.throttle_entries < 100:
            raise ConfigValueError("throttle_entries", "must be at least 100")
        if not 0 < self.grant_lifetime <= self.grant_max_age:
            raise ConfigValueError("grant_lifetime", "must be more than 0 and <= grant_max_age")
        if self.grant_max_age > 30 * 86400:
            raise ConfigValueError("grant_max_age", "must be at most 30 days (2592000 seconds)")
