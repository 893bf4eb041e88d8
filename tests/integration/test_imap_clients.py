"""IMAP4rev1 with real clients: simultaneous sessions (RFC 3501 §5.2), imapclient, imap-tools,
curl, mbsync and offlineimap."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import imapclient
import pytest
from imap_tools import AND, MailBoxUnencrypted, MailMessageFlags
from imapclient.imapclient import SENT, TRASH
from integration_support import (
    FETCHMAIL,
    GETMAIL,
    HEADER,
    PROMPT,
    REAL_MAIL,
    USERS,
    RawIMAP,
    TrackedIMAP,
    as_getmail_delivers,
    delivered_by_mda,
    fetch_flags,
    fetchmail,
    getmail,
    imap_login,
    message,
    multipart,
    multipart_part2,
    noop_reports_all_expunged,
    parse_fetch_uids,
    pop3_login,
    untagged_numbers,
)

from mailhost.store.api import Account
from mailhost.testing import MailHost


def client(host: MailHost) -> imapclient.IMAPClient:
    c = imapclient.IMAPClient(host.host, port=host.imap_port, ssl=False, timeout=10)
    c.login("alice", USERS["alice"])
    return c


# -- simultaneous sessions (RFC 3501 §5.2, §7.4.1) ----------------------------------------


def test_store_in_one_session_shows_in_the_others_at_noop(host: MailHost) -> None:
    for n in (1, 2, 3):
        host.deliver("alice", message(n))
    a, b, c = RawIMAP(host), RawIMAP(host), RawIMAP(host)
    for s in (a, b, c):
        s.ok("SELECT INBOX")

    stored = a.ok("STORE 2 +FLAGS (\\Flagged $Work)")
    assert set(fetch_flags(stored)) == {2}
    assert {b"\\Flagged", b"$Work"} <= fetch_flags(stored)[2]
    # A has had its FETCH already: NOOP must not announce the same change again
    assert fetch_flags(a.ok("NOOP")) == {}

    for s in (b, c):
        seen = fetch_flags(s.ok("NOOP"))
        assert set(seen) == {2}, seen
        assert seen[2] - {b"\\Recent"} == {b"\\Flagged", b"$Work"}
        assert fetch_flags(s.ok("NOOP")) == {}
    for s in (a, b, c):
        s.close()


def test_expunge_in_one_session_keeps_another_consistent(host: MailHost) -> None:
    for n in range(1, 6):
        host.deliver("alice", message(n))
    a, b = RawIMAP(host), RawIMAP(host)
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    assert b.fetch_uids() == {n: n for n in range(1, 6)}

    a.ok("STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    assert untagged_numbers(a.ok("EXPUNGE"), b"EXPUNGE") == [2, 3]
    assert a.fetch_uids() == {1: 1, 2: 3, 3: 5}

    # B is in the middle of its work: a FETCH must not shift its numbers (§7.4.1: no
    # EXPUNGE while responding to FETCH); the expunged messages may answer NO.
    status, untagged = b.command("FETCH 1:5 (UID)")
    assert untagged_numbers(untagged, b"EXPUNGE") == []
    got = parse_fetch_uids(untagged)
    assert all(got[seq] == seq for seq in got), got
    assert {1, 3, 5} <= set(got)
    assert status.startswith((b"OK", b"NO")), status

    assert untagged_numbers(b.ok("NOOP"), b"EXPUNGE") == [2, 3]
    assert b.fetch_uids() == {1: 1, 2: 3, 3: 5}
    status, _ = b.command("FETCH 4 (UID)")
    assert status.startswith(b"BAD") or status.startswith(b"NO"), status
    a.close()
    b.close()


def test_exactly_one_session_sees_recent(host: MailHost) -> None:
    """RFC 3501 §2.3.2: \\Recent is given to one session only."""
    sessions = [RawIMAP(host) for _ in range(3)]
    for s in sessions:
        assert untagged_numbers(s.ok("SELECT INBOX"), b"EXISTS") == [0]
    host.deliver("alice", message(1))
    recent_counts = []
    recent_flags = []
    for s in sessions:
        untagged = s.ok("NOOP")
        if not untagged_numbers(untagged, b"EXISTS"):
            resp, seen = s.wait_for(rb"^\* 1 EXISTS", timeout=PROMPT)
            untagged = [*seen, resp]
        assert untagged_numbers(untagged, b"EXISTS") == [1]
        recent_counts.append(sum(untagged_numbers(untagged, b"RECENT")))
        recent_flags.append(b"\\Recent" in fetch_flags(s.ok("FETCH 1 (FLAGS)"))[1])
    assert sorted(recent_counts) == [0, 0, 1], recent_counts
    assert recent_flags == [c == 1 for c in recent_counts]
    late = RawIMAP(host)
    assert untagged_numbers(late.ok("SELECT INBOX"), b"RECENT") == [0]
    for s in [*sessions, late]:
        s.close()


# -- imapclient ----------------------------------------------------------------------------


def test_imapclient_folders(host: MailHost) -> None:
    c = client(host)
    names = {f[2]: f[0] for f in c.list_folders()}
    assert {"INBOX", "Sent", "Trash", "Drafts", "Junk", "Archive"} <= set(names)
    # RFC 6154 §2: the roles, asked for with RETURN (SPECIAL-USE) (RFC 5258)
    raw = RawIMAP(host)
    listed = raw.ok('LIST "" "*" RETURN (SPECIAL-USE)')
    roles = {}
    for line in listed:
        m = re.match(rb'\* LIST \(([^)]*)\) "/" "?([^"\r]*)"?\r\n', line)
        assert m, line
        roles[m.group(2).decode()] = set(m.group(1).split())
    assert b"\\Sent" in roles["Sent"] and b"\\Trash" in roles["Trash"]
    assert b"\\Drafts" in roles["Drafts"] and b"\\Junk" in roles["Junk"]
    raw.close()
    assert c.find_special_folder(SENT) == "Sent"
    assert c.find_special_folder(TRASH) == "Trash"

    c.create_folder("Projects")
    c.create_folder("Projects/2026")
    c.select_folder("Projects/2026")
    c.append("Projects/2026", message(1))
    c.unselect_folder()
    c.rename_folder("Projects", "Done")
    renamed = {f[2] for f in c.list_folders()}
    assert {"Done", "Done/2026"} <= renamed and not {"Projects", "Projects/2026"} & renamed
    assert c.folder_status("Done/2026", ["MESSAGES"])[b"MESSAGES"] == 1
    assert [f[2] for f in c.list_folders("", "Done/%")] == ["Done/2026"]
    c.delete_folder("Done/2026")
    c.delete_folder("Done")
    assert not {"Done", "Done/2026"} & {f[2] for f in c.list_folders()}
    assert not c.folder_exists("Done")
    c.logout()


def test_imapclient_search(host: MailHost) -> None:
    c = client(host)
    days = [dt.datetime(2026, 11, d, 12, 0, tzinfo=dt.UTC) for d in (1, 10, 20)]
    for n, when in zip((1, 2, 3), days, strict=True):
        c.append("INBOX", message(n), flags=[imapclient.SEEN] if n == 2 else [], msg_time=when)
    c.select_folder("INBOX")
    assert c.search(["FROM", "sender2@example.org"]) == [2]
    assert c.search(["SUBJECT", "message 3"]) == [3]
    assert c.search("UNSEEN") == [1, 3]
    assert c.search(["SINCE", dt.date(2026, 11, 10)]) == [2, 3]
    assert c.search(["BEFORE", dt.date(2026, 11, 10), "UNSEEN"]) == [1]
    assert c.search(["OR", "SUBJECT", "message 1", "FROM", "sender3@"]) == [1, 3]
    assert c.search(["BODY", "number 2."]) == [2]
    assert c.search(["NOT", "SEEN", "SINCE", "20-Nov-2026"]) == [3]
    c.logout()


def test_esearch_through_imaplib(host: MailHost) -> None:
    """RFC 4731 as a client that asks for it sees it: the ESEARCH response, tagged."""
    imap = imap_login(host)
    for n in (1, 2, 3, 4):
        imap.append("INBOX", "(\\Seen)" if n % 2 else "()", None, message(n))
    imap.select("INBOX")
    typ, data = imap._simple_command("UID", "SEARCH", "RETURN", "(MIN MAX COUNT ALL)", "SEEN")
    assert typ == "OK", data
    _typ, found = imap._untagged_response(typ, data, "ESEARCH")
    assert re.fullmatch(rb'\(TAG "\w+"\) UID MIN 1 MAX 3 ALL 1,3 COUNT 2', found[0]), found
    imap.logout()


def test_imapclient_fetch_structure_envelope_partial(host: MailHost) -> None:
    data = multipart()
    host.deliver("alice", data)
    c = client(host)
    c.select_folder("INBOX")
    (uid,) = c.search("ALL")
    got = c.fetch([uid], ["BODYSTRUCTURE", "ENVELOPE", "RFC822.SIZE", "BODY.PEEK[1]<0.10>"])[uid]
    env = got[b"ENVELOPE"]
    assert env.subject == b"with attachment"
    assert env.message_id == b"<mp@example.org>"
    assert (env.from_[0].name, env.from_[0].mailbox, env.from_[0].host) == (
        b"Carol Example",
        b"carol",
        b"example.org",
    )
    assert env.to[0].mailbox == b"alice"
    assert env.date == dt.datetime(2026, 11, 25, 10, 0, tzinfo=env.date.tzinfo)
    assert got[b"RFC822.SIZE"] == len(data)

    bs = got[b"BODYSTRUCTURE"]
    assert bs.is_multipart
    parts, subtype = bs[0], bs[1]
    # RFC 3501 §7.4.2: type names are case-insensitive
    assert subtype.upper() == b"MIXED"
    assert [(p[0].upper(), p[1].upper()) for p in parts] == [
        (b"TEXT", b"PLAIN"),
        (b"APPLICATION", b"OCTET-STREAM"),
    ]
    assert [x.upper() for x in parts[0][2]] == [b"CHARSET", b"US-ASCII"]
    # the CRLF before a boundary belongs to the boundary (RFC 2046 §5.1.1)
    assert parts[0][6] == len(b"Hello Alice, the report is attached.")
    assert parts[1][5].upper() == b"BASE64"
    assert parts[1][6] == len(multipart_part2())

    assert got[b"BODY[1]<0>"] == b"Hello Alic"
    assert b"\\Seen" not in c.get_flags([uid])[uid]
    c.logout()


def test_imapclient_flags_keywords_copy_move_idle(host: MailHost) -> None:
    for n in (1, 2, 3):
        host.deliver("alice", message(n))
    c = client(host)
    assert c.has_capability("MOVE") and c.has_capability("UIDPLUS")
    info = c.select_folder("INBOX")
    assert b"\\*" in info[b"PERMANENTFLAGS"]
    c.add_flags([1, 2], [imapclient.FLAGGED, b"Work"])
    c.remove_flags([2], [imapclient.FLAGGED])
    c.set_flags([3], [imapclient.SEEN, b"$Important"])
    flags = {uid: set(f) for uid, f in c.get_flags([1, 2, 3]).items()}
    assert flags[1] - {imapclient.RECENT} == {imapclient.FLAGGED, b"Work"}
    assert flags[2] - {imapclient.RECENT} == {b"Work"}
    assert flags[3] - {imapclient.RECENT} == {imapclient.SEEN, b"$Important"}
    assert c.search(["KEYWORD", "Work"]) == [1, 2]

    c.copy([1], "Archive")
    c.move([2], "Trash")
    assert c.search("ALL") == [1, 3]
    assert c.folder_status("Archive", ["MESSAGES"])[b"MESSAGES"] == 1
    c.select_folder("Trash")
    (moved,) = c.search("ALL")
    got = c.fetch([moved], ["FLAGS", "BODY.PEEK[]"])[moved]
    assert got[b"BODY[]"] == message(2)
    assert set(got[b"FLAGS"]) - {imapclient.RECENT} == {b"Work"}

    c.select_folder("INBOX")
    c.idle()
    host.deliver("alice", message(4))
    events = c.idle_check(timeout=PROMPT)
    c.idle_done()
    assert (3, b"EXISTS") in events, events
    c.logout()


# -- imap-tools ----------------------------------------------------------------------------


def test_imap_tools(host: MailHost) -> None:
    for n in (1, 2, 3):
        host.deliver("alice", message(n))
    with MailBoxUnencrypted(host.host, port=host.imap_port, timeout=10).login(
        "alice", USERS["alice"], initial_folder="INBOX"
    ) as mb:
        (msg,) = list(mb.fetch(AND(subject="message 2"), mark_seen=False))
        assert msg.subject == "message 2"
        assert msg.from_ == "sender2@example.org"
        assert msg.text.strip() == "This is message number 2."
        mb.flag(msg.uid, MailMessageFlags.FLAGGED, True)
        assert [m.uid for m in mb.fetch(AND(flagged=True), headers_only=True)] == [msg.uid]

        mb.folder.create("Receipts")
        assert "Receipts" in [f.name for f in mb.folder.list()]
        mb.move(msg.uid, "Receipts")
        assert [m.subject for m in mb.fetch(headers_only=True)] == ["message 1", "message 3"]
        mb.folder.set("Receipts")
        moved = list(mb.fetch())
        assert [(m.subject, MailMessageFlags.FLAGGED in m.flags) for m in moved] == [
            ("message 2", True)
        ]
        mb.idle.start()
        host.deliver("alice", message(4), folder="Receipts")
        responses = mb.idle.poll(timeout=PROMPT)
        mb.idle.stop()
        assert b"* 2 EXISTS" in responses, responses


# -- curl ----------------------------------------------------------------------------------

CURL = shutil.which("curl")


@pytest.mark.skipif(CURL is None, reason="curl is not installed (make test installs it)")
def test_curl_fetches_one_section_of_a_multipart(host: MailHost) -> None:
    host.deliver("alice", multipart())
    url = f"imap://127.0.0.1:{host.imap_port}/INBOX;UID=1;SECTION=2"
    result = subprocess.run(
        [CURL or "curl", "-sS", "--max-time", "20", "-u", f"alice:{USERS['alice']}", url],
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == multipart_part2()


# -- mbsync ----------------------------------------------------------------------------------

MBSYNC = shutil.which("mbsync")


def _mbsyncrc(host: MailHost, tmp: Path, local: Path, patterns: str) -> Path:
    """An mbsync configuration: alice's folders matching ``patterns``, synced both ways
    (flags, new messages, expunges and folder creation) with a Maildir at ``local``."""
    config = tmp / "mbsyncrc"
    config.write_text(
        f"""IMAPAccount test
