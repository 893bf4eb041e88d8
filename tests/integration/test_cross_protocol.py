"""One store, two protocols: what POP3 does shows in IMAP sessions and the other way round.

Real sockets, real clients (``poplib``, ``imaplib`` and a line-level IMAP client that shows
every untagged response as the server sends it).
"""

from __future__ import annotations

import imaplib
import os
import poplib
import re
import socket

import pytest
from integration_support import (
    PROMPT,
    USERS,
    RawIMAP,
    TrackedIMAP,
    fetch_flags,
    imap_login,
    message,
    multipart,
    pop3_login,
    untagged_numbers,
    wait_until,
)

from mailhost.testing import MailHost


def pop3_uidls(host: MailHost) -> list[bytes]:
    pop = pop3_login(host)
    try:
        return [line.split()[1] for line in pop.uidl()[1]]
    finally:
        pop.quit()


def test_pop3_dele_expunges_in_idle_session_and_at_noop(host: MailHost) -> None:
    """RFC 3501 §7.4.1 EXPUNGE, RFC 2177 IDLE, RFC 1939 §6 UPDATE state."""
    for n in (1, 2, 3):
        host.deliver("alice", message(n))
    selected = imap_login(host)
    assert selected.select("INBOX") == ("OK", [b"3"])
    idler = RawIMAP(host)
    assert untagged_numbers(idler.ok("SELECT INBOX"), b"EXISTS") == [3]
    idler.idle()

    pop = pop3_login(host)
    assert pop.stat()[0] == 3
    pop.dele(1)
    pop.quit()

    resp, _ = idler.wait_for(rb"^\* \d+ EXPUNGE", timeout=PROMPT)
    assert resp == b"* 1 EXPUNGE\r\n"
    idler.done()
    assert idler.fetch_uids() == {1: 2, 2: 3}

    typ, _ = selected.noop()
    assert typ == "OK"
    assert selected.response("EXPUNGE") == ("EXPUNGE", [b"1"])
    typ, data = selected.search(None, "ALL")
    assert data == [b"1 2"]

    pop = pop3_login(host)
    assert pop.stat() == (2, len(message(2)) + len(message(3)))
    pop.quit()
    selected.logout()
    idler.close()


def test_pop3_retr_sets_seen_for_imap(host: MailHost) -> None:
    """RFC 1939 leaves \\Seen to the server; POP3 and IMAP share one flag set."""
    host.deliver("alice", message(1))
    host.deliver("alice", message(2))
    pop = pop3_login(host)
    pop.retr(2)
    pop.quit()
    imap = RawIMAP(host)
    imap.ok("SELECT INBOX")
    flags = fetch_flags(imap.ok("FETCH 1:2 (FLAGS)"))
    assert b"\\Seen" not in flags[1]
    assert b"\\Seen" in flags[2]
    imap.close()


def test_pop3_connection_dropped_without_quit_deletes_nothing(host: MailHost) -> None:
    """RFC 1939 §6: only QUIT enters the UPDATE state; a lost connection removes nothing."""
    for n in (1, 2):
        host.deliver("alice", message(n))
    pop = pop3_login(host)
    pop.dele(1)
    pop.dele(2)
    pop.sock.shutdown(socket.SHUT_RDWR)
    pop.sock.close()

    def login_again() -> poplib.POP3 | None:
        try:
            return pop3_login(host)
        except poplib.error_proto as e:  # the lease may still be held for a moment
            assert b"[IN-USE]" in e.args[0], e
            return None

    pop = wait_until(login_again)
    assert pop.stat() == (2, len(message(1)) + len(message(2)))
    pop.quit()
    imap = imap_login(host)
    assert imap.select("INBOX") == ("OK", [b"2"])
    imap.logout()


def test_imap_append_shows_in_pop3_with_exact_size(host: MailHost) -> None:
    crlf = message(1, body="appended over IMAP")
    bare_lf = message(2).replace(b"\r\n", b"\n")
    imap = imap_login(host)
    assert imap.append("INBOX", None, None, crlf)[0] == "OK"
    assert imap.append("INBOX", "(\\Seen)", None, bare_lf)[0] == "OK"
    imap.select("INBOX")
    _, data = imap.fetch("1:2", "(RFC822.SIZE)")
    imap_sizes = [int(x.split(b"RFC822.SIZE ")[1].rstrip(b")")) for x in data]
    imap.logout()

    pop = pop3_login(host)
    count, total = pop.stat()
    listing = [int(line.split()[1]) for line in pop.list()[1]]
    bodies = [b"\r\n".join(pop.retr(n)[1]) + b"\r\n" for n in (1, 2)]
    pop.quit()
    assert count == 2
    assert bodies == [crlf, bare_lf.replace(b"\n", b"\r\n")]
    assert listing == [len(b) for b in bodies] == imap_sizes
    assert total == sum(listing)


