"""The one seam where blocking work leaves the reactor thread.

Disk I/O, fsync and password hashing run through a :class:`Blocking` object: in the
service it is a thread pool (:class:`ThreadedBlocking`); in protocol unit tests it is
:class:`InlineBlocking`, which runs the call at once so transcripts stay deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, Protocol, TypeVar

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

P = ParamSpec("P")
T = TypeVar("T")


class Blocking(Protocol):
    def run(self, f: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        """Run ``f`` away from the reactor thread; the Deferred fires on the reactor thread."""


class ThreadedBlocking:
    """Runs calls in a :class:`ThreadPool` owned by the service (started and stopped with it)."""

    def __init__(self, reactor: IReactorFromThreads, pool: ThreadPool) -> None:
        self._reactor = reactor
        self.pool = pool

    def run(self, f: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        return deferToThreadPool(self._reactor, self.pool, f, *args, **kwargs)


class InlineBlocking:
    """Runs calls synchronously: for tests and command-line tools."""

    def run(self, f: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        try:
            result = f(*args, **kwargs)
        except BaseException:
            return fail()
        return succeed(result)


def make_pool(name: str, size: int) -> ThreadPool:
    """A named thread pool of a fixed size."""
    return ThreadPool(minthreads=1, maxthreads=max(1, size), name=name)


__all__ = ["Blocking", "InlineBlocking", "ThreadedBlocking", "make_pool"]
