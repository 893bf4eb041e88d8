"""Reading a message leaves its access time alone (O_NOATIME), and where the kernel refuses
that (another user's files) messages are still read."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from mailhost.store import crlf
from mailhost.store.maildir import MaildirStore

MESSAGE = b"From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n"
OLD = 1_000_000_000  # 2001: older than the file's mtime, so a relatime read would update it


def _atime_after_plain_read(path: Path) -> int:
    os.utime(path, (OLD, path.stat().st_mtime))
    fd = os.open(path, os.O_RDONLY)
    try:
        os.read(fd, 100)
    finally:
        os.close(fd)
    return path.stat().st_atime_ns


def test_reading_does_not_touch_access_times(tmp_path: Path) -> None:
    store = MaildirStore(tmp_path / "%u", fsync=False)
    inbox = store.account("alice").folder("INBOX")
    uid = inbox.append(MESSAGE).uid
    (path,) = [
        p for p in (tmp_path / "alice").rglob("*") if p.is_file() and p.read_bytes() == MESSAGE
    ]
    if _atime_after_plain_read(path) == OLD * 10**9:
        pytest.skip("this file system does not record reads (mounted noatime)")
    os.utime(path, (OLD, path.stat().st_mtime))
    assert inbox.read_message(uid) == MESSAGE
    assert inbox.read_header(uid) == b"From: a@example.org\r\nSubject: x\r\n\r\n"
    assert path.stat().st_atime_ns == OLD * 10**9


def test_another_owners_files_are_read_plainly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m"
    path.write_bytes(MESSAGE)
    real_open = os.open
    calls = []

    def refusing(p: Any, flags: int, *args: Any, **kw: Any) -> int:
        calls.append(flags)
        if flags & getattr(os, "O_NOATIME", 0):
            raise PermissionError(errno.EPERM, "Operation not permitted")
        return real_open(p, flags, *args, **kw)

    monkeypatch.setattr(crlf, "_message_read", crlf._message_read)  # restored afterwards
    monkeypatch.setattr(os, "open", refusing)
    for _ in range(2):
        fd = crlf.open_message(str(path))
        assert os.read(fd, 100) == MESSAGE
        os.close(fd)
    if getattr(os, "O_NOATIME", 0):
        # refused once, then no more asked for
        assert len(calls) == 3 and calls[0] & os.O_NOATIME and not calls[2] & os.O_NOATIME


def test_a_file_not_readable_is_still_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(p: Any, flags: int, *args: Any, **kw: Any) -> int:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(PermissionError):
        crlf.open_message(str(tmp_path / "m"))
