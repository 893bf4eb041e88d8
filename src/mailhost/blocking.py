"""The one seam where blocking work leaves the reactor thread.

Disk I/O, fsync and password hashing run through a :class:`Blocking` object: in the
service it is a thread pool (:class:`ThreadedBlocking`); in protocol unit tests it is
:class:`InlineBlocking`, which runs the call at once so transcripts stay deterministic.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import ParamSpec, Protocol, TypeVar

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorFromThreads
from twisted.logger import Logger
from twisted.python.failure import Failure

_log = Logger(namespace="mailhost")
P = ParamSpec("P")
T = TypeVar("T")


class Blocking(Protocol):
    def run(self, f: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        """Run ``f`` away from the reactor thread; the Deferred fires on the reactor thread."""


class ThreadedBlocking:
    """Runs calls in a :class:`WorkerPool` owned by the service (started and stopped with
    it); each result is handed back with ``reactor.callFromThread``."""

    def __init__(self, reactor: IReactorFromThreads, pool: WorkerPool) -> None:
        self._reactor = reactor
        self.pool = pool

    def run(self, f: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        d: Deferred[T] = Deferred()
        call_back = self._reactor.callFromThread

        def work() -> None:
            try:
                result = f(*args, **kwargs)
            except BaseException:
                call_back(d.errback, Failure())
            else:
                call_back(d.callback, result)

        self.pool.submit(work)
        return d


class InlineBlocking:
    """Runs calls synchronously: for tests and command-line tools."""

    def run(self, f: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        try:
            result = f(*args, **kwargs)
        except BaseException:
            return fail()
        return succeed(result)


class WorkerPool:
    """A fixed number of threads taking calls from one queue, first come first served.

    Every command that touches the disk passes through here, so the hand-off is kept
    short: a put on a C queue, where Twisted's ``ThreadPool`` goes through a coordinator
    and a lock-based queue per worker (about a tenth of the reactor's time under load).
    Calls submitted before :meth:`start` wait for it; :meth:`stop` lets the calls already
    queued finish and waits for the threads.
    """

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = max(1, size)
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    @property
    def started(self) -> bool:
        return bool(self._threads)

    def submit(self, work: Callable[[], None]) -> None:
        """Run ``work()`` in a worker thread; it must handle its own exceptions."""
        self._queue.put(work)

    def start(self) -> None:
        if self._threads:
            return
        for i in range(self.size):
            # daemon: a pool its owner never stopped cannot keep the process alive
            t = threading.Thread(target=self._work, name=f"{self.name}-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
        for t in threads:
            t.join()

    def _work(self) -> None:
        get = self._queue.get
        while (work := get()) is not None:
            try:
                work()
            except BaseException:
                # (ThreadedBlocking's calls catch their own: this is a bug elsewhere)
                _log.failure("uncaught exception in a {name} thread", name=self.name)


def make_pool(name: str, size: int) -> WorkerPool:
    """A named pool of ``size`` threads (started by its owner)."""
    return WorkerPool(name, size)


__all__ = ["Blocking", "InlineBlocking", "ThreadedBlocking", "WorkerPool", "make_pool"]