def test_delivery_during_idle_gives_exists_promptly(host: MailHost) -> None:
    host.deliver("alice", message(1))
    imap = RawIMAP(host)
    imap.ok("SELECT INBOX")
    imap.idle()
    host.deliver("alice", message(2))
    resp, _ = imap.wait_for(rb"^\* \d+ EXISTS", timeout=PROMPT)
    assert resp == b"* 2 EXISTS\r\n"
    host.deliver("alice", message(3))
    resp, _ = imap.wait_for(rb"^\* \d+ EXISTS", timeout=PROMPT)
    assert resp == b"* 3 EXISTS\r\n"
    imap.done()
    assert imap.fetch_uids() == {1: 1, 2: 2, 3: 3}
    imap.close()


def test_second_pop3_login_is_in_use_while_imap_works(host: MailHost) -> None:
    """RFC 1939 §8 exclusive maildrop, RFC 2449 §8.1.2 ``[IN-USE]``; IMAP is not locked out."""
    host.deliver("alice", message(1))
    first = pop3_login(host)
    second = poplib.POP3(host.host, host.pop3_port, timeout=10)
    second.user("alice")
    with pytest.raises(poplib.error_proto) as err:
        second.pass_(USERS["alice"])
    assert err.value.args[0].startswith(b"-ERR [IN-USE]"), err.value
    second.close()

    imap = imap_login(host)
    assert imap.select("INBOX") == ("OK", [b"1"])
    assert imap.append("INBOX", None, None, message(2))[0] == "OK"
    assert imap.store("1", "+FLAGS", "(\\Flagged)")[0] == "OK"
    typ, data = imap.fetch("1:*", "(UID FLAGS)")
    assert typ == "OK" and len(data) == 2
    imap.logout()

    assert first.stat()[0] == 1  # the POP3 snapshot taken at login
    first.quit()
    third = pop3_login(host)
    assert third.stat()[0] == 2
    third.quit()


def test_uidl_survives_imap_flag_changes_and_restart(host: MailHost) -> None:
    for n in (1, 2, 3):
        host.deliver("alice", message(n))
    before = pop3_uidls(host)
    assert len(set(before)) == 3

    imap = imap_login(host)
    imap.select("INBOX")
    assert imap.store("1:3", "+FLAGS", "(\\Seen \\Flagged $Label1)")[0] == "OK"
    assert imap.store("2", "-FLAGS", "(\\Seen)")[0] == "OK"
    assert imap.store("3", "+FLAGS", "(\\Answered)")[0] == "OK"
    imap.logout()
    # the flags live in the Maildir file names (":2,FRS"), so the files were renamed
    cur = host.config.mail_root / "alice" / "cur"
    infos = [name.rsplit(":2,", 1)[1] for name in os.listdir(cur) if ":2," in name]
    # "a" is the first keyword in dovecot-keywords ($Label1)
    assert sorted(infos) == ["FRSa", "FSa", "Fa"], infos

    assert pop3_uidls(host) == before
    host.restart()
    assert pop3_uidls(host) == before
    imap = imap_login(host)
    imap.select("INBOX")
    _, data = imap.fetch("1:3", "(FLAGS)")
    imap.logout()
    assert [b"$Label1" in d and b"\\Flagged" in d for d in data] == [True] * 3


def test_large_message_sizes_agree(host: MailHost) -> None:
    """A 5 MB attachment: POP3 LIST, RETR, RFC822.SIZE, BODY[] and a partial all agree."""
    attachment = os.urandom(5 * 1024 * 1024)
    data = multipart(attachment, subject="big")
    info = host.deliver("alice", data)
    assert info.size == len(data)

    pop = pop3_login(host)
    size = int(pop.list(1).split()[2])
    lines = pop.retr(1)[1]
    pop.rset()
    pop.quit()
    received = b"\r\n".join(lines) + b"\r\n"
    assert size == len(received) == len(data)
    assert received == data

    imap = imap_login(host)
    imap.select("INBOX", readonly=True)
    typ, resp = imap.fetch("1", "(RFC822.SIZE BODY.PEEK[])")
    assert typ == "OK"
    assert b"RFC822.SIZE %d" % len(data) in resp[0][0]
    assert resp[0][1] == data
    typ, resp = imap.fetch("1", "(BODY.PEEK[]<1000000.100>)")
    assert typ == "OK"
    assert b"BODY[]<1000000> {100}" in resp[0][0]
    assert resp[0][1] == data[1000000:1000100]
    imap.logout()


