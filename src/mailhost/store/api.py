"""The protocol-free, UID-based mail store interface.

POP3, IMAP4, delivery and the recovery page all talk to a store through these types.
The store addresses folders by name (or stable id) and messages by ``(uidvalidity, uid)``;
it knows nothing of IMAP sequence numbers, POP3 message numbers, tags or ``-ERR``.

Everything here is synchronous and may block on disk: protocol adapters call it through
:mod:`mailhost.blocking`, never on the reactor thread.  Nothing under ``store/`` imports
``twisted.internet``.

Shaped for more than one backend (memory, Maildir, later a database):

* every change bumps a per-folder MODSEQ and expunges leave a marker with theirs, so
  :meth:`Folder.changes_since` can always be answered (a reliable pull);
* wake-ups (:class:`ChangeListener`) are best effort: a session that misses one still
  converges at its next pull;
* message bodies are byte streams, never file paths;
* the POP3 exclusive lock is an expiring :class:`Lease` checked when deletions are applied;
* transient backend trouble raises :class:`mailhost.errors.TemporaryFailure`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

INBOX = "INBOX"

SEEN = "\\Seen"
ANSWERED = "\\Answered"
FLAGGED = "\\Flagged"
DELETED = "\\Deleted"
DRAFT = "\\Draft"
RECENT = "\\Recent"
#: Flags a message can carry in the store; ``\\Recent`` is per session, never stored.
SYSTEM_FLAGS = frozenset({SEEN, ANSWERED, FLAGGED, DELETED, DRAFT})

#: RFC 6154 roles a folder can have.
SPECIAL_USES = frozenset(
    {"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"}
)


class FlagMode(enum.Enum):
    """How :meth:`Folder.set_flags` combines the given flags with the present ones."""

    ADD = "add"
    REMOVE = "remove"
    REPLACE = "replace"


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """What a listing knows of one message without reading its file."""

    uid: int
    flags: frozenset[str]
    #: RFC822.SIZE: octets of the message with every line ending as CRLF.
    size: int
    #: IMAP INTERNALDATE as POSIX seconds (delivery time; the file's mtime in Maildir).
    internaldate: float
    modseq: int


@dataclass(frozen=True, slots=True)
class FolderInfo:
    """One folder as LIST shows it."""

    name: str
    folder_id: str
    special_use: str | None = None
    subscribed: bool = False
    has_children: bool = False
    #: False for a parent that exists only because a child does (``\\Noselect``).
    selectable: bool = True
    #: True for folders no client may change (the recovery tree).
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class FolderStatus:
    """The counters STATUS and SELECT report."""

    uidvalidity: int
    uidnext: int
    highestmodseq: int
    messages: int
    unseen: int
    #: Sum of RFC822.SIZE over the folder.
    size: int
    #: Messages no session has claimed as ``\\Recent`` yet (STATUS RECENT).
    recent: int = 0


@dataclass(frozen=True, slots=True)
class FlagListing:
    """Every message's UID, flags and MODSEQ with the counters SELECT/EXAMINE report
    (RFC 3501 §6.3.1, RFC 7162 §3.1.2), but no RFC822.SIZE nor INTERNALDATE.

    A folder of files written by other programs learns sizes (and dates) by reading (and
    stat-ing) every file; :meth:`Folder.list_messages`, :meth:`Folder.status` and
    :meth:`Folder.get` do that on first use, :meth:`Folder.list_flags` never does.
    """

    uidvalidity: int
    uidnext: int
    highestmodseq: int
    #: Ascending.
    uids: list[int]
    #: ``flags[i]`` are the flags of ``uids[i]``.
    flags: list[frozenset[str]]
    #: ``modseqs[i]`` is the MODSEQ of ``uids[i]``.
    modseqs: list[int]
    #: Messages without ``\\Seen`` (STATUS UNSEEN).
    unseen: int = 0
    #: Messages no session has claimed as ``\\Recent`` yet (STATUS RECENT).
    recent: int = 0


class ChangeKind(enum.Enum):
    APPEND = "append"
    FLAGS = "flags"
    EXPUNGE = "expunge"


@dataclass(frozen=True, slots=True)
class Change:
    """One change to one message, with the MODSEQ it was given."""

    kind: ChangeKind
    uid: int
    modseq: int
    #: The message's flags after the change (APPEND and FLAGS).
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """The answer to :meth:`Folder.changes_since`."""

    uidvalidity: int
    highestmodseq: int
    #: In MODSEQ order; at most one entry per UID (its newest state).
    changes: tuple[Change, ...] = ()
    #: The folder was recreated or its UIDs reset: a session must drop its view.
    reset: bool = False


@dataclass(frozen=True, slots=True)
class Quota:
    """Storage use of one account; ``limit`` is None when unlimited."""

    used: int
    limit: int | None = None
    messages: int = 0


class Lease(Protocol):
    """An exclusive, expiring hold on an account's maildrop (POP3, RFC 1939 §8)."""

    token: str

    def renew(self) -> None:
        """Extend the lease; raises :class:`~mailhost.errors.LeaseLost` if it was lost."""

    def check(self) -> None:
        """Raise :class:`~mailhost.errors.LeaseLost` unless the lease is still ours."""

    def release(self) -> None:
        """Give the lease up; harmless if already released or lost."""


