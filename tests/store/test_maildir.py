"""Maildir-only behaviour: foreign files, other writers, on-disk formats, recovery."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailhost.errors import InvalidFolderName, MailboxInUse, TemporaryFailure
from mailhost.store.api import FLAGGED, INBOX, SEEN, ChangeKind, FlagMode
from mailhost.store.config import StoreConfig
from mailhost.store.maildir import MaildirStore
from mailhost.store.maildir import index as ix
from mailhost.store.maildir.lease import LEASE_FILE

LF_MSG = b"From: x@example.org\nSubject: foreign\n\nline one\nline two\n"


def make(tmp_path: Path, **kw: object) -> MaildirStore:
    kw.setdefault("fsync", False)
    return MaildirStore(tmp_path / "%u", **kw)  # type: ignore[arg-type]


def put_foreign(root: Path, sub: str, name: str, data: bytes = LF_MSG) -> Path:
    path = root / sub / name
    path.write_bytes(data)
    return path


def test_foreign_files_are_picked_up_in_stable_order(tmp_path: Path) -> None:
    store = make(tmp_path)
    acct = store.account("u")
    root = acct.root
    put_foreign(root, "cur", "1000.A.host:2,S")
    put_foreign(root, "cur", "1002.C.host:2,FS", LF_MSG * 2)
    put_foreign(root, "new", "1001.B.host")
    put_foreign(root, "new", "999.Z.host", LF_MSG.replace(b"\n", b"\r\n"))
    before = {p.name: (p.stat().st_ino, p.read_bytes()) for p in root.glob("*/*.host*")}
    listed = acct.folder(INBOX).list_messages()
    assert [m.uid for m in listed] == [1, 2, 3, 4]
    crlf = LF_MSG.replace(b"\n", b"\r\n")
    assert [m.size for m in listed] == [len(crlf), len(crlf), len(crlf), 2 * len(crlf)]
    assert [m.flags for m in listed] == [set(), {SEEN}, set(), {SEEN, FLAGGED}]
    box = acct.folder(INBOX)
    assert box.read_message(2) == crlf
    assert box.read_message(4) == crlf * 2
    after = {p.name: (p.stat().st_ino, p.read_bytes()) for p in root.glob("*/*.host*")}
    assert after == before  # never renamed, never modified in place
    # a second store (another process) sees the same UIDs
    other = make(tmp_path).account("u").folder(INBOX).list_messages()
    assert other == listed


def test_harness_style_names_sort_numerically(tmp_path: Path) -> None:
    acct = make(tmp_path).account("u")
    for n in (10, 2, 1):
        put_foreign(acct.root, "new", f"msg{n}")
    box = acct.folder(INBOX)
    by_uid = {m.uid: m for m in box.list_messages()}
    names = sorted(os.listdir(acct.root / "new"))
    assert len(by_uid) == 3 == len(names)
    uidlist = (acct.root / "dovecot-uidlist").read_text().splitlines()[1:]
    assert [line.split(":", 1)[1] for line in uidlist] == ["msg1", "msg2", "msg10"]


def test_outside_flag_change_delete_and_delivery_are_seen(tmp_path: Path) -> None:
    store = make(tmp_path)
    heard: list[tuple[str, str]] = []
    store.add_listener(lambda u, f: heard.append((u, f)))
    acct = store.account("u")
    put_foreign(acct.root, "cur", "1.a.host:2,")
    put_foreign(acct.root, "cur", "2.b.host:2,")
    box = acct.folder(INBOX)
    start = box.status().highestmodseq
    heard.clear()
    os.rename(acct.root / "cur" / "1.a.host:2,", acct.root / "cur" / "1.a.host:2,FS")
    os.unlink(acct.root / "cur" / "2.b.host:2,")
    put_foreign(acct.root, "new", "3.c.host")
    changes = box.changes_since(start)
    got = {(c.kind, c.uid) for c in changes.changes}
    assert got == {(ChangeKind.FLAGS, 1), (ChangeKind.EXPUNGE, 2), (ChangeKind.APPEND, 3)}
    assert heard and heard[0] == ("u", box.folder_id)
    assert box.get(1) is not None and box.get(1).flags == {SEEN, FLAGGED}  # type: ignore[union-attr]


def test_rename_by_other_program_between_calls_is_survived(tmp_path: Path) -> None:
    acct = make(tmp_path).account("u")
    box = acct.folder(INBOX)
    box.append(LF_MSG, flags=[SEEN])
    (name,) = os.listdir(acct.root / "cur")
    # the directory looks settled, so the next sync trusts its mtime and skips listdir ...
    old = time.time_ns() - 10_000_000_000
    os.utime(acct.root / "cur", ns=(old, old))
    os.utime(acct.root / "new", ns=(old, old))
    box.status()
    # ... while another program renames the file without changing that mtime
    os.rename(acct.root / "cur" / name, acct.root / "cur" / (name + "F"))
    os.utime(acct.root / "cur", ns=(old, old))
    assert box.read_message(1) == LF_MSG.replace(b"\n", b"\r\n")
    changed = box.set_flags([1], ["$Label1"], FlagMode.ADD)
    assert changed and changed[0].flags == {SEEN, FLAGGED, "$Label1"}
    assert os.listdir(acct.root / "cur") == [name.split(":")[0] + ":2,FSa"]


def test_dovecot_files_written(tmp_path: Path) -> None:
    acct = make(tmp_path, special_folders={"\\Sent": "Sent"}).account("u")
    acct.create_folder("Lists/Répertoire")
    box = acct.folder("Lists/Répertoire")
    box.append(LF_MSG, flags=["$Forwarded", SEEN])
    folder_dir = acct.root / ".Lists.R&AOk-pertoire"
    assert (folder_dir / "maildirfolder").exists()
    assert (folder_dir / "dovecot-keywords").read_text() == "0 $Forwarded\n"
    (name,) = os.listdir(folder_dir / "cur")
    assert name.endswith(":2,Sa") and ",S=" in name and ",W=" in name
    header, line = (folder_dir / "dovecot-uidlist").read_text().splitlines()
    assert header.startswith("3 V") and f" G{box.folder_id}" in header
    assert line.startswith("1 W") and line.endswith(" :" + name.split(":")[0])
    subs = (acct.root / "subscriptions").read_text()
    assert subs.startswith("V\t2\n\n") and "Sent\n" in subs


def test_dot_in_name_refused_but_dot_delimiter_works(tmp_path: Path) -> None:
    acct = make(tmp_path).account("u")
    with pytest.raises(InvalidFolderName):
        acct.create_folder("Mr. Smith")
    dotted = MaildirStore(tmp_path / "dot" / "%u", delimiter=".", fsync=False).account("u")
    dotted.create_folder("A.B")
    assert dotted.delimiter == "."
    assert [f.name for f in dotted.list_folders()] == [INBOX, "A", "A.B"]
    assert (dotted.root / ".A.B" / "cur").is_dir()
    with pytest.raises(InvalidFolderName):
        dotted.create_folder("a/b")


def test_index_lost_or_corrupt_is_rebuilt_with_same_uids(tmp_path: Path) -> None:
    acct = make(tmp_path).account("u")
    box = acct.folder(INBOX)
    for i in range(5):
        box.append(LF_MSG + str(i).encode(), flags=[SEEN] if i % 2 else [])
    box.expunge([2])
    before = [(m.uid, m.flags, m.size) for m in box.list_messages()]
    status = box.status()
    for damage in ("delete", "garbage"):
        index = acct.root / ix.INDEX_FILE
        if damage == "delete":
            index.unlink()
        else:
            index.write_bytes(b"\x00garbage\nmore\n")
        again = make(tmp_path).account("u").folder(INBOX)
        assert [(m.uid, m.flags, m.size) for m in again.list_messages()] == before
        st = again.status()
        assert st.uidvalidity == status.uidvalidity
        assert st.uidnext == status.uidnext
        assert st.highestmodseq > status.highestmodseq  # never goes back
        # history before the rebuild is gone: a session must resync
        assert again.changes_since(status.highestmodseq).reset


def test_torn_journal_lines_are_cut(tmp_path: Path) -> None:
    acct = make(tmp_path).account("u")
    box = acct.folder(INBOX)
    box.append(LF_MSG)
    with open(acct.root / ix.INDEX_FILE, "ab") as f:
        f.write(b"A 7 9 9 12 123 new/half-writ")
    with open(acct.root / "dovecot-uidlist", "ab") as f:
        f.write(b"7 W12 :half")
    other = make(tmp_path).account("u").folder(INBOX)
    assert [m.uid for m in other.list_messages()] == [1]
    other.append(LF_MSG)
    assert [m.uid for m in make(tmp_path).account("u").folder(INBOX).list_messages()] == [1, 2]
    assert b"half" not in (acct.root / "dovecot-uidlist").read_bytes()


def test_compaction_keeps_state_and_bounded_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ix, "EXPUNGE_HISTORY", 3)
    acct = make(tmp_path).account("u")
    box = acct.folder(INBOX)
    for _ in range(10):
        box.append(LF_MSG)
    early = box.status().highestmodseq
    for uid in range(1, 7):
        box.expunge([uid])
    box.set_flags([8], [SEEN], FlagMode.ADD)
    state = box._state
    with state.hold():
        state.compact()
    lines = (acct.root / ix.INDEX_FILE).read_text().splitlines()
    assert sum(1 for line in lines if line.startswith("X ")) == 3
    assert len((acct.root / "dovecot-uidlist").read_text().splitlines()) == 5
    other = make(tmp_path).account("u").folder(INBOX)
    assert [m.uid for m in other.list_messages()] == [7, 8, 9, 10]
    assert other.get(8).flags == {SEEN}  # type: ignore[union-attr]
    assert other.changes_since(early).reset
    late = other.changes_since(other.status().highestmodseq - 1)
    assert not late.reset and [c.uid for c in late.changes] == [8]


def test_io_errors_become_temporary_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = make(tmp_path).account("u").folder(INBOX)

    def broken(*args: object, **kw: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", broken)
    with pytest.raises(TemporaryFailure):
        box.append(LF_MSG)
    monkeypatch.undo()
    assert box.status().messages == 0
    assert os.listdir(Path(box.path) / "tmp") == []


def test_lease_of_dead_process_is_recovered(tmp_path: Path) -> None:
    acct = make(tmp_path).account("u")
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(child.stdout)
    (acct.root / LEASE_FILE).write_text(
        json.dumps(
            {
                "token": "t",
                "owner": "killed",
                "host": socket.gethostname(),
                "pid": dead_pid,
                "expires": time.time() + 600,
            }
        )
    )
    lease = acct.acquire_maildrop("new session", ttl=60)
    lease.check()
    with pytest.raises(MailboxInUse):
        make(tmp_path).account("u").acquire_maildrop("third", ttl=60)


def test_root_template_and_from_config(tmp_path: Path) -> None:
    store = MaildirStore(tmp_path / "%d" / "%n" / "Maildir", fsync=False)
    acct = store.account("ann@example.org")
    assert acct.root == tmp_path / "example.org" / "ann" / "Maildir"
    cfg = StoreConfig(maildir="mail/%u", quota_bytes=0, fsync="always")
    from_cfg = MaildirStore.from_config(cfg, tmp_path)
    assert from_cfg.fsync and from_cfg.quota_bytes is None
    acct2 = from_cfg.account("bob")
    assert acct2.root == tmp_path / "mail" / "bob"
    assert {f.name for f in acct2.list_folders()} >= {"INBOX", "Sent", "Trash"}
    with pytest.raises(ValueError):
        store.account("../evil")
    with pytest.raises(ValueError):
        MaildirStore(tmp_path / "shared")


def test_fsync_always_works(tmp_path: Path) -> None:
    box = make(tmp_path, fsync=True).account("u").folder(INBOX)
    box.append(LF_MSG, flags=[SEEN])
    box.set_flags([1], [FLAGGED], FlagMode.ADD)
    box.expunge([1])
    assert box.status().uidnext == 2


def test_uidlist_stale_next_uid_and_missing_files(tmp_path: Path) -> None:
    acct = make(tmp_path).account("u")
    root = acct.root
    for f in (ix.INDEX_FILE, "dovecot-uidlist"):
        (root / f).unlink(missing_ok=True)
    put_foreign(root, "cur", "50.x.host,S=10:2,S")
    (root / "dovecot-uidlist").write_text(
        "3 V12345 N3 G0123456789abcdef0123456789abcdef\n7 :gone.host\n9 W57 :50.x.host,S=10\n"
    )
    box = make(tmp_path).account("u").folder(INBOX)
    assert box.uidvalidity == 12345
    assert box.folder_id == "0123456789abcdef0123456789abcdef"
    assert [(m.uid, m.size) for m in box.list_messages()] == [(9, 57)]
    assert box.status().uidnext == 10
    assert box.append(LF_MSG).uid == 10


def test_keyword_letters_run_out_before_any_change(tmp_path: Path) -> None:
    from mailhost.errors import TooManyKeywords

    box = make(tmp_path).account("u").folder(INBOX)
    box.append(LF_MSG)
    box.append(LF_MSG)
    box.set_flags([1], [f"k{i}" for i in range(25)], FlagMode.ADD)
    with pytest.raises(TooManyKeywords):
        box.set_flags([1, 2], ["one", "two"], FlagMode.ADD)
    assert box.get(2).flags == set()  # type: ignore[union-attr]
    # the refused call gave out no letter: the last one is still free
    box.set_flags([2], ["one"], FlagMode.ADD)
    assert box.get(2).flags == {"one"}  # type: ignore[union-attr]


def test_uids_reset_under_an_open_handle_is_reported(tmp_path: Path) -> None:
    acct = make(tmp_path).account("u")
    box = acct.folder(INBOX)
    box.append(LF_MSG)
    seen = box.status().highestmodseq
    # a backup restore: same files, a new uidlist with another UIDVALIDITY
    (acct.root / ix.INDEX_FILE).unlink()
    text = (acct.root / "dovecot-uidlist").read_text().splitlines()
    header = text[0].split()
    header[1] = "V1"
    (acct.root / "dovecot-uidlist").write_text(" ".join(header) + "\n" + "\n".join(text[1:]) + "\n")
    assert box.changes_since(seen).reset
    assert make(tmp_path).account("u").folder(INBOX).uidvalidity == 1


def test_leftovers_of_killed_writers_are_swept(tmp_path: Path) -> None:
    acct = make(tmp_path).account("u")
    root = acct.root
    (root / "mailhost-index.tmp.1.abc").write_bytes(b"half")
    (root / "tmp" / "fresh").write_bytes(b"being written")
    (root / "tmp" / "stale").write_bytes(b"abandoned")
    old = time.time() - 40 * 3600
    os.utime(root / "tmp" / "stale", (old, old))
    make(tmp_path).account("u").folder(INBOX).status()
    assert not (root / "mailhost-index.tmp.1.abc").exists()
    assert sorted(os.listdir(root / "tmp")) == ["fresh"]


def test_odd_foreign_file_names(tmp_path: Path) -> None:
    acct = make(tmp_path).account("u")
    new = os.fsencode(acct.root / "new")
    with open(os.path.join(new, b"1.caf\xe9 latin1.host"), "wb") as f:
        f.write(LF_MSG)
    put_foreign(acct.root, "new", "2.with space.host")
    put_foreign(acct.root, "new", "3.line\nbreak.host")
    put_foreign(acct.root, "new", ".hidden")
    box = acct.folder(INBOX)
    assert [m.uid for m in box.list_messages()] == [1, 2]
    box.set_flags([1, 2], [SEEN], FlagMode.ADD)
    again = make(tmp_path).account("u").folder(INBOX)
    assert [(m.uid, m.flags) for m in again.list_messages()] == [(1, {SEEN}), (2, {SEEN})]
    assert again.status().highestmodseq == box.status().highestmodseq  # index read, not rebuilt
    assert again.read_message(1) == LF_MSG.replace(b"\n", b"\r\n")


def test_folders_not_in_use_are_let_go(tmp_path: Path) -> None:
    import gc

    store = MaildirStore(tmp_path / "%u", fsync=False, cached_folders=2)
    acct = store.account("u")
    for i in range(6):
        acct.create_folder(f"F{i}")
        acct.folder(f"F{i}").append(LF_MSG)
    held = acct.folder("F0")
    gc.collect()
    alive = set(acct._states)
    assert len(alive) <= 3 and Path(held.path) in alive
    fds = len(os.listdir("/proc/self/fd"))
    for i in range(6):
        assert acct.folder(f"F{i}").status().messages == 1
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= fds + 2  # lock files of dropped folders closed
    assert held.append(LF_MSG).uid == 2


def _naive_changes(state, modseq: int) -> list[tuple[object, int, int]]:  # type: ignore[no-untyped-def]
    out = []
    for m in state.msgs.values():
        if m.modseq > modseq:
            kind = ChangeKind.APPEND if m.cmodseq > modseq else ChangeKind.FLAGS
            out.append((kind, m.uid, m.modseq))
    out += [(ChangeKind.EXPUNGE, u, ms) for u, ms in state.expunged.items() if ms > modseq]
    return sorted(out, key=lambda c: (c[2], c[1]))


def test_change_feed_matches_a_full_pass(tmp_path: Path) -> None:
    import random

    rng = random.Random(7)
    acct = make(tmp_path).account("u")
    box = acct.folder(INBOX)
    other = make(tmp_path).account("u").folder(INBOX)
    for step in range(150):
        uids = [m.uid for m in box.list_messages()]
        op = rng.random()
        if op < 0.4 or not uids:
            (box if step % 2 else other).append(LF_MSG)
        elif op < 0.7:
            box.set_flags(rng.sample(uids, min(3, len(uids))), [SEEN], rng.choice(list(FlagMode)))
        elif op < 0.85:
            other.expunge(rng.sample(uids, 1))
        else:
            m = box._state.msgs[rng.choice(uids)]
            base = m.name[4:].partition(":")[0]
            os.rename(acct.root / m.name, acct.root / "cur" / f"{base}:2,F")
        if step % 10 == 0:
            for h in (box, other):
                top = h.status().highestmodseq
                for since in [0, *rng.sample(range(top), min(20, top))]:
                    got = [(c.kind, c.uid, c.modseq) for c in h.changes_since(since).changes]
                    assert got == _naive_changes(h._state, since)
