"""Several writers at once, and writers killed at random points (kill -9)."""

from __future__ import annotations

import multiprocessing
import os
import random
import re
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from mailhost.store.api import INBOX, SEEN, FlagMode
from mailhost.store.maildir import MaildirStore
from mailhost.store.maildir.uidlist import parse_uidlist

fork = multiprocessing.get_context("fork")
ID_RE = re.compile(rb"X-Id: (\S+)")


def message(ident: str) -> bytes:
    return f"X-Id: {ident}\nSubject: test\n\nbody of {ident}\n".encode()


def ident_of(data: bytes) -> str:
    m = ID_RE.search(data)
    assert m is not None
    return m.group(1).decode()


def store_at(root: Path, fsync: bool = False) -> MaildirStore:
    return MaildirStore(
        root / "%u",
        fsync=fsync,
        special_folders={"\\Archive": "Archive", "\\Drafts": "Copies"},
    )


def check_folder_consistent(root: Path, folder: str) -> list[str]:
    """Every file listed once under one UID; uidlist ordered; returns the X-Ids."""
    box = store_at(root).account("u").folder(folder)
    listed = box.list_messages()
    uids = [m.uid for m in listed]
    assert uids == sorted(set(uids))
    path = Path(box.path)
    files = [p for sub in ("new", "cur") for p in (path / sub).iterdir()]
    assert len(files) == len(listed), (folder, len(files), len(listed))
    _header, records = parse_uidlist((path / "dovecot-uidlist").read_text())
    listed_uids = [r.uid for r in records]
    assert listed_uids == sorted(set(listed_uids)), "uidlist UIDs must strictly increase"
    assert set(uids) <= set(listed_uids)
    assert box.status().uidnext > max(uids, default=0)
    idents = []
    for m in listed:
        data = box.read_message(m.uid)
        assert len(data) == m.size
        idents.append(ident_of(data))
    return idents


# -- two writers ---------------------------------------------------------------------------


def _writer(root: str, name: str, count: int) -> None:
    box = store_at(Path(root)).account("u").folder(INBOX)
    rng = random.Random(name)
    mine: list[int] = []
    for i in range(count):
        mine.append(box.append(message(f"{name}-{i}")).uid)
        if rng.random() < 0.5:
            box.set_flags([rng.choice(mine)], [SEEN, f"kw{rng.randrange(3)}"], FlagMode.ADD)
        if rng.random() < 0.2:
            box.list_messages()
    os._exit(0)


def test_two_processes_append_and_flag_concurrently(tmp_path: Path) -> None:
    store_at(tmp_path).account("u")  # make the tree once
    count = 120
    procs = [fork.Process(target=_writer, args=(str(tmp_path), n, count)) for n in ("p1", "p2")]
    for p in procs:
        p.start()
    # and this process reads meanwhile
    box = store_at(tmp_path).account("u").folder(INBOX)
    while any(p.is_alive() for p in procs):
        box.status()
        time.sleep(0.01)
    for p in procs:
        p.join()
        assert p.exitcode == 0
    idents = check_folder_consistent(tmp_path, INBOX)
    assert sorted(idents) == sorted(f"{n}-{i}" for n in ("p1", "p2") for i in range(count))
    assert box.status().messages == 2 * count
    assert box.status().uidnext == 2 * count + 1


def test_threads_share_one_store_safely(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    other = store_at(tmp_path)
    errors: list[BaseException] = []

    def work(s: MaildirStore, name: str) -> None:
        try:
            box = s.account("u").folder(INBOX)
            for i in range(40):
                info = box.append(message(f"{name}-{i}"))
                box.set_flags([info.uid], [SEEN], FlagMode.ADD)
                if i % 10 == 0:
                    box.expunge([info.uid])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(s, f"t{i}"))
        for i, s in enumerate([store, store, other, other])
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    idents = check_folder_consistent(tmp_path, INBOX)
    assert len(idents) == 4 * 36
    assert store.account("u").folder(INBOX).status().uidnext == 4 * 40 + 1


