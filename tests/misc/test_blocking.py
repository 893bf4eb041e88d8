"""The worker pool behind ThreadedBlocking: results and failures come back on the reactor
thread, calls queued before start run, stop lets queued calls finish."""

from __future__ import annotations

import threading
import time

import pytest

from mailhost.blocking import ThreadedBlocking, WorkerPool
from mailhost.reactor_thread import reactor_thread


def test_results_and_failures_fire_on_the_reactor_thread() -> None:
    rt = reactor_thread()
    pool = WorkerPool("test-io", 2)
    pool.start()
    blocking = ThreadedBlocking(rt.reactor, pool)
    try:
        where: list[str] = []

        def job(x: int) -> tuple[int, str]:
            return x * 2, threading.current_thread().name

        def call() -> object:
            d = blocking.run(job, 21)
            d.addCallback(lambda r: (where.append(threading.current_thread().name), r)[1])
            return d

        result, worker = rt.call(call)
        assert result == 42 and worker.startswith("test-io-")
        assert where == ["twisted-reactor"]

        def broken() -> None:
            raise ValueError("disk on fire")

        with pytest.raises(ValueError, match="disk on fire"):
            rt.call(lambda: blocking.run(broken))
    finally:
        pool.stop()


def test_calls_queued_before_start_run_and_stop_waits_for_them() -> None:
    pool = WorkerPool("test-io", 3)
    done: list[int] = []
    lock = threading.Lock()

    def slow(i: int) -> None:
        time.sleep(0.01)
        with lock:
            done.append(i)

    for i in range(20):
        pool.submit(lambda i=i: slow(i))  # type: ignore[misc]
    assert done == []
    pool.start()
    assert pool.started
    pool.stop()
    assert sorted(done) == list(range(20))
    assert not pool.started
    assert all(not t.name.startswith("test-io-") for t in threading.enumerate())


def test_a_call_that_escapes_does_not_kill_its_worker() -> None:
    pool = WorkerPool("test-io", 1)
    pool.start()
    ran = threading.Event()

    def escapes() -> None:
        raise RuntimeError("not handled by the caller")

    try:
        pool.submit(escapes)
        pool.submit(ran.set)
        assert ran.wait(5), "the one worker died with the first call"
    finally:
        pool.stop()
