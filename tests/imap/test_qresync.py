"""QRESYNC (RFC 7162 §3.2): VANISHED for expunges, SELECT/EXAMINE (QRESYNC ...) and
UID FETCH (CHANGEDSINCE n VANISHED), in the forms Dovecot gives."""

from __future__ import annotations

import re

import pytest
from imapkit import MESSAGE, Client, Host, lines, untagged

from mailhost.store.api import ChangeSet
from mailhost.store.memory import MemoryFolder


def _client(host: Host, qresync: bool = True) -> Client:
    c = host.connect()
    c.login()
    if qresync:
        assert c.cmd("q ENABLE QRESYNC") == b"* ENABLED QRESYNC\r\nq OK ENABLE completed\r\n"
    return c


def _state(c: Client) -> tuple[int, int]:
    """UIDVALIDITY and HIGHESTMODSEQ of INBOX as a SELECT reports them."""
    answer = c.cmd("s SELECT INBOX")
    uidvalidity = re.search(rb"UIDVALIDITY (\d+)", answer)
    highest = re.search(rb"HIGHESTMODSEQ (\d+)", answer)
    assert uidvalidity is not None and highest is not None
    return int(uidvalidity.group(1)), int(highest.group(1))


def _changes_elsewhere(host: Host) -> None:
    """Messages 2 and 4 flagged, 3, 5 and 7 expunged, by another session."""
    other = host.connect()
    other.login()
    other.select()
    other.cmd("x STORE 2,4 +FLAGS (\\Flagged)")
    other.cmd("y STORE 3,5,7 +FLAGS (\\Deleted)")
    other.cmd("z EXPUNGE")


@pytest.fixture
def ten(host: Host) -> Host:
    for _ in range(10):
        host.deliver(MESSAGE)
    return host


def test_offered_and_enabled_with_condstore(host: Host) -> None:
    c = host.connect()
    c.login()
    assert b" QRESYNC" in c.cmd("a CAPABILITY")
    assert c.cmd("b ENABLE QRESYNC CONDSTORE") == (
        b"* ENABLED CONDSTORE QRESYNC\r\nb OK ENABLE completed\r\n"
    )
    assert c.session.condstore and c.session.qresync


def test_expunges_elsewhere_arrive_as_vanished(ten: Host) -> None:
    c = _client(ten)
    _state(c)
    _changes_elsewhere(ten)
    answer = c.cmd("a NOOP")
    assert untagged(answer) == [
        b"* VANISHED 3,5,7",
        # (numbers after the expunges)
        b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent) MODSEQ (12))",
        b"* 3 FETCH (UID 4 FLAGS (\\Flagged \\Recent) MODSEQ (12))",
    ]
    # the tagged OK carries the new HIGHESTMODSEQ, once
    assert re.fullmatch(rb"a OK \[HIGHESTMODSEQ \d+\] NOOP completed", lines(answer)[-1])
    assert c.cmd("b NOOP") == b"b OK NOOP completed\r\n"
    # its own EXPUNGE and MOVE too
    c.cmd("c STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert untagged(c.cmd("d EXPUNGE")) == [b"* VANISHED 1"]
    assert untagged(c.cmd("e UID MOVE 9:10 Trash"))[1:] == [b"* VANISHED 9:10"]


def test_select_qresync_reports_what_changed_since(ten: Host) -> None:
    c = _client(ten)
    uidvalidity, highest = _state(c)
    _changes_elsewhere(ten)
    fresh = _client(ten)
    answer = fresh.cmd(f"a SELECT INBOX (QRESYNC ({uidvalidity} {highest}))")
    found = [ln for ln in untagged(answer) if b"VANISHED" in ln or b"FETCH" in ln]
    assert found == [
        b"* VANISHED (EARLIER) 3,5,7",
        b"* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (12))",
        b"* 3 FETCH (UID 4 FLAGS (\\Flagged) MODSEQ (12))",
    ]
    # only the UIDs the client knows; the hint of sequence numbers is taken and left
    answer = fresh.cmd(f"b EXAMINE INBOX (QRESYNC ({uidvalidity} {highest} 1:3 (1:2 1:2)))")
    found = [ln for ln in untagged(answer) if b"VANISHED" in ln or b"FETCH" in ln]
    assert found == [b"* VANISHED (EARLIER) 3", b"* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (12))"]
    assert lines(answer)[-1] == b"b OK [READ-ONLY] EXAMINE completed"
    # another UIDVALIDITY: an ordinary SELECT
    answer = fresh.cmd(f"c SELECT INBOX (QRESYNC ({uidvalidity + 1} {highest}))")
    assert not [ln for ln in untagged(answer) if b"VANISHED" in ln or b"FETCH" in ln]


def test_uid_fetch_vanished(ten: Host) -> None:
    c = _client(ten)
    _, highest = _state(c)
    _changes_elsewhere(ten)
    c.cmd("a NOOP")
    answer = c.cmd(f"b UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest} VANISHED)")
    assert untagged(answer) == [
        b"* VANISHED (EARLIER) 3,5,7",
        b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent) MODSEQ (12))",
        b"* 3 FETCH (UID 4 FLAGS (\\Flagged \\Recent) MODSEQ (12))",
    ]
    assert untagged(c.cmd(f"c UID FETCH 1:4 (FLAGS) (VANISHED CHANGEDSINCE {highest})"))[0] == (
        b"* VANISHED (EARLIER) 3"
    )
    # the newest message expunged: * still reaches it (not only the highest UID left)
    other = ten.connect()
    other.login()
    other.select()
    other.cmd("x UID STORE 10 +FLAGS (\\Deleted)")
    other.cmd("y EXPUNGE")
    c.cmd("d NOOP")
    answer = c.cmd(f"e UID FETCH 1:* (UID) (CHANGEDSINCE {highest} VANISHED)")
    assert untagged(answer)[0] == b"* VANISHED (EARLIER) 3,5,7,10"


