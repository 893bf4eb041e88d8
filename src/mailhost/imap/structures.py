"""ENVELOPE, BODYSTRUCTURE and BODY responses (and SORT keys) of recently fetched
messages, for every session.

A message never changes under its UID while the folder keeps its UIDVALIDITY (RFC 3501
§2.3.1.1), so these parenthesised lists can be kept once built.  A phone that reconnects
and fetches its message list again, or the second and third client of one mailbox, then
gets them without a message being read or parsed (Dovecot keeps them in its
``dovecot.index.cache`` for the same reason).  Building them is most of what a FETCH of
ENVELOPE and BODYSTRUCTURE costs: about 25 µs a message, against about 2 µs from here.

SORT keys read from headers (:mod:`mailhost.imap.sort`) are kept in the same entries under
names of their own, since webmail sorts a folder again for every page it shows.  So are
whole SORT orders (:meth:`StructureCache.order`): the order of a set of messages never
changes, and that of any subset is the kept order with the others left out, so a repeated
SORT of a big folder (or of its unseen messages, once the whole folder was sorted) neither
builds keys nor sorts.  THREAD answers are kept whole (:meth:`StructureCache.answer`),
for the same messages under the same numbers: the threads of a subset are not those of the
whole folder.

The cache lives in memory, is bounded in octets (``[imap] structure_cache_mb``) and lets
the least recently used go first.  A lock guards it: FETCH uses it on the reactor thread,
and a repeated SORT or THREAD of a big folder looks its messages up in a worker thread
(:meth:`StructureCache.get_many`, a slice at a time, so the reactor never waits long).
Kept values are never changed in place, so a reader may hold one after the lock is gone.
"""

from __future__ import annotations

import hashlib
import threading
from array import array
from collections import OrderedDict
from collections.abc import Collection, Sequence
from itertools import chain

#: (folder id, UIDVALIDITY, UID)
Key = tuple[str, int, int]
#: (folder id, UIDVALIDITY, SORT criteria as (key, reversed) pairs)
OrderKey = tuple[str, int, tuple[tuple[bytes, bool], ...]]
#: (folder id, UIDVALIDITY, what the command asked, such as ``b"THREAD REFERENCES UID"``)
AnswerKey = tuple[str, int, bytes]
#: Whole answers kept at most (each for one set of messages).
_ANSWERS = 64
#: A message's kept items: ENVELOPE, BODYSTRUCTURE or BODY to its value.
Values = dict[bytes, bytes]
#: What an entry costs besides its values: the key tuple, its strings, the dict and its slot.
_ENTRY_OVERHEAD = 300


