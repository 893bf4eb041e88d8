"""Small file-system helpers: atomic replace, fsync policy, OSError translation.

Every write that must survive a crash goes through :func:`atomic_write` (temporary file,
fsync, rename, fsync of the directory) or :func:`append_lines` (append whole lines, fsync).
Transient trouble (EIO, ENOSPC, EDQUOT ...) becomes :class:`~mailhost.errors.TemporaryFailure`
so the protocols answer ``[SYS/TEMP]``/``[UNAVAILABLE]`` instead of dropping the connection.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ParamSpec, TypeVar

from mailhost.errors import TemporaryFailure

P = ParamSpec("P")
T = TypeVar("T")

#: errno values worth retrying later; anything else from the disk is reported the same way,
#: but these are the ones an operator expects to see resolve on their own.
TRANSIENT_ERRNOS = frozenset(
    {
        errno.EIO,
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EAGAIN,
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOMEM,
        errno.EROFS,
        errno.ESTALE,
        errno.EBUSY,
        errno.EINTR,
        errno.ETIMEDOUT,
    }
)


def translate_oserror(exc: OSError) -> TemporaryFailure:
    """The :class:`TemporaryFailure` a disk error is reported as (the cause is chained)."""
    name = errno.errorcode.get(exc.errno or 0, "EUNKNOWN")
    return TemporaryFailure(f"mail store I/O error {name}: {exc.strerror or exc}")


def disk_errors(func: Callable[P, T]) -> Callable[P, T]:
    """Decorate a public store method: OSError out of it becomes TemporaryFailure.

    FileNotFoundError is translated too: the methods handle the ENOENT cases they expect
    (a message renamed by another process, a folder deleted) themselves.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except OSError as exc:
            raise translate_oserror(exc) from exc

    return wrapper


def fsync_dir(path: Path | str) -> None:
    """Make a rename or create in ``path`` durable (POSIX needs the directory fsynced)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, fsync: bool) -> os.stat_result:
    """Replace ``path`` with ``data`` atomically; returns the new file's stat."""
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}.{id(data):x}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
        st = os.fstat(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)
    if fsync:
        fsync_dir(path.parent)
    return st


def append_lines(path: Path, data: bytes, fsync: bool, truncate_to: int | None = None) -> int:
    """Append ``data`` (whole lines) to ``path``; returns the new size.

    ``truncate_to`` first cuts off a torn last line left by a writer that was killed.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        if truncate_to is not None and os.fstat(fd).st_size != truncate_to:
            os.ftruncate(fd, truncate_to)
        end = os.lseek(fd, 0, os.SEEK_END)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
        return end + len(data)
    finally:
        os.close(fd)


def read_from(path: Path, offset: int) -> tuple[bytes, os.stat_result] | None:
    """Bytes of ``path`` from ``offset`` and its stat, or None if it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        if offset:
            os.lseek(fd, offset, os.SEEK_SET)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks), st
    finally:
        os.close(fd)


def complete_lines(data: bytes) -> tuple[list[bytes], int]:
    """Split off the whole lines of ``data``; returns them and the bytes they span."""
    end = data.rfind(b"\n") + 1
    if not end:
        return [], 0
    return data[: end - 1].split(b"\n"), end


@contextlib.contextmanager
def suppress_missing() -> Iterator[None]:
    with contextlib.suppress(FileNotFoundError):
        yield
