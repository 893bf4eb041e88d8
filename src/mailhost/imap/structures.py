"""ENVELOPE, BODYSTRUCTURE and BODY responses of recently fetched messages, for every session.

A message never changes under its UID while the folder keeps its UIDVALIDITY (RFC 3501
§2.3.1.1), so these parenthesised lists can be kept once built.  A phone that reconnects
and fetches its message list again, or the second and third client of one mailbox, then
gets them without a message being read or parsed (Dovecot keeps them in its
``dovecot.index.cache`` for the same reason).  Building them is most of what a FETCH of
ENVELOPE and BODYSTRUCTURE costs: about 25 µs a message, against about 2 µs from here.

The cache lives in memory, is bounded in octets (``[imap] structure_cache_mb``) and lets
the least recently used go first.  It is used on the reactor thread only.
"""

from __future__ import annotations

from collections import OrderedDict

#: (folder id, UIDVALIDITY, UID, item name: ENVELOPE, BODYSTRUCTURE or BODY)
Key = tuple[str, int, int, bytes]
#: What an entry costs besides its value: the key tuple, its strings and the dict slot.
_ENTRY_OVERHEAD = 200


class StructureCache:
    """Bounded least-recently-used map from :data:`Key` to the item's value."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[Key, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> bytes | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: Key, value: bytes) -> None:
        cost = len(value) + _ENTRY_OVERHEAD
        if cost > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= len(old) + _ENTRY_OVERHEAD
        self._entries[key] = value
        self.size += cost
        while self.size > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self.size -= len(dropped) + _ENTRY_OVERHEAD
