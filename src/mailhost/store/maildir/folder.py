"""A handle on one Maildir folder: the :class:`mailhost.store.api.Folder` of this backend."""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, BinaryIO, cast

from mailhost.errors import MessageGone, MessageTooBig, NoSuchFolder, ReadOnly
from mailhost.store.api import (
    SYSTEM_FLAGS,
    ChangeSet,
    FlagListing,
    FlagMode,
    FolderStatus,
    MessageInfo,
)
from mailhost.store.crlf import (
    CRLFReader,
    open_message,
    read_header_fd,
    read_whole,
    to_crlf,
)
from mailhost.store.maildir import index as ix
from mailhost.store.maildir.filename import new_base
from mailhost.store.maildir.fsio import disk_errors, fsync_dir
from mailhost.store.maildir.state import FolderState

if TYPE_CHECKING:
    from mailhost.store.maildir.account import MaildirAccount


_CANONICAL = {f.lower(): f for f in SYSTEM_FLAGS}
_NOT_IN_ATOM = frozenset('(){ %*"\\]')


def clean_flags(flags: Iterable[str]) -> frozenset[str]:
    """Flags a message can keep: system flags (any case) and keywords (RFC 3501 §2.3.2).

    ``\\Recent``, unknown backslash flags and anything that is not an atom (the protocol
    parsers never pass one; ``dovecot-keywords`` could not hold it) are not stored.
    """
    out = set()
    for flag in flags:
        if flag.startswith("\\"):
            known = _CANONICAL.get(flag.lower())
            if known is not None:
                out.add(known)
        elif flag and flag.isascii() and flag.isprintable() and not _NOT_IN_ATOM & set(flag):
            out.add(flag)
    return frozenset(out)


