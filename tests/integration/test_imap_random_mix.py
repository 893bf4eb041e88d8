"""Three IMAP sessions, POP3 and delivery change one mailbox in a random, repeatable order.

A model of the mailbox (UID -> flags) follows every change.  Each session keeps its own
picture built only from what it was told (EXISTS, EXPUNGE and FETCH responses); after
every command the picture must still be a consistent one (RFC 3501 §5.2, §7.4.1), and
after a NOOP it must equal the model, as must the store.  Commands on a message another
session expunged follow RFC 2180 as documented in docs/clients.md.

The third session has QRESYNC enabled (RFC 7162): it is told of expunges with VANISHED,
every MODSEQ it sees only grows, and at each check a client that left at the previous one
comes back with ``SELECT (QRESYNC ...)`` and must reach the model from what it is sent.
"""

from __future__ import annotations

import random
import re

import pytest
from integration_support import RawIMAP, message, pop3_login

from mailhost.testing import MailHost

FLAGS = ("\\Seen", "\\Flagged", "\\Answered", "$Label1")
_EXPUNGE = re.compile(rb"\* (\d+) EXPUNGE\r\n$")
_EXISTS = re.compile(rb"\* (\d+) EXISTS\r\n$")
_FETCH = re.compile(rb"\* (\d+) FETCH \((.*)\)\r\n$", re.S)
_UID = re.compile(rb"\bUID (\d+)")
_FLAG_LIST = re.compile(rb"\bFLAGS \(([^)]*)\)")
_NO_GONE = b"NO [EXPUNGEISSUED]"
_VANISHED = re.compile(rb"\* VANISHED (\(EARLIER\) )?([\d:,]+)\r\n$")
_MODSEQ = re.compile(rb"\bMODSEQ \((\d+)\)")
_HIGHEST = re.compile(rb"\[HIGHESTMODSEQ (\d+)\]")
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")


def uid_set(text: bytes) -> list[int]:
    out: list[int] = []
    for part in text.split(b","):
        lo, _, hi = part.partition(b":")
        out += range(int(lo), int(hi or lo) + 1)
    return out


class Session(RawIMAP):
    """A session's picture of INBOX: UID and flags by sequence number, from its responses."""

    def __init__(self, host: MailHost, qresync: bool = False) -> None:
        super().__init__(host)
        self.uids: list[int | None] = []
        self.flags: list[frozenset[str] | None] = []
        self.qresync = qresync
        #: (QRESYNC) the MODSEQ last seen of each UID, and HIGHESTMODSEQ as last told
        self.modseqs: dict[int, int] = {}
        self.highest = 0
        if qresync:
            self.ok("ENABLE QRESYNC")
        selected = self.ok("SELECT INBOX")
        self.uidvalidity = int(_UIDVALIDITY.search(b"".join(selected)).group(1))  # type: ignore[union-attr]
        self.take(selected)

    def command(self, text: str | bytes) -> tuple[bytes, list[bytes]]:
        status, untagged = super().command(text)
        for code in _HIGHEST.finditer(status + b"".join(untagged)):
            assert int(code.group(1)) >= self.highest, (status, self.highest)
            self.highest = int(code.group(1))
        return status, untagged

    def take(self, untagged: list[bytes], expunge_allowed: bool = True) -> None:
        """Apply the responses in the order sent, then learn what is still unknown."""
        for resp in untagged:
            if m := _VANISHED.match(resp):
                assert self.qresync and not m.group(1), resp
                assert expunge_allowed, untagged  # as EXPUNGE (RFC 7162 §3.2.10)
                for uid in uid_set(m.group(2)):
                    n = self.uids.index(uid) + 1  # only UIDs the session holds
                    del self.uids[n - 1], self.flags[n - 1]
            elif _EXPUNGE.match(resp):
                assert not self.qresync, resp  # VANISHED instead, once enabled
            if m := _EXPUNGE.match(resp):
                assert expunge_allowed, untagged  # never during FETCH, STORE, SEARCH
                n = int(m.group(1))
                assert 1 <= n <= len(self.uids), (resp, self.uids)
                del self.uids[n - 1], self.flags[n - 1]
            elif m := _EXISTS.match(resp):
                n = int(m.group(1))
                assert n >= len(self.uids), (resp, self.uids)
                self.uids += [None] * (n - len(self.uids))
                self.flags += [None] * (n - len(self.flags))
            elif m := _FETCH.match(resp):
                n, items = int(m.group(1)), m.group(2)
                assert 1 <= n <= len(self.uids), (resp, self.uids)
                if uid := _UID.search(items):
                    assert self.uids[n - 1] in (None, int(uid.group(1))), (resp, self.uids)
                    self.uids[n - 1] = int(uid.group(1))
                if flags := _FLAG_LIST.search(items):
                    self.flags[n - 1] = frozenset(flags.group(1).decode().split()) - {"\\Recent"}
                if self.qresync and (modseq := _MODSEQ.search(items)):
                    # every flag update carries UID and MODSEQ (STORE .SILENT: only those),
                    # and a MODSEQ never goes back
                    uid_of = self.uids[n - 1]
                    assert uid_of is not None and uid, resp
                    assert int(modseq.group(1)) >= self.modseqs.get(uid_of, 0), resp
                    self.modseqs[uid_of] = int(modseq.group(1))
        unknown = [str(n) for n, uid in enumerate(self.uids, 1) if uid is None]
        unknown += [str(n) for n, f in enumerate(self.flags, 1) if f is None]
        if unknown:
            status, more = self.command(f"FETCH {','.join(sorted(set(unknown)))} (UID FLAGS)")
            assert status.startswith(b"OK"), status
            self.take(more, expunge_allowed=False)
        known = [uid for uid in self.uids if uid is not None]
        assert known == sorted(known) and len(set(known)) == len(known), self.uids

    def do(self, text: str, expunge_allowed: bool = False) -> bytes:
        status, untagged = self.command(text)
        self.take(untagged, expunge_allowed)
        return status

    def picture(self) -> dict[int, frozenset[str]]:
        return {u: f for u, f in zip(self.uids, self.flags, strict=True) if u and f is not None}


