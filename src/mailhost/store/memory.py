"""An in-memory store: the reference implementation of :mod:`mailhost.store.api`.

Used by protocol unit tests and by embedders who want a throw-away host.  It follows
the same contract as the Maildir store (``tests/store/`` runs one suite against both).
"""

from __future__ import annotations

import io
import itertools
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from mailhost.errors import (
    CannotDelete,
    FolderExists,
    InvalidFolderName,
    LeaseLost,
    MailboxInUse,
    MessageGone,
    MessageTooBig,
    NoSuchFolder,
    OverQuota,
)
from mailhost.store.api import (
    INBOX,
    SEEN,
    SYSTEM_FLAGS,
    Change,
    ChangeKind,
    ChangeListener,
    ChangeSet,
    FlagListing,
    FlagMode,
    FolderInfo,
    FolderStatus,
    MessageInfo,
    Quota,
)
from mailhost.store.crlf import header_block, to_crlf
from mailhost.store.names import validate_folder_name

_uidvalidity_counter = itertools.count(int(time.time()))


def _clean_flags(flags: Iterable[str]) -> frozenset[str]:
    """System flags (any case) and keywords; ``\\Recent`` and unknown backslash flags are
    not stored (RFC 3501 §2.3.2)."""
    canonical = {f.lower(): f for f in SYSTEM_FLAGS}
    out = set()
    for flag in flags:
        if flag.startswith("\\"):
            known = canonical.get(flag.lower())
            if known is not None:
                out.add(known)
        elif flag:
            out.add(flag)
    return frozenset(out)


@dataclass
class _Message:
    info: MessageInfo
    data: bytes
    #: MODSEQ of the append, which tells APPEND from FLAGS in :meth:`changes_since`.
    created: int


@dataclass
class _FolderData:
    name: str
    folder_id: str
    uidvalidity: int
    special_use: str | None = None
    uidnext: int = 1
    highestmodseq: int = 1
    recent_floor: int = 0
    messages: dict[int, _Message] = field(default_factory=dict)
    expunged: dict[int, int] = field(default_factory=dict)  # uid -> modseq
    idempotency: dict[str, int] = field(default_factory=dict)


class MemoryLease:
    def __init__(self, account: MemoryAccount, owner: str, ttl: float) -> None:
        self.token = uuid.uuid4().hex
        self.owner = owner
        self._account = account
        self._ttl = ttl
        self.expires = time.monotonic() + ttl

    def renew(self) -> None:
        self.check()
        self.expires = time.monotonic() + self._ttl

    def check(self) -> None:
        with self._account._lock:
            if self._account._lease is not self or time.monotonic() > self.expires:
                raise LeaseLost(self._account.username)

    def release(self) -> None:
        with self._account._lock:
            if self._account._lease is self:
                self._account._lease = None


