"""One store pull for many sessions that wait on the same folder at the same MODSEQ.

A delivery to a mailbox that hundreds of IDLE sessions watch wakes them all in one reactor
turn, each wanting ``changes_since(m)`` for the same ``m``.  Asking the store once and
sharing the (immutable) ChangeSet turns N thread hops into one; the session that asked
first also claims the new ``\\Recent`` messages (RFC 3501 §2.3.2: one session sees them),
so the others need no ``claim_recent`` call of their own.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from mailhost.blocking import Blocking
from mailhost.store.api import ChangeKind, ChangeSet, Folder

Key = tuple[str, int, bool]
Result = tuple[ChangeSet, frozenset[int]]

_waiting: dict[Key, list[Deferred[Result]]] = {}


def _changes_and_recent(folder: Folder, modseq: int, claim: bool) -> Result:
    changes = folder.changes_since(modseq)
    appended = any(c.kind is ChangeKind.APPEND for c in changes.changes)
    claimed = folder.claim_recent() if claim and appended else frozenset()
    return changes, claimed


async def pull(blocking: Blocking, folder: Folder, modseq: int, claim: bool) -> Result:
    """``folder.changes_since(modseq)`` and, for the first caller, the claimed recent UIDs.

    ``claim`` is False for read-only (EXAMINE) sessions, which never claim ``\\Recent``.
    """
    key = (folder.folder_id, modseq, claim)
    waiters = _waiting.get(key)
    if waiters is not None:
        d: Deferred[Result] = Deferred()
        waiters.append(d)
        return await d
    _waiting[key] = waiters = []
    try:
        result = await blocking.run(_changes_and_recent, folder, modseq, claim)
    except BaseException:
        failure = Failure()
        del _waiting[key]
        for w in waiters:
            w.errback(failure)
        raise
    del _waiting[key]
    shared = (result[0], frozenset[int]())
    for w in waiters:
        w.callback(shared)
    return result
