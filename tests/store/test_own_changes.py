"""What this store changes itself is not listed again; what others change still is seen.

And a first login does little disk work and never waits for another user's first login.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailhost.store.api import FLAGGED, INBOX, SEEN, ChangeKind, FlagMode
from mailhost.store.maildir import MaildirStore
from mailhost.store.maildir import account as account_mod
from mailhost.store.maildir import state as state_mod
from mailhost.store.maildir.account import MaildirAccount

LF_MSG = b"From: x@example.org\nSubject: own\n\nbody\n"
ROLES = {
    "\\Sent": "Sent",
    "\\Trash": "Trash",
    "\\Drafts": "Drafts",
    "\\Junk": "Junk",
    "\\Archive": "Archive",
}


def make(tmp_path: Path, **kw: object) -> MaildirStore:
    kw.setdefault("fsync", False)
    return MaildirStore(tmp_path / "%u", **kw)  # type: ignore[arg-type]


def settle(root: Path) -> None:
    """Make new/ and cur/ look untouched for a while (mail delivered long ago)."""
    old = time.time_ns() - 10_000_000_000
    for sub in ("new", "cur"):
        os.utime(root / sub, ns=(old, old))


class Listings:
    """Counts the directory listings the folder state makes, by directory name."""

    def __init__(self) -> None:
        self.dirs: list[str] = []

    def __call__(self, path: object) -> list[str]:
        self.dirs.append(os.path.basename(os.fspath(path)))  # type: ignore[arg-type]
        return os.listdir(path)  # type: ignore[arg-type,no-any-return]


@pytest.fixture
def listings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Listings]:
    counter = Listings()

    class CountingOs:
        def __getattr__(self, name: str) -> object:
            return counter if name == "listdir" else getattr(os, name)

    monkeypatch.setattr(state_mod, "os", CountingOs())
    yield counter


def foreign_folder(tmp_path: Path, count: int, sub: str = "cur") -> tuple[MaildirStore, Path]:
    root = tmp_path / "u"
    for d in ("tmp", "new", "cur"):
        (root / d).mkdir(parents=True)
    for n in range(count):
        name = f"{1_700_000_000 + n}.M{n}P1.host" + (":2,S" if sub == "cur" else "")
        (root / sub / name).write_bytes(LF_MSG)
    settle(root)
    return make(tmp_path), root


def test_own_flag_changes_expunge_and_append_list_nothing(
    tmp_path: Path, listings: Listings
) -> None:
    store, _root = foreign_folder(tmp_path, 50)
    box = store.account("u").folder(INBOX)
    start = box.status().highestmodseq
    listings.dirs.clear()
    changed = box.set_flags(range(1, 21), [FLAGGED], FlagMode.ADD)
    assert len(changed) == 20
    changes = box.changes_since(start)
    assert {c.uid for c in changes.changes} == set(range(1, 21))
    assert all(c.kind is ChangeKind.FLAGS for c in changes.changes)
    assert box.changes_since(changes.highestmodseq).changes == ()
    assert sum(FLAGGED in f for f in box.list_flags().flags) == 20
    assert box.status().messages == 50
    box.expunge([1, 2])
    box.append(LF_MSG, flags=[SEEN])
    assert box.status().messages == 49
    assert [m.uid for m in box.list_messages()][-1] == 51
    assert listings.dirs == []


def test_own_changes_from_new_list_only_new(tmp_path: Path, listings: Listings) -> None:
    store, _root = foreign_folder(tmp_path, 30, sub="new")
    box = store.account("u").folder(INBOX)
    box.status()
    listings.dirs.clear()
    box.set_flags([1, 2, 3], [SEEN], FlagMode.ADD)
    box.status()
    # a delivery that took no lock may have come in the same tick as our renames out of
    # new/: new/ is listed until its mtime is older than the settle window; cur/ is not
    assert listings.dirs and set(listings.dirs) == {"new"}
    assert box.status().unseen == 27


def test_others_changes_right_after_own_change_are_seen(tmp_path: Path) -> None:
    store, root = foreign_folder(tmp_path, 20)
    box = store.account("u").folder(INBOX)
    other = make(tmp_path).account("u").folder(INBOX)
    start = box.status().highestmodseq
    box.set_flags([1], [FLAGGED], FlagMode.ADD)
    # at once, well within the same second: another mailhost process (under the lock) ...
    other.set_flags([2], [FLAGGED], FlagMode.ADD)
    # ... a program that renames in cur/ by hand, and an MDA dropping into new/
    m = box._state.msgs[3]
    os.rename(root / m.name, root / "cur" / (m.name[4:].partition(":")[0] + ":2,FS"))
    (root / "new" / "1800000000.M1P1.mda").write_bytes(LF_MSG)
    got = {(c.kind, c.uid) for c in box.changes_since(start).changes}
    assert got == {
        (ChangeKind.FLAGS, 1),
        (ChangeKind.FLAGS, 2),
        (ChangeKind.FLAGS, 3),
        (ChangeKind.APPEND, 21),
    }
    listing = box.list_flags()
    assert [u for u, f in zip(listing.uids, listing.flags, strict=True) if FLAGGED in f] == [
        1,
        2,
        3,
    ]


def test_change_after_a_forced_listing_is_not_taken_as_own(tmp_path: Path) -> None:
    store, root = foreign_folder(tmp_path, 5)
    box = store.account("u").folder(INBOX)
    box.status()
    # another program renames a file (cur/'s mtime put back): set_flags must list cur/
    # to find it, and then it cannot vouch for cur/ as its own doing
    m = box._state.msgs[1]
    stamp = os.stat(root / "cur").st_mtime_ns
    os.rename(root / m.name, root / "cur" / (m.name[4:].partition(":")[0] + ":2,SF"))
    os.utime(root / "cur", ns=(stamp, stamp))
    box.set_flags([1], ["$Label1"], FlagMode.ADD)
    assert box._state.dir_ok["cur"][1] != state_mod.OWN
    assert box.get(1).flags == {SEEN, FLAGGED, "$Label1"}  # type: ignore[union-attr]


# -- first use of an account ---------------------------------------------------------------


def test_first_use_fsyncs_once_for_all_special_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, root = foreign_folder(tmp_path, 10)
    store = make(tmp_path, fsync=True, special_folders=ROLES)
    fsyncs: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd))[1])
    acct = store.account("u")
    assert len(fsyncs) <= 2  # the subscriptions file and the root directory
    roles = {f.name: f.special_use for f in acct.list_folders()}
    assert roles == {INBOX: None, **{name: role for role, name in ROLES.items()}}
    assert set(acct.subscriptions()) == set(ROLES.values())
    sent = acct.folder("Sent")
    sent.append(LF_MSG)
    assert sent.status().messages == 1
    assert acct.folder(INBOX).status().messages == 10
    # a marker lost in a crash: the configured role stands in
    os.unlink(root / ".Sent" / account_mod.SPECIAL_USE_FILE)
    assert {f.name: f.special_use for f in acct.list_folders()}["Sent"] == "\\Sent"


def test_first_login_of_one_user_does_not_wait_for_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(tmp_path, special_folders=ROLES)
    inside = threading.Event()
    release = threading.Event()
    calls: list[str] = []
    real_ensure = MaildirAccount._ensure

    def slow_ensure(self: MaildirAccount) -> None:
        calls.append(self.username)
        if self.username == "b":
            inside.set()
            assert release.wait(10)
        real_ensure(self)

    monkeypatch.setattr(MaildirAccount, "_ensure", slow_ensure)
    got: dict[str, MaildirAccount] = {}
    b1 = threading.Thread(target=lambda: got.setdefault("b1", store.account("b")))
    b2 = threading.Thread(target=lambda: got.setdefault("b2", store.account("b")))
    b1.start()
    assert inside.wait(10)
    b2.start()
    a = threading.Thread(target=lambda: got.setdefault("a", store.account("a")))
    a.start()
    a.join(5)
    try:
        assert not a.is_alive(), "user a waited for user b's first login"
        assert b1.is_alive() and b2.is_alive()
    finally:
        release.set()
        b1.join(10)
        b2.join(10)
    assert got["b1"] is got["b2"] is store.account("b")
    assert got["a"] is store.account("a")
    assert sorted(calls) == ["a", "b"]  # b's account was set up once


def test_unseen_count_kept_through_flag_changes(tmp_path: Path) -> None:
    store, _root = foreign_folder(tmp_path, 12)
    box = store.account("u").folder(INBOX)
    steps = [
        ([1, 2, 3], [SEEN], FlagMode.REMOVE),
        ([2, 3, 4], [FLAGGED], FlagMode.ADD),
        ([3, 4, 5, 6], [FLAGGED], FlagMode.REPLACE),
        ([1, 5, 7], [SEEN, FLAGGED], FlagMode.REPLACE),
        ([8, 9], [SEEN], FlagMode.ADD),
    ]
    assert box.status().unseen == 0
    for uids, flags, mode in steps:
        box.set_flags(uids, flags, mode)
        fresh = make(tmp_path).account("u").folder(INBOX).list_flags()
        assert box.status().unseen == sum(SEEN not in f for f in fresh.flags)
    assert box.status().unseen == 4  # 2, 3, 4 and 6


def test_claiming_recent_wakes_nobody(tmp_path: Path) -> None:
    store = make(tmp_path)
    heard: list[str] = []
    store.add_listener(lambda user, folder_id: heard.append(folder_id))
    box = store.account("u").folder(INBOX)
    box.append(LF_MSG)
    assert heard  # the delivery itself
    before = len(heard)
    assert box.claim_recent()  # one session takes \Recent: the others learn nothing new
    assert len(heard) == before
    box.set_flags([1], [SEEN], FlagMode.ADD)
    assert len(heard) == before + 1  # a real change still wakes


def test_changes_a_flag_change_finds_meanwhile_get_a_modseq_above_its_own(
    tmp_path: Path,
) -> None:
    """``Folder.set_flags`` gives its messages one MODSEQ that no other change shares: a
    session that was current just below it takes the result as the whole news."""
    store, root = foreign_folder(tmp_path, 5)
    box = store.account("u").folder(INBOX)
    before = box.status().highestmodseq
    # another program renames two files (cur/'s mtime put back, so only a failed rename
    # makes the store look): one the STORE names, one it does not
    stamp = os.stat(root / "cur").st_mtime_ns
    for uid in (2, 5):
        m = box._state.msgs[uid]
        os.rename(root / m.name, root / "cur" / (m.name[4:].partition(":")[0] + ":2,DS"))
    os.utime(root / "cur", ns=(stamp, stamp))
    changed = box.set_flags([1, 2, 3], [FLAGGED], FlagMode.ADD)
    assert {info.modseq for info in changed} == {before + 1}
    assert {info.uid: info.flags for info in changed}[2] == {SEEN, FLAGGED, "\\Draft"}
    later = box.changes_since(before + 1)
    assert [(c.uid, c.flags) for c in later.changes] == [(5, {SEEN, "\\Draft"})]
    assert later.highestmodseq == before + 2


def test_a_flag_change_that_changes_nothing_uses_no_modseq(tmp_path: Path) -> None:
    store, _root = foreign_folder(tmp_path, 3)
    box = store.account("u").folder(INBOX)
    before = box.status().highestmodseq
    assert box.set_flags([1, 2], [SEEN], FlagMode.ADD) == []
    assert box.status().highestmodseq == before
    assert [i.modseq for i in box.set_flags([1], [FLAGGED], FlagMode.ADD)] == [before + 1]
