"""Wake-ups for sessions when a folder changes: the push half of the change feed.

The store calls :meth:`ChangeHub.notify` (from any thread) after a change; the hub hops
to the reactor thread and calls every session subscribed to that ``(user, folder_id)``.
A wake-up says only "look": the session then pulls ``Folder.changes_since`` (the reliable
half), so a lost or duplicated wake-up changes nothing but latency.

The hop to the reactor takes a moment: a command that arrives in it (a test that delivers
a message and at once asks for it) would not know of the change yet.  So ``notify`` also
stamps the folder at once, in the thread that made the change, and a session compares
:meth:`ChangeHub.generation` with the stamp it saw when its last pull began.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

from twisted.internet.interfaces import IReactorFromThreads

Key = tuple[str, str]


class SubscriptionObserver(Protocol):
    def first_subscriber(self, username: str, folder_id: str) -> None: ...

    def last_unsubscribed(self, username: str, folder_id: str) -> None: ...


class ChangeHub:
    def __init__(self, reactor: IReactorFromThreads | None = None) -> None:
        self._reactor = reactor
        self._subscribers: defaultdict[Key, list[Callable[[], None]]] = defaultdict(list)
        #: False in tests that prove sessions converge on pull alone.
        self.push_enabled = True
        self._observers: list[SubscriptionObserver] = []
        #: A fresh number for each notify of a folder (``next`` is atomic under the GIL).
        self._ticks = itertools.count(1)
        self._generations: dict[Key, int] = {}

    def observe(self, observer: SubscriptionObserver) -> None:
        """Tell ``observer`` when a folder gets its first subscriber and loses its last
        (the watcher watches exactly the folders some session has open)."""
        self._observers.append(observer)

    def subscribe(
        self, username: str, folder_id: str, wake: Callable[[], None]
    ) -> Callable[[], None]:
        """Call ``wake()`` on the reactor thread after changes; returns the unsubscribe call."""
        key = (username, folder_id)
        first = key not in self._subscribers
        self._subscribers[key].append(wake)
        if first:
            for observer in self._observers:
                observer.first_subscriber(username, folder_id)

        def unsubscribe() -> None:
            subs = self._subscribers.get(key)
            if subs and wake in subs:
                subs.remove(wake)
                if not subs:
                    del self._subscribers[key]
                    self._generations.pop(key, None)
                    for observer in self._observers:
                        observer.last_unsubscribed(username, folder_id)

        return unsubscribe

    def subscriber_count(self) -> int:
        return sum(len(v) for v in self._subscribers.values())

    def generation(self, username: str, folder_id: str) -> int:
        """Changes since the stamp a session saw when its last pull began: it differs."""
        return self._generations.get((username, folder_id), 0)

    def notify(self, username: str, folder_id: str) -> None:
        """Thread-safe: stamp ``(username, folder_id)`` and schedule its wake-ups."""
        if not self.push_enabled:
            return
        key = (username, folder_id)
        if key in self._subscribers:
            self._generations[key] = next(self._ticks)
        if self._reactor is None:
            self._deliver(username, folder_id)
        else:
            self._reactor.callFromThread(self._deliver, username, folder_id)

    def _deliver(self, username: str, folder_id: str) -> None:
        for wake in list(self._subscribers.get((username, folder_id), ())):
            wake()
