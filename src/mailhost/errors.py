"""Errors named for the condition, not for a protocol.

The store and the authentication layer raise these; each protocol package maps them
once, in its ``responses`` module, to ``-ERR [IN-USE]``, ``NO [NONEXISTENT]`` and so on
(the shape of Dovecot's ``client_send_storage_error``).
"""

from __future__ import annotations


class MailhostError(Exception):
    """Base of every error that mailhost answers a client with."""


class StoreError(MailhostError):
    """Something about the mail store refused or failed an operation."""


class NoSuchFolder(StoreError):
    """The folder does not exist (IMAP ``[NONEXISTENT]``/``[TRYCREATE]``)."""


class FolderExists(StoreError):
    """A folder of that name exists already (IMAP ``[ALREADYEXISTS]``)."""


class InvalidFolderName(StoreError):
    """The name cannot be a folder: separator, ``..``, control characters, ... (``[CANNOT]``)."""


class CannotDelete(StoreError):
    """The folder may not be deleted or renamed that way (INBOX, non-empty parent, ...)."""


class ReadOnly(StoreError):
    """The folder or message may not be changed (recovery tree, EXAMINE) (``[NOPERM]``)."""


class MessageGone(StoreError):
    """The message was expunged meanwhile (IMAP ``[EXPUNGEISSUED]``, RFC 2180)."""


class TooManyKeywords(StoreError):
    """The folder has no room for another keyword (Maildir has 26 letters) (``[LIMIT]``)."""


class MailboxInUse(StoreError):
    """Another session holds the exclusive maildrop lease (POP3 ``[IN-USE]``)."""


class LeaseLost(StoreError):
    """A maildrop lease expired or was taken over before the holder applied its changes."""


class OverQuota(StoreError):
    """The change would exceed the user's storage quota (``[OVERQUOTA]``)."""


class MessageTooBig(StoreError):
    """The message exceeds the configured size limit (``[TOOBIG]``)."""


class TemporaryFailure(MailhostError):
    """A transient failure worth retrying (POP3 ``[SYS/TEMP]``, IMAP ``[UNAVAILABLE]``)."""


class UnknownUser(MailhostError):
    """No such account (delivery: EX_NOUSER)."""


class LoginDelayed(MailhostError):
    """The login is refused for now: throttled (POP3 ``[LOGIN-DELAY]``, IMAP ``[UNAVAILABLE]``)."""