def test_imap_fetch_of_a_message_pop3_deleted_before_noop(host: MailHost) -> None:
    """RFC 3501 §5.5/§7.4.1: no EXPUNGE during FETCH; the gone message may answer NO, the
    session goes on, and the next NOOP reports the expunge."""
    for n in (1, 2):
        host.deliver("alice", message(n))
    imap = RawIMAP(host)
    imap.ok("SELECT INBOX")
    pop = pop3_login(host)
    pop.dele(1)
    pop.quit()
    status, untagged = imap.command("FETCH 1:2 (UID BODY.PEEK[])")
    assert status.startswith((b"OK", b"NO")), status
    assert untagged_numbers(untagged, b"EXPUNGE") == []
    bodies = _fetched_bodies(untagged)
    assert bodies.get(2) == message(2)
    if 1 in bodies:
        assert bodies[1] == message(1)
    # neither SEARCH nor STORE may announce the expunge either (§7.4.1)
    status, untagged = imap.command("SEARCH ALL")
    assert status.startswith(b"OK") and untagged_numbers(untagged, b"EXPUNGE") == []
    (found,) = [r for r in untagged if r.startswith(b"* SEARCH")]
    assert found.split()[2:] in ([b"1", b"2"], [b"2"]), found
    status, untagged = imap.command("STORE 2 +FLAGS (\\Flagged)")
    assert status.startswith(b"OK") and untagged_numbers(untagged, b"EXPUNGE") == []
    assert untagged_numbers(imap.ok("NOOP"), b"EXPUNGE") == [1]
    assert imap.fetch_uids() == {1: 2}
    imap.close()


def _fetched_bodies(untagged: list[bytes]) -> dict[int, bytes]:
    out = {}
    for resp in untagged:
        m = re.match(rb"\* \d+ FETCH \(.*?UID (\d+).*?BODY\[\] \{(\d+)\}\r\n", resp, re.S)
        if m:
            start = m.end()
            out[int(m.group(1))] = resp[start : start + int(m.group(2))]
    return out


def test_pop3_quit_after_imap_expunged_part_of_its_snapshot(host: MailHost) -> None:
    """The POP3 snapshot outlives an IMAP EXPUNGE: QUIT removes only what POP3 marked."""
    for n in (1, 2, 3):
        host.deliver("alice", message(n))
    pop = pop3_login(host)
    assert pop.stat()[0] == 3
    imap = RawIMAP(host)
    imap.ok("SELECT INBOX")
    imap.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    imap.ok("EXPUNGE")
    try:
        lines = pop.retr(2)[1]
    except poplib.error_proto as e:  # gone: -ERR is the honest answer
        assert e.args[0].startswith(b"-ERR"), e
    else:
        assert b"\r\n".join(lines) + b"\r\n" == message(2)
    pop.dele(1)
    assert pop.quit().startswith(b"+OK")
    assert untagged_numbers(imap.ok("NOOP"), b"EXPUNGE") == [1]
    assert imap.fetch_uids() == {1: 3}
    imap.close()
    pop = pop3_login(host)
    assert pop.stat() == (1, len(message(3)))
    pop.quit()


def test_idle_session_sees_flags_set_by_pop3_and_imap(host: MailHost) -> None:
    """RFC 2177: while idling the server sends untagged FETCH for flag changes too."""
    for n in (1, 2):
        host.deliver("alice", message(n))
    idler = RawIMAP(host)
    idler.ok("SELECT INBOX")
    idler.idle()
    pop = pop3_login(host)
    pop.retr(2)
    pop.quit()
    resp, _ = idler.wait_for(rb"^\* 2 FETCH ", timeout=PROMPT)
    assert b"\\Seen" in fetch_flags([resp])[2], resp
    other = RawIMAP(host)
    other.ok("SELECT INBOX")
    other.ok("STORE 1 +FLAGS (\\Flagged)")
    resp, _ = idler.wait_for(rb"^\* 1 FETCH ", timeout=PROMPT)
    assert b"\\Flagged" in fetch_flags([resp])[1], resp
    idler.done()
    other.close()
    idler.close()