class StructureCache:
    """Bounded least-recently-used map from a message's :data:`Key` to its kept items.

    One entry per message (not per item): a client's message list asks for ENVELOPE and
    BODYSTRUCTURE together, and one lookup answers both.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[Key, Values] = OrderedDict()
        self._lock = threading.Lock()
        #: SORT orders: the UIDs in order and the set of them, least recently used first.
        self._orders: OrderedDict[OrderKey, tuple[list[int], frozenset[int]]] = OrderedDict()
        self._order_uids = 0
        #: UIDs the kept orders may hold in all (about 60 octets each).
        self.max_order_uids = max_bytes // 64
        #: Whole answers by what was asked: the digest of the messages answered for, and
        #: the answer.
        self._answers: OrderedDict[AnswerKey, tuple[bytes, bytes]] = OrderedDict()
        self._answer_bytes = 0
        self.max_answer_bytes = max_bytes // 4

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> Values | None:
        """The items kept of the message (not to be changed by the caller)."""
        with self._lock:
            values = self._entries.get(key)
            if values is not None:
                self._entries.move_to_end(key)
            return values

    def get_many(
        self, folder_id: str, uidvalidity: int, uids: Sequence[int]
    ) -> list[Values | None]:
        """:meth:`get` of each message of ``uids`` in one folder, in order.  For a worker
        thread: the lock is let go every :data:`_SLICE` lookups."""
        out: list[Values | None] = []
        entries = self._entries
        for i in range(0, len(uids), _SLICE):
            with self._lock:
                get, move = entries.get, entries.move_to_end
                for uid in uids[i : i + _SLICE]:
                    key = (folder_id, uidvalidity, uid)
                    values = get(key)
                    if values is not None:
                        move(key)
                    out.append(values)
        return out

    def add(self, key: Key, values: Values) -> None:
        """Keep ``values`` for the message, besides any items it already has kept."""
        with self._lock:
            self._add(key, values)

    def _add(self, key: Key, values: Values) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= _cost(old)
            values = old | values
        cost = _cost(values)
        if cost > self.max_bytes:
            return
        self._entries[key] = values
        self.size += cost
        while self.size > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self.size -= _cost(dropped)

    def add_many(self, folder_id: str, uidvalidity: int, items: dict[int, Values]) -> None:
        """:meth:`add` of each message's values in one folder, by UID: for a worker thread
        (SORT and THREAD keep what they read of a whole folder).  The lock is let go every
        :data:`_SLICE` messages."""
        pairs = list(items.items())
        for i in range(0, len(pairs), _SLICE):
            with self._lock:
                for uid, values in pairs[i : i + _SLICE]:
                    self._add((folder_id, uidvalidity, uid), values)

    def order(self, key: OrderKey, uids: Collection[int]) -> list[int] | None:
        """The kept order of ``uids``: that of a set holding them all, with the others left
        out (None: no such order is kept).  For a worker thread: the filtering is done
        outside the lock."""
        with self._lock:
            kept = self._orders.get(key)
            if kept is not None:
                self._orders.move_to_end(key)
        if kept is None:
            return None
        order, members = kept
        wanted = uids if isinstance(uids, (set, frozenset)) else set(uids)
        if len(wanted) > len(members) or not members.issuperset(wanted):
            return None
        if len(wanted) == len(members):
            return list(order)
        return [u for u in order if u in wanted]

    def keep_order(self, key: OrderKey, order: list[int]) -> None:
        """Keep the SORT order of the messages ``order`` lists (UIDs, distinct)."""
        if len(order) > self.max_order_uids:
            return
        members = frozenset(order)
        with self._lock:
            old = self._orders.pop(key, None)
            if old is not None:
                self._order_uids -= len(old[0])
            self._orders[key] = (list(order), members)
            self._order_uids += len(order)
            while self._order_uids > self.max_order_uids:
                _, (dropped, _members) = self._orders.popitem(last=False)
                self._order_uids -= len(dropped)

    def answer(self, key: AnswerKey, digest: bytes) -> bytes | None:
        """The answer kept for ``key`` if it was for the messages ``digest`` stands for."""
        with self._lock:
            kept = self._answers.get(key)
            if kept is None or kept[0] != digest:
                return None
            self._answers.move_to_end(key)
            return kept[1]

    def keep_answer(self, key: AnswerKey, digest: bytes, body: bytes) -> None:
        """Keep ``body`` as the answer to ``key`` for the messages ``digest`` stands for."""
        if len(body) > self.max_answer_bytes:
            return
        with self._lock:
            old = self._answers.pop(key, None)
            if old is not None:
                self._answer_bytes -= len(old[1])
            self._answers[key] = (digest, body)
            self._answer_bytes += len(body)
            while self._answer_bytes > self.max_answer_bytes or len(self._answers) > _ANSWERS:
                _, (_digest, dropped) = self._answers.popitem(last=False)
                self._answer_bytes -= len(dropped)


def digest_of(found: Sequence[tuple[int, int]]) -> bytes:
    """A digest of ``(seq, uid)`` pairs: two lists of pairs with one digest are the same."""
    flat = array("q", chain.from_iterable(found))
    return hashlib.blake2b(flat.tobytes(), digest_size=16).digest()


#: Lookups :meth:`StructureCache.get_many` makes under the lock at a time (about a
#: millisecond: the longest the reactor may wait for it).
_SLICE = 2000


def _cost(values: Values) -> int:
    return _ENTRY_OVERHEAD + sum(map(len, values.values()))
