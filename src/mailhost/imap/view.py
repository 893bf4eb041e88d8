"""One session's view of its selected mailbox (RFC 3501 §2.3.1.2, §5.2, §7.4.1).

Each session keeps its own sequence-number ↔ UID map and the flags it has told its
client about.  Changes pulled from the store (``Folder.changes_since``) are queued here
and turned into untagged responses only where the RFC allows: ``EXPUNGE`` never during
FETCH, STORE or SEARCH (a message expunged meanwhile keeps its sequence number until
then), ``EXISTS``/``RECENT`` and ``FETCH (FLAGS)`` at the end of any command.

The session's own changes are recorded as they are made (its known flags are updated,
its expunged messages leave the map at once), so when the same change comes back
through the feed it matches what the client already knows and is not sent twice.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable

from mailhost.imap.wire import plist
from mailhost.store.api import RECENT, SYSTEM_FLAGS, ChangeKind, ChangeSet, MessageInfo, uid_ranges


class ViewReset(Exception):
    """The mailbox was recreated or its UIDVALIDITY changed: the session must end."""


#: Formatted flag lists by flag set: a mailbox uses few distinct sets, and a listing of
#: every message (``UID FETCH 1:* (FLAGS)``) would otherwise sort and join each one.
_FORMATTED: dict[frozenset[str], bytes] = {}
_FORMATTED_MAX = 4096


def format_flags(flags: Iterable[str]) -> bytes:
    """System flags first, then keywords, each group sorted (stable for transcripts)."""
    if isinstance(flags, frozenset):
        cached = _FORMATTED.get(flags)
        if cached is not None:
            return cached
    ordered = sorted(flags, key=lambda f: (not f.startswith("\\"), f))
    out = plist([f.encode("ascii", errors="replace") for f in ordered])
    if isinstance(flags, frozenset):
        if len(_FORMATTED) >= _FORMATTED_MAX:
            _FORMATTED.clear()
        _FORMATTED[flags] = out
    return out


class View:
    def __init__(
        self,
        folder_id: str,
        uidvalidity: int,
        uids: list[int],
        flags: list[frozenset[str]],
        modseqs: Iterable[int],
        modseq: int,
        recent: frozenset[int],
        read_only: bool,
    ) -> None:
        self.folder_id = folder_id
        self.uidvalidity = uidvalidity
        self.read_only = read_only
        #: The highest MODSEQ of the mailbox the session has taken in.
        self.modseq = modseq
        #: CONDSTORE is enabled (RFC 7162 §3.1): flag updates carry MODSEQ.
        self.condstore = False
        #: QRESYNC is enabled (RFC 7162 §3.2): expunges are reported as VANISHED.
        self.qresync = False
        #: UIDs in sequence order (ascending), as the client knows them.
        self.uids: list[int] = list(uids)
        #: ``modseqs[i]`` is the MODSEQ of ``uids[i]`` (8 octets a message).
        self.modseqs = array("q", modseqs)
        #: MODSEQs of the messages in :attr:`new`.
        self.new_modseqs: dict[int, int] = {}
        #: Flags the client has been told (or would see in a FETCH now).
        self.flags: dict[int, frozenset[str]] = dict(zip(uids, flags, strict=True))
        #: Listings (size, internal date) of messages, once some FETCH or SEARCH needed
        #: them: they never change, so later ones need not list the folder again.
        self.infos: dict[int, MessageInfo] = {}
        self.recent: set[int] = set(recent) & set(self.flags)
        #: Expunged in the store, not yet announced with EXPUNGE.
        self.gone: set[int] = set()
        #: Appended in the store, not yet announced with EXISTS: uid -> flags.
        self.new: dict[int, frozenset[str]] = {}
        #: Flag changes not yet announced: uid -> flags.
        self.changed: dict[int, frozenset[str]] = {}
        #: Keywords the last FLAGS response listed.
        self.keywords: set[str] = set().union(*set(flags)) - SYSTEM_FLAGS
        #: UIDs of the search result saved with ``RETURN (SAVE)``, ascending, for ``$``
        #: (RFC 5182).  It belongs to this selection: a new SELECT starts empty.
        self.saved: list[int] = []

    def flags_lines(self) -> list[bytes]:
        """``* FLAGS`` and ``* OK [PERMANENTFLAGS]`` for the keywords known now."""
        flags = format_flags(SYSTEM_FLAGS | self.keywords)
        permanent = b"()" if self.read_only else flags[:-1] + b" \\*)"
        return [b"* FLAGS " + flags, b"* OK [PERMANENTFLAGS " + permanent + b"] Flags permitted"]

    def keyword_lines(self, flagsets: Iterable[frozenset[str]]) -> list[bytes]:
        """New FLAGS responses if these flags bring keywords the client was not told of.

        RFC 3501 §7.2.6: the FLAGS response lists the flags the mailbox uses; clients
        (Thunderbird's tag list) learn new keywords from it.
        """
        seen: set[str] = set()
        for flags in flagsets:
            seen |= flags
        new = seen - SYSTEM_FLAGS - {RECENT} - self.keywords
        if not new:
            return []
        self.keywords |= new
        return self.flags_lines()

    # -- lookups -----------------------------------------------------------------------

    @property
    def exists(self) -> int:
        return len(self.uids)

    def uid_of(self, seq: int) -> int:
        return self.uids[seq - 1]

    def seq_of(self, uid: int) -> int | None:
        i = bisect.bisect_left(self.uids, uid)
        return i + 1 if i < len(self.uids) and self.uids[i] == uid else None

    def seqs_of(self, uids: Iterable[int]) -> list[int | None]:
        """:meth:`seq_of` of each UID.  UIDs that follow each other in the map (a STORE
        or FETCH on a range) are found by looking at the next slot, not by a search."""
        view = self.uids
        n = len(view)
        out: list[int | None] = []
        pos = 0
        for u in uids:
            if pos >= n or view[pos] != u:
                pos = bisect.bisect_left(view, u)
                if pos >= n or view[pos] != u:
                    out.append(None)
                    continue
            pos += 1
            out.append(pos)
        return out

    def modseq_of(self, uid: int) -> int:
        """The message's MODSEQ as the session last learnt it."""
        seq = self.seq_of(uid)
        if seq is None:
            return self.new_modseqs.get(uid, self.modseq)
        return self.modseqs[seq - 1]

    def changed_since(self, uids: list[int], modseq: int) -> list[int]:
        """Those of ``uids`` (ascending, as the session knows them) whose MODSEQ is above
        ``modseq`` (FETCH CHANGEDSINCE): one pass, not a lookup each."""
        view_uids, modseqs = self.uids, self.modseqs
        if uids == view_uids:  # 1:*, the usual resync
            return [u for u, m in zip(view_uids, modseqs, strict=True) if m > modseq]
        out = []
        pos = 0
        for u in uids:
            pos = bisect.bisect_left(view_uids, u, pos)
            if pos < len(view_uids) and view_uids[pos] == u and modseqs[pos] > modseq:
                out.append(u)
        return out

    def peek_flags(self, uid: int) -> frozenset[str]:
        """The newest flags known, without marking a pending change as told."""
        return self.changed.get(uid, self.flags[uid])

    def current_flags(self, uid: int) -> frozenset[str]:
        """The newest flags known; taking them marks the change as told."""
        if uid in self.changed:
            self.flags[uid] = self.changed.pop(uid)
        return self.flags[uid]

    def flags_for_client(self, uid: int) -> frozenset[str]:
        flags = self.current_flags(uid)
        return flags | {RECENT} if uid in self.recent else flags

    def formatted_flags(self, uids: list[int]) -> list[bytes]:
        """``format_flags(flags_for_client(u))`` for each UID, in bulk (listings)."""
        if self.changed or self.recent:
            return [format_flags(self.flags_for_client(u)) for u in uids]
        flags = self.flags
        cache = _FORMATTED
        out = []
        for u in uids:
            f = flags[u]
            b = cache.get(f)
            out.append(b if b is not None else format_flags(f))
        return out

    @property
    def uidnext_hint(self) -> int:
        last = max(self.new) if self.new else (self.uids[-1] if self.uids else 0)
        return last + 1

    # -- our own changes ---------------------------------------------------------------

    def record_flags(self, uid: int, flags: frozenset[str], modseq: int = 0) -> None:
        if uid in self.flags:
            self.flags[uid] = flags
            self.changed.pop(uid, None)
            self._record_modseq(uid, modseq)

    def record_stored(self, infos: list[MessageInfo]) -> list[int | None]:
        """:meth:`record_flags` of each message a STORE changed; returns their sequence
        numbers (None: not in this session's map)."""
        flags, changed, modseqs = self.flags, self.changed, self.modseqs
        seqs = self.seqs_of(info.uid for info in infos)
        for info, seq in zip(infos, seqs, strict=True):
            uid = info.uid
            if uid in flags:
                flags[uid] = info.flags
                if changed:
                    changed.pop(uid, None)
                if seq is not None and info.modseq > modseqs[seq - 1]:
                    modseqs[seq - 1] = info.modseq
        return seqs

    def _record_modseq(self, uid: int, modseq: int) -> None:
        seq = self.seq_of(uid)
        if seq is not None and modseq > self.modseqs[seq - 1]:
            self.modseqs[seq - 1] = modseq

    def remove(self, uid: int) -> int | None:
        """Drop a message this session expunged; returns the sequence number it had."""
        seq = self.seq_of(uid)
        if seq is None:
            return None
        del self.uids[seq - 1]
        del self.modseqs[seq - 1]
        self.flags.pop(uid, None)
        self.infos.pop(uid, None)
        self.changed.pop(uid, None)
        self.recent.discard(uid)
        self.gone.discard(uid)
        return seq

    # -- changes from the store --------------------------------------------------------

    def apply(self, changes: ChangeSet) -> bool:
        """Queue the changes; True if some appends are new (the caller may claim recent)."""
        if changes.reset or changes.uidvalidity != self.uidvalidity:
            raise ViewReset(self.folder_id)
        appended = False
        last = self.uids[-1] if self.uids else 0
        for ch in changes.changes:
            uid = ch.uid
            if ch.kind is ChangeKind.EXPUNGE:
                if uid in self.flags:
                    self.gone.add(uid)
                    self.changed.pop(uid, None)
                self.new.pop(uid, None)
                self.new_modseqs.pop(uid, None)
            elif uid in self.flags:
                self._record_modseq(uid, ch.modseq)
                if uid not in self.gone and ch.flags != self.flags[uid]:
                    self.changed[uid] = ch.flags
                else:
                    self.changed.pop(uid, None)
            elif uid > last:
                self.new[uid] = ch.flags
                self.new_modseqs[uid] = ch.modseq
                appended = True
        self.modseq = max(self.modseq, changes.highestmodseq)
        return appended

    def flush(self, allow_expunge: bool, recent: frozenset[int] = frozenset()) -> list[bytes]:
        """The untagged responses now due (without CRLF), in the order RFC 3501 implies."""
        out: list[bytes] = self.keyword_lines([*self.new.values(), *self.changed.values()])
        if allow_expunge and self.gone:
            removed = []
            for uid in sorted(self.gone):
                seq = self.remove(uid)
                if seq is not None:
                    removed.append(uid)
                    if not self.qresync:
                        out.append(b"* %d EXPUNGE" % seq)
            if removed and self.qresync:
                out.append(b"* VANISHED " + uid_ranges(removed).encode())
            self.gone.clear()
        if self.new:
            for uid in sorted(self.new):
                self.uids.append(uid)
                self.modseqs.append(self.new_modseqs.pop(uid, self.modseq))
                self.flags[uid] = self.new[uid]
            self.recent |= set(recent) & set(self.new)
            self.new.clear()
            out.append(b"* %d EXISTS" % len(self.uids))
            out.append(b"* %d RECENT" % len(self.recent))
        for uid in sorted(self.changed):
            if uid in self.gone:
                continue
            seq = self.seq_of(uid)
            if seq is None:
                continue
            self.flags[uid] = self.changed[uid]
            line = b"* %d FETCH (UID %d FLAGS %s" % (
                seq,
                uid,
                format_flags(self.flags_for_client(uid)),
            )
            if self.condstore:
                line += b" MODSEQ (%d)" % self.modseqs[seq - 1]
            out.append(line + b")")
        self.changed = {u: f for u, f in self.changed.items() if u in self.gone}
        return out
