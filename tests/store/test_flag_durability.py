"""``store.fsync = "optimized"``: a flag change fsyncs its index records, not its renames.

A power cut may then undo the renames while the records survive.  The folder must come
back with the flags its files carry, announced with a MODSEQ above every one it handed out
before the cut, never an older one and never a message lost or renumbered.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mailhost.config import config_from_dict
from mailhost.store.api import FLAGGED, INBOX, SEEN, FlagMode
from mailhost.store.maildir import MaildirStore
from mailhost.store.maildir import index as ix
from mailhost.store.maildir import state as state_mod

MSG = b"From: x@example.org\nSubject: durable\n\nbody\n"


def folder_on_disk(tmp_path: Path, count: int) -> Path:
    """A folder another program wrote long ago (its directories' mtimes are settled)."""
    root = tmp_path / "u"
    for d in ("tmp", "new", "cur"):
        (root / d).mkdir(parents=True)
    for n in range(count):
        (root / "cur" / f"{1_700_000_000 + n}.M{n}P1.host:2,S").write_bytes(MSG)
    old = time.time_ns() - 10_000_000_000
    for sub in ("new", "cur"):
        os.utime(root / sub, ns=(old, old))
    return root


def store(tmp_path: Path, renames: bool) -> MaildirStore:
    return MaildirStore(tmp_path / "%u", fsync=True, fsync_flag_renames=renames)


def fsynced_paths(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    paths: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return paths


@pytest.mark.parametrize("renames", [True, False])
def test_a_flag_change_fsyncs_the_index_and_cur_only_when_always(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, renames: bool
) -> None:
    root = folder_on_disk(tmp_path, 3)
    box = store(tmp_path, renames).account("u").folder(INBOX)
    box.status()
    paths = fsynced_paths(monkeypatch)
    box.set_flags([1, 2], [FLAGGED], FlagMode.ADD)
    assert str(root / ix.INDEX_FILE) in paths
    assert (str(root / "cur") in paths) is renames


def test_config_values_map_to_the_store(tmp_path: Path) -> None:
    for value, fsync, renames in [
        ("always", True, True),
        ("optimized", True, False),
        ("never", False, False),
    ]:
        config = config_from_dict({"store": {"fsync": value}})
        built = MaildirStore.from_config(config.store, tmp_path)
        assert (built.fsync, built.fsync_flag_renames) == (fsync, renames)
    assert config_from_dict({}).store.fsync == "optimized"


def lose_the_renames(root: Path, before: dict[str, str], cur_mtime: int) -> None:
    """What a power cut can leave: the files under their old names, and ``cur/`` at the
    mtime it had before the renames (its directory block never reached the disk)."""
    for base, old_name in before.items():
        now = [n for n in os.listdir(root / "cur") if n.startswith(base)]
        os.rename(root / "cur" / now[0], root / old_name)
    os.utime(root / "cur", ns=(cur_mtime, cur_mtime))


@pytest.mark.parametrize("compacted", [False, True])
def test_flag_changes_lost_in_a_power_cut_come_back_with_a_higher_modseq(
    tmp_path: Path, compacted: bool
) -> None:
    root = folder_on_disk(tmp_path, 5)
    box = store(tmp_path, renames=False).account("u").folder(INBOX)
    box.status()  # lists the settled directories: the index records their stamp
    state = box._state
    assert state.dir_stamp is not None
    cur_mtime = os.stat(root / "cur").st_mtime_ns
    before = {state.msgs[u].name[4:].partition(":")[0]: state.msgs[u].name for u in (2, 4)}
    changed = box.set_flags([2, 4], [FLAGGED], FlagMode.ADD)
    told = max(info.modseq for info in changed)
    if compacted:
        with state.hold() as st:
            st.compact()
    lose_the_renames(root, before, cur_mtime)

    after = store(tmp_path, renames=False).account("u").folder(INBOX)
    listing = {m.uid: m for m in after.list_messages()}
    assert sorted(listing) == [1, 2, 3, 4, 5]
    assert listing[2].flags == {SEEN} and listing[4].flags == {SEEN}
    assert listing[2].modseq > told and listing[4].modseq > told
    assert after.status().highestmodseq > told
    changes = after.changes_since(told)
    assert {c.uid for c in changes.changes} == {2, 4}
    assert after.read_message(2) == MSG.replace(b"\n", b"\r\n")


def test_a_stamp_before_renames_is_voided_only_on_load(tmp_path: Path) -> None:
    """In normal running the renames move ``cur/``'s mtime on, so the rule that voids an
    older stamp at load costs no listing there."""
    lines = ["D 1 2 3", "A 1 1 1 4 5 cur/x:2,S", "F 1 2 cur/x:2,FS", "H 9"]
    assert state_mod._renamed_after_stamp(lines)
    assert not state_mod._renamed_after_stamp([*lines, "D 1 2 3", "N 7"])
    assert not state_mod._renamed_after_stamp(["H 1", "N 2"])
