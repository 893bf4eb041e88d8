"""The one place where conditions become IMAP response codes (RFC 3501 §7.1, RFC 5530).

Store and authentication errors (:mod:`mailhost.errors`) are protocol-free; this module
turns them into the tagged ``NO [CODE] text`` a client sees.
"""

from __future__ import annotations

from twisted.cred.error import UnauthorizedLogin

from mailhost import errors
from mailhost.imap.commands import BadCharset, BadMailboxName


class No(Exception):
    """Answer the command ``NO [code] text``."""

    def __init__(self, code: bytes | None, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text

    def line(self) -> bytes:
        code = b"[" + self.code + b"] " if self.code else b""
        return code + self.text.encode("utf-8", errors="replace")


class Bad(Exception):
    """Answer the command ``BAD text``: the client sent something it should not have."""


_CODES: list[tuple[type[BaseException], bytes, str]] = [
    (errors.NoSuchFolder, b"NONEXISTENT", "No such mailbox"),
    (errors.FolderExists, b"ALREADYEXISTS", "Mailbox already exists"),
    (errors.InvalidFolderName, b"CANNOT", "Invalid mailbox name"),
    (errors.CannotDelete, b"CANNOT", "That mailbox cannot be changed that way"),
    (errors.ReadOnly, b"NOPERM", "Mailbox is read-only"),
    (errors.MessageGone, b"EXPUNGEISSUED", "Some of the messages were expunged"),
    (errors.MailboxInUse, b"INUSE", "Mailbox is in use by another session"),
    (errors.LeaseLost, b"INUSE", "Mailbox is in use by another session"),
    (errors.OverQuota, b"OVERQUOTA", "Quota exceeded"),
    (errors.TooManyKeywords, b"LIMIT", "No room for another keyword in this mailbox"),
    (errors.MessageTooBig, b"TOOBIG", "Message too large"),
    (errors.TemporaryFailure, b"UNAVAILABLE", "Temporary failure, try again later"),
    (errors.LoginDelayed, b"UNAVAILABLE", "Login delayed, try again later"),
    (UnauthorizedLogin, b"AUTHENTICATIONFAILED", "Authentication failed"),
    (BadMailboxName, b"CANNOT", "Mailbox name is not valid modified UTF-7"),
    (BadCharset, b"BADCHARSET (UTF-8 US-ASCII)", "Charset not supported"),
]

#: Errors this module knows how to answer; anything else is a bug and propagates.
KNOWN: tuple[type[BaseException], ...] = tuple(c for c, _, _ in _CODES)


def to_no(exc: BaseException, trycreate: bool = False) -> No:
    """The NO for a known error; ``trycreate`` for a missing APPEND/COPY/MOVE target."""
    if trycreate and isinstance(exc, errors.NoSuchFolder):
        return No(b"TRYCREATE", "No such mailbox")
    for cls, code, text in _CODES:
        if isinstance(exc, cls):
            if isinstance(exc, errors.InvalidFolderName | BadMailboxName) and exc.args:
                text = str(exc.args[0])
            return No(code, text)
    raise exc
