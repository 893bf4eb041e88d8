"""Open sessions that logged in with a revocable credential (app password, device grant).

``MailUser.still_valid`` of such a session reads the user's state as last loaded, with no
disk access on the reactor; :meth:`SessionWatch.refresh` re-reads (in the thread pool)
the state files of users with open sessions, so a revocation made with the CLI ends those
sessions at their next command.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from mailhost.auth.state import StateError, StateStore
from mailhost.blocking import Blocking

_REVOCABLE = ("app-password", "grant", "code")


def _always() -> bool:
    return True


class SessionWatch:
    log = Logger()

    def __init__(self, state: StateStore, blocking: Blocking, clock: Any, interval: float) -> None:
        self.state = state
        self.blocking = blocking
        self.clock = clock
        self.interval = interval
        self._live: Counter[str] = Counter()
        self._loop: LoopingCall | None = None

    def hooks(self, avatar_id: Any) -> tuple[Callable[[], bool], Callable[[], None]]:
        """``(still_valid, logout)`` for a session opened with ``avatar_id``."""
        result = getattr(avatar_id, "result", None)
        if result is None or result.via not in _REVOCABLE or result.credential_id is None:
            return _always, lambda: None
        user, via, cred = result.user, result.via, result.credential_id
        self._live[user] += 1
        self._start()
        done = False

        def still_valid() -> bool:
            state = self.state.cached(user)
            if state is None:
                return True
            if via == "app-password":
                ap = state.app_password(cred)
                return ap is not None and ap.usable(self.clock.seconds())
            return state.grant(cred) is not None

        def logout() -> None:
            nonlocal done
            if done:
                return
            done = True
            self._live[user] -= 1
            if self._live[user] <= 0:
                del self._live[user]
            if not self._live:
                self.stop()

        return still_valid, logout

    def _start(self) -> None:
        if self._loop is None or not self._loop.running:
            self._loop = LoopingCall(self.refresh)
            self._loop.clock = self.clock
            self._loop.start(self.interval, now=False).addErrback(
                lambda f: self.log.failure("revocation check stopped", f)
            )

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def refresh(self) -> Deferred[None]:
        """Re-read the state of every user with an open revocable session."""
        users = list(self._live)
        return self.blocking.run(self._reload, users)

    def _reload(self, users: list[str]) -> None:
        for user in users:
            try:
                self.state.load(user)
            except StateError as e:
                self.log.warn("cannot re-read auth state of {user}: {error}", user=user, error=e)
