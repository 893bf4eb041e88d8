"""POP3 wire replies, and the one mapping of mailhost errors to ``-ERR`` texts.

Extended response codes: RFC 2449 §8 (``[IN-USE]``, ``[LOGIN-DELAY]``) and RFC 3206
(``[SYS/TEMP]``, ``[SYS/PERM]``, ``[AUTH]``).  RESP-CODES is always advertised, so codes
are sent to every client.
"""

from __future__ import annotations

from collections.abc import Iterable

from twisted.cred.error import UnauthorizedLogin

from mailhost.errors import (
    LeaseLost,
    LoginDelayed,
    MailboxInUse,
    MessageGone,
    NoSuchFolder,
    StoreError,
    TemporaryFailure,
)

IN_USE = "IN-USE"
LOGIN_DELAY = "LOGIN-DELAY"
SYS_TEMP = "SYS/TEMP"
SYS_PERM = "SYS/PERM"
AUTH = "AUTH"


def ok(text: str = "") -> bytes:
    return b"+OK" + (b" " + text.encode() if text else b"") + b"\r\n"


def err(text: str, code: str | None = None) -> bytes:
    prefix = f"[{code}] " if code else ""
    return f"-ERR {prefix}{text}\r\n".encode()


def multiline(first: bytes, lines: Iterable[str]) -> bytes:
    """A status line, then text lines (dot-stuffed), then the terminating ``.``."""
    body = b"".join(
        (("." + line) if line.startswith(".") else line).encode() + b"\r\n" for line in lines
    )
    return first + body + b".\r\n"


def challenge(encoded: bytes) -> bytes:
    """RFC 5034 §4: ``+`` SP base64 (an empty challenge is ``+`` SP)."""
    return b"+ " + encoded + b"\r\n"


# Fixed replies, kept here so transcripts and code agree.
UNKNOWN_COMMAND = err("Unknown command")
BAD_SYNTAX = err("Syntax error in arguments")
NO_SUCH_MESSAGE = err("No such message")
LINE_TOO_LONG = err("Line too long")
TOO_MANY_BAD = err("Too many bad commands, closing")
TOO_MANY_AUTH_FAILURES = err("Too many authentication failures, closing", AUTH)
NOT_IN_STATE = err("Command not valid in this state")
AUTH_FAILED = err("Authentication failed", AUTH)
PLAINTEXT_REFUSED = err("Plaintext authentication disallowed on non-secure connections", AUTH)
AUTH_CANCELLED = err("Authentication cancelled")
BAD_BASE64 = err("Invalid base64 data")
UNKNOWN_MECHANISM = err("Unsupported authentication mechanism")
AUTHZID_REFUSED = err("Authorization identity not allowed", AUTH)
USER_FIRST = err("Send USER first")
REVOKED = err("Credentials no longer valid, closing", AUTH)
LOCK_LOST = err("Maildrop lock lost, please log in again", SYS_TEMP)
IDLE_TIMEOUT = err("Disconnected for inactivity")
SHUTDOWN = err("Server shutting down", SYS_TEMP)
TOO_MANY_FROM_IP = err("Too many connections from your address", SYS_TEMP)
TOO_MANY_FOR_USER = err("Too many connections for this user", SYS_TEMP)
APOP_UNSUPPORTED = err("APOP is not supported")
STLS_REFUSED = err("STLS not available")
UPDATE_FAILED = err("Some deleted messages not removed, try again later", SYS_TEMP)


def login_delay(seconds: int) -> bytes:
    return err(f"Logins must be at least {seconds} seconds apart", LOGIN_DELAY)


def already_deleted(number: int) -> bytes:
    return err(f"Message {number} already deleted")


def error_reply(failure: BaseException) -> bytes:
    """The ``-ERR`` line for an error from the store or the authenticator.

    Unknown exception types are not mapped: they are programming errors and must surface.
    """
    if isinstance(failure, UnauthorizedLogin):
        return AUTH_FAILED
    if isinstance(failure, LoginDelayed):
        return err("Too many login attempts, try again later", LOGIN_DELAY)
    if isinstance(failure, MailboxInUse):
        return err("Maildrop is locked by another POP3 session", IN_USE)
    if isinstance(failure, LeaseLost):
        return LOCK_LOST
    if isinstance(failure, MessageGone):
        return err("Message was deleted by another session")
    if isinstance(failure, TemporaryFailure):
        return err("Temporary server failure, try again later", SYS_TEMP)
    if isinstance(failure, NoSuchFolder):
        return err("Maildrop is unavailable", SYS_PERM)
    if isinstance(failure, StoreError):
        return err("Mail store failure, try again later", SYS_TEMP)
    raise failure


#: Error types :func:`error_reply` answers; anything else propagates.
MAPPED_ERRORS: tuple[type[BaseException], ...] = (
    UnauthorizedLogin,
    LoginDelayed,
    StoreError,
    TemporaryFailure,
)