class Folder(Protocol):
    """One folder; INBOX is a folder like the others."""

    @property
    def name(self) -> str: ...

    @property
    def folder_id(self) -> str: ...

    @property
    def uidvalidity(self) -> int: ...

    @property
    def read_only(self) -> bool: ...

    def status(self) -> FolderStatus:
        """Counters, after taking in changes made outside this process."""

    def list_messages(self) -> list[MessageInfo]:
        """Every message, ordered by UID, after taking in outside changes."""

    def list_flags(self) -> FlagListing:
        """UIDs, flags and counters after taking in outside changes, without learning any
        message's size: what SELECT needs, and far cheaper than :meth:`list_messages` and
        :meth:`status` the first time a big folder of foreign files is opened; STATUS
        without SIZE can use it too.  The session's own ``\\Recent`` set still comes from
        :meth:`claim_recent`."""

    def get(self, uid: int) -> MessageInfo | None:
        """One message's listing, or None if there is none with that UID."""

    def open_message(self, uid: int) -> BinaryIO:
        """The message with CRLF line endings, exactly ``size`` octets long.

        Raises :class:`~mailhost.errors.MessageGone` if it was expunged.
        """

    def read_message(self, uid: int) -> bytes:
        """The whole message as :meth:`open_message` streams it."""

    def message_files(self, uids: Iterable[int]) -> list[tuple[int, str, int]]:
        """``(uid, absolute path, CRLF size or -1)`` of each message kept in a file, as
        last seen, so that another process can read them (it must expect a file to have
        been renamed or removed since).  Empty where messages are not files."""

    def read_header(self, uid: int) -> bytes:
        """The message's header block (CRLF form, up to and including the empty line).

        What ENVELOPE, header fetches and header SEARCH keys need, without reading the
        body of a large message.
        """

    def append(
        self,
        data: bytes,
        flags: Iterable[str] = (),
        internaldate: float | None = None,
        idempotency_key: str | None = None,
    ) -> MessageInfo:
        """Add a message; the same ``idempotency_key`` twice stores it once."""

    def set_flags(
        self, uids: Iterable[int], flags: Iterable[str], mode: FlagMode
    ) -> list[MessageInfo]:
        """Change flags of the given messages as one change; returns those that changed.

        UIDs that are gone are skipped.  The messages changed all get one new MODSEQ, and
        no other change gets it: a session whose view was current at the MODSEQ just below
        knows from the result alone that nothing else changed meanwhile.
        """

    def set_flags_unchanged_since(
        self, uids: Iterable[int], flags: Iterable[str], mode: FlagMode, modseq: int
    ) -> tuple[list[MessageInfo], list[int]]:
        """:meth:`set_flags` of only the messages whose MODSEQ is at most ``modseq``, checked
        and changed as one step (RFC 7162 §3.2, STORE UNCHANGEDSINCE).

        Returns the messages that changed and the UIDs left alone because they had
        changed since ``modseq``, ascending.
        """

    def copy_to(self, uids: Iterable[int], dest: Folder) -> list[tuple[int, int]]:
        """Copy messages, keeping flags and internal dates; ``[(source uid, new uid)]``."""

    def move_to(self, uids: Iterable[int], dest: Folder) -> list[tuple[int, int]]:
        """Copy then expunge here, as one change per folder; ``[(source uid, new uid)]``."""

    def expunge(self, uids: Iterable[int]) -> list[int]:
        """Remove the given messages; returns the UIDs actually removed, ascending."""

    def changes_since(self, modseq: int) -> ChangeSet:
        """Every change with a MODSEQ above ``modseq``, after taking in outside changes."""

    def claim_recent(self) -> frozenset[int]:
        """The UIDs this caller is the one session to see as ``\\Recent`` (RFC 3501 §2.3.2).

        Each message is handed out once, to the first caller after it arrived.
        """

    def select(self, claim: bool) -> tuple[FlagListing, frozenset[int]]:
        """:meth:`list_flags` and, with ``claim``, :meth:`claim_recent` (else an empty
        set), from one look at the disk: what opening a mailbox needs."""