# -- the crash loop ------------------------------------------------------------------------


def _busy(root: str, seed: int, log: str) -> None:
    """Append, flag, expunge, move and copy for ever, logging what completed."""
    rng = random.Random(seed)
    acct = store_at(Path(root)).account("u")
    box = acct.folder(INBOX)
    archive = acct.folder("Archive")
    copies = acct.folder("Copies")
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    n = 0
    while True:
        n += 1
        op = rng.random()
        if op < 0.5:
            ident = f"{seed}-{n}"
            box.append(message(ident), flags=[SEEN] if rng.random() < 0.3 else [])
            os.write(fd, f"A {ident}\n".encode())
            continue
        listed = box.list_messages()
        if not listed:
            continue
        picked = rng.sample([m.uid for m in listed], min(3, len(listed)))
        if op < 0.75:
            box.set_flags(picked, [rng.choice(["\\Flagged", "$Junk", SEEN])], FlagMode.ADD)
        elif op < 0.85:
            for uid in picked:
                os.write(fd, f"X {ident_of(box.read_message(uid))}\n".encode())
            box.expunge(picked)
        elif op < 0.95:
            box.move_to(picked, archive)
        else:
            box.copy_to(picked, copies)
        if rng.random() < 0.05:
            state = box._state
            with state.hold():
                state.compact()


def test_kill_9_at_random_points_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    store_at(tmp_path).account("u")
    log = tmp_path / "log"
    rng = random.Random(20241126)
    deadline = time.monotonic() + 12
    rounds = 0
    inbox_dir = store_at(tmp_path).account("u").root
    dropped: set[str] = set()
    while rounds < 40 and time.monotonic() < deadline:
        rounds += 1
        # another program delivers too: LF files without sizes, as an MDA writes them
        for i in range(rng.randrange(0, 30)):
            ident = f"mda-{rounds}-{i}"
            sub, name = (
                ("cur", f"{rounds}{i:03}.mda:2,S") if i % 2 else ("new", f"{rounds}{i:03}.mda")
            )
            (inbox_dir / sub / name).write_bytes(message(ident))
            dropped.add(ident)
        child = fork.Process(target=_busy, args=(str(tmp_path), rounds, str(log)))
        child.start()
        time.sleep(rng.uniform(0.02, 0.25))
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        inbox_ids = check_folder_consistent(tmp_path, INBOX)
        archive_ids = check_folder_consistent(tmp_path, "Archive")
        check_folder_consistent(tmp_path, "Copies")  # copies may repeat: only consistency
        seen = Counter(inbox_ids + archive_ids)
        assert not [i for i, c in seen.items() if c > 1], "a message is there twice"
        appended, expunged = set(dropped), set()
        for line in log.read_text().splitlines():
            kind, ident = line.split()
            (appended if kind == "A" else expunged).add(ident)
        lost = appended - expunged - set(seen)
        assert not lost, f"round {rounds}: acknowledged messages lost: {sorted(lost)[:5]}"
    assert rounds >= 10


def _hold_lease(root: str, ready: str) -> None:
    store_at(Path(root)).account("u").acquire_maildrop("pop3 in a killed process", ttl=600)
    Path(ready).touch()
    time.sleep(60)


def test_lease_held_by_a_process_until_it_is_killed(tmp_path: Path) -> None:
    from mailhost.errors import MailboxInUse

    store_at(tmp_path).account("u")
    ready = tmp_path / "ready"
    child = fork.Process(target=_hold_lease, args=(str(tmp_path), str(ready)))
    child.start()
    while not ready.exists():
        time.sleep(0.01)
    with pytest.raises(MailboxInUse):
        store_at(tmp_path).account("u").acquire_maildrop("second", ttl=60)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    lease = store_at(tmp_path).account("u").acquire_maildrop("second", ttl=60)
    lease.check()