def test_appenduid_gives_the_pop3_uidl(host: MailHost) -> None:
    """RFC 4315 APPENDUID and the Dovecot UIDL format (%08X uid, %08X uidvalidity)."""
    imap = RawIMAP(host)
    status, _ = imap.command(b"APPEND INBOX {%d+}\r\n" % len(message(1)) + message(1))
    imap.close()
    m = re.search(rb"\[APPENDUID (\d+) (\d+)\]", status)
    assert m, status
    uidvalidity, uid = int(m.group(1)), int(m.group(2))
    # Dovecot's %X modifier prints lowercase hex ("%llx"), and clients compare UIDLs exactly
    assert pop3_uidls(host) == [b"%08x%08x" % (uid, uidvalidity)]


def test_status_and_uids_agree_after_pop3_delete_and_restart(host: MailHost) -> None:
    for n in (1, 2, 3):
        host.deliver("alice", message(n))
    imap = RawIMAP(host)
    before = imap.ok("STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)")
    pop = pop3_login(host)
    pop.retr(3)
    pop.dele(1)
    pop.quit()
    after = imap.ok("STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)")
    imap.close()
    host.restart()
    imap = RawIMAP(host)
    restarted = imap.ok("STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)")
    imap.close()

    def counters(untagged: list[bytes]) -> dict[bytes, int]:
        (line,) = [u for u in untagged if u.startswith(b"* STATUS")]
        items = re.search(rb"\(([^)]*)\)", line).group(1).split()  # type: ignore[union-attr]
        return {items[i]: int(items[i + 1]) for i in range(0, len(items), 2)}

    b, a, r = counters(before), counters(after), counters(restarted)
    assert (b[b"MESSAGES"], b[b"UNSEEN"], b[b"UIDNEXT"]) == (3, 3, 4)
    assert (a[b"MESSAGES"], a[b"UNSEEN"], a[b"UIDNEXT"]) == (2, 1, 4)
    assert r == a
    assert a[b"UIDVALIDITY"] == b[b"UIDVALIDITY"]


def test_large_imap_append_is_served_by_pop3(host: MailHost) -> None:
    data = multipart(os.urandom(3 * 1024 * 1024), subject="big upload")
    imap = imap_login(host)
    assert imap.append("INBOX", None, None, data)[0] == "OK"
    imap.logout()
    pop = pop3_login(host)
    assert pop.stat() == (1, len(data))
    lines = pop.retr(1)[1]
    pop.quit()
    assert b"\r\n".join(lines) + b"\r\n" == data


def test_idle_session_tracks_several_pop3_deletions(host: MailHost) -> None:
    """Two POP3 deletions reach an idling session as EXPUNGEs whose numbers, applied in
    order, leave exactly the remaining UIDs (RFC 3501 §7.4.1)."""
    for n in range(1, 6):
        host.deliver("alice", message(n))
    idler = TrackedIMAP(host)
    assert idler.uids == [1, 2, 3, 4, 5]
    idler.idle()
    pop = pop3_login(host)
    pop.dele(2)
    pop.dele(4)
    pop.dele(5)
    pop.quit()
    got = []
    for _ in range(3):
        resp, seen = idler.wait_for(rb"^\* \d+ EXPUNGE", timeout=PROMPT)
        got += [*seen, resp]
    got += idler.done()
    idler.take(got)
    assert idler.uids == [1, 3]
    idler.check()
    idler.close()


def test_message_without_final_newline(host: MailHost) -> None:
    """RFC 1939 §3: the multi-line answer still ends with CRLF "." CRLF; IMAP serves the
    octets as stored and RFC822.SIZE counts them."""
    data = b"Subject: no newline\r\n\r\nlast line without CRLF"
    info = host.deliver("alice", data)
    imap = imap_login(host)
    imap.select("INBOX")
    typ, resp = imap.fetch("1", "(RFC822.SIZE BODY.PEEK[])")
    imap.logout()
    assert typ == "OK"
    body = resp[0][1]
    assert b"RFC822.SIZE %d" % len(body) in resp[0][0]
    assert body.startswith(data) and len(body) == info.size
    pop = pop3_login(host)
    assert int(pop.list(1).split()[2]) == info.size
    lines = pop.retr(1)[1]
    pop.quit()
    assert lines == [b"Subject: no newline", b"", b"last line without CRLF"]


