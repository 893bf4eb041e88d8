"""Run Twisted's global reactor in a background thread, for blocking callers.

Tests and embedders whose own code is blocking (``imaplib``, ``poplib``, a mail client
under test) drive a real host this way: the reactor runs once per process in a daemon
thread, and everything that touches it goes through :meth:`ReactorThread.call`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet import reactor as _global_reactor
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort, IProtocolFactory
from twisted.internet.threads import blockingCallFromThread

T = TypeVar("T")

_lock = threading.Lock()
_instance: ReactorThread | None = None


class ReactorThread:
    def __init__(self) -> None:
        self.reactor: Any = _global_reactor
        self._thread = threading.Thread(
            target=self.reactor.run,
            kwargs={"installSignalHandlers": False},
            name="twisted-reactor",
            daemon=True,
        )
        self._thread.start()

    def call(self, f: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``f`` on the reactor thread and wait; Deferred results are waited for."""
        return blockingCallFromThread(self.reactor, f, *args, **kwargs)

    def listen(
        self, factory: IProtocolFactory, description: str = "tcp:0:interface=127.0.0.1"
    ) -> IListeningPort:
        """Listen with ``factory`` on a free loopback port; ``.getHost().port`` tells which."""
        port: IListeningPort = self.call(
            lambda: serverFromString(self.reactor, description).listen(factory)
        )
        return port

    def stop_listening(self, port: IListeningPort) -> None:
        self.call(port.stopListening)


def reactor_thread() -> ReactorThread:
    """The process's one reactor thread, started on first use."""
    global _instance
    with _lock:
        if _instance is None:
            _instance = ReactorThread()
        return _instance
