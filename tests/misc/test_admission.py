"""The greeting gate (mailhost.admission) on a fake clock."""

from __future__ import annotations

from twisted.internet.task import Clock

from mailhost.admission import QUIET_AFTER, Admission


def _gate(limit: int = 2, max_wait: float = 2.0) -> tuple[Clock, Admission, list[str]]:
    clock = Clock()
    return clock, Admission(clock, limit, max_wait), []


def test_no_limit_greets_everyone_at_once() -> None:
    clock, gate, started = _gate(limit=0)
    for name in "abcdef":
        assert gate.arrive(name, lambda n=name: started.append(n))
    assert started == list("abcdef")
    assert gate.waiting == 0 and not clock.getDelayedCalls()


def test_connections_beyond_the_limit_wait_until_a_session_goes_quiet() -> None:
    clock, gate, started = _gate()
    assert gate.arrive("a", lambda: started.append("a"))
    assert gate.arrive("b", lambda: started.append("b"))
    assert not gate.arrive("c", lambda: started.append("c"))
    assert started == ["a", "b"] and gate.waiting == 1
    # a and b keep talking: c waits
    for _ in range(2):
        clock.advance(QUIET_AFTER / 2)
        gate.heard("a")
        gate.heard("b")
    assert started == ["a", "b"]
    # b falls silent; a goes on
    for _ in range(3):
        clock.advance(QUIET_AFTER / 2)
        gate.heard("a")
    assert started == ["a", "b", "c"] and gate.waiting == 0


def test_idle_and_disconnect_make_room_at_once_in_arrival_order() -> None:
    _clock, gate, started = _gate()
    for name in "abcde":
        gate.arrive(name, lambda n=name: started.append(n))
    assert started == ["a", "b"]
    gate.quiet("a")  # a entered IDLE
    assert started == ["a", "b", "c"]
    gate.leave("d")  # d hung up while waiting: skipped
    gate.leave("b")
    assert started == ["a", "b", "c", "e"]
    assert gate.waiting == 0


def test_nobody_waits_longer_than_max_wait() -> None:
    clock, gate, started = _gate(limit=1, max_wait=1.0)
    gate.arrive("a", lambda: started.append("a"))
    gate.arrive("b", lambda: started.append("b"))
    while clock.seconds() < 0.9:
        clock.advance(0.05)
        gate.heard("a")
    assert started == ["a"]
    while clock.seconds() < 1.1:
        clock.advance(0.05)
        gate.heard("a")
    assert started == ["a", "b"]
    assert not clock.getDelayedCalls()  # no timer left once the queue is empty


def test_stop_cancels_the_timer() -> None:
    clock, gate, started = _gate(limit=1)
    gate.arrive("a", lambda: started.append("a"))
    gate.arrive("b", lambda: started.append("b"))
    assert clock.getDelayedCalls()
    gate.stop()
    assert not clock.getDelayedCalls()