Host 127.0.0.1
Port {host.imap_port}
User alice
Pass {USERS["alice"]}
SSLType None
AuthMechs LOGIN
Timeout 20

IMAPStore remote
Account test

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns {patterns}
Create Both
Expunge Both
SyncState *
Sync All
"""
    )
    return config


def _mbsync(config: Path) -> subprocess.CompletedProcess[str]:
    """One sync of every channel, verbose, with the IMAP traffic on stdout (``-Dn``)."""
    return subprocess.run(
        [MBSYNC or "mbsync", "-c", str(config), "-a", "-V", "-Dn"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _tree(root: Path) -> dict[str, str]:
    """Local Maildir messages: relative path without the unique part -> content + flags."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.parent.name in ("cur", "new"):
            out[str(p.relative_to(root))] = p.read_bytes().decode(errors="replace")
    return out


def _local_messages(folder: Path) -> dict[bytes, str]:
    """Subject -> Maildir flag letters, for one local folder."""
    out = {}
    for sub in ("cur", "new"):
        for p in (folder / sub).iterdir():
            subject = re.search(rb"^Subject: (.*?)\r?$", p.read_bytes(), re.M)
            assert subject, p
            out[subject.group(1)] = p.name.rsplit(":2,", 1)[1] if ":2," in p.name else ""
    return out


