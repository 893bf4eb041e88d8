"""ESORT (RFC 5267 §3): SORT RETURN and its ESEARCH answer in the sort order; SEARCHRES
(RFC 5182): ``RETURN (SAVE)`` and ``$`` in SEARCH, SORT, THREAD, FETCH, STORE, COPY, MOVE
and UID EXPUNGE; and the MODSEQ that SORT reports with a MODSEQ key (RFC 7162 §3.1.5)."""

from __future__ import annotations

import pytest
from imapkit import Client, Host, untagged

from mailhost.store.api import FlagMode


def _msg(subject: str, body: str = "x") -> bytes:
    return f"From: a@x.org\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()


@pytest.fixture
def host() -> Host:
    return Host()


def _selected(host: Host) -> Client:
    """Six messages whose subjects sort 5 2 6 1 3 4; UIDs 2, 4 and 6 seen."""
    for subject in ("d", "b", "e", "f", "a", "c"):
        host.deliver(_msg(subject))
    host.inbox().set_flags([2, 4, 6], ["\\Seen"], mode=FlagMode.ADD)
    c = host.connect()
    c.login()
    c.select()
    return c


def test_both_are_offered_once_logged_in(host: Host) -> None:
    c = host.connect()
    assert b"ESORT" not in c.cmd("a CAPABILITY")
    c.login()
    caps = c.cmd("b CAPABILITY").split(b"\r\n")[0].split()
    assert b"ESORT" in caps and b"SEARCHRES" in caps


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("SORT RETURN (MIN) (SUBJECT) UTF-8 ALL", b" MIN 5"),
        ("SORT RETURN (MAX) (SUBJECT) UTF-8 ALL", b" MAX 4"),
        ("SORT RETURN (ALL) (SUBJECT) UTF-8 ALL", b" ALL 5,2,6,1,3:4"),
        ("SORT RETURN () (SUBJECT) UTF-8 ALL", b" ALL 5,2,6,1,3:4"),
        ("SORT RETURN (COUNT) (SUBJECT) UTF-8 SEEN", b" COUNT 3"),
        (
            "SORT RETURN (MIN MAX ALL COUNT) (REVERSE SUBJECT) UTF-8 SEEN",
            b" MIN 4 MAX 2 ALL 4,6,2 COUNT 3",
        ),
        ("UID SORT RETURN (ALL) (ARRIVAL) UTF-8 ALL", b" UID ALL 1:6"),
        ("SORT RETURN (MIN MAX ALL COUNT) (SUBJECT) UTF-8 DRAFT", b" COUNT 0"),
    ],
)
def test_esort_answers(host: Host, command: str, answer: bytes) -> None:
    c = _selected(host)
    expected = b'* ESEARCH (TAG "t")' + answer + b"\r\nt OK SORT completed\r\n"
    assert c.cmd(f"t {command}") == expected


def test_esort_from_the_kept_order_answers_alike(host: Host) -> None:
    """The second SORT of a folder comes from the structure cache's kept order."""
    c = _selected(host)
    first = c.cmd("a SORT RETURN (ALL MIN) (SUBJECT) UTF-8 ALL")
    assert c.cmd("a SORT RETURN (ALL MIN) (SUBJECT) UTF-8 ALL") == first
    assert b"MIN 5 ALL 5,2,6,1,3:4" in first


@pytest.mark.parametrize(
    "command",
    [
        "SORT RETURN (PARTIAL 1:2) (SUBJECT) UTF-8 ALL",
        "SORT RETURN (ALL (SUBJECT) UTF-8 ALL",
        "SORT RETURN ALL (SUBJECT) UTF-8 ALL",
        "SORT RETURN (ALL) UTF-8 ALL",
    ],
)
def test_malformed_sort_returns_are_bad(host: Host, command: str) -> None:
    c = _selected(host)
    assert c.cmd(f"b {command}").startswith(b"b BAD ")