class MemoryFolder:
    def __init__(self, account: MemoryAccount, data: _FolderData) -> None:
        self._account = account
        self._d = data

    @property
    def name(self) -> str:
        return self._d.name

    @property
    def folder_id(self) -> str:
        return self._d.folder_id

    @property
    def uidvalidity(self) -> int:
        return self._d.uidvalidity

    @property
    def read_only(self) -> bool:
        return False

    def _alive(self) -> _FolderData:
        if self._account._folders.get(self._d.name) is not self._d:
            raise NoSuchFolder(self._d.name)
        return self._d

    def status(self) -> FolderStatus:
        with self._account._lock:
            d = self._alive()
            infos = [m.info for m in d.messages.values()]
            return FolderStatus(
                uidvalidity=d.uidvalidity,
                uidnext=d.uidnext,
                highestmodseq=d.highestmodseq,
                messages=len(infos),
                unseen=sum(1 for i in infos if SEEN not in i.flags),
                size=sum(i.size for i in infos),
                recent=sum(1 for uid in d.messages if uid > d.recent_floor),
            )

    def list_messages(self) -> list[MessageInfo]:
        with self._account._lock:
            d = self._alive()
            return [d.messages[uid].info for uid in sorted(d.messages)]

    def list_flags(self) -> FlagListing:
        with self._account._lock:
            d = self._alive()
            infos = [d.messages[uid].info for uid in sorted(d.messages)]
            return FlagListing(
                uidvalidity=d.uidvalidity,
                uidnext=d.uidnext,
                highestmodseq=d.highestmodseq,
                uids=[i.uid for i in infos],
                flags=[i.flags for i in infos],
                modseqs=[i.modseq for i in infos],
                unseen=sum(1 for i in infos if SEEN not in i.flags),
                recent=sum(1 for uid in d.messages if uid > d.recent_floor),
            )

    def get(self, uid: int) -> MessageInfo | None:
        with self._account._lock:
            m = self._alive().messages.get(uid)
            return m.info if m else None

    def message_files(self, uids: Iterable[int]) -> list[tuple[int, str, int]]:
        return []

    def read_message(self, uid: int) -> bytes:
        with self._account._lock:
            m = self._alive().messages.get(uid)
            if m is None:
                raise MessageGone(uid)
            return m.data

    def read_header(self, uid: int) -> bytes:
        return header_block(self.read_message(uid))

    def open_message(self, uid: int) -> BinaryIO:
        return io.BytesIO(self.read_message(uid))

    def _add(self, d: _FolderData, data: bytes, flags: frozenset[str], date: float) -> MessageInfo:
        d.highestmodseq += 1
        info = MessageInfo(d.uidnext, flags, len(data), date, d.highestmodseq)
        d.messages[info.uid] = _Message(info, data, d.highestmodseq)
        d.uidnext += 1
        return info

    def append(
        self,
        data: bytes,
        flags: Iterable[str] = (),
        internaldate: float | None = None,
        idempotency_key: str | None = None,
    ) -> MessageInfo:
        with self._account._lock:
            d = self._alive()
            if idempotency_key is not None and idempotency_key in d.idempotency:
                known = d.messages.get(d.idempotency[idempotency_key])
                if known is not None:
                    return known.info
            date = time.time() if internaldate is None else internaldate
            data = to_crlf(data)
            limit = self._account._store._max_message_size
            if limit is not None and len(data) > limit:
                raise MessageTooBig(f"{len(data)} octets is over the limit of {limit}")
            self._account._check_quota(len(data))
            info = self._add(d, data, _clean_flags(flags), date)
            if idempotency_key is not None:
                d.idempotency[idempotency_key] = info.uid
        self._account._notify(d.folder_id)
        return info

    def set_flags(
        self, uids: Iterable[int], flags: Iterable[str], mode: FlagMode
    ) -> list[MessageInfo]:
        flagset = _clean_flags(flags)
        changed: list[MessageInfo] = []
        with self._account._lock:
            d = self._alive()
            modseq = d.highestmodseq + 1
            for uid in sorted(set(uids)):
                m = d.messages.get(uid)
                if m is None:
                    continue
                old = m.info.flags
                new = (
                    old | flagset
                    if mode is FlagMode.ADD
                    else old - flagset
                    if mode is FlagMode.REMOVE
                    else flagset
                )
                if new != old:
                    m.info = replace(m.info, flags=new, modseq=modseq)
                    changed.append(m.info)
            if changed:
                d.highestmodseq = modseq
        if changed:
            self._account._notify(d.folder_id)
        return changed

    def set_flags_unchanged_since(
        self, uids: Iterable[int], flags: Iterable[str], mode: FlagMode, modseq: int
    ) -> tuple[list[MessageInfo], list[int]]:
        with self._account._lock:  # (re-entrant: set_flags takes it again)
            messages = self._alive().messages
            wanted = sorted(set(uids))
            modified = [u for u in wanted if u in messages and messages[u].info.modseq > modseq]
            skip = set(modified)
            changed = self.set_flags([u for u in wanted if u not in skip], flags, mode)
        return changed, modified

    def copy_to(self, uids: Iterable[int], dest: object) -> list[tuple[int, int]]:
        return self._copy(uids, dest, count_quota=True)

    def _copy(self, uids: Iterable[int], dest: object, count_quota: bool) -> list[tuple[int, int]]:
        if not isinstance(dest, MemoryFolder):
            raise TypeError("copy between different stores")
        pairs: list[tuple[int, int]] = []
        with self._account._lock:
            src = self._alive()
            dst = dest._alive()
            msgs = [src.messages[u] for u in sorted(set(uids)) if u in src.messages]
            if count_quota or dest._account is not self._account:
                dest._account._check_quota(sum(m.info.size for m in msgs))
            for m in msgs:
                info = self._add(dst, m.data, m.info.flags, m.info.internaldate)
                pairs.append((m.info.uid, info.uid))
        if pairs:
            self._account._notify(dst.folder_id)
        return pairs

    def move_to(self, uids: Iterable[int], dest: object) -> list[tuple[int, int]]:
        # a move within the account uses no more space, so it is not held to the quota
        pairs = self._copy(uids, dest, count_quota=False)
        self.expunge([src for src, _ in pairs])
        return pairs

    def expunge(self, uids: Iterable[int]) -> list[int]:
        with self._account._lock:
            d = self._alive()
            gone = sorted(u for u in set(uids) if u in d.messages)
            if gone:
                d.highestmodseq += 1
                for uid in gone:
                    del d.messages[uid]
                    d.expunged[uid] = d.highestmodseq
        if gone:
            self._account._notify(d.folder_id)
        return gone

    def changes_since(self, modseq: int) -> ChangeSet:
        with self._account._lock:
            d = self._alive()
            changes: list[Change] = []
            for m in d.messages.values():
                if m.info.modseq > modseq:
                    kind = ChangeKind.APPEND if m.created > modseq else ChangeKind.FLAGS
                    changes.append(Change(kind, m.info.uid, m.info.modseq, m.info.flags))
            for uid, ms in d.expunged.items():
                if ms > modseq:
                    changes.append(Change(ChangeKind.EXPUNGE, uid, ms))
            changes.sort(key=lambda c: (c.modseq, c.uid))
            return ChangeSet(d.uidvalidity, d.highestmodseq, tuple(changes))

    def claim_recent(self) -> frozenset[int]:
        with self._account._lock:
            d = self._alive()
            claimed = frozenset(u for u in d.messages if u > d.recent_floor)
            d.recent_floor = d.uidnext - 1
            return claimed

    def select(self, claim: bool) -> tuple[FlagListing, frozenset[int]]:
        listing = self.list_flags()
        return listing, self.claim_recent() if claim else frozenset()


