"""Greeting admission: a busy host finishes the conversations it has before starting more.

One process serves every session, and each turn of the reactor answers every session
that has a command waiting.  With hundreds of clients talking at once every command
waits for all the others, so every session is slow.  The gate keeps at most ``limit``
sessions *in conversation* (one that sent something within the last ``QUIET_AFTER``
seconds and is not in IDLE); a connection that arrives while that many talk is accepted
but not greeted until one of them goes quiet or ends, first come first served.  No
connection waits longer than ``max_wait`` for its greeting, so a host that stays busy
degrades to serving everyone rather than starving newcomers.  Dovecot gets the same
effect from its login process limits; clients see a slower greeting instead of every
command being slow.

Quiet sessions (IDLE, a client polling every few minutes) cost nothing here: only
sessions that sent something recently count.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

#: A session that has sent nothing for this long no longer counts as in conversation.
QUIET_AFTER = 0.25
#: How often a waiting queue is looked at (besides at every session end or IDLE).
_TICK = 0.02


class Admission:
    """Counts sessions in conversation and holds greetings while there are too many.

    ``clock`` is an ``IReactorTime``; ``limit`` 0 turns the gate off (every connection
    is greeted at once and nothing is counted).
    """

    def __init__(self, clock: Any, limit: int, max_wait: float) -> None:
        self.clock = clock
        self.limit = limit
        self.max_wait = max_wait
        #: key -> when it last sent something, oldest first (``heard`` moves it last).
        self._active: dict[Hashable, float] = {}
        #: (arrived, key, start) of connections waiting for their greeting, oldest first.
        self._queue: deque[tuple[float, Hashable, Callable[[], None]]] = deque()
        self._queued: set[Hashable] = set()
        self._timer: Any = None

    @property
    def waiting(self) -> int:
        """Connections accepted but not yet greeted."""
        return len(self._queued)

    def arrive(self, key: Hashable, start: Callable[[], None]) -> bool:
        """A new connection: ``start()`` it now (True) or when its turn comes (False)."""
        if not self.limit:
            start()
            return True
        now = self.clock.seconds()
        if not self._queue:
            self._expire(now)
            if len(self._active) < self.limit:
                self._active[key] = now
                start()
                return True
        self._queue.append((now, key, start))
        self._queued.add(key)
        if self._timer is None:
            self._timer = self.clock.callLater(_TICK, self._tick)
        return False

    def heard(self, key: Hashable) -> None:
        """``key`` sent something: it is in conversation."""
        if not self.limit:
            return
        active = self._active
        active.pop(key, None)
        active[key] = self.clock.seconds()

    def quiet(self, key: Hashable) -> None:
        """``key`` waits for nothing of ours now (IDLE): it no longer counts."""
        if self._active.pop(key, None) is not None and self._queue:
            self._admit(self.clock.seconds())

    def leave(self, key: Hashable) -> None:
        """``key``'s connection ended (greeted or still waiting)."""
        if key in self._queued:
            self._queued.discard(key)  # its queue entry is skipped when reached
            return
        self.quiet(key)

    def stop(self) -> None:
        """Cancel the timer (the host is stopping)."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    # -- internals ------------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        active = self._active
        limit = now - QUIET_AFTER
        while active:
            key = next(iter(active))
            if active[key] > limit:
                break
            del active[key]

    def _admit(self, now: float) -> None:
        """Greet the oldest waiting connections while there is room, and any that
        waited ``max_wait``."""
        self._expire(now)
        queue, queued, active = self._queue, self._queued, self._active
        while queue:
            arrived, key, start = queue[0]
            if key not in queued:
                queue.popleft()  # it went away while waiting
                continue
            if len(active) >= self.limit and now - arrived < self.max_wait:
                break
            queue.popleft()
            queued.discard(key)
            active[key] = now
            start()

    def _tick(self) -> None:
        self._timer = None
        self._admit(self.clock.seconds())
        if self._queue:
            self._timer = self.clock.callLater(_TICK, self._tick)


class HeldGreeting:
    """What a protocol adapter needs to be let in by :class:`Admission`: it greets now
    or when its turn comes, and what the client sends before that is kept until then
    (reading paused meanwhile)."""

    transport: Any
    #: Data that came before the greeting while it was held (None once greeted).
    _early: list[bytes] | None = None

    def wait_for_greeting(self, admission: Admission) -> None:
        """Greet now, or once ``admission`` lets this connection in."""
        if not admission.arrive(self, self._admitted):
            self._early = []
            self.transport.pauseProducing()

    def held(self, data: bytes) -> bool:
        """True if ``data`` came before the greeting: it is kept for after it."""
        if self._early is None:
            return False
        self._early.append(data)
        return True

    def greet(self) -> None:
        """Send the greeting and start the session."""
        raise NotImplementedError

    def dataReceived(self, data: bytes) -> None:
        raise NotImplementedError

    def _admitted(self) -> None:
        early, self._early = self._early, None
        if early is not None:
            self.transport.resumeProducing()
        self.greet()
        for data in early or ():
            self.dataReceived(data)
