"""RETR of small messages in few trips to the worker threads.

Handing a read to a worker thread and back costs more than reading and stuffing a 20 KB
message, and a client downloading its maildrop sends ``RETR 1``, ``RETR 2``, ... one at a
time.  So while RETRs come in order, one blocking call reads and renders the requested
message and the small ones after it, up to a budget of octets, and the RETRs that follow
are answered from memory.  The server's budget is ``stream_threshold``, the octets a single
RETR may already hold in memory.  Maildir messages never change in place and the session
works on a snapshot (RFC 1939 §4), so a copy read a moment early is the message; only the
``+OK`` line is made when the RETR arrives.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred

from mailhost.pop3 import responses as r
from mailhost.pop3.mailbox import Entry, Maildrop
from mailhost.pop3.stuffing import render_message
from mailhost.store.api import Folder


def read_rendered(folder: Folder, uids: Sequence[int], outlook_no_nuls: bool) -> list[bytes]:
    """Each message's RETR body (stuffed and terminated), in order; runs off the reactor.

    An error reading the first message propagates; an error on a later one ends the list
    there, so its own RETR reads it again and reports the error then.
    """
    out: list[bytes] = []
    for uid in uids:
        try:
            data = folder.read_message(uid)
        except r.MAPPED_ERRORS:
            if not out:
                raise
            break
        out.append(render_message(data, outlook_no_nuls))
    return out


class ReadAhead:
    """Rendered bodies of the messages after the last RETR, by message number.

    ``budget`` bounds the octets held (0 turns reading ahead off); ``threshold`` is the
    size above which messages are streamed and never read ahead.  Once half the budget
    has been sent, the next messages are read in the background (:meth:`refill`), so a
    client that keeps asking in order rarely waits for a worker thread.
    """

    def __init__(self, budget: int, threshold: int) -> None:
        self.budget = budget
        self.threshold = threshold
        #: Bumped whenever what is held is dropped: older background reads are stale.
        self.generation = 0
        self._bodies: dict[int, tuple[bytes, int]] = {}  # number: (body, message size)
        self._held = 0  # message octets in _bodies (before stuffing, as the plans count)
        self._last = 0  # number of the last message RETR sent
        self._frontier = 0  # next number to read in the background; 0: not in a run
        self._reading: frozenset[int] = frozenset()
        self._waiters: list[Deferred[None]] = []

    def take(self, number: int) -> bytes | None:
        """The body of message ``number`` if it was read ahead (it is forgotten)."""
        found = self._bodies.pop(number, None)
        if found is None:
            return None
        self._held -= found[1]
        self._last = number
        return found[0]

    def reading(self, number: int) -> bool:
        """Whether message ``number`` is being read in the background."""
        return number in self._reading

    def wait(self) -> Deferred[None]:
        """Fires when the background read ends (whatever it found)."""
        d: Deferred[None] = Deferred()
        self._waiters.append(d)
        return d

    def plan(self, maildrop: Maildrop, entry: Entry) -> list[Entry]:
        """What to read for a RETR of ``entry`` that :meth:`take` did not answer.

        ``entry`` itself first; then, when the RETRs run in order (this one follows the
        last, or is the first message), the live small messages after it within budget.
        """
        self._drop()  # a miss: whatever was read ahead is not wanted next
        sequential = entry.number == self._last + 1
        self._last = entry.number
        wanted = [entry]
        if sequential and self.budget > 0:
            wanted += self._following(maildrop, entry.number + 1, self.budget)
            self._frontier = wanted[-1].number + 1
        return wanted

    def refill(self, maildrop: Maildrop) -> list[Entry]:
        """The messages to read next in the background; none while half the budget is
        still held, a read is running, or the run ended (a big or out-of-order RETR)."""
        if self._reading or not self._frontier or self._held > self.budget // 2:
            return []
        more = self._following(maildrop, self._frontier, self.budget - self._held)
        if not more:
            self._frontier = 0
            return []
        self._frontier = more[-1].number + 1
        self._reading = frozenset(e.number for e in more)
        return more

    def arrived(self, generation: int, entries: Sequence[Entry], bodies: Sequence[bytes]) -> None:
        """A background read ended with ``bodies`` (fewer than ``entries`` if one failed)."""
        if generation == self.generation:
            self._reading = frozenset()
            self.keep(entries, bodies)
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(None)

    def _following(self, maildrop: Maildrop, number: int, room: int) -> list[Entry]:
        """Live small messages from ``number`` on, in order, up to ``room`` octets."""
        out: list[Entry] = []
        while (entry := maildrop.entry(number)) is not None:
            number += 1
            if entry.number in maildrop.deleted:
                continue
            if entry.size > self.threshold or entry.size > room:
                break
            room -= entry.size
            out.append(entry)
        return out

    def passed(self, number: int) -> None:
        """A RETR answered another way (streamed): a run may go on after it."""
        self._drop()
        self._last = number

    def keep(self, entries: Sequence[Entry], bodies: Sequence[bytes]) -> None:
        """Hold the bodies read ahead (``bodies[i]`` is that of ``entries[i]``)."""
        for entry, body in zip(entries, bodies, strict=False):
            self._bodies[entry.number] = (body, entry.size)
            self._held += entry.size

    def _drop(self) -> None:
        self._bodies.clear()
        self._held = 0
        self._frontier = 0
        self._reading = frozenset()
        self.generation += 1

    def clear(self) -> None:
        """Forget everything (the connection ended)."""
        self._drop()

    @property
    def held(self) -> int:
        """Octets of the messages held (before stuffing)."""
        return self._held

    def __len__(self) -> int:
        return len(self._bodies)