def _two_folders(host: MailHost) -> Account:
    """Alice's account with messages 1 and 2 in INBOX and message 3 in Work."""
    host.deliver("alice", message(1))
    host.deliver("alice", message(2))
    acct = host.account("alice")
    acct.create_folder("Work")
    host.deliver("alice", message(3), folder="Work")
    return acct


def _change_both_sides(host: MailHost, local: Path) -> None:
    """Between two syncs of INBOX, Work and Archive with ``local`` (a Maildir tree): read
    message 1 and file message 4 into Archive locally; on the server flag message 2 and
    delete message 3 (Work's only one)."""
    for sub in ("new", "cur"):
        for p in (local / "INBOX" / sub).iterdir():
            if b"Subject: message 1" in p.read_bytes():
                p.rename(local / "INBOX" / "cur" / (p.name.rsplit(":2,", 1)[0] + ":2,S"))
    (local / "Archive" / "new" / "1795680000.local1.host").write_bytes(
        message(4).replace(b"\r\n", b"\n")
    )
    imap = RawIMAP(host)
    imap.ok("SELECT INBOX")
    imap.ok("STORE 2 +FLAGS (\\Flagged)")
    imap.ok("SELECT Work")
    imap.ok("STORE 1 +FLAGS (\\Deleted)")
    imap.ok("EXPUNGE")
    imap.close()


@pytest.mark.skipif(MBSYNC is None, reason="mbsync (isync) is not installed")
def test_mbsync_both_ways(host: MailHost, tmp_path: Path) -> None:
    acct = _two_folders(host)

    local = tmp_path / "local"
    local.mkdir()
    config = _mbsyncrc(host, tmp_path, local, "INBOX Work Archive")
    first = _mbsync(config)
    assert first.returncode == 0, first.stdout + first.stderr
    assert _local_messages(local / "INBOX") == {b"message 1": "", b"message 2": ""}
    assert _local_messages(local / "Work") == {b"message 3": ""}
    assert _local_messages(local / "Archive") == {}

    _change_both_sides(host, local)

    second = _mbsync(config)
    assert second.returncode == 0, second.stdout + second.stderr
    assert _local_messages(local / "INBOX") == {b"message 1": "S", b"message 2": "F"}
    assert _local_messages(local / "Work") == {}
    assert _local_messages(local / "Archive") == {b"message 4": ""}
    inbox = acct.folder("INBOX")
    assert [sorted(m.flags) for m in inbox.list_messages()] == [["\\Seen"], ["\\Flagged"]]
    assert acct.folder("Work").list_messages() == []
    (archived,) = acct.folder("Archive").list_messages()
    uploaded = acct.folder("Archive").read_message(archived.uid)
    # mbsync adds its X-TUID header to messages it uploads; the rest must be intact
    assert re.sub(rb"X-TUID: [^\r]*\r\n", b"", uploaded) == message(4)

    before_local = _tree(local)
    before_remote = {
        name: [(m.uid, m.flags, m.modseq) for m in acct.folder(name).list_messages()]
        for name in ("INBOX", "Work", "Archive")
    }
    third = _mbsync(config)
    assert third.returncode == 0, third.stdout + third.stderr
    # -Dn shows the IMAP traffic: a run with nothing to do only reads
    changing = re.findall(
        r"^>>> \d+ (?:UID STORE|STORE|APPEND|EXPUNGE|UID EXPUNGE|CREATE|DELETE|MOVE).*$",
        third.stdout,
        re.M,
    )
    assert changing == [], changing
    # isync 1.4 turns on COMPRESS=DEFLATE (RFC 4978) when offered: all of this went deflated
    assert re.search(r"^>>> (\d+) COMPRESS DEFLATE\n\1 OK DEFLATE active$", third.stdout, re.M), (
        third.stdout[:2000]
    )
    assert re.findall(r"^>>> \d+ SELECT (.*)$", third.stdout, re.M) == [
        '"INBOX"',
        '"Archive"',
        '"Work"',
    ]
    assert _tree(local) == before_local
    after_remote = {
        name: [(m.uid, m.flags, m.modseq) for m in acct.folder(name).list_messages()]
        for name in ("INBOX", "Work", "Archive")
    }
    assert after_remote == before_remote


