"""Locks that hold between threads and between processes.

A :class:`FileLock` is a re-entrant thread lock plus ``flock(2)`` on a lock file.  flock
belongs to the open file description, so two handles in one process (two stores on one
root, as two nodes would be) exclude each other as two processes do.  The lock file is
never deleted while in use; it is not ``dovecot-uidlist.lock`` (Dovecot's dotlock, whose
mere existence would stall Dovecot), so running both servers on one tree at the same time
is not supported: migration is stop one, start the other.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mailhost.errors import TemporaryFailure

#: Give up waiting for another process after this long (a stuck NFS server, a hung MDA).
LOCK_TIMEOUT = 30.0


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextmanager
    def hold(self, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
        """Hold the lock (re-entrant in one thread)."""
        if not self._thread_lock.acquire(timeout=timeout):
            raise TemporaryFailure(f"timed out waiting for {self.path}")
        try:
            if self._depth == 0:
                self._lock_file(timeout)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    @property
    def thread_lock(self) -> threading.RLock:
        """The in-process half alone: for reading in-memory state without disk locking."""
        return self._thread_lock

    def _lock_file(self, timeout: float) -> None:
        if self._fd is None or not _same_file(self._fd, self.path):
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TemporaryFailure(f"timed out waiting for {self.path}") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None and self._depth == 0:
                os.close(self._fd)
                self._fd = None

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _same_file(fd: int, path: Path) -> bool:
    """False once the lock file was replaced (folder deleted and made again)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    fst = os.fstat(fd)
    return (st.st_ino, st.st_dev) == (fst.st_ino, fst.st_dev)
