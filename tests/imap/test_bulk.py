"""The bulk paths for large mailboxes give the same responses as the per-message ones.

FETCH of listing items is formatted many messages per write, ENVELOPE/BODYSTRUCTURE are
loaded in batches, flag-only SEARCH runs as set algebra on the view, header SEARCH skips
decoding when the needle cannot occur, and STORE calls the store once.
"""

from __future__ import annotations

import random
import re

import pytest
from imapkit import Client, Host, lines, untagged

from mailhost.imap import fetch as fetch_module
from mailhost.imap.commands import SeqSet
from mailhost.imap.search import Candidate, cheap_matches, is_cheap, run_search
from mailhost.mime.headers import HeaderField, scan_header
from mailhost.store.memory import MemoryStore

MULTI = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: a@example.org, Group: b@example.org, c@example.org;\r\n"
    b"Subject: parts\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"hello\r\n"
    b"--b1\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: inner\r\nFrom: x@example.org\r\n\r\ninner body\r\n"
    b"--b1--\r\n"
)


def _msg(i: int) -> bytes:
    who = "Alice Example <alice@example.org>" if i % 5 == 0 else f"Sender {i} <s{i}@example.com>"
    return (
        f"From: {who}\r\nTo: user@example.net\r\nSubject: message {i}\r\n"
        f"Date: Mon, 02 Mar 2026 10:{i % 60:02d}:00 +0000\r\n\r\nbody {i}\r\n"
    ).encode()


@pytest.fixture
def big(host: Host) -> Client:
    inbox = host.inbox()
    for i in range(1, 41):
        flags = ["\\Seen"] if i % 2 else []
        if i % 7 == 0:
            flags.append("$Label1")
        inbox.append(_msg(i), flags, internaldate=1772539200.0 + i)
    inbox.claim_recent()  # another session saw them first: none is \Recent here
    c = host.connect()
    c.login()
    c.select()
    return c


def _per_message(c: Client, command: str, n: int) -> list[bytes]:
    out: list[bytes] = []
    for seq in range(1, n + 1):
        out += untagged(c.cmd(f"P{seq} {command.replace('SET', str(seq))}"))
    return out


# -- FETCH of listing items ----------------------------------------------------------------


def test_listing_fetch_matches_one_at_a_time(big: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_module, "_LINES_PER_WRITE", 7)
    items = "(UID FLAGS RFC822.SIZE INTERNALDATE FLAGS)"
    bulk = untagged(big.cmd(f"A1 FETCH 1:* {items}"))
    assert len(bulk) == 40
    assert bulk == _per_message(big, f"FETCH SET {items}", 40)
    assert bulk[6] == (
        b"* 7 FETCH (UID 7 FLAGS (\\Seen $Label1) RFC822.SIZE %d"
        b' INTERNALDATE "03-Mar-2026 12:00:07 +0000")' % len(_msg(7))
    )


def test_listing_uid_fetch_adds_uid_and_sparse_sets(big: Client) -> None:
    out = untagged(big.cmd("A1 UID FETCH 9:7,1,3,2:3,40:* (RFC822.SIZE)"))
    assert [re.match(rb"\* (\d+) FETCH \(UID (\d+) ", ln).groups() for ln in out] == [  # type: ignore[union-attr]
        (b"1", b"1"),
        (b"2", b"2"),
        (b"3", b"3"),
        (b"7", b"7"),
        (b"8", b"8"),
        (b"9", b"9"),
        (b"40", b"40"),
    ]


def test_listing_fetch_after_an_expunge_keeps_sequence_numbers(host: Host, big: Client) -> None:
    big.cmd("A1 STORE 2,5 +FLAGS (\\Deleted)")
    big.cmd("A2 EXPUNGE")
    out = untagged(big.cmd("A3 FETCH 1:5 (UID)"))
    assert out == [
        b"* 1 FETCH (UID 1)",
        b"* 2 FETCH (UID 3)",
        b"* 3 FETCH (UID 4)",
        b"* 4 FETCH (UID 6)",
        b"* 5 FETCH (UID 7)",
    ]


def test_listing_fetch_of_messages_newer_than_the_select(host: Host, big: Client) -> None:
    new = b"Subject: later\r\n\r\nhi\r\n"
    uid = host.deliver(new, flags=("\\Flagged",))
    out = big.cmd("A1 NOOP")
    assert b"* 41 EXISTS" in out
    assert untagged(big.cmd("A2 FETCH 41 (RFC822.SIZE FLAGS)")) == [
        b"* 41 FETCH (RFC822.SIZE %d FLAGS (\\Flagged \\Recent))" % len(new)
    ]
    assert untagged(big.cmd(f"A3 UID FETCH {uid} (INTERNALDATE)"))[0].startswith(
        b"* 41 FETCH (UID 41 INTERNALDATE "
    )