def test_three_sessions_keep_consistent_numbers_through_mixed_changes(host: MailHost) -> None:
    """Every session's own sequence-number map, built only from the EXISTS and EXPUNGE it
    was sent, matches the mailbox after each step (RFC 3501 §2.3.1.2, §5.2, §7.4.1)."""
    for n in range(1, 9):
        host.deliver("alice", message(n))
    a, b, c = TrackedIMAP(host), TrackedIMAP(host), TrackedIMAP(host)
    sessions = (a, b, c)

    def step_done() -> None:
        for s in sessions:
            s.check()

    a.run("STORE 2,5,7 +FLAGS.SILENT (\\Deleted)")
    a.run("EXPUNGE")
    step_done()
    host.deliver("alice", message(9))
    b.run("STORE 1 +FLAGS.SILENT (\\Deleted)")
    host.deliver("alice", message(10))
    b.run(f"UID EXPUNGE {b.uids[0]}")
    step_done()
    pop = pop3_login(host)
    count = pop.stat()[0]
    pop.dele(1)
    pop.dele(count)
    pop.quit()
    status, untagged = c.command(b"APPEND INBOX {%d+}\r\n" % len(message(11)) + message(11))
    assert status.startswith(b"OK"), status
    c.take(untagged)
    a.run("MOVE 2 Trash")
    step_done()
    b.run("STORE 1:* +FLAGS.SILENT (\\Deleted)")
    c.run("CLOSE")
    c.uids = []
    c.take(c.ok("SELECT INBOX"))
    for s in sessions:
        s.check()
    assert a.uids == b.uids == c.uids == []
    for s in sessions:
        s.close()


def test_imapclient_international_names_and_search(host: MailHost) -> None:
    """RFC 3501 §5.1.3 modified UTF-7 names; §6.4.4 SEARCH CHARSET UTF-8 against an
    RFC 2047 encoded-word subject."""
    host.deliver("alice", REAL_MAIL)
    host.deliver("alice", message(2))
    c = client(host)
    c.create_folder("Entwürfe/Größe")
    names = {f[2] for f in c.list_folders()}
    assert {"Entwürfe", "Entwürfe/Größe"} <= names
    raw = RawIMAP(host)
    listed = b"".join(raw.ok('LIST "" "Entw*"'))
    raw.close()
    assert b' "Entw&APw-rfe/Gr&APYA3w-e"\r\n' in listed, listed
    c.select_folder("INBOX")
    assert c.search(["SUBJECT", "Café"], charset="UTF-8") == [1]
    assert c.search(["BODY", "café"], charset="UTF-8") == [1]
    assert c.search(["SUBJECT", "cafe"], charset="UTF-8") == []
    c.append("Entwürfe/Größe", message(3))
    assert c.folder_status("Entwürfe/Größe", ["MESSAGES"])[b"MESSAGES"] == 1
    c.logout()


def test_imapclient_sections_and_examine(host: MailHost) -> None:
    """RFC 3501 §6.4.5 section specs; EXAMINE is read-only and BODY[] there sets no \\Seen."""
    data = multipart()
    host.deliver("alice", data)
    c = client(host)
    info = c.select_folder("INBOX", readonly=True)
    assert b"READ-ONLY" in info
    got = c.fetch(
        [1],
        [
            "BODY[HEADER.FIELDS (SUBJECT FROM)]",
            "BODY[2.MIME]",
            "BODY[1]",
            "BODY[TEXT]",
            "BODY[HEADER]",
        ],
    )[1]
    header, _, text = data.partition(b"\r\n\r\n")
    assert got[b"BODY[HEADER.FIELDS (SUBJECT FROM)]"] == (
        b"From: Carol Example <carol@example.org>\r\nSubject: with attachment\r\n\r\n"
    )
    assert got[b"BODY[2.MIME]"] == (
        b'Content-Type: application/octet-stream; name="report.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="report.bin"\r\n\r\n'
    )
    assert got[b"BODY[1]"] == b"Hello Alice, the report is attached."
    assert got[b"BODY[HEADER]"] == header + b"\r\n\r\n"
    assert got[b"BODY[TEXT]"] == text
    assert b"\\Seen" not in c.get_flags([1])[1]
    c.select_folder("INBOX")
    c.fetch([1], ["BODY[TEXT]"])
    assert b"\\Seen" in c.get_flags([1])[1]
    c.logout()


def test_imapclient_trycreate_and_failed_select(host: MailHost) -> None:
    """RFC 3501 §6.3.11/§6.4.7: APPEND/COPY to a missing folder is NO [TRYCREATE];
    §6.3.1: a failed SELECT leaves no mailbox selected."""
    host.deliver("alice", message(1))
    raw = RawIMAP(host)
    status, _ = raw.command(b"APPEND Missing {%d+}\r\n" % len(message(2)) + message(2))
    assert status.startswith(b"NO [TRYCREATE]"), status
    raw.ok("SELECT INBOX")
    status, _ = raw.command("COPY 1 Missing")
    assert status.startswith(b"NO [TRYCREATE]"), status
    status, _ = raw.command("SELECT Missing")
    assert status.startswith(b"NO"), status
    status, _ = raw.command("FETCH 1 (UID)")
    assert status.startswith(b"BAD"), status  # not in the selected state any more
    raw.close()


def test_move_wakes_an_idle_session_on_the_destination(host: MailHost) -> None:
    """RFC 6851 MOVE: the source sessions see EXPUNGE, the destination's idler EXISTS."""
    for n in (1, 2):
        host.deliver("alice", message(n))
    watcher = RawIMAP(host)
    watcher.ok("SELECT Trash")
    watcher.idle()
    other = RawIMAP(host)
    other.ok("SELECT INBOX")
    mover = RawIMAP(host)
    mover.ok("SELECT INBOX")
    moved = mover.ok("UID MOVE 1 Trash")
    assert any(re.match(rb"\* OK \[COPYUID \d+ 1 1\]", r) for r in moved), moved
    assert untagged_numbers(moved, b"EXPUNGE") == [1]
    resp, _ = watcher.wait_for(rb"^\* \d+ EXISTS", timeout=PROMPT)
    assert resp == b"* 1 EXISTS\r\n"
    watcher.done()
    assert untagged_numbers(other.ok("NOOP"), b"EXPUNGE") == [1]
    for s in (watcher, other, mover):
        s.close()


def test_idle_on_one_folder_ignores_another(host: MailHost) -> None:
    host.account("alice").create_folder("Lists")
    imap = RawIMAP(host)
    imap.ok("SELECT INBOX")
    imap.idle()
    host.deliver("alice", message(1), folder="Lists")
    host.deliver("alice", message(2))
    resp, seen = imap.wait_for(rb"^\* \d+ EXISTS", timeout=PROMPT)
    assert resp == b"* 1 EXISTS\r\n" and not [s for s in seen if b"EXISTS" in s]
    imap.done()
    imap.close()


