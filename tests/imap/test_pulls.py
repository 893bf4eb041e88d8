"""Sessions waiting on the same folder at the same MODSEQ share one store pull."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred

from mailhost.errors import TemporaryFailure
from mailhost.imap import pulls
from mailhost.store.api import ChangeKind
from mailhost.store.memory import MemoryStore


class HeldBlocking:
    """Queues calls until ``release()``, as a busy thread pool would."""

    def __init__(self) -> None:
        self.calls: list[tuple[Callable[..., Any], tuple[Any, ...], Deferred[Any]]] = []

    def run(self, f: Callable[..., Any], *args: Any) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.calls.append((f, args, d))
        return d

    def release(self) -> None:
        calls, self.calls = self.calls, []
        for f, args, d in calls:
            try:
                d.callback(f(*args))
            except Exception as e:
                d.errback(e)


def results(ds: list[Deferred[Any]]) -> list[Any]:
    out: list[Any] = []
    for d in ds:
        d.addBoth(out.append)
    return out


def test_one_store_call_for_many_sessions_and_one_claims_recent() -> None:
    box = MemoryStore().account("alice").folder("INBOX")
    modseq = box.status().highestmodseq
    box.append(b"Subject: new\r\n\r\nhi\r\n")
    blocking = HeldBlocking()
    ds = [ensureDeferred(pulls.pull(blocking, box, modseq, claim=True)) for _ in range(50)]
    assert len(blocking.calls) == 1
    blocking.release()
    got = results(ds)
    assert len(got) == 50
    changes = {id(c) for c, _ in got}
    assert len(changes) == 1
    assert [c.kind for c in got[0][0].changes] == [ChangeKind.APPEND]
    assert got[0][1] == {1}
    assert all(claimed == frozenset() for _, claimed in got[1:])
    assert box.claim_recent() == frozenset()  # already handed to the first session


def test_different_modseq_or_read_only_pull_separately() -> None:
    box = MemoryStore().account("alice").folder("INBOX")
    box.append(b"Subject: a\r\n\r\n")
    blocking = HeldBlocking()
    ensureDeferred(pulls.pull(blocking, box, 0, claim=True))
    ensureDeferred(pulls.pull(blocking, box, 1, claim=True))
    ensureDeferred(pulls.pull(blocking, box, 0, claim=False))
    assert len(blocking.calls) == 3
    blocking.release()


def test_a_failed_pull_fails_every_waiter_and_is_not_cached() -> None:
    box = MemoryStore().account("alice").folder("INBOX")
    blocking = HeldBlocking()
    ds = [ensureDeferred(pulls.pull(blocking, box, 0, claim=True)) for _ in range(3)]
    d = blocking.calls.pop()[2]
    d.errback(TemporaryFailure("disk busy"))
    got = results(ds)
    assert [g.check(TemporaryFailure) for g in got] == [TemporaryFailure] * 3
    ensureDeferred(pulls.pull(blocking, box, 0, claim=True))
    assert len(blocking.calls) == 1  # a new pull, not the failed one
    blocking.release()


def test_a_large_fan_out_is_handed_out_a_chunk_per_reactor_turn() -> None:
    from twisted.internet.task import Clock

    clock = Clock()
    folder = MemoryStore().account("u").folder("INBOX")
    folder.append(b"Subject: x\r\n\r\nhi\r\n")
    blocking = HeldBlocking()
    got: list[int] = []
    count = pulls.CHUNK * 2 + 10
    for i in range(count):
        pulls.request(
            blocking,  # type: ignore[arg-type]
            folder,
            0,
            True,
            lambda r, i=i: got.append(i),
            lambda f: got.append(-1),
            lambda f: clock.callLater(0, f),
        )
    assert len(blocking.calls) == 1  # one pull for all
    blocking.release()
    assert got == list(range(pulls.CHUNK + 1))  # the first caller and one chunk
    assert len(clock.getDelayedCalls()) == 1  # the rest in a later turn
    clock.advance(0)  # (a fake clock runs the turns that follow at once)
    assert got == list(range(count))
    assert not clock.getDelayedCalls()