class Mix:
    """The random changes, each applied to the model as the RFCs say it must happen."""

    def __init__(self, host: MailHost, seed: int) -> None:
        self.host = host
        self.rnd = random.Random(seed)
        self.model: dict[int, frozenset[str]] = {}
        self.message_ids: dict[bytes, int] = {}
        self.sent = 0
        self.sessions = [Session(host), Session(host), Session(host, qresync=True)]
        #: what a QRESYNC client that left at the last check knew: MODSEQ and picture
        self.away: tuple[int, dict[int, frozenset[str]]] | None = None

    def new_message(self) -> bytes:
        self.sent += 1
        return message(self.sent)

    def remember(self, uid: int, data: bytes, flags: frozenset[str] = frozenset()) -> None:
        self.model[uid] = flags
        msgid = re.search(rb"Message-ID: (\S+)", data)
        assert msgid
        self.message_ids[msgid.group(1)] = uid

    def some(self, s: Session) -> tuple[str, list[int]]:
        """A random sequence set of ``s``'s messages and the UIDs it names for ``s``."""
        count = min(len(s.uids), self.rnd.randint(1, 3))
        picked = sorted(self.rnd.sample(range(1, len(s.uids) + 1), count))
        return ",".join(map(str, picked)), [s.uids[n - 1] for n in picked]  # type: ignore[misc]

    def step(self) -> None:
        s = self.rnd.choice(self.sessions)
        choices = ["deliver", "deliver", "append", "append", "noop"]
        if s.uids:
            choices += ["store", "store", "silent", "fetch", "search", "expunge", "uid expunge"]
            choices += ["move", "pop3"]
        getattr(self, "_" + self.rnd.choice(choices).replace(" ", "_"))(s)

    def _deliver(self, s: Session) -> None:
        data = self.new_message()
        self.remember(self.host.deliver("alice", data).uid, data)

    def _append(self, s: Session) -> None:
        data = self.new_message()
        flags = frozenset(self.rnd.sample(FLAGS, self.rnd.randint(0, 2)))
        status = s.do(
            f"APPEND INBOX ({' '.join(sorted(flags))}) {{{len(data)}+}}\r\n{data.decode()}",
            expunge_allowed=True,
        )
        appended = re.match(rb"OK \[APPENDUID \d+ (\d+)\]", status)
        assert appended, status
        self.remember(int(appended.group(1)), data, flags)

    def _noop(self, s: Session) -> None:
        assert s.do("NOOP", expunge_allowed=True).startswith(b"OK")

    def _store(self, s: Session, silent: bool = False) -> None:
        seqs, uids = self.some(s)
        mode = self.rnd.choice("+-")
        flags = frozenset(self.rnd.sample(FLAGS, self.rnd.randint(1, 2)))
        status = s.do(f"STORE {seqs} {mode}FLAGS{'.SILENT' if silent else ''} ({' '.join(flags)})")
        live = [u for u in uids if u in self.model]
        for u in live:
            self.model[u] = self.model[u] | flags if mode == "+" else self.model[u] - flags
        if silent:
            # the session changed them itself: it knows, and is not told (RFC 3501 §6.4.6)
            for u in live:
                s.flags[s.uids.index(u)] = self.model[u]
        assert status.startswith(_NO_GONE if len(live) < len(uids) else b"OK"), status

    def _silent(self, s: Session) -> None:
        self._store(s, silent=True)

    def _fetch(self, s: Session) -> None:
        seqs, _ = self.some(s)
        status = s.do(f"FETCH {seqs} (FLAGS)")
        # flags of a message expunged elsewhere are still known: all are answered
        assert status.startswith(b"OK"), status

    def _search(self, s: Session) -> None:
        flag = self.rnd.choice(FLAGS)
        key = f"KEYWORD {flag}" if flag.startswith("$") else flag[1:].upper()
        status, untagged = s.command(f"SEARCH {key}")
        assert status.startswith(b"OK"), status
        (at,) = [i for i, r in enumerate(untagged) if r.startswith(b"* SEARCH")]
        # the numbers are those of the session's picture when the result was sent
        s.take(untagged[:at], expunge_allowed=False)
        expected = [n for n, u in enumerate(s.uids, 1) if u in self.model and flag in self.model[u]]
        assert [int(x) for x in untagged[at].split()[2:]] == expected, (key, s.uids, self.model)
        s.take(untagged[at + 1 :], expunge_allowed=False)

    def _expunge(self, s: Session) -> None:
        seqs, _ = self.some(s)
        self._store_deleted(s, seqs)
        assert s.do("EXPUNGE", expunge_allowed=True).startswith(b"OK")
        self.model = {u: f for u, f in self.model.items() if "\\Deleted" not in f}

    def _uid_expunge(self, s: Session) -> None:
        seqs, uids = self.some(s)
        self._store_deleted(s, seqs)
        known = ",".join(str(u) for u in uids)
        assert s.do(f"UID EXPUNGE {known}", expunge_allowed=True).startswith(b"OK")
        for u in uids:
            if u in self.model and "\\Deleted" in self.model[u]:
                del self.model[u]

    def _store_deleted(self, s: Session, seqs: str) -> None:
        s.do(f"STORE {seqs} +FLAGS.SILENT (\\Deleted)")
        for n in map(int, seqs.split(",")):
            u = s.uids[n - 1]
            if u in self.model:
                self.model[u] = self.model[u] | {"\\Deleted"}  # type: ignore[index]
                s.flags[n - 1] = self.model[u]  # type: ignore[index]

    def _move(self, s: Session) -> None:
        seqs, uids = self.some(s)
        status = s.do(f"MOVE {seqs} Archive", expunge_allowed=True)
        if all(u in self.model for u in uids):
            assert status.startswith(b"OK"), status
            for u in uids:
                del self.model[u]
        else:
            # RFC 2180 §4.4.1: nothing is moved
            assert status.startswith(_NO_GONE), status

    def _pop3(self, s: Session) -> None:
        pop = pop3_login(self.host)
        count = pop.stat()[0]
        assert count == len(self.model)
        for n in self.rnd.sample(range(1, count + 1), min(count, self.rnd.randint(0, 2))):
            header = b"\r\n".join(pop.top(n, 0)[1])
            msgid = re.search(rb"Message-ID: (\S+)", header)
            assert msgid
            pop.dele(n)
            del self.model[self.message_ids[msgid.group(1)]]
        pop.quit()

    def check(self) -> None:
        for s in self.sessions:
            s.do("NOOP", expunge_allowed=True)
            assert s.picture() == self.model
            assert s.uids == sorted(self.model)
        stored = self.host.account("alice").folder("INBOX").list_messages()
        assert {m.uid: frozenset(m.flags) - {"\\Recent"} for m in stored} == self.model
        self.come_back()

    def come_back(self) -> None:
        """The QRESYNC client that left at the last check resyncs (RFC 7162 §3.2.5) and
        must reach the model from what it is sent; then it leaves again, knowing now."""
        qr = self.sessions[2]
        if self.away is not None:
            modseq, left = self.away
            picture = dict(left)
            phone = RawIMAP(self.host)
            phone.ok("ENABLE QRESYNC")
            status, untagged = phone.command(f"SELECT INBOX (QRESYNC ({qr.uidvalidity} {modseq}))")
            assert status.startswith(b"OK"), status
            for resp in untagged:
                if m := _VANISHED.match(resp):
                    assert m.group(1), resp  # (EARLIER)
                    for uid in uid_set(m.group(2)):
                        picture.pop(uid, None)
                elif m := _FETCH.match(resp):
                    uid = _UID.search(m.group(2))
                    flags = _FLAG_LIST.search(m.group(2))
                    assert uid and flags and _MODSEQ.search(m.group(2)), resp
                    picture[int(uid.group(1))] = frozenset(flags.group(1).decode().split()) - {
                        "\\Recent"
                    }
            phone.close()
            assert picture == self.model, (modseq, picture, self.model)
            # the live QRESYNC session gives the same delta from its own view of the MODSEQs
            again = dict(left)
            status, untagged = qr.command(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)")
            assert status.startswith(b"OK"), status
            for resp in untagged:
                if (m := _VANISHED.match(resp)) and m.group(1):
                    for uid in uid_set(m.group(2)):
                        again.pop(uid, None)
                elif (m := _FETCH.match(resp)) and (uid := _UID.search(m.group(2))):
                    flags = _FLAG_LIST.search(m.group(2))
                    assert flags, resp
                    again[int(uid.group(1))] = frozenset(flags.group(1).decode().split()) - {
                        "\\Recent"
                    }
            qr.take([r for r in untagged if not r.startswith(b"* VANISHED (EARLIER)")])
            assert again == self.model, (modseq, again, self.model)
        self.away = (qr.highest, qr.picture())

    def close(self) -> None:
        for s in self.sessions:
            s.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_mix_keeps_every_session_consistent(host: MailHost, seed: int) -> None:
    mix = Mix(host, seed)
    for _ in range(10):
        mix._deliver(mix.sessions[0])
    for step in range(1, 201):
        mix.step()
        if step % 10 == 0:
            mix.check()
    mix.check()
    mix.close()
