"""One folder's state, kept in step with its directory, uidlist and index.

:class:`FolderState` is shared by every handle on one folder directory in this store
object.  Every operation takes the folder lock (thread + ``flock``), brings the in-memory
state up to date with what other processes wrote (the index journal's tail, the uidlist's
tail, ``dovecot-keywords``, and a ``listdir`` of ``new/`` and ``cur/`` when their mtimes
say something changed) and only then changes anything.

Crash safety rests on three facts: a message file is complete before it is renamed into
``new/`` or ``cur/``; a UID is recorded (uidlist, then index) only after its file is in
place; a file that is on disk but not recorded, or recorded but not on disk, is taken
as appended or expunged by the next sync.  So a kill at any point leaves each message
readable exactly once, under one UID.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import gc
import os
import shutil
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice, repeat
from operator import attrgetter, eq, itemgetter
from pathlib import Path
from typing import Any

from mailhost.errors import NoSuchFolder, TooManyKeywords
from mailhost.store.api import (
    SEEN,
    SYSTEM_FLAGS,
    Change,
    ChangeKind,
    ChangeSet,
    FlagListing,
    FlagMode,
    FolderStatus,
    MessageInfo,
)
from mailhost.store.crlf import WHOLE_READ, crlf_size_fd, open_message
from mailhost.store.maildir import index as ix
from mailhost.store.maildir import uidlist as ul
from mailhost.store.maildir.filename import (
    base_of,
    cur_name,
    delivery_order,
    format_info,
    listed_bases,
    listed_infos,
    new_base,
    parse_info,
    sizes_of,
    split_name,
)
from mailhost.store.maildir.fsio import (
    append_lines,
    atomic_write,
    complete_lines,
    fsync_dir,
    read_from,
)
from mailhost.store.maildir.keywords import (
    MAX_KEYWORDS,
    KeywordMap,
    format_keywords,
    parse_keywords,
)
from mailhost.store.maildir.locks import FileLock

UIDLIST = "dovecot-uidlist"
KEYWORDS = "dovecot-keywords"
LOCK_FILE = "mailhost.lock"
#: A directory mtime this close to the time of our scan may hide a later change made in
#: the same timestamp tick; such a directory is listed again at the next sync.
SETTLE_NS = 2_000_000_000
#: ``scan start`` of a directory stamp made from our own change (see :meth:`FolderState.own_cur`)
OWN = sys.maxsize
#: Files in ``tmp/`` older than this were left by a writer that died (maildir(5)).
TMP_MAX_AGE = 36 * 3600

_uidvalidity_lock = threading.Lock()
_last_uidvalidity = 0


def next_uidvalidity() -> int:
    """Seconds since the epoch, but never the same value twice in this process."""
    global _last_uidvalidity
    with _uidvalidity_lock:
        _last_uidvalidity = max(int(time.time()), _last_uidvalidity + 1)
        return _last_uidvalidity


def _restart_modseq() -> int:
    """First MODSEQ of an index rebuilt over existing mail: milliseconds since the epoch,
    above any MODSEQ a previous index (or Dovecot) can have handed to a client."""
    return time.time_ns() // 1_000_000


def _measure(path: str, vsize: int | None = None) -> tuple[int, int] | None:
    """``(mtime ns, CRLF size)`` of a message file (read only when ``vsize`` is unknown),
    or None if it is gone.

    A folder seen for the first time measures every file, so this is four system calls
    (open, fstat, one read, close) and no Python file object."""
    try:
        if vsize is not None:
            return os.stat(path).st_mtime_ns, vsize
        fd = open_message(path)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        return st.st_mtime_ns, crlf_size_fd(fd, st.st_size)
    finally:
        os.close(fd)


#: Threads that measure a folder's files together, and the least number of files each
#: is given.  The system calls release the GIL: from a cold page cache (the first look
#: after a reboot or a migration) 4 threads measured 90,000 files in 2.1-2.3 s where one
#: took 4.4-5.1 s, and 2,000 files of 20 KB in 93-102 ms where one took 175-186 ms.  From
#: a warm one it costs little (52-59 against 49-51 ms for those 2,000), and each file is
#: measured once: its size is kept in the index.
MEASURE_THREADS = 4
_MEASURE_SHARE = 500
_measurers: ThreadPoolExecutor | None = None
_measurers_lock = threading.Lock()


def _measure_many(folder_dir: str, names: list[str]) -> list[tuple[int, int] | None]:
    """:func:`_measure` of many files of one folder, shared among ``MEASURE_THREADS``
    helper threads when there are many (results in the order of ``names``)."""
    shares = min(MEASURE_THREADS, len(names) // _MEASURE_SHARE)
    if shares <= 1:
        return _measure_run(folder_dir, names)
    global _measurers
    with _measurers_lock:
        if _measurers is None:
            _measurers = ThreadPoolExecutor(MEASURE_THREADS, "mailhost-measure")
        pool = _measurers
    step = -(-len(names) // shares)
    parts = [names[i : i + step] for i in range(0, len(names), step)]
    out: list[tuple[int, int] | None] = []
    for got in pool.map(_measure_run, [folder_dir] * len(parts), parts):
        out.extend(got)
    return out


def _measure_run(folder_dir: str, names: list[str]) -> list[tuple[int, int] | None]:
    """:func:`_measure` of many files of one folder, in one tight loop (open, fstat, one
    read, close: measuring a big foreign folder spends its time here).  Names are looked
    at for a ``,W=`` size only when one of them holds that text at all (foreign names
    seldom do)."""
    out: list[tuple[int, int] | None] = []
    append = out.append
    os_fstat, os_read, os_close = os.fstat, os.read, os.close
    hinted = ",W=" in "".join(names)
    for name in names:
        path = folder_dir + name
        try:
            if hinted:
                base = name[4:].partition(":")[0]
                vsize = sizes_of(base)[1] if "," in base else None
                if vsize is not None:
                    append((os.stat(path).st_mtime_ns, vsize))
                    continue
            fd = open_message(path)
        except FileNotFoundError:
            append(None)
            continue
        try:
            st = os_fstat(fd)
            n = st.st_size
            data = os_read(fd, n + 1) if n <= WHOLE_READ else b""
            if len(data) == n:
                size = n + data.count(b"\n")
                if b"\r" in data:
                    size -= data.count(b"\r\n")
            else:
                os.lseek(fd, 0, os.SEEK_SET)
                size = crlf_size_fd(fd, n)
            append((st.st_mtime_ns, size))
        finally:
            os_close(fd)
    return out


def _lazy_uid_line(uid: int, base: str) -> str:
    """The uidlist line of a file taken in without measuring it."""
    if "," in base:
        return ul.record_line(uid, base, None, sizes_of(base)[0])
    return f"{uid} :{base}\n"


_gc_lock = threading.Lock()
_gc_holds = 0


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Keep the cyclic garbage collector off while a folder's state is loaded.

    Loading a big folder creates one tracked object per message and nothing cyclic, yet
    every few hundred of them would start a collection that walks the whole (growing)
    heap: on a first look at 100,000 messages that is a good part of the time.  Nested and
    concurrent uses are counted, so the collector is turned on again by the last one out,
    and only if it was on."""
    global _gc_holds
    with _gc_lock:
        if _gc_holds == 0 and not gc.isenabled():
            held = False
        else:
            held = True
            _gc_holds += 1
            gc.disable()
    try:
        yield
    finally:
        if held:
            with _gc_lock:
                _gc_holds -= 1
                if _gc_holds == 0:
                    gc.enable()


def _lazy_uid_lines(uids: Iterable[int], bases: list[str]) -> Iterable[str]:
    """:func:`_lazy_uid_line` of each pair; one formatting pass when no base carries a
    size (foreign names seldom do)."""
    if "," in "".join(bases):
        return map(_lazy_uid_line, uids, bases)
    return [f"{uid} :{base}\n" for uid, base in zip(uids, bases, strict=True)]


def _cut_torn_tail(path: Path, size: int, end: int) -> None:
    """Drop a partial last line left by a writer that was killed (folder lock held, so
    no writer is active)."""
    if size > end:
        os.truncate(path, end)


_new_object = object.__new__
_slots: Any = vars(MessageInfo)  # the dataclass's slot descriptors
_set_uid = _slots["uid"].__set__
_set_flags = _slots["flags"].__set__
_set_size = _slots["size"].__set__
_set_date = _slots["internaldate"].__set__
_set_modseq = _slots["modseq"].__set__


def _message_info(
    uid: int, flags: frozenset[str], size: int, internaldate: float, modseq: int
) -> MessageInfo:
    """``MessageInfo(uid, flags, size, internaldate, modseq)`` at half the cost: the frozen
    dataclass's ``__init__`` goes through ``object.__setattr__`` once per field, while
    these are its slot descriptors called directly (a listing builds one per message)."""
    info: MessageInfo = _new_object(MessageInfo)
    _set_uid(info, uid)
    _set_flags(info, flags)
    _set_size(info, size)
    _set_date(info, internaldate)
    _set_modseq(info, modseq)
    return info