def test_status_size_matches_pop3_stat(host: MailHost) -> None:
    """RFC 8438 STATUS=SIZE and RFC 1939 STAT report the same octets."""
    for n in (1, 2, 3):
        host.deliver("alice", message(n, body="y" * 100 * n))
    imap = RawIMAP(host)
    (line,) = [r for r in imap.ok("STATUS INBOX (MESSAGES SIZE)") if r.startswith(b"* STATUS")]
    imap.close()
    m = re.search(rb"MESSAGES (\d+) SIZE (\d+)|SIZE (\d+) MESSAGES (\d+)", line)
    assert m, line
    pop = pop3_login(host)
    count, size = pop.stat()
    pop.quit()
    assert (count, size) == (3, sum(len(message(n, body="y" * 100 * n)) for n in (1, 2, 3)))
    assert b"MESSAGES %d" % count in line and b"SIZE %d" % size in line


def test_other_programs_changing_the_maildir_wake_idle(host: MailHost) -> None:
    """A file an MDA drops into new/ shows as EXISTS, a file another program removes as
    EXPUNGE, while a session idles (the store watches open folders)."""
    host.deliver("alice", message(1))
    imap = TrackedIMAP(host)
    imap.idle()
    maildir = host.config.mail_root / "alice"
    tmp = maildir / "tmp" / "1795680000.M1P1.mda"
    tmp.write_bytes(b"Subject: dropped\n\nhi\n")
    tmp.rename(maildir / "new" / tmp.name)
    got = []
    resp, seen = imap.wait_for(rb"^\* 2 EXISTS", timeout=PROMPT + 5)
    got += [*seen, resp]
    (first,) = [
        p for sub in ("cur", "new") for p in (maildir / sub).iterdir() if "M1P1" not in p.name
    ]
    first.unlink()
    resp, seen = imap.wait_for(rb"^\* 1 EXPUNGE", timeout=PROMPT + 5)
    got += [*seen, resp]
    got += imap.done()
    imap.take(got)
    assert len(imap.uids) == 1
    imap.check()
    status, untagged = imap.command(f"UID FETCH {imap.uids[0]} (BODY.PEEK[])")
    assert status.startswith(b"OK")
    assert untagged[0].endswith(b"Subject: dropped\r\n\r\nhi\r\n)\r\n"), untagged
    imap.close()


def test_pop3_hides_deleted_messages_until_rset(host: MailHost) -> None:
    """RFC 1939 §5: a message marked deleted is not counted by STAT nor listed; RSET
    unmarks; DELE twice is an error; the IMAP side changes nothing before QUIT."""
    for n in (1, 2, 3):
        host.deliver("alice", message(n))
    pop = pop3_login(host)
    pop.dele(2)
    assert pop.stat() == (2, len(message(1)) + len(message(3)))
    assert [line.split()[0] for line in pop.list()[1]] == [b"1", b"3"]
    assert [line.split()[0] for line in pop.uidl()[1]] == [b"1", b"3"]
    for call in (lambda: pop.dele(2), lambda: pop.retr(2), lambda: pop.list(2)):
        with pytest.raises(poplib.error_proto):
            call()
    imap = imap_login(host)
    assert imap.select("INBOX") == ("OK", [b"3"])
    imap.logout()
    pop.rset()
    assert pop.stat()[0] == 3
    pop.quit()
    imap = imap_login(host)
    assert imap.select("INBOX") == ("OK", [b"3"])
    imap.logout()


