"""``mailhost deliver USER [--folder F] < message``: local delivery for an MTA.

Works without the server running: it writes through the store (tmp/ then new/, with
the uidlist lock), and a running host notices through inotify or its rescan.  Exit
statuses are sysexits(3) so Postfix, Exim or fetchmail know whether to bounce (67,
65) or retry (75).
"""

from __future__ import annotations

import sys
from typing import BinaryIO

from mailhost.config import Config
from mailhost.errors import (
    InvalidFolderName,
    MessageTooBig,
    NoSuchFolder,
    OverQuota,
    StoreError,
    TemporaryFailure,
)

EX_OK = 0
EX_DATAERR = 65
EX_NOUSER = 67
EX_CANTCREAT = 73
EX_TEMPFAIL = 75


def read_message(stream: BinaryIO, limit: int) -> bytes | None:
    """Read at most ``limit`` octets; None if the message is larger."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        return None
    if data.startswith(b"From "):
        # an mbox "From " envelope line, as some MTAs hand it over: not part of the message
        data = data.split(b"\n", 1)[1] if b"\n" in data else b""
    return data


def user_exists(cfg: Config, user: str) -> bool:
    from mailhost.auth.passwd import PasswdFile

    return PasswdFile(cfg.auth.passwd_file).get(user) is not None


def deliver(cfg: Config, user: str, data: bytes, folder: str = "INBOX") -> int:
    """Store ``data`` for ``user``; the sysexits status and a message on stderr."""
    from mailhost.service import build_store

    try:
        if not user_exists(cfg, user):
            print(f"mailhost deliver: unknown user {user!r}", file=sys.stderr)
            return EX_NOUSER
        account = build_store(cfg).account(user)
        try:
            target = account.folder(folder)
        except NoSuchFolder:
            account.create_folder(folder)
            target = account.folder(folder)
        target.append(data)
    except (InvalidFolderName, MessageTooBig) as e:
        print(f"mailhost deliver: {type(e).__name__}: {e}", file=sys.stderr)
        return EX_DATAERR
    except OverQuota:
        print(f"mailhost deliver: {user} is over quota", file=sys.stderr)
        return EX_TEMPFAIL
    except (TemporaryFailure, StoreError, OSError) as e:
        print(f"mailhost deliver: temporary failure: {e}", file=sys.stderr)
        return EX_TEMPFAIL
    return EX_OK


def deliver_from_stdin(cfg: Config, user: str, folder: str = "INBOX") -> int:
    data = read_message(sys.stdin.buffer, cfg.store.max_message_size)
    if data is None:
        print("mailhost deliver: message exceeds store.max_message_size", file=sys.stderr)
        return EX_DATAERR
    return deliver(cfg, user, data, folder)