def _renamed_after_stamp(lines: list[str]) -> bool:
    """Whether a record that renames or removes a file follows the journal's last ``D``
    (directory stamp) record; looks only at the journal's tail after that record."""
    for line in reversed(lines):
        kind = line[:1]
        if kind == "D":
            return False
        if kind in ("A", "F", "X"):
            return True
    return False


_change_slots: Any = vars(Change)
_set_kind = _change_slots["kind"].__set__
_set_change_uid = _change_slots["uid"].__set__
_set_change_modseq = _change_slots["modseq"].__set__
_set_change_flags = _change_slots["flags"].__set__


def _change(kind: ChangeKind, uid: int, modseq: int, flags: frozenset[str]) -> Change:
    """``Change(kind, uid, modseq, flags)`` the way :func:`_message_info` builds its
    listing: a session's pull after a big STORE takes in one per message."""
    change: Change = _new_object(Change)
    _set_kind(change, kind)
    _set_change_uid(change, uid)
    _set_change_modseq(change, modseq)
    _set_change_flags(change, flags)
    return change


class Msg:
    __slots__ = ("cmodseq", "info", "modseq", "mtime_ns", "name", "uid", "vsize")

    def __init__(
        self, uid: int, modseq: int, cmodseq: int, vsize: int, mtime_ns: int, name: str
    ) -> None:
        self.uid = uid
        self.modseq = modseq
        self.cmodseq = cmodseq
        self.vsize = vsize
        self.mtime_ns = mtime_ns
        self.name = name
        #: the MessageInfo last built for it (None after a change)
        self.info: MessageInfo | None = None


class _Cold:
    """Messages a first look took in and nothing has looked at one by one since: UIDs
    ``first``, ``first + 1`` ... for ``names`` in that order, all with MODSEQ ``modseq``
    and not measured.  Kept as one list (what SELECT's flag listing needs) until something
    needs a :class:`Msg` per message (see :attr:`FolderState.msgs`); never changed."""

    __slots__ = ("first", "modseq", "names")

    def __init__(self, first: int, modseq: int, names: list[str]) -> None:
        self.first = first
        self.modseq = modseq
        self.names = names


_name = attrgetter("name")
_modseq = attrgetter("modseq")


