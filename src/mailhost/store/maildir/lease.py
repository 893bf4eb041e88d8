"""The POP3 maildrop lease (RFC 1939 §8: one session holds the maildrop), across processes.

The lease is a small file in the Maildir root, ``mailhost-pop3.lease``, holding a random
token, the owner's description, host, pid and a wall-clock expiry; it is read and written
under the account lock.  A lease is taken over when it expired or when its holder was a
process on this host that no longer runs (killed without releasing).  The holder calls
:meth:`MaildirLease.check` right before applying deletions, so a session that lost its
lease (expired while the client slept) never deletes anything.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from mailhost.errors import LeaseLost, MailboxInUse
from mailhost.store.maildir.fsio import atomic_write, disk_errors
from mailhost.store.maildir.locks import FileLock

LEASE_FILE = "mailhost-pop3.lease"
_HOST = socket.gethostname()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_lease(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (ValueError, OSError):
        return None  # torn or foreign: treat as no lease
    return data if isinstance(data, dict) else None


def is_stale(lease: dict[str, Any], now: float) -> bool:
    try:
        if float(lease["expires"]) < now:
            return True
        return lease.get("host") == _HOST and not _alive(int(lease["pid"]))
    except (KeyError, TypeError, ValueError):
        return True


class MaildirLease:
    def __init__(self, lock: FileLock, path: Path, owner: str, ttl: float, fsync: bool) -> None:
        self.token = uuid.uuid4().hex
        self.owner = owner
        self._lock = lock
        self._path = path
        self._ttl = ttl
        self._fsync = fsync

    def _write(self) -> None:
        body = {
            "token": self.token,
            "owner": self.owner,
            "host": _HOST,
            "pid": os.getpid(),
            "expires": time.time() + self._ttl,
        }
        atomic_write(self._path, json.dumps(body).encode(), self._fsync)

    @disk_errors
    def acquire(self) -> None:
        with self._lock.hold():
            current = read_lease(self._path)
            if current is not None and not is_stale(current, time.time()):
                raise MailboxInUse(str(current.get("owner", "another session")))
            self._write()

    def _ours(self) -> bool:
        current = read_lease(self._path)
        return (
            current is not None
            and current.get("token") == self.token
            and float(current.get("expires", 0)) >= time.time()
        )

    @disk_errors
    def renew(self) -> None:
        with self._lock.hold():
            if not self._ours():
                raise LeaseLost(self.owner)
            self._write()

    @disk_errors
    def check(self) -> None:
        with self._lock.hold():
            if not self._ours():
                raise LeaseLost(self.owner)

    @disk_errors
    def release(self) -> None:
        with self._lock.hold():
            current = read_lease(self._path)
            if current is not None and current.get("token") == self.token:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._path)