def test_rename_inbox_moves_its_messages(host: MailHost) -> None:
    """RFC 3501 §6.3.5: RENAME INBOX moves the messages and leaves an empty INBOX."""
    for n in (1, 2):
        host.deliver("alice", message(n))
    c = client(host)
    c.rename_folder("INBOX", "Old Inbox")
    assert c.folder_status("INBOX", ["MESSAGES"])[b"MESSAGES"] == 0
    assert c.folder_status("Old Inbox", ["MESSAGES"])[b"MESSAGES"] == 2
    c.select_folder("Old Inbox")
    bodies = c.fetch([1, 2], ["BODY.PEEK[]"])
    assert [bodies[u][b"BODY[]"] for u in sorted(bodies)] == [message(1), message(2)]
    c.logout()


def test_many_keywords_are_kept_or_refused_never_lost(host: MailHost) -> None:
    """PERMANENTFLAGS has \\* (RFC 3501 §7.1): keywords a STORE accepted must survive a
    restart, even past the 26 letters a Maildir file name can carry."""
    host.deliver("alice", message(1))
    keywords = [f"kw{n:02d}" for n in range(30)]
    imap = RawIMAP(host)
    imap.ok("SELECT INBOX")
    status, _ = imap.command(f"STORE 1 +FLAGS ({' '.join(keywords)})")
    if status.startswith(b"OK"):
        expected = {k.encode() for k in keywords}
    else:
        assert status.startswith(b"NO"), status
        expected = set()
    assert fetch_flags(imap.ok("FETCH 1 (FLAGS)"))[1] - {b"\\Recent"} == expected
    imap.close()
    host.restart()
    imap = RawIMAP(host)
    imap.ok("SELECT INBOX")
    assert fetch_flags(imap.ok("FETCH 1 (FLAGS)"))[1] - {b"\\Recent"} == expected
    imap.close()


def test_binary_and_multiappend(host: MailHost) -> None:
    """RFC 3516 BINARY[2] is the decoded attachment; RFC 3502 MULTIAPPEND is atomic and
    RFC 4315 APPENDUID names every new UID."""
    attachment = bytes(range(256)) * 4
    data = multipart(attachment)
    imap = RawIMAP(host)
    status, _ = imap.command(
        b"APPEND INBOX {%d+}\r\n%s (\\Seen) {%d+}\r\n%s"
        % (len(data), data, len(message(2)), message(2))
    )
    assert status.startswith(b"OK [APPENDUID "), status
    assert status.split(b"]")[0].split()[3] == b"1:2"
    imap.ok("SELECT INBOX")
    (resp,) = [r for r in imap.ok("FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2])") if b" FETCH " in r]
    assert b"BINARY.SIZE[2] %d" % len(attachment) in resp
    m = re.search(rb"BINARY\[2\] ~?\{(\d+)\}\r\n", resp)
    assert m, resp[:200]
    assert resp[m.end() : m.end() + int(m.group(1))] == attachment
    assert fetch_flags(imap.ok("FETCH 2 (FLAGS)"))[2] - {b"\\Recent"} == {b"\\Seen"}
    imap.close()


def test_search_criteria_edge_cases(host: MailHost) -> None:
    """RFC 3501 §6.4.4: sequence sets, LARGER/SMALLER, HEADER, SENTSINCE, nested OR/NOT."""
    for n in range(1, 7):
        host.deliver("alice", message(n, body="z" * (n * 50)))
    c = client(host)
    c.select_folder("INBOX")
    c.add_flags([2, 4], [imapclient.FLAGGED])
    assert c.search(["LARGER", str(len(message(3, body="z" * 150)))]) == [4, 5, 6]
    assert c.search(["SMALLER", str(len(message(2, body="z" * 100)))]) == [1]
    assert c.search(["HEADER", "Message-ID", "<m5@"]) == [5]
    assert c.search(["NOT", "OR", "FLAGGED", "HEADER", "Subject", "message 6"]) == [1, 3, 5]
    assert c.search(["2:4", "UNFLAGGED"]) == [3]
    assert c.search(["UID", "5:*"]) == [5, 6]
    assert c.search(["5:*", "FLAGGED"]) == []
    c.append("INBOX", multipart())  # the only one with a Date: header (25 Nov 2026)
    assert c.search(["SENTON", dt.date(2026, 11, 25)]) == [7]
    assert 7 not in c.search(["SENTBEFORE", dt.date(2026, 11, 25)])
    assert 7 not in c.search(["SENTSINCE", dt.date(2026, 11, 26)])
    c.logout()


@pytest.mark.parametrize("command", ["APPEND", "STORE"])
def test_refused_keywords_leave_room_for_other_keywords(host: MailHost, command: str) -> None:
    """An APPEND or STORE with more keywords than the folder can take must not use up the
    folder's keyword space: a later single keyword still works (RFC 3501 §7.1
    PERMANENTFLAGS \\*)."""
    keywords = " ".join(f"k{n}" for n in range(27)).encode()
    host.deliver("alice", message(1))
    first = RawIMAP(host)
    # how the big command is answered is test_many_keywords_are_kept_or_refused_never_lost's
    # business; here only what it leaves behind matters
    with contextlib.suppress(ConnectionError):
        if command == "APPEND":
            first.command(
                b"APPEND INBOX (%s) {%d+}\r\n%s" % (keywords, len(message(2)), message(2))
            )
        else:
            first.ok("SELECT INBOX")
            first.command(b"STORE 1 +FLAGS (%s)" % keywords)
    first.close()
    imap = RawIMAP(host)
    imap.ok("SELECT INBOX")
    imap.ok("STORE 1 +FLAGS ($Label1)")
    assert b"$Label1" in fetch_flags(imap.ok("FETCH 1 (FLAGS)"))[1]
    imap.close()


def test_copy_keeps_internaldate_and_flags_and_partials_past_the_end(host: MailHost) -> None:
    """RFC 3501 §6.4.7 COPY keeps flags and INTERNALDATE; §6.4.5 a partial starting past
    the end is empty; §6.3.6/§6.3.9 subscriptions."""
    c = client(host)
    when = dt.datetime(2025, 6, 1, 8, 30, tzinfo=dt.UTC)
    c.append("INBOX", message(1), flags=[imapclient.FLAGGED, b"Later"], msg_time=when)
    c.select_folder("INBOX")
    c.copy([1], "Archive")
    c.select_folder("Archive")
    (uid,) = c.search("ALL")
    got = c.fetch([uid], ["INTERNALDATE", "FLAGS"])[uid]
    assert got[b"INTERNALDATE"].astimezone(dt.UTC) == when
    assert set(got[b"FLAGS"]) - {imapclient.RECENT} == {imapclient.FLAGGED, b"Later"}
    raw = RawIMAP(host)
    raw.ok("EXAMINE Archive")
    (resp,) = raw.ok(f"FETCH 1 (BODY.PEEK[]<{len(message(1)) + 10}.5>)")
    assert re.search(rb'BODY\[\]<\d+> (""|\{0\}\r\n)', resp), resp
    raw.close()
    c.subscribe_folder("Archive")
    c.create_folder("Lists")
    c.subscribe_folder("Lists")
    c.unsubscribe_folder("Archive")
    subscribed = [f[2] for f in c.list_sub_folders()]
    assert "Lists" in subscribed and "Archive" not in subscribed, subscribed
    c.logout()