def test_concurrent_appends_from_every_side_get_distinct_uids(host: MailHost) -> None:
    """Three IMAP sessions APPEND and the MDA delivers at the same time: every message
    arrives once, UIDs are distinct and ascending, both protocols count the same."""
    from concurrent.futures import ThreadPoolExecutor

    def imap_appender(k: int) -> list[int]:
        imap = RawIMAP(host)
        uids = []
        for i in range(10):
            m = message(100 * k + i)
            status, _ = imap.command(b"APPEND INBOX {%d+}\r\n%s" % (len(m), m))
            found = re.search(rb"\[APPENDUID \d+ (\d+)\]", status)
            assert found, status
            uids.append(int(found.group(1)))
        imap.close()
        return uids

    def mda() -> list[int]:
        return [host.deliver("alice", message(900 + i)).uid for i in range(10)]

    watcher = TrackedIMAP(host)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(imap_appender, k) for k in (1, 2, 3)] + [pool.submit(mda)]
        results = [f.result(timeout=60) for f in futures]
    all_uids = [u for r in results for u in r]
    assert len(set(all_uids)) == 40
    for r in results:
        assert r == sorted(r)
    watcher.check()
    assert watcher.uids == sorted(all_uids)
    watcher.close()
    pop = pop3_login(host)
    assert pop.stat()[0] == 40
    subjects = set()
    for n in range(1, 41):
        lines = pop.top(n, 0)[1]
        subjects |= {line for line in lines if line.startswith(b"Subject:")}
    pop.quit()
    expected = {100 * k + i for k in (1, 2, 3) for i in range(10)} | {900 + i for i in range(10)}
    assert subjects == {b"Subject: message %d" % n for n in expected}


def test_concurrent_flag_changes_are_not_lost(host: MailHost) -> None:
    """Three sessions each add their own flag to every message while POP3 reads them all
    (setting \\Seen): at the end every message carries all four."""
    from concurrent.futures import ThreadPoolExecutor

    for n in range(1, 21):
        host.deliver("alice", message(n))

    def flagger(flag: str) -> None:
        imap = RawIMAP(host)
        imap.ok("SELECT INBOX")
        for n in range(1, 21):
            imap.ok(f"STORE {n} +FLAGS.SILENT ({flag})")
        imap.close()

    def reader() -> None:
        pop = pop3_login(host)
        for n in range(1, 21):
            pop.retr(n)
        pop.quit()

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(flagger, f) for f in ("\\Flagged", "\\Answered", "$Done")]
        futures.append(pool.submit(reader))
        for f in futures:
            f.result(timeout=60)
    imap = RawIMAP(host)
    imap.ok("SELECT INBOX")
    flags = fetch_flags(imap.ok("FETCH 1:20 (FLAGS)"))
    imap.close()
    want = {b"\\Flagged", b"\\Answered", b"$Done", b"\\Seen"}
    assert {n: f - {b"\\Recent"} for n, f in flags.items()} == dict.fromkeys(range(1, 21), want)


def test_large_message_over_implicit_tls(host: MailHost) -> None:
    """The 5 MB message streamed through TLS on both protocols arrives intact."""
    data = multipart(os.urandom(5 * 1024 * 1024), subject="big over tls")
    host.deliver("alice", data)
    pop = poplib.POP3_SSL(host.host, host.pop3s_port, context=host.ssl_context(), timeout=20)
    pop.user("alice")
    pop.pass_(USERS["alice"])
    lines = pop.retr(1)[1]
    pop.quit()
    assert b"\r\n".join(lines) + b"\r\n" == data
    imap = imaplib.IMAP4_SSL(host.host, host.imaps_port, ssl_context=host.ssl_context(), timeout=20)
    imap.login("alice", USERS["alice"])
    imap.select("INBOX")
    typ, resp = imap.fetch("1", "(BODY.PEEK[])")
    assert typ == "OK"
    assert resp[0][1] == data
    typ, resp = imap.fetch("1", "(BODY.PEEK[]<4000000.1000>)")
    imap.logout()
    assert typ == "OK"
    assert resp[0][1] == data[4000000:4001000]


def test_a_file_with_bare_lf_reads_like_its_crlf_twin(host: MailHost) -> None:
    """A message another program wrote with LF line ends is served exactly as if it had
    CRLF (RFC 3501 §2.3.4 RFC822.SIZE, §6.4.5 sections and partials; RFC 1939 sizes)."""
    crlf = multipart(os.urandom(3000), subject="twin")
    host.deliver("alice", crlf)
    maildir = host.config.mail_root / "alice"
    name = "1795680001.M2P2.otherhost"
    (maildir / "tmp" / name).write_bytes(crlf.replace(b"\r\n", b"\n"))
    (maildir / "tmp" / name).rename(maildir / "new" / name)

    items = (
        "RFC822.SIZE BODYSTRUCTURE BODY.PEEK[]<5.40> BODY.PEEK[2] BODY.PEEK[1]<3.7>"
        " BODY.PEEK[TEXT]<100.30> BODY.PEEK[2.MIME] BINARY.SIZE[2]"
    )
    answers = []
    for n in (1, 2):
        imap = RawIMAP(host)
        imap.ok("EXAMINE INBOX")
        (resp,) = [r for r in imap.ok(f"FETCH {n} ({items})") if b" FETCH " in r]
        imap.close()
        answers.append(re.sub(rb"^\* \d+ FETCH", b"", resp))
    assert answers[0] == answers[1]
    assert b"RFC822.SIZE %d" % len(crlf) in answers[1]
    pop = pop3_login(host)
    assert [int(line.split()[1]) for line in pop.list()[1]] == [len(crlf), len(crlf)]
    assert b"\r\n".join(pop.retr(2)[1]) + b"\r\n" == crlf
    pop.quit()


