"""CONDSTORE (RFC 7162 §3): MODSEQ in FETCH, CHANGEDSINCE, UNCHANGEDSINCE, SEARCH MODSEQ,
STATUS HIGHESTMODSEQ and the enabling commands."""

from __future__ import annotations

import re

import pytest
from imapkit import MESSAGE, Host, lines, untagged

from mailhost.store.api import FlagMode


def _modseqs(answer: bytes) -> dict[int, int]:
    """Sequence number -> MODSEQ of the FETCH responses in ``answer``."""
    return {
        int(m.group(1)): int(m.group(2))
        for m in re.finditer(rb"\* (\d+) FETCH \(.*?MODSEQ \((\d+)\)", answer)
    }


def _highest(answer: bytes) -> int:
    found = re.search(rb"HIGHESTMODSEQ (\d+)", answer)
    assert found is not None, answer
    return int(found.group(1))


def test_offered_and_enabled(host: Host) -> None:
    c = host.connect()
    assert b"CONDSTORE" not in c.cmd("a CAPABILITY")  # a mailbox extension: after login
    c.login()
    assert b" CONDSTORE" in c.cmd("b CAPABILITY")
    host.deliver()
    assert c.cmd("c ENABLE CONDSTORE X-UNKNOWN") == (
        b"* ENABLED CONDSTORE\r\nc OK ENABLE completed\r\n"
    )
    selected = c.cmd("d SELECT INBOX")
    assert re.search(rb"\* OK \[HIGHESTMODSEQ \d+\] Highest\r\n", selected)


def test_every_select_reports_the_highest_modseq(host: Host) -> None:
    host.deliver()
    c = host.connect()
    c.login()
    first = _highest(c.cmd("a EXAMINE INBOX"))
    host.inbox().set_flags([1], ["\\Flagged"], mode=FlagMode.ADD)
    assert _highest(c.cmd("b SELECT INBOX (CONDSTORE)")) > first
    assert c.cmd("c SELECT INBOX (QRESYNC (1 2))").startswith(b"c BAD")


def test_fetch_modseq_and_changedsince(host: Host) -> None:
    c = host.selected(MESSAGE, MESSAGE, MESSAGE)
    before = _modseqs(c.cmd("a FETCH 1:* (MODSEQ)"))
    assert sorted(before) == [1, 2, 3] and all(v > 0 for v in before.values())
    top = max(before.values())
    changed = c.cmd("b STORE 2 +FLAGS (\\Flagged)")
    # CONDSTORE is on (FETCH MODSEQ enabled it): the STORE response carries the new MODSEQ
    after = _modseqs(changed)
    assert list(after) == [2] and after[2] > top
    assert c.cmd(f"c FETCH 1:* (FLAGS) (CHANGEDSINCE {top})") == (
        b"* 2 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ (%d))\r\nc OK FETCH completed\r\n" % after[2]
    )
    uid_form = c.cmd(f"d UID FETCH 1:* (FLAGS) (CHANGEDSINCE {top})")
    assert untagged(uid_form) == [
        b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent) MODSEQ (%d))" % after[2]
    ]
    assert untagged(c.cmd(f"e FETCH 1:* (FLAGS) (CHANGEDSINCE {after[2]})")) == []
    # the modifier alone enables CONDSTORE too; a bad value is BAD
    assert c.cmd("f FETCH 1 (FLAGS) (CHANGEDSINCE x)").startswith(b"f BAD")
    assert c.cmd("g FETCH 1 (FLAGS) (CHANGEDSINCE 99999999999999999999)").startswith(b"g BAD")
    assert c.cmd("h FETCH 1 (FLAGS) (VANISHED)").startswith(b"h BAD")


def test_a_body_fetch_that_sets_seen_reports_uid_and_modseq(host: Host) -> None:
    c = host.selected(MESSAGE)
    c.cmd("a ENABLE CONDSTORE")
    answer = c.cmd("b FETCH 1 (BODY[TEXT])")
    assert re.match(
        rb"\* 1 FETCH \(BODY\[TEXT\] \{12\}\r\nHello Bob.\r\n"
        rb" FLAGS \(\\Recent \\Seen\) UID 1 MODSEQ \(\d+\)\)",
        answer,
    ), answer


def test_unchangedsince_leaves_what_changed_since(host: Host) -> None:
    c = host.selected(MESSAGE, MESSAGE, MESSAGE)
    other = host.connect()
    other.login()
    other.select()
    top = _highest(c.cmd("a STATUS INBOX (HIGHESTMODSEQ)"))
    other.cmd("x STORE 2 +FLAGS (\\Answered)")
    answer = c.cmd(f"b STORE 1:3 (UNCHANGEDSINCE {top}) +FLAGS (\\Seen)")
    stored = {ln.split()[1]: ln for ln in untagged(answer)}
    assert b"\\Seen" in stored[b"1"] and b"\\Seen" in stored[b"3"]
    # message 2 is left as the other session made it, and that change is reported
    assert b"\\Seen" not in stored[b"2"] and b"\\Answered" in stored[b"2"]
    assert lines(answer)[-1] == b"b OK [MODIFIED 2] Conditional STORE failed"
    # message 2 kept its flags: the other session's change is reported, not overwritten
    flags = c.cmd("c FETCH 2 (FLAGS)")
    assert b"\\Seen" not in flags and b"\\Answered" in flags
    # the UID form names UIDs; .SILENT still reports each new MODSEQ (RFC 7162 §3.1.3)
    top = _highest(c.cmd("d STATUS INBOX (HIGHESTMODSEQ)"))
    other.cmd("y STORE 2 +FLAGS (\\Draft)")
    silent = c.cmd(f"e UID STORE 1:3 (UNCHANGEDSINCE {top}) +FLAGS.SILENT (\\Deleted)")
    assert lines(silent)[-1] == b"e OK [MODIFIED 2] Conditional STORE failed"
    reports = sorted(re.sub(rb"MODSEQ \(\d+\)", b"MODSEQ (n)", ln) for ln in untagged(silent))
    assert reports == [
        b"* 1 FETCH (UID 1 MODSEQ (n))",
        # (the other session's change, reported when this session learns of it)
        b"* 2 FETCH (UID 2 FLAGS (\\Answered \\Draft \\Recent) MODSEQ (n))",
        b"* 3 FETCH (UID 3 MODSEQ (n))",
    ]
    # nothing may change since 0
    assert lines(c.cmd("f STORE 1 (UNCHANGEDSINCE 0) +FLAGS (\\Draft)"))[-1] == (
        b"f OK [MODIFIED 1] Conditional STORE failed"
    )