class Account(Protocol):
    """One user's folders."""

    @property
    def username(self) -> str: ...

    @property
    def delimiter(self) -> str:
        """The hierarchy delimiter used in folder names (``/`` by default)."""

    def folder(self, name: str) -> Folder:
        """Open a folder by name; raises :class:`~mailhost.errors.NoSuchFolder`."""

    def list_folders(self) -> list[FolderInfo]:
        """Every folder, INBOX first, parents before children."""

    def create_folder(self, name: str, special_use: str | None = None) -> FolderInfo:
        """Create a folder (and missing parents)."""

    def delete_folder(self, name: str) -> None:
        """Delete a folder; INBOX cannot be deleted."""

    def rename_folder(self, old: str, new: str) -> None:
        """Rename with children; renaming INBOX moves its messages (RFC 3501 §6.3.5)."""

    def subscribe(self, name: str, subscribed: bool = True) -> None:
        """Add or remove a name in the subscription list (the folder need not exist)."""

    def subscriptions(self) -> list[str]:
        """The subscribed names."""

    def acquire_maildrop(self, owner: str, ttl: float) -> Lease:
        """Take the exclusive POP3 lease; raises :class:`~mailhost.errors.MailboxInUse`."""

    def quota(self) -> Quota:
        """Storage in use and the limit."""


#: Called with ``(username, folder_id)`` after a change; may be called from any thread.
ChangeListener = Callable[[str, str], None]


class Store(Protocol):
    """All accounts of one host."""

    def account(self, username: str) -> Account:
        """The user's account, created (with INBOX and special-use folders) on first use."""

    def add_listener(self, listener: ChangeListener) -> None:
        """Register a best-effort wake-up for changes made through this store."""

    def remove_listener(self, listener: ChangeListener) -> None: ...

    def refresh(self, username: str, folder_id: str) -> None:
        """Look at an open folder on disk now: listeners hear of it if something changed
        there that this store had not seen (another program, another process), or if
        the folder is gone.  The watcher's call when a directory changes, so a change
        this store made itself, and already told of, wakes nobody a second time."""


def uid_ranges(uids: Sequence[int]) -> str:
    """Compact ``1:3,7`` form of UIDs (RFC 4315 ``uid-set``): ascending runs joined, in the
    order given (COPYUID's target set and ESORT's ALL keep theirs)."""
    parts: list[str] = []
    start = prev = None
    for uid in uids:
        if prev is not None and uid == prev + 1:
            prev = uid
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = uid
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(parts)