class FolderState:
    """In-memory view of one Maildir folder plus the code that keeps it true.

    A big folder of foreign files seen for the first time costs one directory listing,
    one sort and two file writes (uidlist, index): its messages are kept as one list of
    names (:class:`_Cold`) until something needs them one by one, so SELECT's flag
    listing makes no object per message; the first sized listing then reads every file
    and makes each message with its size."""

    #: record files found on disk without reading them (see :meth:`measure`)
    lazy_sizes = True

    def __init__(self, path: Path, label: str, fsync: bool, fsync_renames: bool = True) -> None:
        self.path = path
        #: ``path`` as a string ending in ``/``: joined with file names on hot paths
        self.dir = str(path) + "/"
        self.label = label
        self.fsync = fsync
        #: a flag change's renames are fsynced too (else only its index records are)
        self.fsync_renames = fsync and fsync_renames
        #: directory listings made so far
        self.scans = 0
        self.lock = FileLock(path / LOCK_FILE)
        #: called (outside the lock) after changes were made or discovered
        self.on_change: Callable[[FolderState], None] | None = None
        self._changed = False
        #: turns ``_cold`` into messages once, whichever thread asks first (readers of
        #: ``msgs`` such as :meth:`MaildirFolder._open_fd` need not hold the folder lock)
        self._thaw_lock = threading.Lock()
        self._reset()

    # -- in-memory state -------------------------------------------------------------

    def _reset(self) -> None:
        self.loaded = False
        self.uidvalidity = 0
        self.guid = ""
        self.uidnext = 1
        self.highestmodseq = 0
        self.history_floor = 0
        self.recent_floor = 0
        self._msgs: dict[int, Msg] = {}
        #: what a first look took in, before ``_msgs`` and ``_names`` hold it (see
        #: :attr:`msgs`); while set, those two are empty
        self._cold: _Cold | None = None
        #: UIDs of messages whose size and mtime are not known yet (:meth:`measure`)
        self.unsized: set[int] = set()
        #: UIDs of ``msgs`` in order and the listing built from them, kept between calls
        #: and patched as messages change (``_dirty``: UIDs whose entry is out of date);
        #: None when they must be built again
        self._order: list[int] | None = None
        self._listing: list[MessageInfo | None] | None = None
        self._dirty: set[int] = set()
        self._names: dict[str, int] = {}
        #: base name -> UID, built when first needed (a scan that found changes)
        self._bases: dict[str, int] | None = None
        self.expunged: dict[int, int] = {}
        self.idem: dict[str, int] = {}
        self.total_size = 0
        #: ``(modseq, uid)`` of every change above ``_feed_floor`` in MODSEQ order, for
        #: changes_since without a pass over every message (stale entries are skipped;
        #: None: start again)
        self._feed: list[tuple[int, int]] | None = None
        self._feed_floor = 0
        #: messages without \\Seen, counted when asked after a change
        self._unseen: int | None = None
        self.pending_uids: dict[str, tuple[int, int | None]] = {}
        self.index_ino = -1
        self.index_off = 0
        self.index_lines = 0
        self.uidlist_stamp: tuple[int, int] | None = None
        self.uidlist_end = 0
        self.keywords = KeywordMap()
        self.kw_stamp: tuple[int, int, int] | None = None
        self.flag_cache: dict[str | None, frozenset[str]] = {}
        #: the last settled listing of both directories (``D`` records)
        self.dir_stamp: tuple[int, int, int] | None = None
        #: ``sub -> (mtime ns, scan start ns)``: the state reflects ``new/`` or ``cur/`` as
        #: they were at that mtime (trusted once the mtime is older than the scan by
        #: :data:`SETTLE_NS`; :data:`OWN` as scan start: it is the mtime our own change left)
        self.dir_ok: dict[str, tuple[int, int]] = {}
        self.wbuf: list[str] = []
        self.ubuf: list[str] = []
        #: a rebuild will write the whole uidlist: no need to queue its lines one by one
        self._uidlist_rewrite = False
        #: the uidlist state to record in the index once the records it implies are written
        self.u_pending: tuple[int, int] | None = None

    @property
    def msgs(self) -> dict[int, Msg]:
        """UID -> message."""
        if self._cold is not None:
            self._thaw()
        return self._msgs

    @property
    def names(self) -> dict[str, int]:
        """``new/<file>`` or ``cur/<file>`` -> UID."""
        if self._cold is not None:
            self._thaw()
        return self._names

    def count(self) -> int:
        """``len(self.msgs)``, without making a :class:`Msg` per message."""
        cold = self._cold
        return len(self._msgs) if cold is None else len(cold.names)

    def _uids(self) -> Iterable[int]:
        """Every UID (in no set order), without making a :class:`Msg` per message."""
        cold = self._cold
        if cold is not None:
            return range(cold.first, cold.first + len(cold.names))
        return self._msgs

    def _thaw(self, vsizes: list[int] | None = None, mtimes: list[int] | None = None) -> bool:
        """Make the :class:`Msg` of each message a first look took in (``_cold``): the
        first time anything needs them one by one, and only once.  ``vsizes`` and
        ``mtimes``: what measuring them learnt (:data:`ix.UNKNOWN` for a file not found),
        in ``_cold``'s order.  False if there was nothing left to make."""
        with self._thaw_lock, _no_cycle_collection():
            cold = self._cold
            if cold is None:
                return False  # another thread did it meanwhile
            names = cold.names
            uids = range(cold.first, cold.first + len(names))
            same = repeat(cold.modseq)
            sizes: Iterable[int] = repeat(ix.UNKNOWN) if vsizes is None else vsizes
            dates: Iterable[int] = repeat(ix.UNKNOWN) if mtimes is None else mtimes
            self._msgs.update(
                zip(uids, map(Msg, uids, same, same, sizes, dates, names), strict=True)
            )
            self._names.update(zip(names, uids, strict=True))
            # last: readers that see no ``_cold`` must find the messages
            self._cold = None
            return True

    # -- locking and the notification hand-off ---------------------------------------

    def hold(self) -> _Held:
        return _Held(self)

    def mark_changed(self) -> None:
        self._changed = True

    def take_changed(self) -> bool:
        changed, self._changed = self._changed, False
        return changed

    # -- applying journal records ----------------------------------------------------

    def _apply(self, line: str) -> None:
        kind = line[0]
        if kind in "AFX":
            self._unseen = None
        if kind == "A":
            _, uid_s, mod_s, cmod_s, vsize_s, mtime_s, name = line.split(" ", 6)
            uid = int(uid_s)
            modseq = int(mod_s)
            old = self.msgs.get(uid)
            if old is not None:
                self._forget(old)
            m = Msg(uid, modseq, int(cmod_s), ix.number(vsize_s), ix.number(mtime_s), name)
            self._remember(m)
            self._note(modseq, uid)
            if modseq > self.highestmodseq:
                self.highestmodseq = modseq
            if uid >= self.uidnext:
                self.uidnext = uid + 1
        elif kind == "F":
            _, uid_s, mod_s, name = line.split(" ", 3)
            changed = self.msgs.get(int(uid_s))
            modseq = int(mod_s)
            if changed is not None:
                del self.names[changed.name]
                changed.name = name
                if changed.modseq != modseq:
                    changed.modseq = modseq
                    self._note(modseq, changed.uid)
                changed.info = None
                self._dirty.add(changed.uid)
                self.names[name] = changed.uid
            if modseq > self.highestmodseq:
                self.highestmodseq = modseq
        elif kind == "X":
            _, uid_s, mod_s = line.split(" ")
            uid, modseq = int(uid_s), int(mod_s)
            gone = self.msgs.get(uid)
            if gone is not None:
                self._forget(gone)
            self.expunged[uid] = modseq
            self._note(modseq, uid)
            if modseq > self.highestmodseq:
                self.highestmodseq = modseq
        elif kind == "S":
            _, uid_s, vsize_s, mtime_s = line.split(" ")
            self._sized(self.msgs.get(int(uid_s)), int(vsize_s), int(mtime_s))
        elif kind == "K":
            _, uid_s, key = line.split(" ", 2)
            self.idem.pop(key, None)
            self.idem[key] = int(uid_s)
        else:
            values = [int(v) for v in line[2:].split(" ")]
            if kind == "N":
                self.uidnext = max(self.uidnext, values[0])
            elif kind == "H":
                self.highestmodseq = max(self.highestmodseq, values[0])
            elif kind == "T":
                self.history_floor = max(self.history_floor, values[0])
            elif kind == "R":
                self.recent_floor = max(self.recent_floor, values[0])
            elif kind == "U":
                self.uidlist_stamp = (values[0], values[1])
                self.uidlist_end = values[1]
            elif kind == "D":
                self.dir_stamp = (values[0], values[1], values[2])
                self.dir_ok["new"] = (values[0], values[2])
                self.dir_ok["cur"] = (values[1], values[2])
            else:
                raise ix.IndexCorrupt(f"unknown index record {line!r}")

    def bases(self) -> dict[str, int]:
        if self._bases is None:
            self._bases = {base_of(m.name[4:]): uid for uid, m in self.msgs.items()}
        return self._bases

    def _apply_many(self, lines: list[str]) -> None:
        """:meth:`_apply` for a whole journal, with the common record (a snapshot's
        ``A`` lines of a fresh load) inlined: it is most of a warm open's time."""
        msgs = self.msgs
        names = self.names
        apply = self._apply
        total = 0
        top_uid = top_modseq = 0
        for line in lines:
            if line[0] == "A" and self._bases is None:
                _, uid_s, mod_s, cmod_s, vsize_s, mtime_s, name = line.split(" ", 6)
                uid = int(uid_s)
                old = msgs.get(uid)
                if old is not None:
                    self._forget(old)
                modseq = int(mod_s)
                cmodseq = modseq if cmod_s == mod_s else int(cmod_s)
                if vsize_s == "-":
                    vsize = ix.UNKNOWN
                    msgs[uid] = Msg(uid, modseq, cmodseq, vsize, vsize, name)
                    self.unsized.add(uid)
                else:
                    vsize = int(vsize_s)
                    msgs[uid] = Msg(uid, modseq, cmodseq, vsize, int(mtime_s), name)
                    total += vsize
                names[name] = uid
                if modseq > top_modseq:
                    top_modseq = modseq
                if uid > top_uid:
                    top_uid = uid
            else:
                apply(line)
        self.total_size += total
        self._unseen = None
        self._order = self._listing = None
        self.highestmodseq = max(self.highestmodseq, top_modseq)
        self.uidnext = max(self.uidnext, top_uid + 1)

    def _remember(self, m: Msg, base: str | None = None) -> None:
        uid = m.uid
        self.msgs[uid] = m
        self.names[m.name] = uid
        if self._bases is not None:
            self._bases[base if base is not None else base_of(m.name[4:])] = uid
        if m.mtime_ns < 0:
            self.unsized.add(uid)
        else:
            self.total_size += m.vsize
        order = self._order
        if order is not None:
            if not order or uid > order[-1]:
                order.append(uid)  # the usual case: a new message gets the next UID
                if self._listing is not None:
                    self._listing.append(None)
                    self._dirty.add(uid)
            else:
                self._order = self._listing = None

    def _forget(self, m: Msg) -> None:
        uid = m.uid
        del self.msgs[uid]
        self.names.pop(m.name, None)
        if self._bases is not None:
            self._bases.pop(base_of(m.name[4:]), None)
        if m.mtime_ns < 0:
            self.unsized.discard(uid)
        else:
            self.total_size -= m.vsize
        order = self._order
        if order is not None:
            i = bisect.bisect_left(order, uid)
            if i < len(order) and order[i] == uid:
                del order[i]
                if self._listing is not None:
                    del self._listing[i]
            else:
                self._order = self._listing = None

    def record(self, line: str) -> None:
        """Apply a record now and queue it for the journal."""
        self._apply(line[:-1])
        self.wbuf.append(line)
        self._changed = True

    # -- reading the disk ------------------------------------------------------------

    def sync(self, scan: bool = True) -> None:
        """Bring the state up to date with the disk (lock held)."""
        scans = self.scans
        if not self.loaded:
            self._load()
        else:
            self._read_index_tail()
        self._check_uidlist()
        self._check_keywords()
        if self.pending_uids or (scan and self.scans == scans):
            # (a rebuild just listed the directories: no need to list them twice)
            self._maybe_scan(force=bool(self.pending_uids))
        self.flush()
        if self.index_lines > self.count() * 3 // 2 + 2000:
            self.compact()

    def _dirs(self) -> tuple[os.stat_result, os.stat_result]:
        try:
            return os.stat(self.dir + "new"), os.stat(self.dir + "cur")
        except FileNotFoundError:
            raise NoSuchFolder(self.label) from None

    def _sweep(self) -> None:
        """Remove what killed writers left: temporary copies of our own files (we hold
        the folder lock, so nobody is writing them) and ``tmp/`` files older than 36 hours
        (the Maildir spec's rule)."""
        prefixes = tuple(f"{n}.tmp." for n in (ix.INDEX_FILE, UIDLIST, KEYWORDS))
        for entry in os.listdir(self.path):
            if entry.startswith(prefixes):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path / entry)
        too_old = time.time() - TMP_MAX_AGE
        with contextlib.suppress(FileNotFoundError):
            for tmp in os.scandir(self.path / "tmp"):
                with contextlib.suppress(FileNotFoundError):
                    if tmp.stat().st_mtime < too_old:
                        os.unlink(tmp.path)

    def _load(self) -> None:
        with _no_cycle_collection():
            self._load_now()

    def _load_now(self) -> None:
        self._reset()
        self._dirs()
        self._sweep()
        got = read_from(self.path / ix.INDEX_FILE, 0)
        if got is None:
            self._rebuild(existed=False)
            return
        data, st = got
        end = data.rfind(b"\n") + 1
        try:
            lines = data[:end].decode("utf-8", "surrogateescape").split("\n")
            lines.pop()  # what follows the last newline
            if not lines:
                raise ix.IndexCorrupt("empty index")
            self.uidvalidity, self.guid = ix.parse_header(lines[0])
            self._apply_many(lines[1:])
            if _renamed_after_stamp(lines):
                self._distrust_stamp()
        except (ix.IndexCorrupt, ValueError, IndexError, KeyError, UnicodeDecodeError):
            self._rebuild(existed=True)
            return
        self.index_ino = st.st_ino
        self.index_off = end
        self.index_lines = len(lines)
        self.loaded = True

    def _read_index_tail(self) -> None:
        try:
            st = os.stat(self.dir + ix.INDEX_FILE)
        except FileNotFoundError:
            self._dirs()  # NoSuchFolder if the whole folder went away
            self._load()
            self._changed = True
            return
        if st.st_ino != self.index_ino or st.st_size < self.index_off:
            self._load()
            self._changed = True
            return
        if st.st_size == self.index_off:
            return
        got = read_from(self.path / ix.INDEX_FILE, self.index_off)
        if got is None:
            return
        lines, end = complete_lines(got[0])
        _cut_torn_tail(self.path / ix.INDEX_FILE, got[1].st_size, self.index_off + end)
        if not lines:
            return
        try:
            for raw in lines:
                self._apply(raw.decode("utf-8", "surrogateescape"))
        except (ix.IndexCorrupt, ValueError, IndexError, KeyError, UnicodeDecodeError):
            self._load()
            self._changed = True
            return
        self.index_off += end
        self.index_lines += len(lines)
        self._changed = True

    def _rebuild(self, existed: bool) -> None:
        """Make a new index from the uidlist (if any) and the directory."""
        self._reset()
        self._dirs()
        got = read_from(self.path / UIDLIST, 0)
        header: ul.UidListHeader | None = None
        if got is not None:
            lines, end = complete_lines(got[0])
            try:
                header, records = ul.parse_uidlist(
                    b"\n".join(lines).decode("utf-8", "surrogateescape") + "\n"
                )
            except ul.UidListError:
                header = None
            if header is not None:
                for rec in records:
                    self.pending_uids[rec.base] = (rec.uid, rec.ext_int("W"))
                    self.uidnext = max(self.uidnext, rec.uid + 1)
                self.uidnext = max(self.uidnext, header.nextuid)
                self.uidlist_stamp = (got[1].st_ino, end)
                self.uidlist_end = end
        if header is not None:
            self.uidvalidity = header.uidvalidity
            self.guid = header.guid or uuid.uuid4().hex
        else:
            self.uidvalidity = next_uidvalidity()
            self.guid = uuid.uuid4().hex
        if existed or header is not None:
            self.highestmodseq = self.history_floor = _restart_modseq()
        else:
            self.highestmodseq = 1
        text = ix.header(self.uidvalidity, self.guid)
        text += ix.rec_value("N", self.uidnext) + ix.rec_value("H", self.highestmodseq)
        text += ix.rec_value("T", self.history_floor)
        st = atomic_write(self.path / ix.INDEX_FILE, text.encode(), self.fsync)
        self.index_ino = st.st_ino
        self.index_off = st.st_size
        self.index_lines = 4
        self.loaded = True
        self._changed = True
        rewrite = header is None or header.guid != self.guid
        # without a uidlist every message found is new and queues its uidlist line, in
        # UID order: those lines are the new uidlist (no second pass over the messages)
        self._uidlist_rewrite = header is not None and rewrite
        try:
            self._maybe_scan(force=True)
        finally:
            self._uidlist_rewrite = False
        if header is None:
            self._write_uidlist(self.ubuf)
        elif rewrite:
            self._write_uidlist()
        else:
            self.u_pending = self.uidlist_stamp

    def _check_uidlist(self) -> None:
        path = self.path / UIDLIST
        try:
            st = os.stat(self.dir + UIDLIST)
        except FileNotFoundError:
            self._write_uidlist()
            return
        now = (st.st_ino, st.st_size)
        if now == self.uidlist_stamp:
            return
        stamp = self.uidlist_stamp
        if stamp is not None and stamp[0] == st.st_ino and st.st_size > stamp[1]:
            offset = stamp[1]
            got = read_from(path, offset)
            if got is None:
                return
            lines, end = complete_lines(got[0])
            self.uidlist_end = offset + end
            _cut_torn_tail(path, got[1].st_size, self.uidlist_end)
            version = 3
            texts = [raw.decode("utf-8", "surrogateescape") for raw in lines]
            records = []
            for text in texts:
                try:
                    records.append(ul.parse_record(text, version))
                except ul.UidListError:
                    continue
            header = None
        else:
            got = read_from(path, 0)
            if got is None:
                return
            lines, end = complete_lines(got[0])
            self.uidlist_end = end
            _cut_torn_tail(path, got[1].st_size, end)
            try:
                header, records = ul.parse_uidlist(
                    b"\n".join(lines).decode("utf-8", "surrogateescape") + "\n"
                )
            except ul.UidListError:
                self._write_uidlist()
                return
            if header.uidvalidity != self.uidvalidity:
                # the folder was replaced under us (recreated, or restored from a backup)
                self._rebuild(existed=True)
                return
            self.uidnext = max(self.uidnext, header.nextuid)
        for rec in records:
            if rec.uid in self.msgs or rec.uid in self.expunged:
                continue
            if rec.base in self.bases():
                continue
            self.pending_uids[rec.base] = (rec.uid, rec.ext_int("W"))
            if rec.uid >= self.uidnext:
                self.uidnext = rec.uid + 1
        stamp = (got[1].st_ino, self.uidlist_end)
        if stamp != self.uidlist_stamp:
            self.uidlist_stamp = self.u_pending = stamp

    def _check_keywords(self) -> None:
        try:
            st = os.stat(self.dir + KEYWORDS)
        except FileNotFoundError:
            if self.kw_stamp is not None:
                self.kw_stamp = None
            return
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp == self.kw_stamp:
            return
        got = read_from(self.path / KEYWORDS, 0)
        if got is None:
            return
        self.keywords = KeywordMap(parse_keywords(got[0].decode("utf-8", "replace")))
        self.kw_stamp = stamp
        self._flags_changed()

    def _flags_changed(self) -> None:
        """The keyword letters changed meaning: forget flags worked out before."""
        self.flag_cache.clear()
        self._unseen = None
        self._listing = None
        for m in self._msgs.values():  # (messages still in ``_cold`` have no info yet)
            m.info = None

    def keyword_indexes(self, names: Iterable[str]) -> tuple[int, ...]:
        """Letters for ``names``, adding new ones to ``dovecot-keywords`` (lock held)."""
        names = list(names)
        unknown = {n.lower() for n in names if self.keywords.index_of(n) is None}
        if len(self.keywords.by_index) + len(unknown) > MAX_KEYWORDS:
            # refuse before giving out any letter: a refused command changes nothing
            raise TooManyKeywords(f"no keyword letters left for {len(unknown)} new keywords")
        out = []
        added = False
        for name in names:
            idx = self.keywords.index_of(name)
            if idx is None:
                idx = self.keywords.add(name)
                added = True
            out.append(idx)
        if added:
            st = atomic_write(
                self.path / KEYWORDS,
                format_keywords(self.keywords.by_index).encode(),
                self.fsync,
            )
            self.kw_stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            self._flags_changed()
        return tuple(sorted(set(out)))

    # -- the directory scan ----------------------------------------------------------

    def _distrust_stamp(self) -> None:
        """Forget the settled directory stamp: the next sync lists both directories.

        A flag change whose renames are not fsynced (``fsync = "optimized"``) may be lost
        in a power cut while its index records, which are fsynced, survive; ``cur/`` may
        then be back at the very mtime a stamp recorded before the renames.  Records that
        rename files after the last stamp therefore void it when an index is loaded (in
        normal running the renames moved the mtime on, so this costs no listing), and a
        stamp taken before unsynced renames is not written into a compacted index."""
        self.dir_stamp = None
        self.dir_ok.clear()

    def _trusted(self, sub: str, mtime_ns: int) -> bool:
        """Whether the state reflects ``sub`` (``new`` or ``cur``) at this mtime."""
        got = self.dir_ok.get(sub)
        return got is not None and got[0] == mtime_ns and mtime_ns < got[1] - SETTLE_NS

    def _maybe_scan(self, force: bool = False) -> None:
        """List the directories whose mtime says they may hold changes we have not seen.

        Only ``new/`` or only ``cur/`` is listed when the other one is trusted: after our
        own changes in ``cur/`` (see :meth:`own_cur`), a delivery into ``new/`` is found by
        listing ``new/`` alone, however many messages ``cur/`` holds."""
        new_st, cur_st = self._dirs()
        mtimes = (new_st.st_mtime_ns, cur_st.st_mtime_ns)
        subs = [
            sub
            for sub, mtime in zip(("new", "cur"), mtimes, strict=True)
            if force or not self._trusted(sub, mtime)
        ]
        if not subs:
            return
        scan_ns = time.time_ns()
        self.scans += 1
        if len(subs) == 2 and not self._names and self._cold is None and not self.pending_uids:
            # a first look: nothing known, nothing to compare with
            new, cur = self._entries("new"), self._entries("cur")
            if not self._first_look(new, cur):
                present = set(map("new/".__add__, new))
                present.update(map("cur/".__add__, cur))
                self._reconcile(present)
        else:
            present = self._listdir(subs)
            if len(subs) == 1:
                other = "cur/" if subs[0] == "new" else "new/"
                cold = self._cold
                known = self._names if cold is None else cold.names
                present.update(n for n in known if n.startswith(other))
            self._reconcile(present)
        for sub, mtime in zip(("new", "cur"), mtimes, strict=True):
            if sub in subs:
                self.dir_ok[sub] = (mtime, scan_ns)
        new_ok, cur_ok = self.dir_ok["new"], self.dir_ok["cur"]
        since = min(new_ok[1], cur_ok[1])
        if OWN not in (new_ok[1], cur_ok[1]) and max(new_ok[0], cur_ok[0]) < since - SETTLE_NS:
            stamp = (new_ok[0], cur_ok[0], since)
            if stamp != self.dir_stamp:
                # settled listings of both: other processes may trust them too
                self.dir_stamp = stamp
                self.wbuf.append(ix.rec_value("D", *stamp))

    def own_cur(self) -> Callable[[], None]:
        """Call before changing ``cur/`` under the folder lock; call what it returns after.

        The state knows exactly what its own renames, links and unlinks did, so if it
        reflected ``cur/`` before them, it reflects ``cur/`` at the mtime they leave, and
        the next sync need not list it.  Sound because every other mailhost process
        changes ``cur/`` only under this lock and journals what it did (read before any
        listing); programs that take no lock deliver into ``new/``, which keeps the
        :data:`SETTLE_NS` rule.  A directory listed meanwhile (a file renamed by another
        program) is not taken as ours."""
        cur = self.dir + "cur"
        scans = self.scans
        trusted = self._trusted("cur", os.stat(cur).st_mtime_ns)

        def done() -> None:
            if trusted and self.scans == scans:
                self.dir_ok["cur"] = (os.stat(cur).st_mtime_ns, OWN)

        return done

    def _listdir(self, subs: Iterable[str] = ("new", "cur")) -> set[str]:
        present: set[str] = set()
        # new/ before cur/: a message moved from new/ to cur/ meanwhile is seen at least once
        for sub in subs:
            present.update(map((sub + "/").__add__, self._entries(sub)))
        return present

    def _entries(self, sub: str) -> list[str]:
        """The message files in ``sub`` (``new`` or ``cur``)."""
        try:
            entries = os.listdir(self.dir + sub)
        except FileNotFoundError:
            raise NoSuchFolder(self.label) from None
        # dot files are not messages (maildir(5)); nor are names a line break would
        # cut in two in our journal.  Looked for in one joined string first: a big
        # folder is listed again after every change, and it rarely has any
        joined = "\n".join(entries)
        if (
            "\n." in joined
            or joined.startswith(".")
            or "\r" in joined
            or joined.count("\n") != len(entries) - 1  # a name holds a line break
        ):
            entries = [
                e for e in entries if not e.startswith(".") and "\n" not in e and "\r" not in e
            ]
        return entries

    def _first_look(self, new: list[str], cur: list[str]) -> bool:
        """Take in the files of a folder seen for the first time (nothing known, no
        uidlist) when their names have the usual shape; False (nothing done) otherwise,
        and :meth:`_reconcile` does it the general way.

        The usual shape: every name starts with epoch seconds of one width and a dot, and
        no two share that second.  Then ordering the names by that second orders them as
        :func:`delivery_order` orders their bases (the seconds decide every comparison),
        and no base is listed twice, so the names need no splitting to be put in order."""
        if not new and not cur:
            return False
        new.sort()
        cur.sort()
        width = min(new[:1] + cur[:1]).find(".")
        if width <= 0:
            return False
        names = list(map("new/".__add__, new))
        names += map("cur/".__add__, cur)
        # two sorted runs: merged in one linear pass
        head = itemgetter(slice(4, 4 + width))
        names.sort(key=head)
        heads = list(map(head, names))
        digits = "".join(heads)
        if not (digits.isascii() and digits.isdecimal()):
            return False
        try:
            dots = "".join(map(itemgetter(4 + width), names))
        except IndexError:
            return False  # a name that is no more than digits
        if dots.count(".") != len(names):
            return False
        if any(map(eq, heads, islice(heads, 1, None))):
            return False  # two in one second, or one name in both directories
        # their bases in the same order: sorted as well (the seconds decide), two runs
        bases = new if ":" not in "".join(new) else [e.partition(":")[0] for e in new]
        bases = bases + [e.partition(":")[0] for e in cur]
        bases.sort()
        modseq = self.highestmodseq + 1
        if self._take_in_new(names, modseq, bases):
            self.highestmodseq = max(self.highestmodseq, modseq)
        return True

    def _reconcile(self, present: set[str]) -> None:
        cold = self._cold
        if (
            cold is not None
            and not self.pending_uids
            and len(present) == len(cold.names)
            and present.issuperset(cold.names)
        ):
            return  # nothing changed since the first look (its names are all distinct)
        known = self.names
        if not self.pending_uids and known.keys() == present:
            return
        vanished = known.keys() - present
        if vanished:
            # another program may have renamed a file while we listed: look again
            present |= self._listdir()
            vanished = known.keys() - present
        appeared = present - known.keys() if known else present
        modseq = self.highestmodseq + 1
        if not known and not self.pending_uids:
            # a first look (no index, no uidlist): unless a base shows up twice, every
            # file is simply taken in, in delivery order
            listed = list(appeared)
            first = dict(zip(listed_bases(listed), listed, strict=True))
            if len(first) == len(listed):
                order = delivery_order(list(first))
                if self._take_in_new(list(map(first.__getitem__, order)), modseq, order):
                    self.highestmodseq = max(self.highestmodseq, modseq)
                return
        used_modseq = False
        by_base: dict[str, list[str]] = {}
        for name in appeared:
            base = name[4:].partition(":")[0]
            same = by_base.get(base)
            if same is None:
                by_base[base] = [name]
            else:
                same.append(name)
        foreign: list[tuple[str, str]] = []
        bases = self.bases()
        pending_uids = self.pending_uids
        for base, names in by_base.items():
            if len(names) > 1:
                names = [n for n in names if os.path.exists(self.path / n)] or names[:1]
                names.sort(key=lambda n: n.startswith("new/"))
            name = names[0]
            uid = bases.get(base)
            if uid is not None:
                m = self.msgs[uid]
                if m.name not in vanished and os.path.exists(self.path / m.name):
                    # the same base twice (a copied file): give the newcomer its own base
                    foreign.append((self._rebase(name), base))
                    continue
                vanished.discard(m.name)
                if self.flags_of(m.name) != self.flags_of(name):
                    self.record(ix.rec_flags(uid, modseq, name))
                    used_modseq = True
                else:
                    self.record(ix.rec_flags(uid, m.modseq, name))
                continue
            pending = pending_uids.pop(base, None) if pending_uids else None
            if pending is not None:
                # already in the uidlist: record it in the index only
                self._take_in(name, pending[0], modseq, pending[1], listed=True, base=base)
                used_modseq = True
                continue
            foreign.append((name, base))
        for name in vanished:
            uid = known.get(name)
            if uid is not None:
                self.record(ix.rec_expunge(uid, modseq))
                used_modseq = True
        by_sort_base = {base: name for name, base in foreign}
        if self._take_in_new([by_sort_base[b] for b in delivery_order(list(by_sort_base))], modseq):
            used_modseq = True
        self.pending_uids.clear()
        if used_modseq:
            self.highestmodseq = max(self.highestmodseq, modseq)

    def _rebase(self, name: str) -> str:
        """Rename a file whose base is already taken to a fresh base (never in place)."""
        base, info = split_name(name[4:])
        size, vsize = sizes_of(base)
        fresh = new_base(size, vsize)
        new = name[:4] + (cur_name(fresh, info) if info is not None else fresh)
        os.rename(self.path / name, self.path / new)
        return new

    def _take_in(
        self,
        name: str,
        uid: int,
        modseq: int,
        vsize: int | None,
        listed: bool = False,
        base: str | None = None,
    ) -> bool:
        """Record a file found on disk under ``uid``; False if it vanished meanwhile.

        What :meth:`record` of the ``A`` line would do, without parsing the line back:
        a first look at a big foreign folder calls this once per message.  ``base`` is
        the base of ``name`` when the caller knows it."""
        if base is None:
            base = base_of(name[4:])
        size, named_vsize = sizes_of(base)
        if vsize is None:
            vsize = named_vsize
        measured = _measure(self.dir + name, vsize)
        if measured is None:
            return False
        mtime_ns, vsize = measured
        if uid >= self.uidnext:
            self.uidnext = uid + 1
        if not listed and not self._uidlist_rewrite:
            self.ubuf.append(ul.record_line(uid, base, vsize, size))
        old = self.msgs.get(uid)
        if old is not None:
            self._forget(old)
        self._remember(Msg(uid, modseq, modseq, vsize, mtime_ns, name), base)
        self._note(modseq, uid)
        if modseq > self.highestmodseq:
            self.highestmodseq = modseq
        self._unseen = None
        self.wbuf.append(ix.rec_append(uid, modseq, modseq, vsize, mtime_ns, name))
        self._changed = True
        return True

    def _take_in_new(
        self, names: list[str], modseq: int, own_bases: list[str] | None = None
    ) -> bool:
        """Give files found on disk the next UIDs in this order (:meth:`_take_in` for
        many at once); False if every file vanished meanwhile.  ``own_bases``: the base
        of each name, when the caller has them.

        With :attr:`lazy_sizes` the files are not opened: their sizes and mtimes are
        learnt by :meth:`measure` when a listing first needs them, so a first look at a big
        folder of foreign files is a directory listing, as in Dovecot."""
        msgs = self.msgs
        by_name = self.names
        bases = self._bases
        wbuf = self.wbuf
        ubuf = None if self._uidlist_rewrite else self.ubuf
        first = uid = self.uidnext
        total = 0
        if self.lazy_sizes:
            # one pass of C-level maps per structure: a first look at a big foreign
            # folder takes in every file here
            uid = first + len(names)
            uids = range(first, uid)
            if own_bases is None and (bases is not None or ubuf is not None):
                own_bases = listed_bases(names)
            if names and not msgs and bases is None:
                # a first look: the messages stay one list until needed one by one
                self._cold = _Cold(first, modseq, names)
            else:
                same, unknown = repeat(modseq), repeat(ix.UNKNOWN)
                msgs.update(
                    zip(uids, map(Msg, uids, same, same, unknown, unknown, names), strict=True)
                )
                by_name.update(zip(names, uids, strict=True))
                if bases is not None and own_bases is not None:
                    bases.update(zip(own_bases, uids, strict=True))
            if names:
                # the journal's lines and the uidlist's as one text each, every UID turned
                # into text once for both
                text_uids = list(map(str, uids))
                mid = f" {modseq} {modseq} - - "
                pairs = zip(text_uids, names, strict=True)
                wbuf.append("A " + "\nA ".join(map(mid.join, pairs)) + "\n")
                if ubuf is not None and own_bases is not None:
                    if "," in "".join(own_bases):
                        ubuf.extend(map(_lazy_uid_line, uids, own_bases))  # sizes in names
                    else:
                        pairs = zip(text_uids, own_bases, strict=True)
                        ubuf.append("\n".join(map(" :".join, pairs)) + "\n")
            self.unsized.update(uids)
        else:
            for name, got in zip(names, _measure_many(self.dir, names), strict=True):
                if got is None:
                    continue  # renamed or deleted meanwhile: the next scan sees it again
                mtime_ns, vsize = got
                base = name[4:].partition(":")[0]
                msgs[uid] = Msg(uid, modseq, modseq, vsize, mtime_ns, name)
                by_name[name] = uid
                if bases is not None:
                    bases[base] = uid
                total += vsize
                wbuf.append(f"A {uid} {modseq} {modseq} {vsize} {mtime_ns} {name}\n")
                if ubuf is not None:
                    size = sizes_of(base)[0] if "," in base else None
                    ubuf.append(ul.record_line(uid, base, vsize, size))
                uid += 1
        if uid == first:
            return False
        added = range(first, uid)
        self.uidnext = uid
        self.total_size += total
        self._unseen = None
        self._changed = True
        if modseq > self.highestmodseq:
            self.highestmodseq = modseq
        feed = self._feed
        if feed is not None:
            if feed and modseq < feed[-1][0]:
                self._feed = None
            else:
                feed.extend((modseq, u) for u in added)
        order = self._order
        if order is not None:
            if not order or first > order[-1]:
                order.extend(added)
                if self._listing is not None:
                    self._listing.extend([None] * len(added))
                    self._dirty.update(added)
            else:
                self._order = self._listing = None
        return True

    def _sized(self, m: Msg | None, vsize: int, mtime_ns: int) -> None:
        if m is None or m.mtime_ns >= 0:
            return
        m.vsize = vsize
        m.mtime_ns = mtime_ns
        self.total_size += vsize
        self.unsized.discard(m.uid)
        m.info = None
        self._dirty.add(m.uid)

    def measure(self, uids: Iterable[int] | None = None) -> None:
        """Learn the CRLF size and mtime of messages recorded without them (all of them,
        or those among ``uids``) and journal them (lock held).

        Sizes are a cache of the files, which never change: the ``S`` records are written
        without fsync, and measuring most of a folder rewrites the index in one go."""
        unsized = self.unsized
        if not unsized:
            return
        todo = sorted(unsized) if uids is None else sorted(u for u in uids if u in unsized)
        if not todo:
            return
        cold = self._cold
        if cold is not None and uids is None and len(todo) == len(cold.names) > 1000:
            # the first sized listing after a first look: each message is made with its
            # size, rather than made unsized and then changed
            measured = _measure_many(self.dir, cold.names)
            unknown = ix.UNKNOWN
            mtimes = [unknown if got is None else got[0] for got in measured]
            vsizes = [unknown if got is None else got[1] for got in measured]
            if self._thaw(vsizes, mtimes):
                # (``todo`` is every UID of ``cold``, in its order)
                gone = [uid for uid, mtime in zip(todo, mtimes, strict=True) if mtime < 0]
                self.total_size += sum(vsizes) - unknown * len(gone)
                unsized.clear()
                unsized.update(gone)
                if len(gone) < len(todo):
                    self.compact(uidlist=False)  # the sizes, in the A records
                if gone:
                    self.measure(gone)  # renamed by another program meanwhile, or gone
                return
        msgs = self.msgs
        # most of the folder at once (a first sized listing): the index is rewritten with
        # the sizes in its A records, so no S record is made
        whole = len(todo) > 1000 and len(todo) > len(msgs) // 2
        batch = list(map(msgs.__getitem__, todo))
        lines: list[str] = []
        missing: list[int] = []
        total = 0
        for m, got in zip(batch, _measure_many(self.dir, list(map(_name, batch))), strict=True):
            if got is None:
                missing.append(m.uid)
                continue
            # what _sized does, for a message known to be in ``unsized``
            mtime_ns, vsize = got
            m.vsize = vsize
            m.mtime_ns = mtime_ns
            m.info = None
            total += vsize
            if not whole:
                lines.append(f"S {m.uid} {vsize} {mtime_ns}\n")
        self.total_size += total
        unsized.difference_update(todo)
        unsized.update(missing)
        self._dirty.update(todo)
        sized = len(todo) - len(missing)
        for uid in missing:
            found = self.find(uid)  # renamed by another program meanwhile, or gone
            if found is None or found.mtime_ns >= 0:
                continue
            got = _measure(self.dir + found.name, sizes_of(base_of(found.name[4:]))[1])
            if got is not None:
                self._sized(found, got[1], got[0])
                sized += 1
                if not whole:
                    lines.append(ix.rec_sizes(uid, got[1], got[0]))
        if whole and sized:
            self.compact(uidlist=False)
        elif lines:
            if self.wbuf or self.ubuf:
                self.flush()  # what was queued before is written as it would have been
            self.wbuf.extend(lines)
            self.flush(durable=False)

    # -- writing the journal ---------------------------------------------------------

    def flush(self, durable: bool = True) -> None:
        """Write queued uidlist lines, then queued index records (``durable=False``: no
        fsync, for records that only cache what the files say)."""
        if self.ubuf:
            data = "".join(self.ubuf).encode("utf-8", "surrogateescape")
            self.ubuf = []
            path = self.path / UIDLIST
            if self.uidlist_stamp is None or not path.exists():
                self._write_uidlist()
            else:
                size = append_lines(path, data, self.fsync, truncate_to=self.uidlist_end)
                self.uidlist_end = size
                self.uidlist_stamp = self.u_pending = (os.stat(path).st_ino, size)
        if self.u_pending is not None:
            # last: a torn batch loses its U line, and the uidlist is read again
            self.wbuf.append(ix.rec_value("U", *self.u_pending))
            self.u_pending = None
        if self.wbuf:
            data = "".join(self.wbuf).encode("utf-8", "surrogateescape")
            n = data.count(b"\n")  # records (an entry of wbuf may hold many)
            self.wbuf = []
            self.index_off = append_lines(
                self.path / ix.INDEX_FILE,
                data,
                self.fsync and durable,
                truncate_to=self.index_off,
            )
            self.index_lines += n

    def _write_uidlist(self, lines: list[str] | None = None) -> None:
        """Write the whole uidlist; ``lines``: the record of every message, in UID order,
        when the caller has them already."""
        header = ul.UidListHeader(3, self.uidvalidity, self.uidnext, self.guid)
        parts = [ul.format_header(header)]
        cold = self._cold
        if lines is not None:
            parts.extend(lines)
        elif cold is not None:
            # nothing measured yet (a first look): no sizes to write
            uids = range(cold.first, cold.first + len(cold.names))
            parts.extend(_lazy_uid_lines(uids, listed_bases(cold.names)))
        elif len(self.unsized) == len(self._msgs):
            msgs = self._msgs
            order = sorted(msgs)
            bases = listed_bases(list(map(_name, map(msgs.__getitem__, order))))
            parts.extend(_lazy_uid_lines(order, bases))
        else:
            msgs = self._msgs
            order = sorted(msgs)
            ordered = list(map(msgs.__getitem__, order))
            bases = listed_bases(list(map(_name, ordered)))
            for uid, m, base in zip(order, ordered, bases, strict=True):
                size = sizes_of(base)[0] if "," in base else None
                vsize = m.vsize if m.mtime_ns >= 0 else None
                parts.append(ul.record_line(uid, base, vsize, size))
        text = "".join(parts)
        st = atomic_write(self.path / UIDLIST, text.encode("utf-8", "surrogateescape"), self.fsync)
        self.ubuf = []
        self.uidlist_stamp = self.u_pending = (st.st_ino, st.st_size)
        self.uidlist_end = st.st_size

    def compact(self, uidlist: bool = True) -> None:
        """Rewrite uidlist and index with live records only (lock held); ``uidlist=False``
        keeps the uidlist as it is (its records are still right, only sizes were learnt)."""
        self.flush()
        if uidlist or self.uidlist_stamp is None:
            self._write_uidlist()
        self.wbuf = []
        self.u_pending = None
        if len(self.expunged) > ix.EXPUNGE_HISTORY:
            ordered = sorted(self.expunged.items(), key=lambda kv: kv[1])
            drop = ordered[: len(ordered) - ix.EXPUNGE_HISTORY]
            self.history_floor = max(self.history_floor, drop[-1][1])
            for uid, _ in drop:
                del self.expunged[uid]
        live_keys = [(k, u) for k, u in self.idem.items() if u in self.msgs]
        self.idem = dict(live_keys[-ix.IDEMPOTENCY_KEYS :])
        parts = [
            ix.header(self.uidvalidity, self.guid),
            ix.rec_value("N", self.uidnext),
            ix.rec_value("H", self.highestmodseq),
            ix.rec_value("T", self.history_floor),
            ix.rec_value("R", self.recent_floor),
        ]
        msgs = self.msgs
        # ix.rec_append inlined: this runs once per message
        parts.extend(
            [
                f"A {m.uid} {m.modseq} {m.cmodseq} {m.vsize} {m.mtime_ns} {m.name}\n"
                if m.mtime_ns >= 0
                else f"A {m.uid} {m.modseq} {m.cmodseq} - - {m.name}\n"
                for m in map(msgs.__getitem__, sorted(msgs))
            ]
        )
        parts.extend(ix.rec_expunge(u, s) for u, s in self.expunged.items())
        parts.extend(ix.rec_key(u, k) for k, u in self.idem.items())
        parts.append(ix.rec_value("U", *self.uidlist_stamp))  # type: ignore[misc]
        if self.dir_stamp is not None and max(self.dir_stamp[:2]) < self.dir_stamp[2] - SETTLE_NS:
            parts.append(ix.rec_value("D", *self.dir_stamp))
        data = "".join(parts).encode("utf-8", "surrogateescape")
        st = atomic_write(self.path / ix.INDEX_FILE, data, self.fsync)
        self.index_ino = st.st_ino
        self.index_off = st.st_size
        self.index_lines = len(parts)

    # -- reading messages ------------------------------------------------------------

    def flags_of(self, name: str) -> frozenset[str]:
        return self._info_flags(name.partition(":")[2] if ":" in name else None)

    def _info_flags(self, info: str | None) -> frozenset[str]:
        """The flags an info part (``None``: the name has none) stands for, cached."""
        flags = self.flag_cache.get(info)
        if flags is None:
            parsed = parse_info(info)
            flags = parsed.system | self.keywords.names(parsed.keywords)
            self.flag_cache[info] = flags
        return flags

    def info(self, m: Msg) -> MessageInfo:
        """The listing of ``m`` (lock held: it may have to be measured first)."""
        info = m.info
        if info is None:
            if m.mtime_ns < 0:
                self.measure([m.uid])
            info = m.info = _message_info(
                m.uid, self.flags_of(m.name), m.vsize, m.mtime_ns / 1e9, m.modseq
            )
        return info

    def listing(self) -> list[MessageInfo]:
        """Every message in UID order: a copy of the kept listing, after rebuilding the
        entries that changed since the last call (a big folder's listing is asked for
        again after each change, and most entries are still right)."""
        with _no_cycle_collection():  # a first listing makes objects for every message
            return self._listing_now()

    def _listing_now(self) -> list[MessageInfo]:
        self.measure()
        msgs = self.msgs
        info = self.info
        order = self._order
        if order is None:
            order = self._order = sorted(msgs)
            self._listing = None
        listing = self._listing
        if listing is None:
            listing = self._listing = self._build_listing(order)
        elif self._dirty:
            for uid in self._dirty:
                m = msgs.get(uid)
                if m is None:
                    continue
                i = bisect.bisect_left(order, uid)
                if i < len(order) and order[i] == uid:
                    listing[i] = info(m)
        self._dirty.clear()
        return listing.copy()  # type: ignore[return-value]

    def _build_listing(self, order: list[int]) -> list[MessageInfo | None]:
        """:meth:`info` of every message in ``order``, inlined (100,000 on a first FETCH)."""
        msgs = self.msgs
        cache = self.flag_cache
        flags_of = self.flags_of
        make = _message_info
        out: list[MessageInfo | None] = []
        append = out.append
        for uid in order:
            m = msgs[uid]
            got = m.info
            if got is None:
                if m.mtime_ns < 0:
                    got = self.info(m)
                else:
                    name = m.name
                    flags = cache.get(name.partition(":")[2] if ":" in name else None)
                    if flags is None:
                        flags = flags_of(name)
                    got = m.info = make(uid, flags, m.vsize, m.mtime_ns / 1e9, m.modseq)
            append(got)
        return out

    def flag_listing(self) -> FlagListing:
        """UIDs, flags and MODSEQs without measuring anything (SELECT's listing)."""
        cold = self._cold
        if cold is not None:
            # a first look's messages, still one list: UIDs follow from their order
            names = cold.names
            order = self._order
            if order is None:
                order = self._order = list(range(cold.first, cold.first + len(names)))
                self._listing = None
            modseqs = [cold.modseq] * len(names)
        else:
            msgs = self._msgs
            order = self._order
            if order is None:
                order = self._order = sorted(msgs)
                self._listing = None
            ordered = list(map(msgs.__getitem__, order))
            names = list(map(_name, ordered))
            modseqs = list(map(_modseq, ordered))
        # per-message work in C-level passes: a SELECT of a big folder lists every message
        infos = listed_infos(names)
        counts = Counter(infos)
        cache = self.flag_cache
        for info in counts.keys() - cache.keys():
            # "" (no info part) means no flags, as None does for flags_of
            self._info_flags(info)
        flags = list(map(cache.__getitem__, infos))
        unseen = self._unseen
        if unseen is None:
            unseen = self._unseen = sum(n for i, n in counts.items() if SEEN not in cache[i])
        return FlagListing(
            uidvalidity=self.uidvalidity,
            uidnext=self.uidnext,
            highestmodseq=self.highestmodseq,
            uids=list(order),
            flags=flags,
            modseqs=modseqs,
            unseen=unseen,
            recent=len(order) - bisect.bisect_right(order, self.recent_floor),
        )

    def status(self) -> FolderStatus:
        self.measure()
        if self.unsized:
            self.measure()  # files a rescan took in while the first pass looked for one
        unseen = self._unseen
        if unseen is None:
            flags_of = self.flags_of
            unseen = sum(1 for m in self.msgs.values() if SEEN not in flags_of(m.name))
            self._unseen = unseen
        return FolderStatus(
            uidvalidity=self.uidvalidity,
            uidnext=self.uidnext,
            highestmodseq=self.highestmodseq,
            messages=len(self.msgs),
            unseen=unseen,
            size=self.total_size,
            recent=sum(1 for uid in self.msgs if uid > self.recent_floor),
        )

    def changes_since(self, modseq: int) -> ChangeSet:
        if 0 < modseq < self.history_floor:
            return ChangeSet(self.uidvalidity, self.highestmodseq, (), reset=True)
        if modseq >= self.highestmodseq:
            return ChangeSet(self.uidvalidity, self.highestmodseq)  # the usual NOOP
        feed = self._feed
        if (
            feed is None
            or modseq < self._feed_floor
            or len(feed) > 2 * (len(self.msgs) + len(self.expunged)) + 1000
        ):
            # one pass for what changed after ``modseq``; the feed starts afresh from here
            # (every later change has a higher MODSEQ, and clients ask from the last one)
            newer = sorted(
                [(m.modseq, uid) for uid, m in self.msgs.items() if m.modseq > modseq]
                + [(ms, uid) for uid, ms in self.expunged.items() if ms > modseq]
            )
            self._feed = []
            self._feed_floor = self.highestmodseq
        else:
            newer = feed[bisect.bisect_right(feed, (modseq, sys.maxsize)) :]
        # ``newer`` is in (MODSEQ, UID) order, and so is what is taken from it
        changes = []
        seen: set[int] = set()
        msgs, expunged, flags_of = self.msgs, self.expunged, self.flags_of
        append, flags, expunge = ChangeKind.APPEND, ChangeKind.FLAGS, ChangeKind.EXPUNGE
        for ms, uid in newer:
            if uid in seen:
                continue
            m = msgs.get(uid)
            if m is not None:
                if m.modseq != ms:
                    continue  # an older state of a message changed again since
                info = m.info
                now = info.flags if info is not None else flags_of(m.name)
                changes.append(_change(append if m.cmodseq > modseq else flags, uid, ms, now))
            elif expunged.get(uid) == ms:
                changes.append(_change(expunge, uid, ms, frozenset()))
            else:
                continue
            seen.add(uid)
        return ChangeSet(self.uidvalidity, self.highestmodseq, tuple(changes))

    def _note(self, modseq: int, uid: int) -> None:
        """Keep the change feed in MODSEQ order (rebuilt from scratch when it cannot be)."""
        feed = self._feed
        if feed is not None:
            if feed and modseq < feed[-1][0]:
                self._feed = None
            else:
                feed.append((modseq, uid))

    def find(self, uid: int) -> Msg | None:
        """The message, after a rescan if its file moved (renamed by another process)."""
        m = self.msgs.get(uid)
        if m is None:
            return None
        if os.path.exists(self.path / m.name):
            return m
        self._maybe_scan(force=True)
        self.flush()
        return self.msgs.get(uid)

    # -- changing messages (lock held) -----------------------------------------------

    def add_file(
        self, tmp: Path, flags: frozenset[str], vsize: int, base: str, key: str | None
    ) -> Msg:
        """Rename a complete file from ``tmp/`` into place and give it the next UID."""
        system = flags & SYSTEM_FLAGS
        kw = self.keyword_indexes(sorted(flags - SYSTEM_FLAGS))
        name = "cur/" + cur_name(base, format_info(system, kw)) if system or kw else "new/" + base
        done = self.own_cur() if name[0] == "c" else None
        os.rename(tmp, self.path / name)
        if done is not None:
            done()
        if self.fsync:
            fsync_dir(self.path / name[:3])
        mtime_ns = os.stat(self.path / name).st_mtime_ns
        uid = self.uidnext
        modseq = self.highestmodseq + 1
        self.ubuf.append(ul.format_record(ul.make_record(uid, base, vsize, vsize)))
        self.record(ix.rec_append(uid, modseq, modseq, vsize, mtime_ns, name))
        if key is not None:
            self.record(ix.rec_key(uid, key))
        return self.msgs[uid]

    def set_flags(self, uids: Iterable[int], flags: frozenset[str], mode: FlagMode) -> list[int]:
        """Rename each file to its new flag letters and queue one ``F`` record per message:
        the caller's :meth:`flush` writes them all with one fsync, and ``cur/`` is fsynced
        once.  The new letters are worked out once per distinct old info part, and so is
        the change to the count of unseen messages (kept rather than counted again)."""
        if mode is not FlagMode.REMOVE:
            # give new keywords their letters first: running out fails before any rename
            self.keyword_indexes(sorted(flags - SYSTEM_FLAGS))
        modseq = self.highestmodseq + 1
        # reserved: changes another program made, found by a rescan in the loop below (a
        # file renamed under us), get MODSEQs above it, never this call's own
        self.highestmodseq = modseq
        changed: list[int] = []
        targets: dict[str, tuple[str, int, frozenset[str]] | None] = {}
        msgs = self.msgs
        names = self.names
        wbuf = self.wbuf
        d = self.dir

        def new_info(name: str) -> tuple[str, int, frozenset[str]] | None:
            """The info part ``name`` gets, what that does to the unseen count, and the
            flags it stands for (None: its flags do not change)."""
            info = name.partition(":")[2] if ":" in name else "\0"
            if info in targets:
                return targets[info]
            old = self.flags_of(name)
            if mode is FlagMode.ADD:
                new = old | flags
            elif mode is FlagMode.REMOVE:
                new = old - flags
            else:
                new = flags
            target = None
            if new != old:
                kw = self.keyword_indexes(sorted(new - SYSTEM_FLAGS))
                other = parse_info(info if info != "\0" else None).other
                letters = format_info(new & SYSTEM_FLAGS, kw, other)
                target = letters, (SEEN in old) - (SEEN in new), self._info_flags(letters)
            targets[info] = target
            return target

        unseen_delta = 0
        done = self.own_cur()
        note, dirty, rename = self._note, self._dirty.add, os.rename
        for uid in sorted(set(uids)):
            m = msgs.get(uid)
            if m is None:
                continue
            name = m.name
            part = name.partition(":")[2] if ":" in name else "\0"
            got = targets[part] if part in targets else new_info(name)
            if got is None:
                continue
            info, delta, now = got
            for _attempt in range(2):
                target = "cur/" + m.name[4:].partition(":")[0] + ":" + info
                try:
                    rename(d + m.name, d + target)
                    break
                except FileNotFoundError:
                    found = self.find(uid)
                    if found is None:
                        break
                    m = found
                    got = new_info(m.name)  # renamed by another program: flags may differ
                    if got is None:
                        break
                    info, delta, now = got
            else:
                continue
            if uid not in msgs or msgs[uid] is not m:
                continue
            # what record(rec_flags(...)) does, without parsing the line back
            del names[m.name]
            m.name = target
            names[target] = uid
            if m.modseq != modseq:
                m.modseq = modseq
                note(modseq, uid)
            # (the listing the caller reports, built here from flags known per info part)
            m.info = (
                None
                if m.mtime_ns < 0
                else _message_info(uid, now, m.vsize, m.mtime_ns / 1e9, modseq)
            )
            dirty(uid)
            wbuf.append(f"F {uid} {modseq} {target}\n")  # ix.rec_flags
            changed.append(uid)
            unseen_delta += delta
        done()
        if changed:
            self._changed = True
            if self._unseen is not None:
                # (anything else that changed flags meanwhile set it to None)
                self._unseen += unseen_delta
            if self.fsync_renames:
                fsync_dir(self.path / "cur")
            else:
                self.dir_stamp = None  # see _distrust_stamp
        elif self.highestmodseq == modseq:
            self.highestmodseq = modseq - 1  # nothing changed: the reserved MODSEQ is unused
        return changed

    def expunge(self, uids: Iterable[int]) -> list[int]:
        modseq = self.highestmodseq + 1
        gone: list[int] = []
        done = self.own_cur()
        for uid in sorted(set(uids)):
            m = self.msgs.get(uid)
            if m is None:
                continue
            try:
                os.unlink(self.path / m.name)
            except FileNotFoundError:
                found = self.find(uid)
                if found is None:
                    continue
                try:
                    os.unlink(self.path / found.name)
                except FileNotFoundError:
                    continue
            self.record(ix.rec_expunge(uid, modseq))
            gone.append(uid)
        done()
        if gone and self.fsync:
            fsync_dir(self.path / "new")
            fsync_dir(self.path / "cur")
        return gone

    def take_file(self, src: FolderState, m: Msg, move: bool, modseq: int) -> int | None:
        """Copy (hard link) or move (rename) ``m`` of ``src`` into this folder (both
        locks held); returns the new UID, or None if the source file is gone."""
        flags = src.flags_of(m.name)
        kw = self.keyword_indexes(sorted(flags - SYSTEM_FLAGS))
        src_base = base_of(m.name[4:])
        size = sizes_of(src_base)[0]
        base = new_base(size, m.vsize)
        name = "cur/" + cur_name(base, format_info(flags & SYSTEM_FLAGS, kw))
        target = self.path / name
        for _attempt in range(2):
            source = src.path / m.name
            try:
                if move:
                    os.rename(source, target)
                else:
                    os.link(source, target)
                break
            except FileNotFoundError:
                found = src.find(m.uid)
                if found is None:
                    return None
                m = found
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                    raise
                self._copy_bytes(source, target)
                if move:
                    os.unlink(source)
                break
        else:
            return None
        uid = self.uidnext
        self.ubuf.append(ul.format_record(ul.make_record(uid, base, m.vsize, size)))
        self.record(ix.rec_append(uid, modseq, modseq, m.vsize, m.mtime_ns, name))
        return uid

    def _copy_bytes(self, source: Path, target: Path) -> None:
        """Copy across file systems: through tmp/, keeping the mtime (INTERNALDATE)."""
        tmp = self.path / "tmp" / target.name
        with open(source, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout)
            fout.flush()
            if self.fsync:
                os.fsync(fout.fileno())
        shutil.copystat(source, tmp)
        os.rename(tmp, target)

    def claim_recent(self) -> frozenset[int]:
        claimed = frozenset(filter(self.recent_floor.__lt__, self._uids()))
        if self.uidnext - 1 > self.recent_floor:
            changed = self._changed
            self.record(ix.rec_value("R", self.uidnext - 1))
            # \Recent goes to the one session that claims it: nothing the others must
            # be woken for (a delivery to a folder thousands IDLE on woke them twice)
            self._changed = changed
        return claimed


class _Held:
    """``with state.hold():`` lock, then notify listeners after unlocking."""

    __slots__ = ("_cm", "_state")

    def __init__(self, state: FolderState) -> None:
        self._state = state

    def __enter__(self) -> FolderState:
        self._cm = self._state.lock.hold()
        try:
            self._cm.__enter__()
        except FileNotFoundError:
            raise NoSuchFolder(self._state.label) from None
        return self._state

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)  # type: ignore[arg-type]
        if self._state.take_changed() and self._state.on_change is not None:
            self._state.on_change(self._state)
