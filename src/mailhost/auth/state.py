"""Per-user second-factor state: TOTP secret, recovery codes, app passwords, device grants.

One JSON file per user, ``<data_dir>/auth/<user>.json``, shared by the service and the
``mailhost 2fa``/``app-password`` commands.  Writers take the file's lock, read it fresh,
change it and replace it atomically (:mod:`mailhost.auth.files`); readers re-read it when
its version (mtime, size, inode) changes.  Secrets are stored hashed, except the TOTP seed,
which the server must know (RFC 6238 §5.1: protect it like a password file: mode 0600).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from mailhost.auth.files import atomic_write, file_version, locked

T = TypeVar("T")
FORMAT = 1


class StateError(Exception):
    """A state file is unreadable or corrupt."""


@dataclass
class TOTPState:
    secret: str
    enabled_at: float
    #: Newest time step accepted (RFC 6238 §5.2: refuse codes of a step not newer).
    last_step: int = -1


@dataclass
class RecoveryCode:
    digest: str
    used_at: float | None = None


@dataclass
class LastUse:
    time: float
    ip: str
    protocol: str


@dataclass
class AppPassword:
    id: str
    label: str
    #: SHA-256 of the secret part: the secret has 100 random bits, so a slow hash adds
    #: nothing (as for session tokens).
    digest: str
    created: float
    expires: float | None = None
    #: Protocols it opens ("pop3", "imap", ...); empty means all.
    protocols: list[str] = field(default_factory=list)
    #: Networks it may be used from (CIDR); empty means anywhere.
    networks: list[str] = field(default_factory=list)
    last_used: LastUse | None = None

    def usable(self, now: float) -> bool:
        return self.expires is None or now < self.expires


@dataclass
class Grant:
    """A remembered password+code login (one client, one network, one protocol)."""

    id: str
    #: HMAC(server key, user NUL submitted string): the string itself is never stored.
    key: str
    protocol: str
    network: str
    created: float
    expires: float
    last_used: LastUse | None = None

    def usable(self, now: float, max_age: float) -> bool:
        return now < self.expires and now < self.created + max_age


@dataclass
class UserState:
    totp: TOTPState | None = None
    recovery: list[RecoveryCode] = field(default_factory=list)
    app_passwords: list[AppPassword] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)

    @property
    def two_factor(self) -> bool:
        return self.totp is not None

    def app_password(self, ap_id: str) -> AppPassword | None:
        return next((a for a in self.app_passwords if a.id == ap_id), None)

    def grant(self, grant_id: str) -> Grant | None:
        return next((g for g in self.grants if g.id == grant_id), None)

    def to_json(self) -> bytes:
        data = {"format": FORMAT, **asdict(self)}
        return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> UserState:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("unknown state file format")

        def last(d: dict[str, Any] | None) -> LastUse | None:
            return LastUse(**d) if d else None

        totp = data.get("totp")
        return cls(
            totp=TOTPState(**totp) if totp else None,
            recovery=[RecoveryCode(**r) for r in data.get("recovery", [])],
            app_passwords=[
                AppPassword(**{**a, "last_used": last(a.get("last_used"))})
                for a in data.get("app_passwords", [])
            ],
            grants=[
                Grant(**{**g, "last_used": last(g.get("last_used"))})
                for g in data.get("grants", [])
            ],
        )


class StateStore:
    """The folder of per-user state files; thread-safe."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[tuple[int, int, int] | None, UserState]] = {}

    def path(self, user: str) -> Path:
        """``<user>.json``, with anything but letters, digits and ``@._+-`` %-escaped."""
        if not user:
            raise StateError("empty user name")
        return self.directory / f"{quote(user, safe='@._+-')}.json"

    def _read(self, path: Path) -> UserState:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return UserState()
        except OSError as e:
            raise StateError(f"cannot read {path}: {e.strerror}") from None
        try:
            return UserState.from_json(raw)
        except (ValueError, TypeError, KeyError) as e:
            raise StateError(f"{path} is corrupt: {e}") from None

    def load(self, user: str) -> UserState:
        """The user's state, re-read only when the file changed.  Treat it as read-only."""
        path = self.path(user)
        version = file_version(path)
        with self._lock:
            hit = self._cache.get(user)
            if hit is not None and hit[0] == version:
                return hit[1]
        state = self._read(path)
        with self._lock:
            self._cache[user] = (version, state)
        return state

    def cached(self, user: str) -> UserState | None:
        """The state last loaded, without touching the disk (for checks on the reactor)."""
        hit = self._cache.get(user)
        return hit[1] if hit else None

    def update(self, user: str, change: Callable[[UserState], T]) -> T:
        """Apply ``change`` to a fresh copy under the lock and write it back atomically."""
        path = self.path(user)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with locked(path):
            state = self._read(path)
            result = change(state)
            try:
                atomic_write(path, state.to_json(), 0o600)
            except OSError as e:
                raise StateError(f"cannot write {path}: {e.strerror}") from None
            version = file_version(path)
        with self._lock:
            self._cache[user] = (version, state)
        return result

    def remove(self, user: str) -> None:
        """Forget a deleted user's state."""
        path = self.path(user)
        with locked(path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        with self._lock:
            self._cache.pop(user, None)

    def server_key(self) -> bytes:
        """The host's secret for device-grant keys (made on first use, mode 0600)."""
        path = self.directory / "grant.key"
        try:
            key = path.read_bytes()
            if len(key) == 32:
                return key
        except FileNotFoundError:
            pass
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with locked(path):
            try:
                key = path.read_bytes()
                if len(key) == 32:
                    return key
            except FileNotFoundError:
                pass
            key = os.urandom(32)
            atomic_write(path, key, 0o600)
            return key