def test_pop3_quit_keeps_mail_that_arrived_during_the_session(host: MailHost) -> None:
    """RFC 1939 §6: UPDATE removes the messages marked in this session's snapshot, and
    nothing that arrived (by delivery or IMAP APPEND) after it was taken."""
    for n in (1, 2):
        host.deliver("alice", message(n))
    pop = pop3_login(host)
    host.deliver("alice", message(3))
    imap = imap_login(host)
    assert imap.append("INBOX", None, None, message(4))[0] == "OK"
    imap.logout()
    assert pop.stat()[0] == 2
    pop.dele(1)
    pop.dele(2)
    pop.quit()
    pop = pop3_login(host)
    assert pop.stat() == (2, len(message(3)) + len(message(4)))
    assert [b"\r\n".join(pop.retr(n)[1]) + b"\r\n" for n in (1, 2)] == [message(3), message(4)]
    pop.quit()


def test_idle_over_implicit_tls_sees_pop3_and_delivery(host: MailHost) -> None:
    """Wake-ups reach an IDLE session behind TLS as promptly as in the clear."""
    import imapclient

    host.deliver("alice", message(1))
    c = imapclient.IMAPClient(
        host.host, port=host.imaps_port, ssl=True, ssl_context=host.ssl_context(), timeout=10
    )
    c.login("alice", USERS["alice"])
    c.select_folder("INBOX")
    c.idle()
    host.deliver("alice", message(2))
    events = c.idle_check(timeout=PROMPT)
    assert (2, b"EXISTS") in events, events
    pop = pop3_login(host)
    pop.dele(1)
    pop.quit()
    events = c.idle_check(timeout=PROMPT)
    assert (1, b"EXPUNGE") in events, events
    c.idle_done()
    assert c.search("ALL") == [2]  # UIDs: message 1 is gone
    c.logout()


def test_pop3_delete_of_a_message_imap_moved_away_loses_nothing(host: MailHost) -> None:
    """POP3 marks a message that an IMAP client then moves to Archive: QUIT must not
    remove the moved copy (the snapshot names INBOX's UID, not the mail)."""
    for n in (1, 2):
        host.deliver("alice", message(n))
    pop = pop3_login(host)
    pop.dele(1)
    imap = RawIMAP(host)
    imap.ok("SELECT INBOX")
    imap.ok("UID MOVE 1 Archive")
    imap.close()
    pop.quit()
    archive = host.account("alice").folder("Archive")
    (moved,) = archive.list_messages()
    assert archive.read_message(moved.uid) == message(1)
    inbox = host.account("alice").folder("INBOX")
    assert [inbox.read_message(m.uid) for m in inbox.list_messages()] == [message(2)]


def test_uids_and_uidls_are_never_reused_after_pop3_empties_the_box(host: MailHost) -> None:
    """RFC 3501 §2.3.1.1 (UIDs strictly ascending, never reused) and RFC 1939 §7 (a
    unique-id is never reused): emptying INBOX over POP3 and restarting must not bring
    UID 1 back, or a client keeping mail on the server would skip the new message."""
    for n in (1, 2, 3):
        host.deliver("alice", message(n))
    old = pop3_uidls(host)
    pop = pop3_login(host)
    for n in (1, 2, 3):
        pop.dele(n)
    pop.quit()
    host.restart()
    info = host.deliver("alice", message(4))
    assert info.uid == 4
    new = pop3_uidls(host)
    assert len(new) == 1 and new[0] not in old
    imap = RawIMAP(host)
    (line,) = [r for r in imap.ok("STATUS INBOX (UIDNEXT)") if r.startswith(b"* STATUS")]
    imap.close()
    assert b"UIDNEXT 5" in line
