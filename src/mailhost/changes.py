"""Wake-ups for sessions when a folder changes: the push half of the change feed.

The store calls :meth:`ChangeHub.notify` (from any thread) after a change; the hub hops
to the reactor thread and calls every session subscribed to that ``(user, folder_id)``.
A wake-up says only "look": the session then pulls ``Folder.changes_since`` (the reliable
half), so a lost or duplicated wake-up changes nothing but latency.
"""

from __future__ import annotations

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
                    for observer in self._observers:
                        observer.last_unsubscribed(username, folder_id)

        return unsubscribe

    def subscriber_count(self) -> int:
        return sum(len(v) for v in self._subscribers.values())

    def notify(self, username: str, folder_id: str) -> None:
        """Thread-safe: schedule the wake-ups of ``(username, folder_id)``."""
        if not self.push_enabled:
            return
        if self._reactor is None:
            self._deliver(username, folder_id)
        else:
            self._reactor.callFromThread(self._deliver, username, folder_id)

    def _deliver(self, username: str, folder_id: str) -> None:
        for wake in list(self._subscribers.get((username, folder_id), ())):
            wake()
