"""Wake sessions when another program changes a folder they have open.

Changes made through the store already wake listeners; this covers what the store does
not see: an MDA dropping a file into ``new/``, another mailhost process, a mail admin's
script.  Two sources, both ending in ``callback(username, folder_id)``:

* ``twisted.internet.inotify`` watches ``new/`` and ``cur/`` of every watched folder
  (Linux only);
* a periodic rescan (``LoopingCall``), the safety net under inotify and the only source
  elsewhere.  Given a ``Blocking``, it stats every watched folder's ``new/`` and ``cur/``
  in the thread pool and calls back only for folders whose directories changed since the
  last rescan (any delivery, flag change or expunge renames a file there, which changes the
  directory); a stamp too recent to trust (the filesystem's clock is coarse) counts as
  changed.  Without one, or after lost events, it calls back for every watched folder.

A call back only says "look": the session then pulls ``Folder.changes_since`` through the
thread pool, so spurious or duplicated calls cost a pull; a blind rescan would make every
session of a host holding thousands of IDLE connections pull every interval.  Nothing here
touches the disk on the reactor thread beyond adding and removing watches.

Known traps of ``twisted.internet.inotify`` handled here: deleting one watched directory
closes the whole ``INotify`` instance (``IN_DELETE_SELF`` → ``loseConnection``), so the
instance is reopened and every remaining watch added again; and ``IN_Q_OVERFLOW`` (queue
overflow, events lost) is dropped by Twisted, so it is looked for before Twisted parses
the events and answered with a call back for every watched folder.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twisted.application.service import Service
from twisted.internet.main import CONNECTION_LOST
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath

if TYPE_CHECKING:
    from mailhost.blocking import Blocking
    from mailhost.changes import ChangeHub
    from mailhost.config import Config
    from mailhost.store.api import Store

log = Logger()

Key = tuple[str, str]
FolderChanged = Callable[[str, str], None]

try:  # Linux only; elsewhere the periodic rescan is all there is
    from twisted.internet import inotify as _inotify_mod

    _MASK = (
        _inotify_mod.IN_CREATE
        | _inotify_mod.IN_MOVED_TO
        | _inotify_mod.IN_MOVED_FROM
        | _inotify_mod.IN_DELETE
    )
    _Q_OVERFLOW = _inotify_mod.IN_Q_OVERFLOW
    _DELETE_SELF = _inotify_mod.IN_DELETE_SELF
    _INotifyError: type[Exception] = _inotify_mod.INotifyError
    _INotifyBase: Any = _inotify_mod.INotify
except ImportError:  # pragma: no cover - not Linux
    _inotify_mod = None  # type: ignore[assignment]
    _MASK = _Q_OVERFLOW = _DELETE_SELF = 0
    _INotifyError = OSError
    _INotifyBase = object

_EVENT_HEADER = struct.Struct("=iLLL")


if _inotify_mod is not None:

    class _Notifier(_INotifyBase):  # type: ignore[misc]
        """Twisted's INotify plus the two hooks it lacks: overflow and loss."""

        #: Bytes of an event not read whole yet (Twisted's attribute).
        _buffer: bytes

        #: Seconds the event queue is left alone after each read.  A flag change on
        #: 1,000 messages queues 2,000 events while its thread renames; read as they
        #: came, a pair at a time, they woke the reactor hundreds of times and took the
        #: GIL from the renaming thread each time.  Call backs are coalesced over a
        #: longer span anyway, so pacing the reads delays no session.
        pace = 0.01
        _READ_SIZE = 65536

        def __init__(self, watcher: FolderWatcher, reactor: Any) -> None:
            super().__init__(reactor=reactor)
            self._watcher = watcher
            self._resume: Any = None

        def doRead(self) -> object:
            """Read what is queued (up to 64 KiB: one read, not a loop that would race
            a thread still renaming), then pause reading for :attr:`pace` seconds."""
            try:
                data = os.read(self._fd, self._READ_SIZE)
            except (BlockingIOError, InterruptedError):
                data = b""
            except OSError:
                return CONNECTION_LOST
            if data:
                self._doRead(data)
            if self.connected and not self.disconnecting and self._resume is None:
                self.stopReading()
                self._resume = self.reactor.callLater(self.pace, self._read_again)
            return None

        def _read_again(self) -> None:
            self._resume = None
            if self.connected and not self.disconnecting:
                self.startReading()

        def _doRead(self, in_: bytes) -> None:
            """Read the events in place.

            Twisted's own loop re-slices its buffer once per event and builds a
            ``FilePath`` for each: quadratic in a burst (a STORE on 1,000 messages
            renames 1,000 files, two events each).  The watcher needs only which watch
            fired, once per read, so that is all that is worked out here; queue
            overflow (which Twisted drops) and a watched directory's deletion (which
            closes the instance, as Twisted does) are handled too.
            """
            data = self._buffer + in_ if self._buffer else in_
            pos, end, head = 0, len(data), _EVENT_HEADER.size
            watchpoints = self._watchpoints
            fired: set[int] = set()
            deleted: list[int] = []
            while end - pos >= head:
                wd, mask, _cookie, size = _EVENT_HEADER.unpack_from(data, pos)
                if end - pos - head < size:
                    break  # the rest of this event comes with the next read
                pos += head + size
                if wd == -1:
                    if mask & _Q_OVERFLOW:
                        self._watcher._overflowed()
                    continue
                point = watchpoints.get(wd)
                if point is None:
                    continue
                if wd not in fired:
                    fired.add(wd)
                    point._notify(point.path, mask)
                if mask & _DELETE_SELF:
                    deleted.append(wd)
            self._buffer = data[pos:]
            for wd in deleted:
                if wd in self._watchpoints:
                    try:
                        self._rmWatch(wd)
                    except (_INotifyError, OSError, KeyError):
                        pass  # the kernel dropped it with the directory
            if deleted:
                self.loseConnection()

        def connectionLost(self, reason: Failure) -> None:
            if self._resume is not None and self._resume.active():
                self._resume.cancel()
            self._resume = None
            super().connectionLost(reason)
            self._watcher._lost(self)