def test_listing_fetch_of_a_message_expunged_elsewhere(host: Host, big: Client) -> None:
    other = host.connect()
    other.login()
    other.select()
    other.cmd("B1 STORE 3 +FLAGS (\\Deleted)")
    other.cmd("B2 EXPUNGE")
    # RFC 3501 §7.4.1: no EXPUNGE during FETCH; its size is not known to this session,
    # so the message is left out, NO EXPUNGEISSUED
    out = big.cmd("A1 FETCH 2:4 (FLAGS RFC822.SIZE)")
    assert b"EXPUNGE\r\n" not in out
    assert [ln.split(b" (")[0] for ln in untagged(out)] == [b"* 2 FETCH", b"* 4 FETCH"]
    assert lines(out)[-1].startswith(b"A1 NO [EXPUNGEISSUED]")
    # its flags are known: answered (RFC 2180 §4.1.1)
    out = big.cmd("A0 FETCH 2:4 (FLAGS)")
    assert [ln.split(b" (")[0] for ln in untagged(out)] == [b"* %d FETCH" % n for n in (2, 3, 4)]
    assert lines(out)[-1] == b"A0 OK FETCH completed"
    # the UID form reports the EXPUNGE first, then answers with the new numbers
    out = big.cmd("A2 UID FETCH 2:4 (FLAGS)")
    assert untagged(out)[0] == b"* 3 EXPUNGE"
    assert [ln.split(b" (")[0] for ln in untagged(out)[1:]] == [b"* 2 FETCH", b"* 3 FETCH"]
    assert lines(out)[-1].startswith(b"A2 OK")


def test_listing_fetch_reports_pending_flag_changes_once(host: Host, big: Client) -> None:
    host.inbox().set_flags([4], ["\\Answered"], mode=_add())
    out = untagged(big.cmd("A1 FETCH 4 (FLAGS)"))
    assert out == [b"* 4 FETCH (FLAGS (\\Answered))"]
    assert untagged(big.cmd("A2 NOOP")) == []


def _add():  # type: ignore[no-untyped-def]
    from mailhost.store.api import FlagMode

    return FlagMode.ADD


def test_listing_fetch_with_recent_messages(host: Host) -> None:
    for i in range(1, 4):
        host.deliver(_msg(i), flags=("\\Seen",) if i == 2 else ())
    c = host.connect()
    c.login()
    c.select()
    assert untagged(c.cmd("A1 FETCH 1:* (FLAGS)")) == [
        b"* 1 FETCH (FLAGS (\\Recent))",
        b"* 2 FETCH (FLAGS (\\Recent \\Seen))",
        b"* 3 FETCH (FLAGS (\\Recent))",
    ]


# -- ENVELOPE / BODYSTRUCTURE in batches -----------------------------------------------------


