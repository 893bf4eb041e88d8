"""POP3 unique-ids (RFC 1939 §7 UIDL) as a fixed function of ``(UIDVALIDITY, UID)``.

A UIDL must never change for a message nor be reused: clients that leave mail on the
server decide what is new by it.  Deriving it from the store's UIDVALIDITY and UID (not
from a file name that changes with flags) keeps it stable across restarts and IMAP use.
"""

from __future__ import annotations

from collections.abc import Callable

from mailhost.pop3.config import UIDLFormat


def _dovecot(uidvalidity: int, uid: int) -> str:
    # Dovecot's default pop3_uidl_format is "%08Xu%08Xv" (2.4: "%{uid|hex(8)}%{uidvalidity|
    # hex(8)}").  Its "X" modifier is str_hex()/m_str_hex() in lib/var-expand.c, which
    # prints with "%llx": lower case, despite the upper-case X (Cyrus's uidl_format
    # "dovecot" documents the same).  Lower case keeps UIDLs of migrated Dovecot users.
    return f"{uid:08x}{uidvalidity:08x}"


def _cyrus(uidvalidity: int, uid: int) -> str:
    return f"{uidvalidity}.{uid}"


def _courier(uidvalidity: int, uid: int) -> str:
    return f"{uidvalidity}-{uid}"


def _uidonly(uidvalidity: int, uid: int) -> str:
    return str(uid)


FORMATS: dict[str, Callable[[int, int], str]] = {
    "dovecot": _dovecot,
    "cyrus": _cyrus,
    "courier": _courier,
    "uidonly": _uidonly,
}


def uidl_function(name: UIDLFormat) -> Callable[[int, int], str]:
    """``f(uidvalidity, uid) -> unique-id`` for a configured format name."""
    return FORMATS[name]