def test_other_sessions_changes_carry_modseq_once_enabled(host: Host) -> None:
    a = host.selected(MESSAGE, MESSAGE)
    b = host.connect()
    b.login()
    b.select()
    b.cmd("x STORE 1 +FLAGS (\\Flagged)")
    assert untagged(a.cmd("a NOOP")) == [b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent))"]
    enabled = a.cmd("b ENABLE CONDSTORE")
    # enabled while a mailbox is selected: its HIGHESTMODSEQ is announced (RFC 7162 §3.1)
    assert untagged(enabled)[1].startswith(b"* OK [HIGHESTMODSEQ ")
    b.cmd("y STORE 2 +FLAGS (\\Seen)")
    noop = a.cmd("c NOOP")
    assert re.fullmatch(
        rb"\* 2 FETCH \(UID 2 FLAGS \(\\Recent \\Seen\) MODSEQ \(\d+\)\)\r\nc OK.*\r\n", noop
    )
    assert _modseqs(noop)[2] == _modseqs(a.cmd("d FETCH 2 (MODSEQ)"))[2]


def test_appended_and_expunged_messages_keep_the_modseq_map_in_step(host: Host) -> None:
    c = host.selected(MESSAGE, MESSAGE, MESSAGE)
    c.cmd("a STORE 2 +FLAGS (\\Deleted)")
    c.cmd("b EXPUNGE")
    host.deliver()
    c.cmd("c NOOP")
    listed = _modseqs(c.cmd("d FETCH 1:* (MODSEQ)"))
    store = {m.uid: m.modseq for m in host.inbox().list_messages()}
    uids = [int(u) for u in re.findall(rb"UID (\d+)", c.cmd("e FETCH 1:* (UID)"))]
    assert uids == [1, 3, 4]
    assert listed == {seq: store[uid] for seq, uid in enumerate(uids, 1)}


def test_search_modseq(host: Host) -> None:
    c = host.selected(MESSAGE, MESSAGE, MESSAGE)
    top = _highest(c.cmd("a STATUS INBOX (HIGHESTMODSEQ)"))
    stored = _modseqs(c.cmd("b STORE 1,3 +FLAGS (\\Flagged)"))
    assert c.cmd(f"c SEARCH MODSEQ {top + 1}") == (
        b"* SEARCH 1 3 (MODSEQ %d)\r\nc OK SEARCH completed\r\n" % max(stored.values())
    )
    assert c.cmd(f'd UID SEARCH MODSEQ "/flags/\\\\flagged" all {top + 1} FLAGGED') == (
        b"* SEARCH 1 3 (MODSEQ %d)\r\nd OK SEARCH completed\r\n" % max(stored.values())
    )
    # with a key that reads messages, and with nothing found
    assert untagged(c.cmd(f"e SEARCH MODSEQ {top + 1} SUBJECT hello"))[0].startswith(
        b"* SEARCH 1 3 ("
    )
    assert c.cmd("f SEARCH MODSEQ 99999999") == b"* SEARCH\r\nf OK SEARCH completed\r\n"
    assert c.cmd('g SEARCH MODSEQ "/flags/x" sometimes 1').startswith(b"g BAD")


def test_status_highestmodseq_follows_changes(host: Host) -> None:
    c = host.connect()
    c.login()
    host.deliver()
    first = _highest(c.cmd("a STATUS INBOX (MESSAGES HIGHESTMODSEQ)"))
    host.deliver()
    assert _highest(c.cmd("b STATUS INBOX (HIGHESTMODSEQ)")) > first
    listed = c.cmd('c LIST "" "*" RETURN (STATUS (HIGHESTMODSEQ))')
    assert b'* STATUS "INBOX" (HIGHESTMODSEQ ' in listed


@pytest.mark.parametrize(
    "line",
    [
        "a STORE 1 (UNCHANGEDSINCE) +FLAGS (\\Seen)",
        "a STORE 1 (UNCHANGEDSINCE -1) +FLAGS (\\Seen)",
        "a STORE 1 (FOO 1) +FLAGS (\\Seen)",
        "a SEARCH MODSEQ",
        "a SELECT INBOX (CONDSTORE",
    ],
)
def test_bad_modifiers(host: Host, line: str) -> None:
    c = host.selected(MESSAGE)
    assert c.cmd(line).startswith(b"a BAD")