def test_batched_envelope_bodystructure_match_unbatched(
    host: Host, big: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.deliver(MULTI)
    big.cmd("A0 NOOP")
    monkeypatch.setattr(fetch_module, "_BATCH", 3)
    items = "UID ENVELOPE BODYSTRUCTURE BODY RFC822.SIZE BODY.PEEK[1]"
    batched = big.cmd(f"A1 FETCH 1:* ({items})")
    # a streamed item makes every message go alone through the per-message path
    alone = big.cmd(f"A1 FETCH 1:* ({items} BODY.PEEK[]<0.1>)")
    assert batched == alone.replace(b" BODY[]<0> {1}\r\nF", b"")
    assert batched.count(b" FETCH (UID ") == 41
    assert b'"mixed"' in batched and b'"inner"' in batched
    # whole messages are batched by octets as well as by count
    monkeypatch.setattr(fetch_module, "_BATCH_BYTES", 100)
    assert big.cmd(f"A1 FETCH 1:* ({items})") == batched


def test_structure_then_a_part_reads_the_message_once(
    host: Host, big: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = host.deliver(MULTI)
    big.cmd("A0 NOOP")
    folder = big.session.folder
    reads: list[int] = []
    real = folder.read_message

    def counting(u: int) -> bytes:
        reads.append(u)
        return real(u)

    monkeypatch.setattr(folder, "read_message", counting)
    assert b"BODYSTRUCTURE" in big.cmd(f"A1 UID FETCH {uid} (BODYSTRUCTURE)")
    out = big.cmd(f"A2 UID FETCH {uid} (BODY.PEEK[1] BODY.PEEK[2.HEADER])")
    assert b"BODY[1] {5}\r\nhello BODY[2.HEADER] {" in out
    assert reads == [uid]


def test_batched_fetch_sets_seen_and_reports_flags(big: Client) -> None:
    out = big.cmd("A1 FETCH 2,4 (ENVELOPE BODY[TEXT])")
    assert out.count(b" FETCH (ENVELOPE (") == 2
    assert out.count(b"\r\nbody 2\r\n FLAGS (\\Seen))\r\n") == 1
    assert out.count(b"\r\nbody 4\r\n FLAGS (\\Seen))\r\n") == 1


# -- SEARCH -----------------------------------------------------------------------------------


def _random_key(rnd: random.Random, depth: int = 0) -> tuple[object, ...]:
    choices = ["FLAG", "NEW", "OLD", "RECENT", "SEQ", "UID", "ALL"]
    if depth < 3:
        choices += ["NOT", "OR", "AND"]
    op = rnd.choice(choices)
    if op == "FLAG":
        return ("FLAG", rnd.choice(["\\Seen", "\\Flagged", "$A"]), rnd.random() < 0.5)
    if op == "RECENT":
        return ("RECENT", rnd.random() < 0.5)
    if op in ("SEQ", "UID"):
        lo = rnd.choice([1, 3, 10, None])
        hi = rnd.choice([2, 5, 30, None])
        return (op, SeqSet(ranges=[(lo, hi), (7, 7)], has_star=lo is None or hi is None))
    if op == "NOT":
        return ("NOT", _random_key(rnd, depth + 1))
    if op == "OR":
        return ("OR", _random_key(rnd, depth + 1), _random_key(rnd, depth + 1))
    if op == "AND":
        return ("AND", tuple(_random_key(rnd, depth + 1) for _ in range(rnd.randrange(1, 4))))
    return (op,)


def test_cheap_search_agrees_with_the_general_evaluator() -> None:
    rnd = random.Random(3)
    folder = MemoryStore().account("u").folder("INBOX")
    uids = sorted(rnd.sample(range(1, 60), 25))
    flag_sets = [
        frozenset(rnd.sample(["\\Seen", "\\Flagged", "$A"], rnd.randrange(0, 3))) for _ in uids
    ]
    recent = set(rnd.sample(uids, 6))
    cands = [
        Candidate(i + 1, u, f, u in recent)
        for i, (u, f) in enumerate(zip(uids, flag_sets, strict=True))
    ]
    for _ in range(400):
        key = _random_key(rnd)
        assert is_cheap(key)
        general = [c.seq - 1 for c in run_search(folder, cands, key, len(uids), uids[-1])]
        assert cheap_matches(key, uids, flag_sets, recent) == general, key


def test_search_results_are_the_same_on_both_paths(big: Client) -> None:
    big.cmd("A0 STORE 3 +FLAGS (\\Deleted)")
    for cmd in (
        "UNSEEN",
        "UID SEARCH SEEN NOT DELETED",
        "OR FLAGGED KEYWORD $Label1",
        # one flag, by UID: the one-pass path
        "UID SEARCH UNSEEN",
        "UID SEARCH DELETED",
        "UID SEARCH KEYWORD $Label1",
    ):
        cheap = big.cmd(f"A1 {'' if cmd.startswith('UID') else 'SEARCH '}{cmd}")
        # the same key with a body test that matches everything takes the general path
        general = big.cmd(f"A1 {'' if cmd.startswith('UID') else 'SEARCH '}{cmd} BODY body")
        assert cheap == general


@pytest.mark.parametrize(
    ("header", "needle", "found"),
    [
        (b"From: =?utf-8?q?Al=69ce?= <a@example.org>", "alice", True),
        (b'From: "Alice\r\n Example" <a@example.org>', "alice example", True),
        (b"From: Bob <bob@example.org>", "alice", False),
        (b"From: Bob <bob@example.org>", "BOB@EXAMPLE", True),
        # U+017F LATIN SMALL LETTER LONG S case-folds to "s": no octet-level skip
        ("Subject: \u017fpecial".encode(), "special", True),
        (b"Subject: specia\r\n l", "special", False),
    ],
)
def test_header_search_prefilter(host: Host, header: bytes, needle: str, found: bool) -> None:
    host.deliver(b"Subject: other\r\nFrom: nobody@example.org\r\n\r\nx\r\n")
    host.deliver(header + b"\r\nTo: t@example.org\r\n\r\nbody\r\n")
    c = host.connect()
    c.login()
    c.select()
    key = "SUBJECT" if header.startswith(b"Subject") else "FROM"
    out = c.send(b"A1 SEARCH CHARSET UTF-8 " + key.encode() + b' "' + needle.encode() + b'"\r\n')
    assert untagged(out) == [b"* SEARCH 2" if found else b"* SEARCH"]


def test_cheap_search_leaves_out_messages_expunged_elsewhere(host: Host, big: Client) -> None:
    other = host.connect()
    other.login()
    other.select()
    other.cmd("B1 STORE 2:3 +FLAGS (\\Deleted)")
    other.cmd("B2 EXPUNGE")
    # RFC 3501 §7.4.1: no EXPUNGE during SEARCH, and the gone ones do not match
    out = big.cmd("A1 SEARCH 1:5")
    assert untagged(out) == [b"* SEARCH 1 4 5"]
    out = big.cmd("A2 SEARCH UNSEEN")
    assert untagged(out)[0] == b"* SEARCH " + b" ".join(b"%d" % n for n in range(4, 41, 2))
    # the UID form reports the EXPUNGEs first and then answers
    out = big.cmd("A3 UID SEARCH UID 1:5")
    assert untagged(out) == [b"* 2 EXPUNGE", b"* 2 EXPUNGE", b"* SEARCH 1 4 5"]


def test_header_search_in_batches(big: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from mailhost.imap import selected

    monkeypatch.setattr(selected, "_SEARCH_BATCH", 3)
    out = untagged(big.cmd('A1 SEARCH FROM "alice" UNSEEN'))
    assert out == [b"* SEARCH 10 20 30 40"]


# -- STORE ------------------------------------------------------------------------------------


def test_store_calls_the_store_once_and_writes_once(
    host: Host, big: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = big.session.folder
    calls: list[list[int]] = []
    real = folder.set_flags

    def counting(uids, flags, mode):  # type: ignore[no-untyped-def]
        calls.append(list(uids))
        return real(uids, flags, mode)

    monkeypatch.setattr(folder, "set_flags", counting)
    writes: list[bytes] = []
    real_write = big.proto.write
    monkeypatch.setattr(big.proto, "write", lambda d: (writes.append(d), real_write(d)))
    out = big.cmd("A1 STORE 1:30 +FLAGS (\\Flagged)")
    assert calls == [list(range(1, 31))]
    assert len(untagged(out)) == 30
    assert untagged(out)[0] == b"* 1 FETCH (FLAGS (\\Flagged \\Seen))"
    fetch_writes = [w for w in writes if w.startswith(b"* ") and b"FETCH" in w]
    assert len(fetch_writes) == 1
    out = big.cmd("A2 UID STORE 2,4 -FLAGS (\\Flagged)")
    assert untagged(out) == [b"* 2 FETCH (FLAGS () UID 2)", b"* 4 FETCH (FLAGS () UID 4)"]


# -- header scanning --------------------------------------------------------------------------


def _reference_scan(data: bytes, start: int, limit: int) -> tuple[list[HeaderField], int]:
    """The straightforward line-by-line scanner ``scan_header`` must agree with."""
    name_re = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")
    fields: list[HeaderField] = []
    pos = start
    name: str | None = None
    field_start = value_start = 0

    def field(end: int) -> HeaderField:
        value_end = end
        if value_end > value_start and data[value_end - 1] == 0x0A:
            value_end -= 1
            if value_end > value_start and data[value_end - 1] == 0x0D:
                value_end -= 1
        assert name is not None
        return HeaderField(name, field_start, end, data[value_start:value_end].lstrip(b" \t"))

    if data.startswith(b"From ", pos):
        nl = data.find(b"\n", pos, limit)
        pos = limit if nl < 0 else nl + 1
    while pos < limit:
        nl = data.find(b"\n", pos, limit)
        line_end = limit if nl < 0 else nl + 1
        first = data[pos]
        if first in (0x20, 0x09):
            pos = line_end
            continue
        if name is not None:
            fields.append(field(pos))
            name = None
        if first == 0x0A or (first == 0x0D and data.startswith(b"\r\n", pos)):
            return fields, line_end
        match = name_re.match(data, pos, line_end)
        if match is None:
            return fields, pos
        name = match.group(1).decode("ascii")
        field_start, value_start = pos, match.end()
        pos = line_end
    if name is not None:
        fields.append(field(pos))
    return fields, pos


def test_scan_header_agrees_with_the_line_by_line_reference() -> None:
    rnd = random.Random(11)
    atoms = [b"a", b"B", b":", b" ", b"\t", b"\r", b"\n", b"\r\n", b"From ", b"X-Y", b"=?",
             b"\x80", b"\x00", b"Subject: ", b"\n ", b"\r\n\t"]  # fmt: skip
    for _ in range(20000):
        data = b"".join(rnd.choice(atoms) for _ in range(rnd.randrange(0, 25)))
        start = rnd.randrange(0, len(data) + 1) if rnd.random() < 0.2 else 0
        limit = rnd.randrange(start, len(data) + 1) if rnd.random() < 0.3 else len(data)
        assert scan_header(data, start, limit) == _reference_scan(data, start, limit), (
            data,
            start,
            limit,
        )
