"""A session's sequence map: bulk lookups agree with one-at-a-time ones."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mailhost.imap.view import View
from mailhost.store.api import FLAGGED, SEEN, MessageInfo


def view_of(uids: list[int]) -> View:
    n = len(uids)
    return View("f", 1, uids, [frozenset({SEEN})] * n, [5] * n, 5, frozenset(), False)


@given(
    st.lists(st.integers(1, 300), unique=True).map(sorted),
    st.lists(st.integers(0, 320)),
)
def test_seqs_of_is_seq_of_each(uids: list[int], asked: list[int]) -> None:
    view = view_of(uids)
    assert view.seqs_of(asked) == [view.seq_of(u) for u in asked]


def test_a_range_is_found_slot_by_slot_and_gaps_by_search() -> None:
    view = view_of([2, 4, 5, 6, 9, 10])
    assert view.seqs_of([4, 5, 6, 7, 9, 10, 2, 11]) == [2, 3, 4, None, 5, 6, 1, None]


def test_record_stored_is_record_flags_of_each() -> None:
    uids = [3, 7, 8, 12]
    infos = [
        MessageInfo(7, frozenset({SEEN, FLAGGED}), 10, 0.0, 9),
        MessageInfo(8, frozenset({FLAGGED}), 10, 0.0, 4),  # older than known: kept at 5
        MessageInfo(20, frozenset({FLAGGED}), 10, 0.0, 9),  # not in the map
    ]
    bulk, one = view_of(uids), view_of(uids)
    one.changed[7] = bulk.changed[7] = frozenset()
    assert bulk.record_stored(infos) == [2, 3, None]
    for info in infos:
        one.record_flags(info.uid, info.flags, info.modseq)
    assert (bulk.flags, bulk.changed, list(bulk.modseqs)) == (
        one.flags,
        one.changed,
        list(one.modseqs),
    )
    assert list(bulk.modseqs) == [5, 9, 5, 5]