class MemoryAccount:
    def __init__(
        self,
        store: MemoryStore,
        username: str,
        special_folders: dict[str, str],
        quota_bytes: int | None,
    ) -> None:
        self._store = store
        self._username = username
        self._lock = threading.RLock()
        self._folders: dict[str, _FolderData] = {}
        self._subscriptions: set[str] = set()
        self._lease: MemoryLease | None = None
        self._quota_bytes = quota_bytes
        self._new_folder(INBOX, None)
        for role, name in special_folders.items():
            self._new_folder(name, role)
            self._subscriptions.add(name)
        self._subscriptions.add(INBOX)

    @property
    def username(self) -> str:
        return self._username

    @property
    def delimiter(self) -> str:
        return "/"

    def _new_folder(self, name: str, special_use: str | None) -> _FolderData:
        d = _FolderData(name, uuid.uuid4().hex, next(_uidvalidity_counter), special_use)
        self._folders[name] = d
        return d

    def _notify(self, folder_id: str) -> None:
        self._store._notify(self._username, folder_id)

    def _check_quota(self, extra: int) -> None:
        if self._quota_bytes is None:
            return
        if self.quota().used + extra > self._quota_bytes:
            raise OverQuota(self._username)

    def _canonical(self, name: str) -> str:
        if name.upper() == INBOX:
            return INBOX
        validate_folder_name(name, self.delimiter)
        return name

    def folder(self, name: str) -> MemoryFolder:
        with self._lock:
            d = self._folders.get(self._canonical(name))
            if d is None:
                raise NoSuchFolder(name)
            return MemoryFolder(self, d)

    def list_folders(self) -> list[FolderInfo]:
        with self._lock:
            names = sorted(self._folders, key=lambda n: (n != INBOX, n))
            out = []
            for n in names:
                d = self._folders[n]
                prefix = n + self.delimiter
                out.append(
                    FolderInfo(
                        name=n,
                        folder_id=d.folder_id,
                        special_use=d.special_use,
                        subscribed=n in self._subscriptions,
                        has_children=any(o.startswith(prefix) for o in self._folders),
                    )
                )
            return out

    def create_folder(self, name: str, special_use: str | None = None) -> FolderInfo:
        with self._lock:
            name = self._canonical(name.rstrip(self.delimiter))
            if name in self._folders:
                raise FolderExists(name)
            parts = name.split(self.delimiter)
            for i in range(1, len(parts)):
                parent = self.delimiter.join(parts[:i])
                if parent not in self._folders and parent != INBOX:
                    self._new_folder(parent, None)
            d = self._new_folder(name, special_use)
            return FolderInfo(name, d.folder_id, special_use)

    def delete_folder(self, name: str) -> None:
        with self._lock:
            name = self._canonical(name)
            if name == INBOX:
                raise CannotDelete(name)
            if name not in self._folders:
                raise NoSuchFolder(name)
            gone = self._folders.pop(name)
        self._notify(gone.folder_id)

    def rename_folder(self, old: str, new: str) -> None:
        with self._lock:
            old = self._canonical(old)
            new = self._canonical(new)
            if old not in self._folders:
                raise NoSuchFolder(old)
            if new in self._folders:
                raise FolderExists(new)
            if new == INBOX or new.startswith(old + self.delimiter):
                raise InvalidFolderName(new)
            if old == INBOX:
                inbox = self._folders[INBOX]
                target = self._new_folder(new, None)
                target.messages, inbox.messages = inbox.messages, {}
                target.uidnext = inbox.uidnext
                inbox.highestmodseq += 1
                for uid in target.messages:
                    inbox.expunged[uid] = inbox.highestmodseq
            else:
                inbox = None
                prefix = old + self.delimiter
                for name in sorted(self._folders):
                    if name == old or name.startswith(prefix):
                        d = self._folders.pop(name)
                        d.name = new + name[len(old) :]
                        self._folders[d.name] = d
        if inbox is not None:
            self._notify(inbox.folder_id)

    def subscribe(self, name: str, subscribed: bool = True) -> None:
        with self._lock:
            name = self._canonical(name)
            if subscribed:
                self._subscriptions.add(name)
            else:
                self._subscriptions.discard(name)

    def subscriptions(self) -> list[str]:
        with self._lock:
            return sorted(self._subscriptions)

    def acquire_maildrop(self, owner: str, ttl: float) -> MemoryLease:
        with self._lock:
            if self._lease is not None and time.monotonic() <= self._lease.expires:
                raise MailboxInUse(self._username)
            self._lease = MemoryLease(self, owner, ttl)
            return self._lease

    def quota(self) -> Quota:
        with self._lock:
            used = sum(m.info.size for d in self._folders.values() for m in d.messages.values())
            count = sum(len(d.messages) for d in self._folders.values())
            return Quota(used, self._quota_bytes, count)


class MemoryStore:
    """Accounts held in memory; created on first use."""

    def __init__(
        self,
        special_folders: dict[str, str] | None = None,
        quota_bytes: int | None = None,
        max_message_size: int | None = None,
    ) -> None:
        self._special = dict(special_folders or {})
        self._quota = quota_bytes
        self._max_message_size = max_message_size
        self._accounts: dict[str, MemoryAccount] = {}
        self._lock = threading.Lock()
        self._listeners: list[ChangeListener] = []

    def account(self, username: str) -> MemoryAccount:
        with self._lock:
            acct = self._accounts.get(username)
            if acct is None:
                acct = MemoryAccount(self, username, self._special, self._quota)
                self._accounts[username] = acct
            return acct

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: ChangeListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def refresh(self, username: str, folder_id: str) -> None:
        """Nothing changes a memory store behind its back: nothing to look at."""

    def _notify(self, username: str, folder_id: str) -> None:
        for listener in list(self._listeners):
            listener(username, folder_id)