def test_imapclient_starttls_when_plaintext_is_refused(tmp_path: Path) -> None:
    """RFC 3501 §6.2.3 LOGINDISABLED until STARTTLS (§6.2.1); then LOGIN works."""
    with MailHost(tmp_path / "h", users=USERS, plaintext_auth="never") as host:
        host.deliver("alice", message(1))
        c = imapclient.IMAPClient(host.host, port=host.imap_port, ssl=False, timeout=10)
        assert b"LOGINDISABLED" in c.capabilities() and b"STARTTLS" in c.capabilities()
        with pytest.raises(imapclient.exceptions.IMAPClientError):
            c.login("alice", USERS["alice"])
        c.starttls(host.ssl_context())
        assert b"LOGINDISABLED" not in c.capabilities()
        c.login("alice", USERS["alice"])
        assert c.select_folder("INBOX")[b"EXISTS"] == 1
        c.logout()
        tls = imapclient.IMAPClient(
            host.host, port=host.imaps_port, ssl=True, ssl_context=host.ssl_context(), timeout=10
        )
        tls.login("alice", USERS["alice"])
        assert tls.folder_status("INBOX", ["MESSAGES"])[b"MESSAGES"] == 1
        tls.logout()


def test_pipelined_commands_and_done_in_one_packet(host: MailHost) -> None:
    """Clients send DONE and their next command together, and pipeline commands
    (RFC 3501 §5.5); answers come in order, each tagged once."""
    for n in (1, 2, 3):
        host.deliver("alice", message(n))
    imap = RawIMAP(host)
    imap.send(b"p1 SELECT INBOX\r\np2 FETCH 2 (UID)\r\np3 NOOP\r\np4 IDLE\r\n")
    tags = []
    while True:
        resp = imap.read_response()
        if resp.startswith(b"+ "):
            break
        if not resp.startswith(b"* "):
            tags.append(resp.split()[0:2])
    assert tags == [[b"p1", b"OK"], [b"p2", b"OK"], [b"p3", b"OK"]]
    imap.send(b"DONE\r\np5 UID FETCH 3 (UID)\r\n")
    resp, seen = imap.wait_for(rb"^p5 ")
    assert resp.startswith(b"p5 OK"), resp
    assert [s for s in seen if s.startswith(b"p4 ")] == [seen[0]] and seen[0].startswith(b"p4 OK")
    assert seen[1:] == [b"* 3 FETCH (UID 3)\r\n"]
    imap.close()


def test_uid_range_past_the_last_uid_includes_it(host: MailHost) -> None:
    """RFC 3501 §9 seq-range: "n:*" with n above the highest UID still means that UID
    (clients poll for new mail with "UID FETCH <uidnext>:*")."""
    for n in (1, 2, 3):
        host.deliver("alice", message(n))
    imap = RawIMAP(host)
    imap.ok("SELECT INBOX")
    assert parse_fetch_uids(imap.ok("UID FETCH 10:* (UID)")) == {3: 3}
    (line,) = [r for r in imap.ok("UID SEARCH 10:*") if r.startswith(b"* SEARCH")]
    assert line == b"* SEARCH 3\r\n"
    assert parse_fetch_uids(imap.ok("FETCH 2,1,2 (UID)")) == {1: 1, 2: 2}
    imap.close()


def test_search_with_a_synchronizing_literal(host: MailHost) -> None:
    """RFC 3501 §4.3 literals: the server says "+" and the client sends the string."""
    host.deliver("alice", REAL_MAIL)
    host.deliver("alice", message(2))
    imap = RawIMAP(host)
    imap.ok("SELECT INBOX")
    word = "Café".encode()
    imap.send(b"s1 SEARCH CHARSET UTF-8 SUBJECT {%d}\r\n" % len(word))
    resp, _ = imap.wait_for(rb"^\+")
    imap.send(word + b"\r\n")
    resp, seen = imap.wait_for(rb"^s1 ")
    assert resp.startswith(b"s1 OK"), resp
    assert b"* SEARCH 1\r\n" in seen
    imap.close()


def _literals(resp: bytes) -> list[tuple[bytes, bytes]]:
    """(item name, literal octets) of every literal in one FETCH response."""
    out = []
    pos = 0
    while True:
        m = re.compile(rb" ?([A-Z0-9.]+(?:\[[^\]]*\])?(?:<\d+>)?) \{(\d+)\}\r\n").search(resp, pos)
        if not m:
            return out
        end = m.end() + int(m.group(2))
        out.append((m.group(1), resp[m.end() : end]))
        pos = end


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ("BODY.PEEK[] BODY.PEEK[]", [("BODY[]", 0, None), ("BODY[]", 0, None)]),
        (
            "BODY.PEEK[]<10.20> BODY.PEEK[]<100.20>",
            [("BODY[]<10>", 10, 20), ("BODY[]<100>", 100, 20)],
        ),
        ("RFC822 BODY.PEEK[]<0.10>", [("RFC822", 0, None), ("BODY[]<0>", 0, 10)]),
        ("BODY.PEEK[]<0.10> RFC822", [("BODY[]<0>", 0, 10), ("RFC822", 0, None)]),
    ],
)
def test_one_fetch_with_two_items_of_the_whole_message(
    host: MailHost, items: str, expected: list[tuple[str, int, int | None]]
) -> None:
    """RFC 3501 §6.4.5: each item is answered on its own; one must not read on from
    where the previous one stopped."""
    data = multipart()
    host.deliver("alice", data)
    imap = RawIMAP(host)
    imap.ok("EXAMINE INBOX")
    (resp,) = imap.ok(f"FETCH 1 ({items})")
    imap.close()
    want = [
        (name.encode(), data[start : None if length is None else start + length])
        for name, start, length in expected
    ]
    assert _literals(resp) == want, resp


