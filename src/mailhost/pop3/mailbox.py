"""The maildrop as one POP3 session sees it: a snapshot taken at login (RFC 1939 §4).

Message numbers are positions in the snapshot and never change during the session;
DELE only marks (RFC 1939 §6: deletions are applied in the UPDATE state, at QUIT);
deleted messages disappear from STAT, LIST and UIDL and answer ``-ERR`` when addressed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mailhost.store.api import MessageInfo


@dataclass(frozen=True, slots=True)
class Entry:
    number: int
    uid: int
    #: Octets RETR sends before dot-stuffing (the store's CRLF size).
    size: int
    unique_id: str


class Maildrop:
    """Numbering, marks and totals of one session's snapshot."""

    def __init__(
        self,
        messages: Sequence[MessageInfo],
        uidvalidity: int,
        uidl: Callable[[int, int], str],
    ) -> None:
        self.entries = [
            Entry(i, m.uid, m.size, uidl(uidvalidity, m.uid)) for i, m in enumerate(messages, 1)
        ]
        self.deleted: set[int] = set()
        self.retrieved: set[int] = set()

    def __len__(self) -> int:
        return len(self.entries)

    def live(self) -> list[Entry]:
        return [e for e in self.entries if e.number not in self.deleted]

    def stat(self) -> tuple[int, int]:
        live = self.live()
        return len(live), sum(e.size for e in live)

    def entry(self, number: int) -> Entry | None:
        """The message numbered ``number`` if it exists at all (deleted or not)."""
        if 1 <= number <= len(self.entries):
            return self.entries[number - 1]
        return None

    def delete(self, number: int) -> None:
        self.deleted.add(number)

    def reset(self) -> None:
        """RSET: unmark every deletion (RFC 1939 §5)."""
        self.deleted.clear()

    def update_plan(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``(uids to expunge, uids to mark \\Seen)`` for the UPDATE state."""
        expunge = tuple(self.entries[n - 1].uid for n in sorted(self.deleted))
        seen = tuple(self.entries[n - 1].uid for n in sorted(self.retrieved - self.deleted))
        return expunge, seen