def test_sort_reports_the_modseq_of_what_it_found(host: Host) -> None:
    c = _selected(host)
    c.cmd("a STORE 3 +FLAGS.SILENT (\\Flagged)")
    modseq = int(c.cmd("b FETCH 3 (MODSEQ)").split(b"MODSEQ (")[1].split(b")")[0])
    assert c.cmd(f"c SORT (SUBJECT) UTF-8 MODSEQ {modseq}") == (
        b"* SORT 3 (MODSEQ %d)\r\nc OK SORT completed\r\n" % modseq
    )
    assert c.cmd(f"d SORT RETURN (COUNT) (SUBJECT) UTF-8 MODSEQ {modseq}") == (
        b'* ESEARCH (TAG "d") COUNT 1 MODSEQ %d\r\nd OK SORT completed\r\n' % modseq
    )


# -- SEARCHRES ---------------------------------------------------------------------------


def test_save_alone_answers_nothing_and_dollar_names_the_result(host: Host) -> None:
    c = _selected(host)
    assert c.cmd("a SEARCH RETURN (SAVE) SEEN") == b"a OK SEARCH completed\r\n"
    assert c.cmd("b FETCH $ (UID)") == (
        b"* 2 FETCH (UID 2)\r\n* 4 FETCH (UID 4)\r\n* 6 FETCH (UID 6)\r\nb OK FETCH completed\r\n"
    )
    assert c.cmd("c UID FETCH $ (FLAGS)").count(b"FETCH (") == 3
    assert c.cmd("d SEARCH $") == b"* SEARCH 2 4 6\r\nd OK SEARCH completed\r\n"
    assert c.cmd("e UID SEARCH UID $ SUBJECT b") == b"* SEARCH 2\r\ne OK SEARCH completed\r\n"
    assert c.cmd("f SEARCH NOT $") == b"* SEARCH 1 3 5\r\nf OK SEARCH completed\r\n"
    assert c.cmd("g SEARCH OR $ 1") == b"* SEARCH 1 2 4 6\r\ng OK SEARCH completed\r\n"


def test_save_with_other_options_answers_them(host: Host) -> None:
    c = _selected(host)
    assert c.cmd("a SEARCH RETURN (SAVE COUNT) SEEN") == (
        b'* ESEARCH (TAG "a") COUNT 3\r\na OK SEARCH completed\r\n'
    )
    assert c.cmd("b SEARCH $") == b"* SEARCH 2 4 6\r\nb OK SEARCH completed\r\n"


@pytest.mark.parametrize(
    ("options", "kept"),
    [
        ("SAVE MIN", b"2"),
        ("SAVE MAX", b"6"),
        ("SAVE MIN MAX", b"2 6"),
        ("SAVE MIN ALL", b"2 4 6"),
        ("SAVE MAX COUNT", b"2 4 6"),
    ],
)
def test_save_with_min_or_max_keeps_only_those(host: Host, options: str, kept: bytes) -> None:
    c = _selected(host)
    c.cmd(f"a SEARCH RETURN ({options}) SEEN")
    assert c.cmd("b SEARCH $") == b"* SEARCH " + kept + b"\r\nb OK SEARCH completed\r\n"


def test_the_result_is_of_uids_and_survives_expunges(host: Host) -> None:
    c = _selected(host)
    c.cmd("a UID SEARCH RETURN (SAVE) SEEN")
    c.cmd("b STORE 2 +FLAGS.SILENT (\\Deleted)")
    c.cmd("c EXPUNGE")
    # UIDs 4 and 6 are now messages 3 and 5
    assert c.cmd("d SEARCH $") == b"* SEARCH 3 5\r\nd OK SEARCH completed\r\n"
    assert c.cmd("e FETCH $ (UID)") == (
        b"* 3 FETCH (UID 4)\r\n* 5 FETCH (UID 6)\r\ne OK FETCH completed\r\n"
    )
    # new messages are not in it
    host.deliver(_msg("g"))
    answer = c.cmd("f UID SEARCH $")
    assert untagged(answer)[-1] == b"* SEARCH 4 6"


