"""One user's Maildir++ tree: folders, subscriptions, special use, the POP3 lease, quota."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import uuid
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from mailhost.errors import (
    CannotDelete,
    FolderExists,
    InvalidFolderName,
    NoSuchFolder,
    OverQuota,
)
from mailhost.store.api import INBOX, SPECIAL_USES, FolderInfo, Quota
from mailhost.store.maildir import layout
from mailhost.store.maildir.folder import MaildirFolder
from mailhost.store.maildir.fsio import atomic_write, disk_errors, fsync_dir, read_from
from mailhost.store.maildir.lease import LEASE_FILE, MaildirLease
from mailhost.store.maildir.locks import FileLock
from mailhost.store.maildir.state import UIDLIST, FolderState
from mailhost.store.maildir.uidlist import UidListError, parse_header

if TYPE_CHECKING:
    from mailhost.store.maildir.store import MaildirStore

#: One line naming the folder's RFC 6154 role (``\\Sent``); written by mailhost when a
#: folder is made with a role.  Without it a folder gets the role the configured
#: ``special_folders`` mapping gives its name, which is how Dovecot trees are read.
SPECIAL_USE_FILE = "mailhost-special-use"
ACCOUNT_LOCK = "mailhost-account.lock"


class MaildirAccount:
    def __init__(self, store: MaildirStore, username: str, root: Path) -> None:
        self.store = store
        self._username = username
        self.root = root
        self._delim = store.delimiter
        #: folder states alive in this process (a folder handle or the store's cache of
        #: recently used folders keeps one alive; others are dropped with their memory)
        self._states: weakref.WeakValueDictionary[Path, FolderState] = weakref.WeakValueDictionary()
        self._states_lock = threading.Lock()
        self._ensure()

    @property
    def username(self) -> str:
        return self._username

    @property
    def delimiter(self) -> str:
        return self._delim

    # -- setup -------------------------------------------------------------------------

    @disk_errors
    def _ensure(self) -> None:
        """Make INBOX and the special-use folders (RFC 6154) the first time, and again
        if they were removed; sweep folders left half-deleted by a crash.

        A first login pays for this, so the new folders are made without an fsync each:
        they are empty, a folder a crash lost is made again at the next login, and their
        role markers only repeat the configured ``special_folders``.  The subscriptions
        file is written last with one fsync of the root, which makes the new folders'
        directory entries durable along with it.  Folder indexes are made when a folder
        is first opened."""
        fresh = not layout.is_maildir(self.root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = FileLock(self.root / ACCOUNT_LOCK)
        with self._lock.hold():
            if not layout.is_maildir(self.root):
                for sub in ("tmp", "new", "cur"):
                    (self.root / sub).mkdir(exist_ok=True, mode=0o700)
            made = [INBOX] if fresh else []
            for role, name in self.store.special_folders.items():
                name = layout.canonical(name, self._delim)
                if name != INBOX and not layout.is_maildir(self._path(name)):
                    self._make_parents(name, durable=False)
                    self._make_folder(name, role, durable=False)
                    made.append(name)
            if made:
                subs = self._read_subscriptions()
                subs.extend(n for n in made if n not in subs)
                self._write_subscriptions(subs)
            for entry in os.listdir(self.root):
                if entry.startswith(layout.TRASH_PREFIX):
                    shutil.rmtree(self.root / entry, ignore_errors=True)

    def _path(self, name: str) -> Path:
        return layout.folder_path(self.root, name, self._delim)

    def _canonical(self, name: str) -> str:
        return layout.canonical(name, self._delim)

    def state(self, path: Path, label: str) -> FolderState:
        with self._states_lock:
            st = self._states.get(path)
            if st is None:
                st = FolderState(path, label, self.store.fsync, self.store.fsync_flag_renames)
                st.on_change = self._folder_changed
                self._states[path] = st
        self.store.keep(st)
        return st

    def _folder_changed(self, st: FolderState) -> None:
        self.store.notify(self._username, st.guid)

    def open_folder_path(self, folder_id: str) -> Path | None:
        st = self.open_state(folder_id)
        return st.path if st is not None else None

    def open_state(self, folder_id: str) -> FolderState | None:
        """The loaded state of the folder with this GUID, if some handle has it open."""
        with self._states_lock:
            for st in list(self._states.values()):
                if st.guid == folder_id:
                    return st
        return None

    def _drop_states(self, path: Path) -> str:
        """Forget the open state of the folder at ``path``; its GUID ("" if none was
        open), so the sessions that have it selected can be told it is gone."""
        with self._states_lock:
            st = self._states.pop(path, None)
        if st is None:
            return ""
        st.lock.close()
        return st.guid

    def _make_folder(self, name: str, role: str | None, durable: bool = True) -> None:
        """Make an empty folder; ``durable=False`` leaves the fsyncs to the caller (its
        index is made when it is first opened, as for a folder another program made)."""
        path = self._path(name)
        path.mkdir(exist_ok=True, mode=0o700)
        for sub in ("tmp", "new"):
            (path / sub).mkdir(exist_ok=True, mode=0o700)
        (path / layout.MAILDIRFOLDER).touch()
        if role is not None:
            atomic_write(
                path / SPECIAL_USE_FILE, f"{role}\n".encode(), self.store.fsync and durable
            )
        (path / "cur").mkdir(exist_ok=True, mode=0o700)  # last: it makes the folder exist
        if durable and self.store.fsync:
            fsync_dir(path)
            fsync_dir(self.root)

    def _make_parents(self, name: str, durable: bool = True) -> None:
        parts = name.split(self._delim)
        for i in range(1, len(parts)):
            parent = self._delim.join(parts[:i])
            if parent != INBOX and not layout.is_maildir(self._path(parent)):
                self._make_folder(parent, None, durable)

    # -- folders -----------------------------------------------------------------------

    @disk_errors
    def folder(self, name: str) -> MaildirFolder:
        name = self._canonical(name)
        path = self._path(name)
        if not layout.is_maildir(path):
            raise NoSuchFolder(name)
        return MaildirFolder(self, name, self.state(path, name))

    def _real_folders(self) -> dict[str, Path]:
        found = {INBOX: self.root}
        for entry in os.listdir(self.root):
            name = layout.name_of_dir(entry, self._delim)
            if name is None or name == INBOX:
                continue
            path = self.root / entry
            if layout.is_maildir(path):
                found[name] = path
        return found

    def _special_use(self, name: str, path: Path) -> str | None:
        got = read_from(path / SPECIAL_USE_FILE, 0)
        if got is not None:
            role = got[0].decode("utf-8", "replace").strip()
            if role in SPECIAL_USES:
                return role
        for role, configured in self.store.special_folders.items():
            if configured == name:
                return role
        return None

    def _folder_id(self, name: str, path: Path) -> str:
        first = None
        with contextlib.suppress(FileNotFoundError), open(path / UIDLIST, "rb") as f:
            first = f.readline(4096).decode("utf-8", "replace")
        if first:
            with contextlib.suppress(UidListError):
                header = parse_header(first)
                if header.guid:
                    return header.guid
        st = self.state(path, name)
        with st.hold():
            st.sync()
            return st.guid

    @disk_errors
    def list_folders(self) -> list[FolderInfo]:
        real = self._real_folders()
        names = set(real)
        for name in real:
            parts = name.split(self._delim)
            names.update(self._delim.join(parts[:i]) for i in range(1, len(parts)))
        subs = set(self._read_subscriptions())
        ordered = sorted(names, key=lambda n: (n != INBOX, n.split(self._delim)))
        out = []
        for name in ordered:
            prefix = name + self._delim
            has_children = any(o.startswith(prefix) for o in names)
            path = real.get(name)
            if path is None:
                out.append(
                    FolderInfo(
                        name=name,
                        folder_id="",
                        subscribed=name in subs,
                        has_children=has_children,
                        selectable=False,
                    )
                )
                continue
            out.append(
                FolderInfo(
                    name=name,
                    folder_id=self._folder_id(name, path),
                    special_use=self._special_use(name, path),
                    subscribed=name in subs,
                    has_children=has_children,
                )
            )
        return out

    @disk_errors
    def create_folder(self, name: str, special_use: str | None = None) -> FolderInfo:
        name = self._canonical(name.rstrip(self._delim) or name)
        if special_use is not None and special_use not in SPECIAL_USES:
            raise InvalidFolderName(f"{special_use!r} is not an RFC 6154 special use")
        if name == INBOX:
            raise FolderExists(name)
        with self._lock.hold():
            if layout.is_maildir(self._path(name)):
                raise FolderExists(name)
            self._make_parents(name)
            self._make_folder(name, special_use)
        folder = self.folder(name)
        return FolderInfo(name, folder.folder_id, special_use)

    @disk_errors
    def delete_folder(self, name: str) -> None:
        name = self._canonical(name)
        if name == INBOX:
            raise CannotDelete(name)
        with self._lock.hold():
            path = self._path(name)
            if not layout.is_maildir(path):
                raise NoSuchFolder(name)
            trash = self.root / f"{layout.TRASH_PREFIX}{uuid.uuid4().hex}"
            os.rename(path, trash)
            gone = self._drop_states(path)
            if self.store.fsync:
                fsync_dir(self.root)
            shutil.rmtree(trash, ignore_errors=True)
        if gone:
            self.store.notify(self._username, gone)

    @disk_errors
    def rename_folder(self, old: str, new: str) -> None:
        old = self._canonical(old)
        new = self._canonical(new)
        with self._lock.hold():
            if not layout.is_maildir(self._path(old)):
                raise NoSuchFolder(old)
            if new == INBOX or layout.is_maildir(self._path(new)):
                raise FolderExists(new)
            if new.startswith(old + self._delim) or old == new:
                raise InvalidFolderName(f"cannot rename {old!r} into itself")
            self._make_parents(new)
            if old == INBOX:
                # RFC 3501 §6.3.5: INBOX's messages move to the new folder, INBOX stays
                self._make_folder(new, None)
                inbox = self.folder(INBOX)
                target = self.folder(new)
                inbox.move_to([m.uid for m in inbox.list_messages()], target)
                return
            real = self._real_folders()
            prefix = old + self._delim
            moves = sorted(
                (n for n in real if n == old or n.startswith(prefix)),
                key=lambda n: n.count(self._delim),
            )
            targets = [(real[n], self._path(new + n[len(old) :])) for n in moves]
            for _src, dst in targets:
                if dst.exists():
                    raise FolderExists(new)
            moved = []
            for src, dst in targets:
                os.rename(src, dst)
                moved.append(self._drop_states(src))
            if self.store.fsync:
                fsync_dir(self.root)
        for guid in filter(None, moved):
            self.store.notify(self._username, guid)

    # -- subscriptions -----------------------------------------------------------------

    def _read_subscriptions(self) -> list[str]:
        got = read_from(self.root / layout.SUBSCRIPTIONS, 0)
        if got is None:
            return []
        text = got[0].decode("utf-8", "replace")
        return layout.parse_subscriptions(text, self._delim)

    def _write_subscriptions(self, names: list[str]) -> None:
        text = layout.format_subscriptions(names, self._delim)
        atomic_write(self.root / layout.SUBSCRIPTIONS, text.encode(), self.store.fsync)

    @disk_errors
    def subscribe(self, name: str, subscribed: bool = True) -> None:
        name = self._canonical(name)
        with self._lock.hold():
            names = self._read_subscriptions()
            if subscribed and name not in names:
                names.append(name)
            elif not subscribed and name in names:
                names = [n for n in names if n != name]
            else:
                return
            self._write_subscriptions(names)

    @disk_errors
    def subscriptions(self) -> list[str]:
        return sorted(set(self._read_subscriptions()))

    # -- lease and quota ---------------------------------------------------------------

    def acquire_maildrop(self, owner: str, ttl: float) -> MaildirLease:
        lease = MaildirLease(self._lock, self.root / LEASE_FILE, owner, ttl, self.store.fsync)
        lease.acquire()
        return lease

    @disk_errors
    def quota(self) -> Quota:
        used = count = 0
        for name, path in self._real_folders().items():
            st = self.state(path, name)
            try:
                with st.hold():
                    st.sync(scan=False)
                    st.measure()
                    used += st.total_size
                    count += len(st.msgs)
            except NoSuchFolder:
                continue  # deleted while we counted
        return Quota(used, self.store.quota_bytes, count)

    def check_quota(self, extra: int) -> None:
        limit = self.store.quota_bytes
        if limit is None:
            return
        if self.quota().used + extra > limit:
            raise OverQuota(self._username)
