"""Building auth pieces from the configuration (shared by the service and the CLI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailhost.auth.config import AuthConfig
from mailhost.auth.passwd import Argon2Params
from mailhost.auth.state import StateStore
from mailhost.auth.throttle import Throttle

if TYPE_CHECKING:
    from mailhost.config import Config


def argon2_params(auth: AuthConfig) -> Argon2Params:
    return Argon2Params(auth.argon2_time_cost, auth.argon2_memory_kib, auth.argon2_parallelism)


def state_store(config: Config) -> StateStore:
    """Per-user 2FA state lives in ``<data_dir>/auth/``."""
    return StateStore(config.server.data_dir / "auth")


def make_throttle(auth: AuthConfig) -> Throttle:
    return Throttle(
        delay=auth.fail_delay,
        max_delay=auth.fail_delay_max,
        window=auth.fail_window,
        max_failures_per_address=auth.max_failures_per_address,
        lockout_time=auth.lockout_time,
        max_code_failures=auth.max_code_failures,
        entries=auth.throttle_entries,
        trusted_networks=auth.trusted_networks,
    )