@pytest.mark.parametrize(
    "line",
    [
        "a FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)",  # not UID FETCH
        "a UID FETCH 1:* (FLAGS) (VANISHED)",  # no CHANGEDSINCE
        "a SELECT INBOX (QRESYNC (1))",
        "a SELECT INBOX (QRESYNC (1 0))",
        "a SELECT INBOX (QRESYNC (0 1))",
        "a SELECT INBOX (QRESYNC (1 1 x))",
    ],
)
def test_bad_qresync_arguments(ten: Host, line: str) -> None:
    c = _client(ten)
    _state(c)
    assert c.cmd(line).startswith(b"a BAD")


def test_qresync_must_be_enabled_first(ten: Host) -> None:
    c = _client(ten, qresync=False)
    uidvalidity, highest = _state(c)
    assert c.cmd(f"a SELECT INBOX (QRESYNC ({uidvalidity} {highest}))").startswith(b"a BAD")
    assert c.cmd(f"b UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest} VANISHED)").startswith(b"b BAD")
    # and without it, expunges are EXPUNGE responses as ever
    _changes_elsewhere(ten)
    answer = c.cmd("c NOOP")
    assert b"* 3 EXPUNGE\r\n" in answer and b"VANISHED" not in answer
    assert not c.session.qresync


def test_history_that_no_longer_reaches_back(ten: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the store's expunge history starts after the client's MODSEQ, every UID below
    UIDNEXT that the mailbox does not hold is reported (RFC 7162 §3.2.5.1 allows it)."""
    c = _client(ten)
    uidvalidity, highest = _state(c)
    _changes_elsewhere(ten)
    real = MemoryFolder.changes_since

    def forgotten(self: MemoryFolder, modseq: int) -> ChangeSet:
        got = real(self, modseq)
        return ChangeSet(got.uidvalidity, got.highestmodseq, (), reset=True)

    monkeypatch.setattr(MemoryFolder, "changes_since", forgotten)
    fresh = _client(ten)
    answer = fresh.cmd(f"a SELECT INBOX (QRESYNC ({uidvalidity} {highest} 2:*))")
    assert b"* VANISHED (EARLIER) 3,5,7\r\n" in answer


def test_idle_reports_vanished(ten: Host) -> None:
    c = _client(ten)
    _state(c)
    assert c.cmd("a IDLE") == b"+ idling\r\n"
    ten.expunge_elsewhere(6)
    ten.let_idle_see()
    assert b"* VANISHED 6\r\n" in c.take()
    assert re.fullmatch(rb"a OK \[HIGHESTMODSEQ \d+\] IDLE terminated\r\n", c.send(b"DONE\r\n"))
