"""What SEARCH and SORT give back: the ESEARCH response (RFC 4731, RFC 5267 ESORT) and the
saved result that ``$`` names (RFC 5182 SEARCHRES).

Kept apart from the commands so that SEARCH, SORT and THREAD answer and save alike.
"""

from __future__ import annotations

from collections.abc import Callable

from mailhost.imap import commands as grammar
from mailhost.imap import wire
from mailhost.store.api import uid_ranges


def esearch(
    tag: bytes,
    returns: tuple[bytes, ...],
    numbers: list[int],
    uid: bool,
    modseq_of: Callable[[int], int] | None,
) -> bytes | None:
    """The ESEARCH response for ``numbers``: what ``returns`` asks for, MIN, MAX and ALL
    left out when nothing was found, COUNT always; None for ``RETURN (SAVE)`` alone,
    which answers nothing (RFC 5182 §2.1).

    ``numbers`` are ascending for SEARCH.  For SORT they are in the sort order, and RFC
    5267 §3.2 makes MIN and MAX the first and last of that order and ALL a set in that
    order, with only ascending runs joined (``5:7,3,1``), as Dovecot writes it.
    """
    if returns == (b"SAVE",):
        return None
    items = [b"* ESEARCH (TAG " + wire.quoted(tag) + b")"]
    if uid:
        items.append(b"UID")
    if numbers:
        if b"MIN" in returns:
            items.append(b"MIN %d" % numbers[0])
        if b"MAX" in returns:
            items.append(b"MAX %d" % numbers[-1])
        if b"ALL" in returns:
            items.append(b"ALL " + uid_ranges(numbers).encode())
    if b"COUNT" in returns:
        items.append(b"COUNT %d" % len(numbers))
    if modseq_of is not None and numbers:
        # of the messages returned: all found, or only the first and last (RFC 7162 §3.1.5)
        if b"ALL" in returns or b"COUNT" in returns:
            returned = numbers
        else:
            returned = [
                n for n, asked in ((numbers[0], b"MIN"), (numbers[-1], b"MAX")) if asked in returns
            ]
        if returned:
            items.append(b"MODSEQ %d" % max(map(modseq_of, returned)))
    return b" ".join(items)


def to_save(returns: tuple[bytes, ...], uids: list[int]) -> list[int]:
    """The UIDs ``RETURN (SAVE ...)`` keeps of a result (``uids`` in the answer's order),
    ascending: all of them, but only the first and last asked for when SAVE comes with
    MIN or MAX and neither ALL nor COUNT (RFC 5182 §2.1)."""
    if not uids:
        return []
    if (b"MIN" in returns or b"MAX" in returns) and not (b"ALL" in returns or b"COUNT" in returns):
        kept = set()
        if b"MIN" in returns:
            kept.add(uids[0])
        if b"MAX" in returns:
            kept.add(uids[-1])
        return sorted(kept)
    return sorted(uids)


def with_saved(key: grammar.SearchKey, saved: list[int]) -> grammar.SearchKey:
    """``key`` with each ``$`` made the UID set of ``saved`` (ascending UIDs): RFC 5182
    §2.1 lets ``$`` stand for the saved result in SEARCH as in ``UID SEARCH``."""
    op = key[0]
    if op in ("SEQ", "UID"):
        seqset: grammar.SeqSet = key[1]  # type: ignore[assignment]
        return ("UID", uid_set(saved)) if seqset.saved else key
    if op == "AND":
        subs: tuple[grammar.SearchKey, ...] = key[1]  # type: ignore[assignment]
        return ("AND", tuple(with_saved(k, saved) for k in subs))
    if op == "NOT":
        return ("NOT", with_saved(key[1], saved))  # type: ignore[arg-type]
    if op == "OR":
        return ("OR", with_saved(key[1], saved), with_saved(key[2], saved))  # type: ignore[arg-type]
    return key


def uid_set(uids: list[int]) -> grammar.SeqSet:
    """Ascending ``uids`` as a set of ranges (no range at all for none)."""
    ranges: list[tuple[int | None, int | None]] = []
    for u in uids:
        if ranges and ranges[-1][1] == u - 1:
            ranges[-1] = (ranges[-1][0], u)
        else:
            ranges.append((u, u))
    return grammar.SeqSet(tuple(ranges))
