"""One store pull for many sessions that wait on the same folder at the same MODSEQ.

A delivery to a mailbox that hundreds of IDLE sessions watch wakes them all in one reactor
turn, each wanting ``changes_since(m)`` for the same ``m``.  Asking the store once and
sharing the (immutable) ChangeSet turns N thread hops into one; the session that asked
first also claims the new ``\\Recent`` messages (RFC 3501 §2.3.2: one session sees them),
so the others need no ``claim_recent`` call of their own.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from mailhost.blocking import Blocking
from mailhost.store.api import ChangeKind, ChangeSet, Folder

Key = tuple[str, int, bool]
Result = tuple[ChangeSet, frozenset[int]]

#: Waiters handed their result in one reactor turn (see :func:`request`).
CHUNK = 250

_waiting: dict[Key, list[tuple[Callable[[Result], None], Callable[[Failure], None]]]] = {}


def _changes_and_recent(folder: Folder, modseq: int, claim: bool) -> Result:
    changes = folder.changes_since(modseq)
    appended = any(c.kind is ChangeKind.APPEND for c in changes.changes)
    claimed = folder.claim_recent() if claim and appended else frozenset()
    return changes, claimed


def request(
    blocking: Blocking,
    folder: Folder,
    modseq: int,
    claim: bool,
    on_result: Callable[[Result], None],
    on_error: Callable[[Failure], None],
    later: Callable[[Callable[[], None]], object] | None = None,
) -> None:
    """Call ``on_result`` with ``folder.changes_since(modseq)`` and, for the first caller,
    the claimed recent UIDs (else ``on_error``); callers that ask while the same pull is
    under way share it.

    Callbacks rather than Deferreds: a delivery wakes thousands of IDLE sessions at once,
    and plain calls are the cheapest way to hand each its result.  With ``later`` (run a
    call in the reactor's next turn) the first caller's waiters are handed their results
    ``CHUNK`` at a time, one reactor turn each: the first sessions' updates are on the wire
    while the rest are worked out, and other sessions' commands are not held up by a
    fan-out to thousands.  ``claim`` is False for read-only (EXAMINE) sessions, which
    never claim ``\\Recent``.
    """
    key = (folder.folder_id, modseq, claim)
    waiters = _waiting.get(key)
    if waiters is not None:
        waiters.append((on_result, on_error))
        return
    _waiting[key] = waiters = []

    def done(result: Result) -> None:
        del _waiting[key]
        _hand(on_result, on_error, result)
        shared = (result[0], frozenset[int]())

        def hand_from(start: int) -> None:
            end = len(waiters) if later is None else start + CHUNK
            for ok, err in waiters[start:end]:
                _hand(ok, err, shared)
            if end < len(waiters):
                assert later is not None
                later(lambda: hand_from(end))

        hand_from(0)

    def failed(failure: Failure) -> None:
        del _waiting[key]
        on_error(failure)
        for _, err in waiters:
            err(failure)

    blocking.run(_changes_and_recent, folder, modseq, claim).addCallbacks(done, failed)


def _hand(
    on_result: Callable[[Result], None], on_error: Callable[[Failure], None], result: Result
) -> None:
    """One waiter's result; what it raises goes to its own error path, not the others'."""
    try:
        on_result(result)
    except Exception:
        on_error(Failure())


async def pull(blocking: Blocking, folder: Folder, modseq: int, claim: bool) -> Result:
    """:func:`request` for a coroutine."""
    d: Deferred[Result] = Deferred()
    request(blocking, folder, modseq, claim, d.callback, d.errback)
    return await d
