"""The Maildir++ store: :class:`mailhost.store.api.Store` over one directory per user."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from mailhost.errors import NoSuchFolder
from mailhost.store.api import ChangeListener
from mailhost.store.config import StoreConfig
from mailhost.store.maildir import layout
from mailhost.store.maildir.account import MaildirAccount
from mailhost.store.maildir.fsio import disk_errors
from mailhost.store.maildir.state import FolderState


class MaildirStore:
    """Every user's mail under ``root_template`` (``%u`` user, ``%n`` local part, ``%d``
    domain), in Maildir++ with Dovecot's uidlist and keywords files.

    Synchronous and thread-safe; other processes (``mailhost deliver``, an MDA, a second
    mailhost) may work on the same tree at the same time.
    """

    def __init__(
        self,
        root_template: str | Path,
        *,
        delimiter: str = "/",
        fsync: bool = True,
        fsync_flag_renames: bool = True,
        quota_bytes: int | None = None,
        special_folders: dict[str, str] | None = None,
        max_message_size: int | None = None,
        cached_folders: int = 256,
    ) -> None:
        template = str(root_template)
        if "%u" not in template and "%n" not in template:
            raise ValueError("root_template must contain %u (or %n): each user needs a root")
        if delimiter not in ("/", "."):
            raise ValueError("delimiter must be '/' or '.'")
        self.root_template = template
        self.delimiter = delimiter
        self.fsync = fsync
        #: With ``fsync``: whether a flag change also fsyncs ``cur/`` (the renames)
        #: before it is reported, or only the index (``fsync = "optimized"``).
        self.fsync_flag_renames = fsync_flag_renames
        self.quota_bytes = quota_bytes
        self.special_folders = dict(special_folders or {})
        self.max_message_size = max_message_size
        self._accounts: dict[str, MaildirAccount] = {}
        self._lock = threading.Lock()
        #: one lock per username whose account is being set up: a first login does
        #: disk work, and other users' logins must not wait for it
        self._creating: dict[str, threading.Lock] = {}
        self._listeners: list[ChangeListener] = []
        #: the most recently used folder states, kept loaded (an index read costs
        #: ~0.3 s per 100,000 messages); others live only while a handle holds them
        self._hot: OrderedDict[FolderState, None] = OrderedDict()
        self._hot_max = cached_folders
        self._hot_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: StoreConfig, data_dir: Path | str) -> MaildirStore:
        """The store ``[store]`` describes; a relative ``maildir`` is under ``data_dir``."""
        template = config.maildir
        if not Path(template).is_absolute():
            template = str(Path(data_dir) / template)
        return cls(
            template,
            delimiter=config.hierarchy_delimiter,
            fsync=config.fsync != "never",
            fsync_flag_renames=config.fsync == "always",
            quota_bytes=config.quota_bytes or None,
            special_folders=config.special_folders,
            max_message_size=config.max_message_size,
        )

    def root_for(self, username: str) -> Path:
        layout.check_username(username)
        return layout.expand_root(self.root_template, username)

    def account(self, username: str) -> MaildirAccount:
        with self._lock:
            acct = self._accounts.get(username)
            if acct is not None:
                return acct
            creating = self._creating.setdefault(username, threading.Lock())
        with creating:
            with self._lock:
                acct = self._accounts.get(username)
            if acct is not None:
                return acct  # made by the thread this one waited for
            acct = MaildirAccount(self, username, self.root_for(username))
            with self._lock:
                self._accounts[username] = acct
                self._creating.pop(username, None)
            return acct

    def keep(self, state: FolderState) -> None:
        """Mark ``state`` recently used; the least recently used beyond the cache size is
        let go (its memory is freed once no folder handle holds it)."""
        with self._hot_lock:
            self._hot[state] = None
            self._hot.move_to_end(state)
            while len(self._hot) > self._hot_max:
                self._hot.popitem(last=False)

    def folder_path(self, username: str, folder_id: str) -> Path | None:
        """Directory of a folder this store has open (no disk access), for the watcher."""
        with self._lock:
            acct = self._accounts.get(username)
        return acct.open_folder_path(folder_id) if acct is not None else None

    def add_listener(self, listener: ChangeListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: ChangeListener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    @disk_errors
    def refresh(self, username: str, folder_id: str) -> None:
        with self._lock:
            acct = self._accounts.get(username)
        state = acct.open_state(folder_id) if acct is not None else None
        if state is None:
            self.notify(username, folder_id)  # not open here: let the sessions look
            return
        try:
            with state.hold() as st:
                st.sync()
        except NoSuchFolder:
            self.notify(username, folder_id)  # gone: the sessions find out when they look

    def notify(self, username: str, folder_id: str) -> None:
        for listener in list(self._listeners):
            listener(username, folder_id)