def test_authenticate_plain_with_and_without_initial_response(host: MailHost) -> None:
    """RFC 4959 SASL-IR (imapclient sends the response with the command) and the plain
    RFC 3501 §6.2.2 exchange (imaplib waits for the "+")."""
    import imaplib

    c = imapclient.IMAPClient(host.host, port=host.imap_port, ssl=False, timeout=10)
    c.plain_login("alice", USERS["alice"])
    assert c.select_folder("INBOX")[b"EXISTS"] == 0
    c.logout()
    imap = imaplib.IMAP4(host.host, host.imap_port, timeout=10)
    typ, _ = imap.authenticate("PLAIN", lambda _: f"\0alice\0{USERS['alice']}".encode())
    assert typ == "OK"
    assert imap.select("INBOX") == ("OK", [b"0"])
    imap.logout()
    imap = imaplib.IMAP4(host.host, host.imap_port, timeout=10)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imap.authenticate("PLAIN", lambda _: b"\0alice\0wrong")
    imap.shutdown()


def test_create_special_use(host: MailHost) -> None:
    """RFC 6154 §3 CREATE-SPECIAL-USE: the role shows in LIST; an unknown one is
    NO [USEATTR]."""
    imap = RawIMAP(host)
    imap.ok("CREATE Starred (USE (\\Flagged))")
    listed = imap.ok('LIST "" "Starred" RETURN (SPECIAL-USE)')
    assert len(listed) == 1 and b"\\Flagged" in listed[0].split(b")")[0], listed
    status, _ = imap.command("CREATE Odd (USE (\\Bogus))")
    assert status.startswith(b"NO [USEATTR]"), status
    assert imap.ok('LIST "" "Odd"') == []
    imap.close()


def test_append_and_copy_into_the_selected_mailbox_announce_exists(host: MailHost) -> None:
    """RFC 3501 §6.3.11: an APPEND to the selected mailbox SHOULD send EXISTS at once;
    the same for COPY into it; the new message is \\Recent for this session (§2.3.2)."""
    imap = RawIMAP(host)
    imap.ok("SELECT INBOX")
    untagged = imap.ok(b"APPEND INBOX {%d+}\r\n%s" % (len(message(1)), message(1)))
    assert untagged_numbers(untagged, b"EXISTS") == [1]
    untagged = imap.ok("COPY 1 INBOX")
    assert untagged_numbers(untagged, b"EXISTS") == [2]
    flags = fetch_flags(imap.ok("FETCH 1:2 (FLAGS)"))
    assert all(b"\\Recent" in f for f in flags.values()), flags
    imap.close()


@pytest.mark.skipif(MBSYNC is None, reason="mbsync (isync) is not installed")
def test_mbsync_creates_folders_both_ways(host: MailHost, tmp_path: Path) -> None:
    """``Patterns *`` with ``Create Both``: a nested name with a space and a non-ASCII
    name come down, a folder made locally goes up with its message."""
    acct = host.account("alice")
    acct.create_folder("Lists/Python Dev")
    acct.create_folder("Entwürfe")
    host.deliver("alice", message(1), folder="Lists/Python Dev")
    host.deliver("alice", message(2), folder="Entwürfe")
    local = tmp_path / "local"
    for sub in ("cur", "new", "tmp"):
        (local / "Local New" / sub).mkdir(parents=True)
    (local / "Local New" / "new" / "1795680000.abc.host").write_bytes(
        message(3).replace(b"\r\n", b"\n")
    )
    config = _mbsyncrc(host, tmp_path, local, "*")
    first = _mbsync(config)
    assert first.returncode == 0, first.stdout + first.stderr
    assert _local_messages(local / "Lists" / "Python Dev") == {b"message 1": ""}
    # mbsync keeps IMAP's modified UTF-7 name on disk unless told otherwise
    assert _local_messages(local / "Entw&APw-rfe") == {b"message 2": ""}
    names = {f.name for f in acct.list_folders()}
    assert {"Local New", "Lists/Python Dev", "Entwürfe"} <= names
    (uploaded,) = acct.folder("Local New").list_messages()
    body = acct.folder("Local New").read_message(uploaded.uid)
    assert re.sub(rb"X-TUID: [^\r]*\r\n", b"", body) == message(3)
    second = _mbsync(config)
    assert second.returncode == 0, second.stdout + second.stderr
    assert not re.findall(r"^>>> \d+ (?:APPEND|UID STORE|CREATE).*$", second.stdout, re.M)


def test_header_fields_as_thunderbird_asks(host: MailHost) -> None:
    """RFC 3501 §6.4.5 HEADER.FIELDS / .NOT: names match case-insensitively, folded lines
    come whole, in message order, followed by the blank line."""
    host.deliver("alice", REAL_MAIL)
    c = client(host)
    c.select_folder("INBOX", readonly=True)
    fields = (
        "From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups "
        "In-Reply-To Content-Type Reply-To received"
    )
    got = c.fetch(
        [1],
        [
            f"BODY.PEEK[HEADER.FIELDS ({fields})]",
            "BODY.PEEK[HEADER.FIELDS.NOT (Received Return-Path MIME-Version)]",
        ],
    )[1]
    lines = HEADER.split(b"\r\n")
    folded = lines[1:4]  # Received: and its two continuation lines
    wanted = {b"from", b"to", b"subject", b"date", b"message-id", b"content-type"}
    kept = [x for x in lines if x.split(b":")[0].lower() in wanted]
    by_fields = next(v for k, v in got.items() if k.startswith(b"BODY[HEADER.FIELDS ("))
    assert by_fields == b"\r\n".join([*folded, *kept]) + b"\r\n\r\n"
    by_not = next(v for k, v in got.items() if k.startswith(b"BODY[HEADER.FIELDS.NOT"))
    dropped = {b"received", b"return-path", b"mime-version"}
    rest = [x for x in lines if x not in folded and x.split(b":")[0].lower() not in dropped]
    assert by_not == b"\r\n".join(rest) + b"\r\n\r\n"
    c.logout()


def test_client_vanishing_mid_fetch_leaves_the_host_serving(host: MailHost) -> None:
    """A client that drops while a 5 MB literal streams does not wedge the host."""
    import os

    data = multipart(os.urandom(5 * 1024 * 1024), subject="big")
    host.deliver("alice", data)
    for _ in range(3):
        gone = RawIMAP(host)
        gone.ok("EXAMINE INBOX")
        gone.send(b"g1 FETCH 1 (BODY.PEEK[])\r\n")
        received = 0
        while received < 200_000:  # part of the literal, far from all of it
            chunk = gone.sock.recv(65536)
            assert chunk, "the server closed the connection"
            received += len(chunk)
        gone.close()
    imap = RawIMAP(host)
    imap.ok("EXAMINE INBOX")
    (resp,) = imap.ok("FETCH 1 (RFC822.SIZE BODY.PEEK[]<0.100>)")
    assert b"RFC822.SIZE %d" % len(data) in resp and resp.endswith(data[:100] + b")\r\n")
    imap.close()


# -- fetchmail over IMAP -------------------------------------------------------------------


