"""CONDSTORE over sockets on the Maildir store: the flag resync Thunderbird, Apple Mail and
K-9 make with it (RFC 7162 §3), through imapclient and raw transcripts, across a restart
and with POP3 and another process changing the mailbox."""

from __future__ import annotations

import re

import imapclient
from integration_support import USERS, RawIMAP, message, pop3_login

from mailhost.store.api import FlagMode
from mailhost.testing import MailHost

#: Messages 1 to 5 (imapclient takes message numbers, not ``1:*``).
ALL = [1, 2, 3, 4, 5]


def _client(host: MailHost) -> imapclient.IMAPClient:
    c = imapclient.IMAPClient(host.host, port=host.imap_port, ssl=False, timeout=10)
    c.login("alice", USERS["alice"])
    return c


def test_a_client_resyncs_flags_with_changedsince(host: MailHost) -> None:
    for n in range(1, 6):
        host.deliver("alice", message(n))
    c = _client(host)
    assert b"CONDSTORE" in c.capabilities()
    assert c.enable("CONDSTORE") == [b"CONDSTORE"]
    first = c.select_folder("INBOX")
    known = first[b"HIGHESTMODSEQ"]
    everything = c.fetch(ALL, ["FLAGS", "MODSEQ"])
    assert all(0 < v[b"MODSEQ"][0] <= known for v in everything.values())

    # changes while the client is away: another client, POP3 reading, another process
    other = _client(host)
    other.select_folder("INBOX")
    other.add_flags([2], [imapclient.FLAGGED])
    other.logout()
    host.account("alice").folder("INBOX").set_flags([4], ["$Label1"], FlagMode.ADD)
    c.logout()

    c = _client(host)
    again = c.select_folder("INBOX", readonly=True)
    assert again[b"HIGHESTMODSEQ"] > known
    changed = c.fetch(ALL, ["UID", "FLAGS"], modifiers=[f"CHANGEDSINCE {known}"])
    assert sorted(changed) == [2, 4]
    assert imapclient.FLAGGED in changed[2][b"FLAGS"]
    assert b"$Label1" in changed[4][b"FLAGS"]
    assert all(v[b"MODSEQ"][0] > known for v in changed.values())
    found = c.search(["MODSEQ", known + 1])
    assert sorted(found) == [2, 4] and found.modseq == again[b"HIGHESTMODSEQ"]
    assert c.folder_status("INBOX", ["HIGHESTMODSEQ"])[b"HIGHESTMODSEQ"] == found.modseq
    c.logout()

    # nothing changed since the newest: an empty answer, and a restart keeps every MODSEQ
    newest = found.modseq
    host.restart()
    c = _client(host)
    assert c.select_folder("INBOX")[b"HIGHESTMODSEQ"] == newest
    assert c.fetch(ALL, ["FLAGS"], modifiers=[f"CHANGEDSINCE {newest}"]) == {}
    after = c.fetch(ALL, ["MODSEQ"])
    assert {n: v[b"MODSEQ"] for n, v in after.items() if n not in (2, 4)} == {
        n: v[b"MODSEQ"] for n, v in everything.items() if n not in (2, 4)
    }
    c.logout()


def test_conditional_store_between_two_clients(host: MailHost) -> None:
    for n in range(1, 4):
        host.deliver("alice", message(n))
    a, b = RawIMAP(host), RawIMAP(host)
    a.ok("SELECT INBOX (CONDSTORE)")
    b.ok("SELECT INBOX")
    listed = a.ok("FETCH 1:* (MODSEQ)")
    modseqs = {
        int(m[1]): int(m[2])
        for m in (re.match(rb"\* (\d+) FETCH \(MODSEQ \((\d+)\)", x) for x in listed)
        if m
    }
    b.ok("STORE 2 +FLAGS (\\Deleted)")
    tagged, untagged = a.command(
        f"STORE 1:3 (UNCHANGEDSINCE {max(modseqs.values())}) +FLAGS (\\Seen)"
    )
    assert tagged == b"OK [MODIFIED 2] Conditional STORE failed"
    by_seq = {int(x.split()[1]): x for x in untagged if b" FETCH " in x}
    assert b"\\Seen" in by_seq[1] and b"\\Seen" in by_seq[3] and b"MODSEQ (" in by_seq[1]
    assert b"\\Seen" not in by_seq[2] and b"\\Deleted" in by_seq[2]

    # POP3 deletes message 1: the CONDSTORE session is told with EXPUNGE as any other
    pop = pop3_login(host)
    pop.dele(1)
    pop.quit()
    _, untagged = a.command("NOOP")
    assert b"* 1 EXPUNGE\r\n" in untagged
    rest = a.ok("FETCH 1:* (UID MODSEQ)")
    assert [int(u) for u in re.findall(rb"UID (\d+)", b"".join(rest))] == [2, 3]
    a.close()
    b.close()


def test_qresync_after_pop3_deletes_and_a_restart(host: MailHost) -> None:
    """A phone's quick resync (RFC 7162 §3.2.5): what POP3 deleted and another client
    flagged while it was away, across a restart of the host."""
    for n in range(1, 7):
        host.deliver("alice", message(n))
    phone = RawIMAP(host)
    phone.ok("ENABLE QRESYNC")
    selected = b"".join(phone.ok("SELECT INBOX"))
    uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", selected).group(1))  # type: ignore[union-attr]
    known = int(re.search(rb"HIGHESTMODSEQ (\d+)", selected).group(1))  # type: ignore[union-attr]
    phone.close()

    pop = pop3_login(host)
    pop.dele(2)
    pop.dele(6)  # the newest
    pop.quit()
    other = _client(host)
    other.select_folder("INBOX")
    other.add_flags([3], [imapclient.SEEN])  # (imapclient names UIDs: message 2 now)
    other.logout()
    host.restart()

    phone = RawIMAP(host)
    phone.ok("ENABLE QRESYNC")
    tagged, untagged = phone.command(f"SELECT INBOX (QRESYNC ({uidvalidity} {known}))")
    assert tagged.startswith(b"OK [READ-WRITE]")
    changes = [x for x in untagged if b"VANISHED" in x or b"FETCH" in x]
    assert changes[0] == b"* VANISHED (EARLIER) 2,6\r\n"
    assert len(changes) == 2 and re.match(
        rb"\* 2 FETCH \(UID 3 FLAGS \(\\Seen\) MODSEQ \(\d+\)\)", changes[1]
    )
    # the same answer to a UID FETCH of everything changed since then
    _, untagged = phone.command(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {known} VANISHED)")
    assert untagged[0] == b"* VANISHED (EARLIER) 2,6\r\n" and len(untagged) == 2
    # and an expunge now is a VANISHED response, not EXPUNGE
    phone.ok("UID STORE 1 +FLAGS.SILENT (\\Deleted)")
    _, untagged = phone.command("EXPUNGE")
    assert untagged == [b"* VANISHED 1\r\n"]
    phone.close()