def test_store_copy_move_and_uid_expunge_take_dollar(host: Host) -> None:
    c = _selected(host)
    c.cmd("a SEARCH RETURN (SAVE) SUBJECT a")
    stored = c.cmd("b STORE $ +FLAGS (\\Flagged)")
    assert untagged(stored) == [b"* 5 FETCH (FLAGS (\\Flagged \\Recent))"]
    assert c.cmd("c COPY $ Trash").startswith(b"c OK [COPYUID ")
    c.cmd("d UID STORE $ +FLAGS.SILENT (\\Deleted)")
    c.cmd("e SEARCH RETURN (SAVE) SUBJECT c")  # UID 6
    c.cmd("f STORE $ +FLAGS.SILENT (\\Deleted)")
    # UID EXPUNGE $ expunges UID 6 only, though UID 5 is \\Deleted too
    assert c.cmd("g UID EXPUNGE $") == b"* 6 EXPUNGE\r\ng OK EXPUNGE completed\r\n"
    c.cmd("h SEARCH RETURN (SAVE) SUBJECT b")
    assert c.cmd("i MOVE $ Trash").startswith(b"* OK [COPYUID ")
    assert [m.uid for m in host.inbox().list_messages()] == [1, 3, 4, 5]


def test_sort_and_thread_save_and_take_dollar(host: Host) -> None:
    c = _selected(host)
    assert c.cmd("a SORT RETURN (SAVE) (SUBJECT) UTF-8 SEEN") == b"a OK SORT completed\r\n"
    assert c.cmd("b SORT (SUBJECT) UTF-8 $") == b"* SORT 2 6 4\r\nb OK SORT completed\r\n"
    assert c.cmd("c THREAD REFERENCES UTF-8 $") == (
        b"* THREAD (2)(4)(6)\r\nc OK THREAD completed\r\n"
    )
    # SAVE with MIN keeps the first in the sort order
    c.cmd("d SORT RETURN (SAVE MIN) (REVERSE SUBJECT) UTF-8 ALL")
    assert c.cmd("e SEARCH $") == b"* SEARCH 4\r\ne OK SEARCH completed\r\n"


def test_a_failed_save_empties_the_result(host: Host) -> None:
    c = _selected(host)
    c.cmd("a SEARCH RETURN (SAVE) SEEN")
    assert c.cmd("b SEARCH RETURN (SAVE) NOSUCHKEY").startswith(b"b BAD ")
    assert c.cmd("c SEARCH $") == b"* SEARCH\r\nc OK SEARCH completed\r\n"
    c.cmd("d SEARCH RETURN (SAVE) SEEN")
    assert c.cmd("e SEARCH RETURN (SAVE) CHARSET X-NOSUCH SEEN").startswith(b"e NO [BADCHARSET")
    assert c.cmd("f FETCH $ (UID)") == b"f OK FETCH completed\r\n"


def test_a_search_of_dollar_may_save_over_it(host: Host) -> None:
    c = _selected(host)
    c.cmd("a SEARCH RETURN (SAVE) SEEN")
    c.cmd("b SEARCH RETURN (SAVE) $ SUBJECT b")
    assert c.cmd("c UID SEARCH $") == b"* SEARCH 2\r\nc OK SEARCH completed\r\n"


def test_nothing_saved_and_a_new_selection_name_nothing(host: Host) -> None:
    c = _selected(host)
    assert c.cmd("a FETCH $ (UID)") == b"a OK FETCH completed\r\n"
    c.cmd("b SEARCH RETURN (SAVE) ALL")
    c.select()
    assert c.cmd("c SEARCH $") == b"* SEARCH\r\nc OK SEARCH completed\r\n"


@pytest.mark.parametrize(
    "command",
    [
        "FETCH $,1 (UID)",
        "FETCH 1,$ (UID)",
        "FETCH $1 (UID)",
        "SEARCH $$",
        "STORE $: +FLAGS (\\Seen)",
    ],
)
def test_dollar_stands_alone(host: Host, command: str) -> None:
    c = _selected(host)
    c.cmd("a SEARCH RETURN (SAVE) ALL")
    assert c.cmd(f"b {command}").startswith(b"b BAD ")


def test_dollar_outside_a_selection_is_refused(host: Host) -> None:
    c = host.connect()
    c.login()
    assert c.cmd("a FETCH $ (UID)").startswith(b"a BAD ")