@pytest.mark.skipif(FETCHMAIL is None, reason="fetchmail is not installed")
def test_fetchmail_imap_keep_then_flush(host: MailHost, tmp_path: Path) -> None:
    """fetchmail's IMAP mode: it takes the unseen messages and marks them \\Seen (--keep),
    finds nothing new on the next poll, and --flush deletes what it had seen and takes
    the new one; an IDLE session watching INBOX sees each change."""
    mails = [REAL_MAIL, message(2), message(3)]
    for m in mails:
        host.deliver("alice", m)
    first = fetchmail(host, tmp_path, "--keep", protocol="imap")
    assert first.returncode == 0, first.stdout + first.stderr  # 0: mail was fetched
    assert delivered_by_mda(tmp_path) == [m.replace(b"\r\n", b"\n") for m in mails]
    watcher = RawIMAP(host)
    watcher.ok("SELECT INBOX")
    flags = fetch_flags(watcher.ok("FETCH 1:* (FLAGS)"))
    assert all(b"\\Seen" in f for f in flags.values()), flags

    again = fetchmail(host, tmp_path, "--keep", protocol="imap")
    assert again.returncode == 1, again.stdout + again.stderr  # 1: no new mail
    assert len(delivered_by_mda(tmp_path)) == 3

    host.deliver("alice", message(4))
    last = fetchmail(host, tmp_path, "--flush", protocol="imap")
    assert last.returncode == 0, last.stdout + last.stderr
    assert delivered_by_mda(tmp_path)[3:] == [message(4).replace(b"\r\n", b"\n")]
    noop_reports_all_expunged(watcher, 3)
    watcher.close()


# -- offlineimap --------------------------------------------------------------------------

OFFLINEIMAP = shutil.which("offlineimap")


def _offlineimap(host: MailHost, tmp: Path, local: Path) -> subprocess.CompletedProcess[str]:
    """One offlineimap sync of alice's INBOX, Work and Archive with a Maildir at ``local``;
    its IMAP traffic goes to ``tmp/offlineimap.log`` (overwritten each run)."""
    config = tmp / "offlineimaprc"
    config.write_text(
        f"""[general]
accounts = test
metadata = {tmp}/offlineimap-state
ui = basic

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {local}

[Repository remote]
type = IMAP
remotehost = 127.0.0.1
remoteport = {host.imap_port}
remoteuser = alice
remotepass = {USERS["alice"]}
ssl = no
starttls = no
folderfilter = lambda name: name in ("INBOX", "Work", "Archive")
"""
    )
    log = tmp / "offlineimap.log"
    log.unlink(missing_ok=True)
    return subprocess.run(
        [OFFLINEIMAP or "offlineimap", "-c", str(config), "-o", "-d", "imap", "-l", str(log)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(OFFLINEIMAP is None, reason="offlineimap is not installed")
def test_offlineimap_both_ways(host: MailHost, tmp_path: Path) -> None:
    """offlineimap syncs flags, new messages and deletions both ways, by UID (UIDPLUS
    tells it the UID of what it uploads), and a sync with nothing new changes nothing."""
    acct = _two_folders(host)
    local = tmp_path / "local"
    first = _offlineimap(host, tmp_path, local)
    assert first.returncode == 0, first.stdout + first.stderr
    assert _local_messages(local / "INBOX") == {b"message 1": "", b"message 2": ""}
    assert _local_messages(local / "Work") == {b"message 3": ""}

    _change_both_sides(host, local)

    second = _offlineimap(host, tmp_path, local)
    assert second.returncode == 0, second.stdout + second.stderr
    assert _local_messages(local / "INBOX") == {b"message 1": "S", b"message 2": "F"}
    assert _local_messages(local / "Work") == {}
    assert [sorted(m.flags) for m in acct.folder("INBOX").list_messages()] == [
        ["\\Seen"],
        ["\\Flagged"],
    ]
    assert acct.folder("Work").list_messages() == []
    (archived,) = acct.folder("Archive").list_messages()
    assert acct.folder("Archive").read_message(archived.uid) == message(4)

    before = {
        name: [(m.uid, m.flags) for m in acct.folder(name).list_messages()]
        for name in ("INBOX", "Work", "Archive")
    }
    third = _offlineimap(host, tmp_path, local)
    assert third.returncode == 0, third.stdout + third.stderr
    log = (tmp_path / "offlineimap.log").read_text()
    sent = re.findall(r"writer > b'\S+ (UID \w+|\w+)", log)
    assert "SELECT" in sent  # the log does hold what it sent
    assert not {"APPEND", "STORE", "UID STORE", "EXPUNGE", "CREATE"} & set(sent), sent
    assert before == {
        name: [(m.uid, m.flags) for m in acct.folder(name).list_messages()]
        for name in ("INBOX", "Work", "Archive")
    }


# -- getmail over IMAP -------------------------------------------------------------------


@pytest.mark.skipif(GETMAIL is None, reason="getmail is not installed")
def test_getmail_imap_remembers_uids_across_a_restart(host: MailHost, tmp_path: Path) -> None:
    """getmail remembers what it took by folder, UIDVALIDITY and UID: after a restart of the
    host its next poll takes nothing, then only the two new messages (one delivered to
    INBOX, one appended to another folder); ``delete`` expunges, which a session watching
    INBOX sees."""
    client = imap_login(host)
    assert client.create("Work")[0] == "OK"
    for n in (1, 2):
        host.deliver("alice", message(n))
    host.deliver("alice", message(3), folder="Work")
    folders = 'mailboxes = ("INBOX", "Work")'
    first = getmail(tmp_path, "SimpleIMAPRetriever", host.imap_port, folders)
    assert first.returncode == 0, first.stdout + first.stderr
    assert delivered_by_mda(tmp_path) == [as_getmail_delivers(message(n)) for n in (1, 2, 3)]

    client.logout()
    host.restart()
    again = getmail(tmp_path, "SimpleIMAPRetriever", host.imap_port, folders)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(delivered_by_mda(tmp_path)) == 3, again.stdout

    host.deliver("alice", message(4))
    client = imap_login(host)
    assert client.append("Work", "", None, message(5))[0] == "OK"
    client.logout()
    third = getmail(tmp_path, "SimpleIMAPRetriever", host.imap_port, folders)
    assert third.returncode == 0, third.stdout + third.stderr
    assert delivered_by_mda(tmp_path)[3:] == [as_getmail_delivers(message(n)) for n in (4, 5)]

    watcher = RawIMAP(host)
    watcher.ok("SELECT INBOX")
    last = getmail(
        tmp_path, "SimpleIMAPRetriever", host.imap_port, folders, "read_all = true", "delete = true"
    )
    assert last.returncode == 0, last.stdout + last.stderr
    assert len(delivered_by_mda(tmp_path)) == 10
    noop_reports_all_expunged(watcher, 3)
    watcher.ok("SELECT Work")
    assert watcher.fetch_uids() == {}
    watcher.close()