@dataclass
class _Watched:
    path: Path | None
    count: int = 1
    dirs: list[FilePath[bytes]] = field(default_factory=list)
    #: What the last rescan saw of ``new/`` and ``cur/`` (None: nothing to trust).
    stamp: Stamp | None = None
    #: Whether a rescan has looked at it yet.
    looked: bool = False


#: (mtime_ns, inode) of ``new/`` and of ``cur/``.
Stamp = tuple[int, int, int, int]
#: A directory modified less than this long before it was looked at may change again
#: within the same tick of the filesystem's clock: its stamp proves nothing yet.
_RACY_NS = 2_000_000_000


def _stamps(paths: list[Path]) -> list[Stamp | None]:
    """Stamps of the folders at ``paths`` (None where unreadable, or too fresh to trust).
    Blocking."""
    out: list[Stamp | None] = []
    now = time.time_ns()
    for path in paths:
        try:
            new = os.stat(path / "new")
            cur = os.stat(path / "cur")
        except OSError:
            out.append(None)
            continue
        if now - max(new.st_mtime_ns, cur.st_mtime_ns) < _RACY_NS:
            out.append(None)
        else:
            out.append((new.st_mtime_ns, new.st_ino, cur.st_mtime_ns, cur.st_ino))
    return out


class FolderWatcher(Service):
    """Calls ``callback(username, folder_id)`` when a watched folder may have changed.

    ``watch``/``unwatch`` are counted: two sessions on one folder watch it once, and it
    stays watched until both let go.  Use it as a service (``startService`` starts the
    rescan and inotify) or call :meth:`start`/:meth:`stop`.
    """

    def __init__(
        self,
        callback: FolderChanged,
        reactor: Any = None,
        rescan_interval: float = 30.0,
        coalesce: float = 0.05,
        use_inotify: bool = True,
        blocking: Blocking | None = None,
        linger: float = 10.0,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self._reactor = reactor
        self._callback = callback
        self._interval = rescan_interval
        self._coalesce = coalesce
        self._use_inotify = use_inotify and _inotify_mod is not None
        self._watched: dict[Key, _Watched] = {}
        self._pending: set[Key] = set()
        self._notifier: Any = None
        self._loop: LoopingCall | None = None
        self._running = False
        self._blocking = blocking
        self._rescanning = False
        #: Seconds a folder stays watched after its last session let go.
        self.linger = linger
        #: Keys whose last session let go, with when, oldest first.
        self._lingering: dict[Key, float] = {}
        self._sweep_call: Any = None

    # -- service -------------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        self.start()

    def stopService(self) -> None:
        self.stop()
        super().stopService()  # type: ignore[no-untyped-call]

    def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._loop = LoopingCall(self._periodic)
        self._loop.clock = self._reactor
        self._loop.start(self._interval, now=False)
        self._open()

    def stop(self) -> None:
        self._running = False
        if self._sweep_call is not None and self._sweep_call.active():
            self._sweep_call.cancel()
        self._sweep_call = None
        for key in list(self._lingering):
            self._drop(key)
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        notifier, self._notifier = self._notifier, None
        if notifier is not None:
            notifier.loseConnection()

    @property
    def inotify_active(self) -> bool:
        """True while events come from inotify (False: periodic rescan only)."""
        return self._notifier is not None

    # -- watches -------------------------------------------------------------------------

    def watch(self, username: str, folder_id: str, path: str | Path | None) -> None:
        """Watch the folder whose Maildir directory is ``path`` (None: rescan only)."""
        key = (username, folder_id)
        known = self._watched.get(key)
        if known is not None:
            known.count += 1
            self._lingering.pop(key, None)
            return
        entry = _Watched(Path(path) if path is not None else None)
        self._watched[key] = entry
        self._add(key, entry)

    def unwatch(self, username: str, folder_id: str) -> None:
        """One watcher less; the last one's watch lingers for ``linger`` seconds, because
        clients that poll open the same folder again and again."""
        key = (username, folder_id)
        entry = self._watched.get(key)
        if entry is None:
            return
        entry.count -= 1
        if entry.count > 0:
            return
        if not self.linger:
            self._drop(key)
            return
        self._lingering[key] = self._reactor.seconds()
        if self._sweep_call is None:
            self._sweep_call = self._reactor.callLater(self.linger, self._sweep)

    def _drop(self, key: Key) -> None:
        entry = self._watched.pop(key)
        self._pending.discard(key)
        self._lingering.pop(key, None)
        self._remove(entry)

    def _sweep(self) -> None:
        """Drop the watches that nobody took up again within ``linger`` seconds."""
        self._sweep_call = None
        due = self._reactor.seconds() - self.linger
        lingering = self._lingering
        while lingering:
            key, since = next(iter(lingering.items()))
            if since > due:
                break
            self._drop(key)
        if lingering:
            oldest = next(iter(lingering.values()))
            self._sweep_call = self._reactor.callLater(max(0.0, oldest - due), self._sweep)

    def watched(self) -> list[Key]:
        """The folders some session watches (not those whose watch only lingers)."""
        return sorted(k for k, entry in self._watched.items() if entry.count > 0)

    def _add(self, key: Key, entry: _Watched) -> None:
        if self._notifier is None or entry.path is None:
            return
        for sub in ("new", "cur"):
            fp = FilePath(bytes(entry.path / sub))
            try:
                self._notifier.watch(fp, mask=_MASK, callbacks=[self._event_for(key)])
            except _INotifyError as exc:
                # gone already, or max_user_watches reached: the rescan still covers it
                log.info("not watching {path}: {exc}", path=fp.path, exc=exc)
                continue
            entry.dirs.append(fp)

    def _remove(self, entry: _Watched) -> None:
        dirs, entry.dirs = entry.dirs, []
        if self._notifier is None:
            return
        for fp in dirs:
            try:
                self._notifier.ignore(fp)
            except (KeyError, _INotifyError, OSError):
                continue  # the directory is gone, and its watch with it

    def _event_for(self, key: Key) -> Callable[[object, FilePath[bytes], int], None]:
        def event(_ignored: object, _path: FilePath[bytes], _mask: int) -> None:
            self._schedule(key)

        return event

    # -- delivering call backs -----------------------------------------------------------

    def _schedule(self, key: Key) -> None:
        """Coalesce a burst of events (a delivery is several) into one call back."""
        if key in self._pending or key not in self._watched:
            return
        self._pending.add(key)
        self._reactor.callLater(self._coalesce, self._fire, key)

    def _fire(self, key: Key) -> None:
        self._pending.discard(key)
        entry = self._watched.get(key)
        if entry is not None and entry.count:
            self._callback(*key)

    def rescan(self) -> None:
        """Call back for every watched folder (after lost events)."""
        for key in self.watched():
            self._callback(*key)

    def _periodic(self) -> None:
        """The safety net: call back for the folders whose directories changed."""
        if self._blocking is None:
            self.rescan()
            return
        if self._rescanning:
            return  # the last one is still looking (a slow disk)
        looked: list[tuple[Key, _Watched]] = []
        paths: list[Path] = []
        for key, entry in list(self._watched.items()):
            if not entry.count:
                continue  # lingering: nobody to wake
            if entry.path is None:
                self._callback(*key)  # nothing to look at: always look
            else:
                looked.append((key, entry))
                paths.append(entry.path)
        if not looked:
            return
        self._rescanning = True
        d = self._blocking.run(_stamps, paths)

        def compare(stamps: list[Stamp | None]) -> None:
            for (key, entry), stamp in zip(looked, stamps, strict=True):
                if self._watched.get(key) is not entry:
                    continue  # unwatched meanwhile
                if stamp is None or (stamp != entry.stamp and (entry.looked or not entry.dirs)):
                    # (a first look at a folder inotify watches only records its stamp:
                    # inotify reports what changes from then on)
                    self._callback(*key)
                entry.stamp, entry.looked = stamp, True

        def done(result: object) -> object:
            self._rescanning = False
            return result

        d.addCallback(compare)
        d.addBoth(done)
        d.addErrback(lambda f: log.failure("watched folders rescan failed", f))

    def _overflowed(self) -> None:
        log.warn("inotify queue overflowed: rescanning every watched folder")
        self._reactor.callLater(0, self.rescan)

    # -- the INotify instance ------------------------------------------------------------

    def _open(self) -> None:
        if not self._use_inotify or not self._running:
            return
        try:
            notifier = _Notifier(self, self._reactor)
        except (_INotifyError, OSError) as exc:
            log.warn("inotify unavailable, using periodic rescan only: {exc}", exc=exc)
            self._use_inotify = False
            return
        notifier.startReading()
        self._notifier = notifier
        for key, entry in self._watched.items():
            entry.dirs = []
            self._add(key, entry)

    def _lost(self, notifier: Any) -> None:
        """The INotify instance closed (a watched directory was deleted): reopen it."""
        if notifier is not self._notifier:
            return
        self._notifier = None
        if self._running:
            self._reactor.callLater(0, self._reopen)

    def _reopen(self) -> None:
        if self._notifier is None and self._running:
            self._open()
            self.rescan()  # events may have been lost meanwhile


class _Watching:
    """Watch a folder while some session is subscribed to it."""

    def __init__(self, watcher: FolderWatcher, locate: Callable[[str, str], Path | None]) -> None:
        self.watcher = watcher
        self.locate = locate

    def first_subscriber(self, username: str, folder_id: str) -> None:
        self.watcher.watch(username, folder_id, self.locate(username, folder_id))

    def last_unsubscribed(self, username: str, folder_id: str) -> None:
        self.watcher.unwatch(username, folder_id)


def watcher_service(
    config: Config,
    store: Store,
    changes: ChangeHub,
    reactor: Any = None,
    blocking: Blocking | None = None,
) -> FolderWatcher | None:
    """The watcher for a host: folders that sessions subscribe to on ``changes`` are
    watched while subscribed.  With a ``blocking`` pool a changed folder is looked at
    through ``store.refresh``, which wakes its sessions through ``changes`` only if the
    store finds something new; without one they are woken directly.

    None when the store has no directories to watch (the memory store).
    """
    locate: Callable[[str, str], Path | None] | None = getattr(store, "folder_path", None)
    if locate is None:
        return None
    callback: FolderChanged = changes.notify
    if blocking is not None:
        pool = blocking

        def look(username: str, folder_id: str) -> None:
            # the store wakes the sessions if it finds something new: a change it made
            # itself (and told of) is not announced twice
            d = pool.run(store.refresh, username, folder_id)

            def failed(failure: Failure) -> None:
                log.warn("looking at a changed folder failed: {f}", f=failure.value)
                changes.notify(username, folder_id)  # let the sessions look themselves

            d.addErrback(failed)

        callback = look
    watcher = FolderWatcher(
        callback,
        reactor=reactor,
        rescan_interval=config.store.rescan_interval,
        use_inotify=config.store.inotify,
        blocking=blocking,
    )
    changes.observe(_Watching(watcher, locate))
    return watcher


__all__ = ["FolderChanged", "FolderWatcher", "watcher_service"]
