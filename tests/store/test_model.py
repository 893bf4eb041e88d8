"""Model-based test: random operations on the Maildir store and the memory store agree.

The memory store is the reference.  A second ``MaildirStore`` on the same tree (a second
process) and, now and then, another program renaming or delivering files check that the
Maildir store reads back what it wrote from disk alone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mailhost.store.api import DELETED, FLAGGED, INBOX, SEEN, FlagMode
from mailhost.store.maildir import MaildirStore
from mailhost.store.memory import MemoryStore

FOLDERS = [INBOX, "Work", "Work/Old"]
FLAGS = st.frozensets(st.sampled_from([SEEN, FLAGGED, DELETED, "$Forwarded", "Later"]))
BODIES = st.binary(max_size=200).map(lambda b: b"Subject: m\n\n" + b)


class StoresAgree(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="store-model-"))
        self.maildir = MaildirStore(self.dir / "%u", fsync=False)
        self.memory = MemoryStore()
        for store in (self.maildir, self.memory):
            store.account("u").create_folder("Work/Old")
        # UIDs differ in nothing but the store, so the same UIDs name the same messages

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def both(self, name: str):  # type: ignore[no-untyped-def]
        return self.maildir.account("u").folder(name), self.memory.account("u").folder(name)

    def uids(self, name: str) -> list[int]:
        return [m.uid for m in self.memory.account("u").folder(name).list_messages()]

    @rule(folder=st.sampled_from(FOLDERS), body=BODIES, flags=FLAGS)
    def append(self, folder: str, body: bytes, flags: frozenset[str]) -> None:
        a, b = self.both(folder)
        assert a.append(body, flags).uid == b.append(body, flags).uid

    @rule(
        folder=st.sampled_from(FOLDERS),
        data=st.data(),
        flags=FLAGS,
        mode=st.sampled_from(list(FlagMode)),
    )
    def set_flags(
        self, folder: str, data: st.DataObject, flags: frozenset[str], mode: FlagMode
    ) -> None:
        uids = data.draw(st.lists(st.sampled_from(self.uids(folder) or [1]), max_size=4))
        a, b = self.both(folder)
        got = [(m.uid, m.flags) for m in a.set_flags(uids, flags, mode)]
        assert got == [(m.uid, m.flags) for m in b.set_flags(uids, flags, mode)]

    @rule(folder=st.sampled_from(FOLDERS), data=st.data())
    def expunge(self, folder: str, data: st.DataObject) -> None:
        uids = data.draw(st.lists(st.sampled_from(self.uids(folder) or [1]), max_size=3))
        a, b = self.both(folder)
        assert a.expunge(uids) == b.expunge(uids)

    @rule(
        src=st.sampled_from(FOLDERS),
        dst=st.sampled_from(FOLDERS),
        data=st.data(),
        move=st.booleans(),
    )
    def transfer(self, src: str, dst: str, data: st.DataObject, move: bool) -> None:
        uids = data.draw(st.lists(st.sampled_from(self.uids(src) or [1]), max_size=3))
        a, b = self.both(src)
        a_dst, b_dst = self.both(dst)
        if move:
            assert a.move_to(uids, a_dst) == b.move_to(uids, b_dst)
        else:
            assert a.copy_to(uids, a_dst) == b.copy_to(uids, b_dst)

    @rule(folder=st.sampled_from(FOLDERS))
    def claim_recent(self, folder: str) -> None:
        a, b = self.both(folder)
        assert a.claim_recent() == b.claim_recent()

    @precondition(lambda self: bool(self.uids(INBOX)))
    @rule(data=st.data(), flags=FLAGS)
    def another_program_renames(self, data: st.DataObject, flags: frozenset[str]) -> None:
        """A flag change made by renaming the file, as another IMAP server would."""
        uid = data.draw(st.sampled_from(self.uids(INBOX)))
        system = flags & {SEEN, FLAGGED, DELETED}
        letters = "".join(sorted({SEEN: "S", FLAGGED: "F", DELETED: "T"}[f] for f in system))
        box = self.maildir.account("u").folder(INBOX)
        box.list_messages()
        name = box._state.msgs[uid].name
        base = name[4:].partition(":")[0]
        os.rename(Path(box.path) / name, Path(box.path) / "cur" / f"{base}:2,{letters}")
        self.memory.account("u").folder(INBOX).set_flags([uid], system, FlagMode.REPLACE)

    @invariant()
    def same_listing(self) -> None:
        peer = MaildirStore(self.dir / "%u", fsync=False)  # what another process reads
        for name in FOLDERS:
            want = [
                (m.uid, m.flags, m.size)
                for m in self.memory.account("u").folder(name).list_messages()
            ]
            for store in (self.maildir, peer):
                box = store.account("u").folder(name)
                assert [(m.uid, m.flags, m.size) for m in box.list_messages()] == want
                ref = self.memory.account("u").folder(name).status()
                status = box.status()
                assert (status.messages, status.unseen, status.size, status.uidnext) == (
                    ref.messages,
                    ref.unseen,
                    ref.size,
                    ref.uidnext,
                )
        for uid in self.uids("Work")[:2]:
            a, b = self.both("Work")
            assert a.read_message(uid) == b.read_message(uid)


StoresAgree.TestCase.settings = settings(max_examples=25, stateful_step_count=25, deadline=None)
test_stores_agree = StoresAgree.TestCase
