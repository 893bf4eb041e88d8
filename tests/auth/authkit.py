"""Test kit: a host's authenticator on a temporary passwd-file, a memory store and a fake clock."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from mailhost.auth import manage
from mailhost.auth.api import LoginContext, MailUser
from mailhost.auth.authenticator import PortalAuthenticator
from mailhost.auth.passwd import Argon2Params, PasswdFile
from mailhost.auth.state import StateStore
from mailhost.config import Config, config_from_dict
from mailhost.store.memory import MemoryStore

#: Argon2 parameters cheap enough for tests (production defaults stay strong).
CHEAP = {"argon2_time_cost": 1, "argon2_memory_kib": 64, "argon2_parallelism": 1}
PARAMS = Argon2Params(1, 64, 1)
START = 1_700_000_000.0
TLS_IMAP = LoginContext("imap", "198.51.100.7", True)
TLS_POP = LoginContext("pop3", "198.51.100.7", True)


def make_config(tmp_path: Path, **auth: Any) -> Config:
    return config_from_dict(
        {
            "server": {"data_dir": str(tmp_path / "data"), "hostname": "mail.test"},
            "auth": {"passwd_file": str(tmp_path / "passwd"), **CHEAP, **auth},
        }
    )


@dataclass
class Host:
    config: Config
    clock: Clock
    store: MemoryStore
    auth: PortalAuthenticator
    passwd: PasswdFile
    state: StateStore

    def add_user(self, user: str, password: str) -> None:
        manage.add_user(self.passwd, user, password, PARAMS)

    def login(self, user: str, secret: str, ctx: LoginContext = TLS_IMAP) -> Deferred[MailUser]:
        return self.auth.login(user, secret, ctx)

    def outcome(self, d: Deferred[Any], wait: float = 60.0) -> Any:
        """The result (or Failure) of ``d``, advancing the clock up to ``wait`` seconds."""
        out: list[Any] = []
        d.addBoth(out.append)
        waited = 0.0
        while not out and waited < wait:
            self.clock.advance(0.5)
            waited += 0.5
        assert out, "login never answered"
        return out[0]

    def ok(self, user: str, secret: str, ctx: LoginContext = TLS_IMAP) -> MailUser:
        result = self.outcome(self.login(user, secret, ctx))
        assert isinstance(result, MailUser), result
        return result

    def failure(self, user: str, secret: str, ctx: LoginContext = TLS_IMAP) -> Failure:
        result = self.outcome(self.login(user, secret, ctx))
        assert isinstance(result, Failure), result
        return result