class MaildirFolder:
    def __init__(self, account: MaildirAccount, name: str, state: FolderState) -> None:
        self._account = account
        self._name = name
        self._state = state
        with state.hold():
            state.sync()
            self._folder_id = state.guid
            self._uidvalidity = state.uidvalidity

    def __repr__(self) -> str:
        return f"<MaildirFolder {self._account.username}:{self._name} {self._state.path}>"

    @property
    def name(self) -> str:
        return self._name

    @property
    def folder_id(self) -> str:
        return self._folder_id

    @property
    def uidvalidity(self) -> int:
        return self._uidvalidity

    @property
    def read_only(self) -> bool:
        return False

    @property
    def path(self) -> str:
        """The folder's directory (for the watcher; never for reading messages)."""
        return str(self._state.path)

    def _synced(self, state: FolderState, scan: bool = True) -> FolderState:
        """Bring ``state`` up to date; ``scan=False`` (for writes) reads what other
        mailhost processes wrote but skips the directory listing that finds what other
        programs did, which only reads need (a write that meets a file renamed by another
        program looks it up again)."""
        state.sync(scan)
        if state.guid != self._folder_id:
            raise NoSuchFolder(self._name)
        return state

    @disk_errors
    def status(self) -> FolderStatus:
        with self._state.hold() as st:
            return self._synced(st).status()

    @disk_errors
    def list_messages(self) -> list[MessageInfo]:
        with self._state.hold() as st:
            return self._synced(st).listing()

    @disk_errors
    def list_flags(self) -> FlagListing:
        with self._state.hold() as st:
            return self._synced(st).flag_listing()

    @disk_errors
    def get(self, uid: int) -> MessageInfo | None:
        """From the last sync: cheap enough to call per message (no disk access unless
        the message was never measured: then its file is read once, under the lock)."""
        st = self._state
        with st.lock.thread_lock:
            m = st.msgs.get(uid)
            if m is None:
                return None
            if m.mtime_ns >= 0:
                return st.info(m)
        with st.hold():
            m = st.msgs.get(uid)
            return st.info(m) if m is not None else None

    def _open_fd(self, uid: int) -> tuple[int, int]:
        """An open descriptor on the message's file, and its CRLF size if known (else -1).

        The file name comes from memory without taking the folder lock (a dict lookup is
        atomic).  Only when the file is gone (renamed to change its flags, or expunged) is
        the folder synced under the lock, and the file opened before the lock is let go:
        no session of this host can rename it again in between, however busy others are
        changing its flags."""
        st = self._state
        m = st.msgs.get(uid)
        if m is None:
            raise MessageGone(uid)
        try:
            return open_message(st.dir + m.name), m.vsize
        except FileNotFoundError:
            pass
        with st.hold():
            self._synced(st)
            found = st.find(uid)
            if found is None:
                raise MessageGone(uid)
            try:
                return open_message(st.dir + found.name), found.vsize
            except FileNotFoundError:
                raise MessageGone(uid) from None  # another program took it meanwhile

    @disk_errors
    def open_message(self, uid: int) -> BinaryIO:
        fd, _vsize = self._open_fd(uid)
        try:
            raw = io.FileIO(fd, "r")  # owns fd from here; closed with the reader
        except BaseException:
            os.close(fd)
            raise
        return cast(BinaryIO, CRLFReader(cast(BinaryIO, raw)))

    @disk_errors
    def read_message(self, uid: int) -> bytes:
        """Open, read whole and convert: no stream objects (POP3 RETR, FETCH BODY[]).

        A file whose length is its CRLF size already has CRLF line endings only (each bare
        LF would add one octet): the messages this store wrote are served as read."""
        fd, vsize = self._open_fd(uid)
        try:
            data = read_whole(fd)
        finally:
            os.close(fd)
        return data if len(data) == vsize else to_crlf(data)

    def message_files(self, uids: Iterable[int]) -> list[tuple[int, str, int]]:
        st = self._state
        base = os.path.abspath(st.dir)
        if not base.endswith(os.sep):
            base += os.sep
        msgs = st.msgs
        out = []
        for uid in uids:
            m = msgs.get(uid)
            if m is not None:
                out.append((uid, base + m.name, m.vsize))
        return out

    @disk_errors
    def read_header(self, uid: int) -> bytes:
        fd, _vsize = self._open_fd(uid)
        try:
            return read_header_fd(fd)
        finally:
            os.close(fd)

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnly(self._name)

    @disk_errors
    def append(
        self,
        data: bytes,
        flags: Iterable[str] = (),
        internaldate: float | None = None,
        idempotency_key: str | None = None,
    ) -> MessageInfo:
        self._check_writable()
        store = self._account.store
        data = to_crlf(data)
        size = len(data)
        if store.max_message_size is not None and size > store.max_message_size:
            raise MessageTooBig(f"{size} octets is over the limit of {store.max_message_size}")
        flagset = clean_flags(flags)
        st = self._state
        if idempotency_key is not None:
            with st.hold():
                known = self._known_key(idempotency_key)
                if known is not None:
                    return known
        self._account.check_quota(size)
        base = new_base(size, size)
        tmp = st.path / "tmp" / base
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileNotFoundError:
            raise NoSuchFolder(self._name) from None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if store.fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.close(fd)
        if internaldate is not None:
            ns = int(internaldate * 1_000_000_000)
            os.utime(tmp, ns=(time.time_ns(), ns))
        try:
            with st.hold():
                self._synced(st, scan=False)
                if idempotency_key is not None:
                    known = self._known_key(idempotency_key)
                    if known is not None:
                        os.unlink(tmp)
                        return known
                m = st.add_file(tmp, flagset, size, base, idempotency_key)
                st.flush()
                return st.info(m)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _known_key(self, key: str) -> MessageInfo | None:
        st = self._synced(self._state, scan=False)
        uid = st.idem.get(key)
        m = st.msgs.get(uid) if uid is not None else None
        return st.info(m) if m is not None else None

    @disk_errors
    def set_flags(
        self, uids: Iterable[int], flags: Iterable[str], mode: FlagMode
    ) -> list[MessageInfo]:
        return self._set_flags(list(uids), flags, mode, None)[0]

    @disk_errors
    def set_flags_unchanged_since(
        self, uids: Iterable[int], flags: Iterable[str], mode: FlagMode, modseq: int
    ) -> tuple[list[MessageInfo], list[int]]:
        return self._set_flags(sorted(set(uids)), flags, mode, modseq)

    def _set_flags(
        self, uids: list[int], flags: Iterable[str], mode: FlagMode, unchanged_since: int | None
    ) -> tuple[list[MessageInfo], list[int]]:
        """The messages changed, and those left alone for having a MODSEQ above
        ``unchanged_since`` (checked under the same lock as the change)."""
        self._check_writable()
        flagset = clean_flags(flags)
        modified: list[int] = []
        with self._state.hold() as st:
            self._synced(st, scan=False)
            if unchanged_since is not None:
                msgs = st.msgs
                modified = [u for u in uids if u in msgs and msgs[u].modseq > unchanged_since]
                skip = set(modified)
                uids = [u for u in uids if u not in skip]
            changed = st.set_flags(uids, flagset, mode)
            st.flush()
            st.measure(changed)
            return [st.info(st.msgs[u]) for u in changed if u in st.msgs], modified

    def _transfer(self, uids: Iterable[int], dest: object, move: bool) -> list[tuple[int, int]]:
        if not isinstance(dest, MaildirFolder):
            raise TypeError("copy between different stores")
        dest._check_writable()
        if move:
            self._check_writable()
        src, dst = self._state, dest._state
        wanted = sorted(set(uids))
        if not move or dest._account is not self._account:
            # measured before locking: quota() takes every folder's lock in turn
            with src.hold():
                self._synced(src, scan=False)
                src.measure(wanted)
                extra = sum(src.msgs[u].vsize for u in wanted if u in src.msgs)
            dest._account.check_quota(extra)
        first, second = sorted([src, dst], key=lambda s: str(s.path))
        pairs: list[tuple[int, int]] = []
        with first.hold(), second.hold():
            self._synced(src, scan=False)
            dest._synced(dst, scan=False)
            src.measure(wanted)  # a copy keeps size and INTERNALDATE
            msgs = [src.msgs[u] for u in wanted if u in src.msgs and src.msgs[u].mtime_ns >= 0]
            modseq = dst.highestmodseq + 1
            dst_done = dst.own_cur()
            src_done = src.own_cur() if move and src is not dst else None
            for m in msgs:
                new_uid = dst.take_file(src, m, move, modseq)
                if new_uid is not None:
                    pairs.append((m.uid, new_uid))
            dst_done()
            if src_done is not None:
                src_done()
            if pairs and dst.fsync:
                fsync_dir(dst.path / "cur")
            dst.flush()
            if move and pairs:
                src_modseq = src.highestmodseq + 1
                for old, _new in pairs:
                    if old in src.msgs:
                        src.record(ix.rec_expunge(old, src_modseq))
                if src.fsync:
                    fsync_dir(src.path / "new")
                    fsync_dir(src.path / "cur")
                src.flush()
        return pairs

    @disk_errors
    def copy_to(self, uids: Iterable[int], dest: object) -> list[tuple[int, int]]:
        return self._transfer(uids, dest, move=False)

    @disk_errors
    def move_to(self, uids: Iterable[int], dest: object) -> list[tuple[int, int]]:
        return self._transfer(uids, dest, move=True)

    @disk_errors
    def expunge(self, uids: Iterable[int]) -> list[int]:
        self._check_writable()
        uids = list(uids)
        with self._state.hold() as st:
            self._synced(st, scan=False)
            gone = st.expunge(uids)
            st.flush()
            return gone

    @disk_errors
    def changes_since(self, modseq: int) -> ChangeSet:
        with self._state.hold() as st:
            changes = self._synced(st).changes_since(modseq)
        if changes.uidvalidity != self._uidvalidity:
            # the folder's UIDs were reset under this handle (restored from a backup)
            return ChangeSet(changes.uidvalidity, changes.highestmodseq, (), reset=True)
        return changes

    @disk_errors
    def claim_recent(self) -> frozenset[int]:
        with self._state.hold() as st:
            self._synced(st)
            claimed = st.claim_recent()
            st.flush()
            return claimed

    @disk_errors
    def select(self, claim: bool) -> tuple[FlagListing, frozenset[int]]:
        with self._state.hold() as st:
            listing = self._synced(st).flag_listing()
            if not claim:
                return listing, frozenset()
            claimed = st.claim_recent()
            st.flush()
            return listing, claimed
