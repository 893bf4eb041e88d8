"""FolderWatcher: inotify events and the periodic rescan, driven by a fake clock.

The notifier's file descriptor is read by hand (``doRead``) instead of by a running
reactor: the kernel queues the events as soon as the file operations return.
"""

from __future__ import annotations

import select
import shutil
import struct
import sys
from pathlib import Path

import pytest
from twisted.internet.testing import MemoryReactorClock

from mailhost.watcher import FolderWatcher

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="inotify exists only on Linux"
)


def maildir(path: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    clock = MemoryReactorClock()
    calls: list[tuple[str, str]] = []
    watcher = FolderWatcher(lambda u, f: calls.append((u, f)), reactor=clock, rescan_interval=30)
    watcher.start()
    yield watcher, clock, calls, tmp_path
    watcher.stop()


@pytest.fixture
def watched(setup):  # type: ignore[no-untyped-def]
    """``setup`` with one Maildir folder watched: (watcher, clock, calls, its path)."""
    watcher, clock, calls, tmp = setup
    box = maildir(tmp / "u")
    watcher.watch("u", "fid", box)
    return watcher, clock, calls, box


def pump(watcher: FolderWatcher, clock: MemoryReactorClock) -> None:
    if watcher._notifier is not None:
        watcher._notifier.doRead()
    clock.advance(0)
    clock.advance(0.1)


@linux_only
def test_delivery_into_new_calls_back_once_per_burst(watched) -> None:  # type: ignore[no-untyped-def]
    watcher, clock, calls, box = watched
    assert watcher.inotify_active
    for i in range(5):
        (box / "tmp" / f"m{i}").write_bytes(b"x")
        (box / "tmp" / f"m{i}").rename(box / "new" / f"m{i}")
    pump(watcher, clock)
    assert calls == [("u", "fid")]
    (box / "new" / "m0").rename(box / "cur" / "m0:2,S")
    pump(watcher, clock)
    assert calls == [("u", "fid")] * 2


@linux_only
def test_unwatch_is_counted(watched) -> None:  # type: ignore[no-untyped-def]
    watcher, clock, calls, box = watched
    watcher.watch("u", "fid", box)
    watcher.unwatch("u", "fid")
    (box / "new" / "a").write_bytes(b"x")
    pump(watcher, clock)
    assert calls == [("u", "fid")]
    watcher.unwatch("u", "fid")
    (box / "new" / "b").write_bytes(b"x")
    pump(watcher, clock)
    assert calls == [("u", "fid")]
    assert watcher.watched() == []


@linux_only
def test_deleting_a_watched_folder_keeps_the_others_watched(setup) -> None:  # type: ignore[no-untyped-def]
    watcher, clock, calls, tmp = setup
    gone = maildir(tmp / "u" / ".Gone")
    kept = maildir(tmp / "u" / ".Kept")
    watcher.watch("u", "gone", gone)
    watcher.watch("u", "kept", kept)
    first = watcher._notifier
    shutil.rmtree(gone)
    pump(watcher, clock)  # Twisted closes the whole instance here; we reopen it
    assert watcher._notifier is not None and watcher._notifier is not first
    calls.clear()
    (kept / "new" / "m").write_bytes(b"x")
    pump(watcher, clock)
    assert ("u", "kept") in calls


@linux_only
def test_queue_overflow_rescans_everything(setup) -> None:  # type: ignore[no-untyped-def]
    watcher, clock, calls, tmp = setup
    watcher.watch("u", "a", maildir(tmp / "a"))
    watcher.watch("u", "b", maildir(tmp / "b"))
    overflow = struct.pack("=iLLL", -1, 0x4000, 0, 0)
    watcher._notifier._doRead(overflow)
    clock.advance(0)
    assert sorted(calls) == [("u", "a"), ("u", "b")]


def test_periodic_rescan_without_inotify(tmp_path: Path) -> None:
    clock = MemoryReactorClock()
    calls: list[tuple[str, str]] = []
    watcher = FolderWatcher(
        lambda u, f: calls.append((u, f)), reactor=clock, rescan_interval=10, use_inotify=False
    )
    watcher.start()
    watcher.watch("u", "fid", maildir(tmp_path / "u"))
    assert not watcher.inotify_active
    clock.advance(9)
    assert calls == []
    clock.advance(1)
    assert calls == [("u", "fid")]
    watcher.stop()
    clock.advance(100)
    assert calls == [("u", "fid")]


@linux_only
def test_missing_directory_falls_back_to_rescan(setup) -> None:  # type: ignore[no-untyped-def]
    watcher, clock, calls, tmp = setup
    watcher.watch("u", "fid", tmp / "does-not-exist")
    clock.advance(30)
    assert calls == [("u", "fid")]


@linux_only
def test_watcher_service_watches_what_sessions_subscribe_to(tmp_path: Path) -> None:
    from mailhost.changes import ChangeHub
    from mailhost.config import Config
    from mailhost.store.config import StoreConfig
    from mailhost.store.maildir import MaildirStore
    from mailhost.store.memory import MemoryStore
    from mailhost.watcher import watcher_service

    clock = MemoryReactorClock()
    config = Config(store=StoreConfig(rescan_interval=5))
    store = MaildirStore(tmp_path / "%u", fsync=False)
    hub = ChangeHub()  # no reactor: wakes inline
    assert watcher_service(config, MemoryStore(), hub, clock) is None
    watcher = watcher_service(config, store, hub, clock)
    assert watcher is not None
    watcher.startService()
    box = store.account("u").folder("INBOX")
    woken: list[str] = []
    unsubscribe = hub.subscribe("u", box.folder_id, lambda: woken.append("wake"))
    assert watcher.watched() == [("u", box.folder_id)]
    (Path(box.path) / "new" / "delivered-by-mda").write_bytes(b"Subject: x\n\nhi\n")
    pump(watcher, clock)
    assert woken == ["wake"]
    assert box.status().messages == 1
    clock.advance(5)
    assert woken == ["wake", "wake"]  # the periodic rescan
    unsubscribe()
    unsubscribe()
    assert watcher.watched() == []
    watcher.stopService()


def test_store_config_mail_dir() -> None:
    from mailhost.store.config import StoreConfig

    assert str(StoreConfig(maildir="mail/%u").mail_dir) == "mail"
    assert str(StoreConfig(maildir="/var/vmail/%d/%n/Maildir").mail_dir) == "/var/vmail"


def _age(path: Path, seconds: float) -> None:
    """Make ``new/`` and ``cur/`` look modified ``seconds`` ago."""
    import os
    import time

    when = time.time() - seconds
    for sub in ("new", "cur"):
        os.utime(path / sub, (when, when))


def _pooled(**kw: object) -> tuple[FolderWatcher, MemoryReactorClock, list[tuple[str, str]]]:
    """A started watcher whose rescans look through an (inline) pool."""
    from mailhost.blocking import InlineBlocking

    clock = MemoryReactorClock()
    calls: list[tuple[str, str]] = []
    watcher = FolderWatcher(
        lambda u, f: calls.append((u, f)),
        reactor=clock,
        blocking=InlineBlocking(),
        **kw,  # type: ignore[arg-type]
    )
    watcher.start()
    return watcher, clock, calls


def test_rescan_with_a_pool_calls_back_only_for_changed_folders(tmp_path: Path) -> None:
    watcher, clock, calls = _pooled(rescan_interval=10, use_inotify=False)
    a, b = maildir(tmp_path / "a"), maildir(tmp_path / "b")
    for path in (a, b):
        _age(path, 60)
    watcher.watch("u", "a", a)
    watcher.watch("u", "b", b)
    watcher.watch("u", "nowhere", None)
    clock.advance(10)  # first look: everything is new to the rescan
    assert sorted(calls) == [("u", "a"), ("u", "b"), ("u", "nowhere")]
    calls.clear()
    clock.advance(10)  # nothing changed: only the folder it cannot look at
    assert calls == [("u", "nowhere")]
    calls.clear()
    (b / "new" / "from-another-program").write_bytes(b"Subject: x\n\nhi\n")
    clock.advance(10)  # changed a moment ago: too fresh to trust, and different
    assert sorted(calls) == [("u", "b"), ("u", "nowhere")]
    calls.clear()
    clock.advance(10)  # still fresh: looked at again
    assert sorted(calls) == [("u", "b"), ("u", "nowhere")]
    calls.clear()
    _age(b, 60)
    clock.advance(10)  # settled now, and different from the last stamp (none)
    assert sorted(calls) == [("u", "b"), ("u", "nowhere")]
    calls.clear()
    clock.advance(10)
    assert calls == [("u", "nowhere")]
    watcher.stop()


@linux_only
def test_lost_events_still_rescan_everything_with_a_pool(tmp_path: Path) -> None:
    watcher, clock, calls = _pooled()
    a = maildir(tmp_path / "a")
    _age(a, 60)
    watcher.watch("u", "a", a)
    overflow = struct.pack("=iLLL", -1, 0x4000, 0, 0)
    watcher._notifier._doRead(overflow)
    clock.advance(0)
    assert calls == [("u", "a")]
    watcher.stop()


@linux_only
def test_a_released_watch_lingers_then_goes(watched) -> None:  # type: ignore[no-untyped-def]
    watcher, clock, calls, box = watched
    dirs = list(watcher._watched[("u", "fid")].dirs)
    watcher.unwatch("u", "fid")
    clock.advance(watcher.linger / 2)
    # taken up again before it went: the same inotify watches, nothing re-added
    watcher.watch("u", "fid", box)
    assert watcher._watched[("u", "fid")].dirs == dirs
    (box / "new" / "a").write_bytes(b"x")
    pump(watcher, clock)
    assert calls == [("u", "fid")]
    watcher.unwatch("u", "fid")
    clock.advance(watcher.linger / 2)
    assert ("u", "fid") in watcher._watched  # still lingering
    clock.advance(watcher.linger)
    assert ("u", "fid") not in watcher._watched
    assert watcher._sweep_call is None  # nothing left to sweep: no timer


def test_linger_zero_drops_at_once(tmp_path: Path) -> None:
    clock = MemoryReactorClock()
    watcher = FolderWatcher(lambda u, f: None, reactor=clock, use_inotify=False, linger=0)
    watcher.watch("u", "fid", maildir(tmp_path / "u"))
    watcher.unwatch("u", "fid")
    assert ("u", "fid") not in watcher._watched


@linux_only
def test_with_a_pool_the_store_decides_who_to_wake(tmp_path: Path) -> None:
    from mailhost.blocking import InlineBlocking
    from mailhost.changes import ChangeHub
    from mailhost.config import Config
    from mailhost.store.config import StoreConfig
    from mailhost.store.maildir import MaildirStore
    from mailhost.watcher import watcher_service

    clock = MemoryReactorClock()
    store = MaildirStore(tmp_path / "%u", fsync=False)
    hub = ChangeHub()  # no reactor: wakes inline
    store.add_listener(hub.notify)
    watcher = watcher_service(Config(store=StoreConfig()), store, hub, clock, InlineBlocking())
    assert watcher is not None
    watcher.startService()
    box = store.account("u").folder("INBOX")
    woken: list[str] = []
    hub.subscribe("u", box.folder_id, lambda: woken.append("wake"))
    # a change through the store: its own wake-up, and the directory event adds none
    box.append(b"Subject: own\r\n\r\nhi\r\n")
    assert woken == ["wake"]
    pump(watcher, clock)
    assert woken == ["wake"]
    # a file another program dropped: found by the store's look, one wake-up
    (Path(box.path) / "new" / "delivered-by-mda").write_bytes(b"Subject: x\n\nhi\n")
    pump(watcher, clock)
    assert woken == ["wake", "wake"]
    assert box.status().messages == 2
    # the folder removed behind the store's back: the sessions are told to look
    shutil.rmtree(box.path)
    store.refresh("u", box.folder_id)
    assert woken == ["wake", "wake", "wake"]
    watcher.stopService()


@linux_only
def test_first_rescan_of_an_inotify_watched_folder_only_records(tmp_path: Path) -> None:
    watcher, clock, calls = _pooled(rescan_interval=10)
    a = maildir(tmp_path / "a")
    _age(a, 60)
    watcher.watch("u", "a", a)
    clock.advance(10)
    assert calls == []  # inotify covers it from the watch on
    _age(a, 30)  # changed since (as if its inotify event had been lost)
    clock.advance(10)
    assert calls == [("u", "a")]
    watcher.stop()


@linux_only
def test_a_burst_of_events_is_read_in_place_and_split_reads_keep_their_tail(
    watched,  # type: ignore[no-untyped-def]
) -> None:
    watcher, clock, calls, box = watched
    for i in range(500):  # renames, as a STORE on many messages makes
        (box / "new" / f"m{i}").write_bytes(b"x")
        (box / "new" / f"m{i}").rename(box / "cur" / f"m{i}:2,S")
    pump(watcher, clock)
    assert calls == [("u", "fid")]
    # an event cut in two by the reads: nothing until its second half comes
    notifier = watcher._notifier
    wd = next(iter(notifier._watchpoints))
    event = struct.pack("=iLLL", wd, 0x100, 0, 16) + b"name".ljust(16, b"\0")
    notifier._doRead(event[:20])
    clock.advance(1)
    assert calls == [("u", "fid")]
    notifier._doRead(event[20:])
    clock.advance(1)
    assert calls == [("u", "fid")] * 2
    assert notifier._buffer == b""


@linux_only
def test_reads_pause_after_each_wake_up_and_a_long_burst_is_read_whole(
    watched,  # type: ignore[no-untyped-def]
) -> None:
    watcher, clock, calls, box = watched
    notifier = watcher._notifier
    assert notifier in clock.getReaders()
    (box / "new" / "m").write_bytes(b"x")
    notifier.doRead()
    assert notifier not in clock.getReaders()  # renames keep their thread's GIL meanwhile
    clock.advance(notifier.pace)
    assert notifier in clock.getReaders()
    clock.advance(1)
    assert calls == [("u", "fid")]
    # more events than one read takes (two per rename, each with its name)
    for i in range(1500):
        (box / "new" / f"m{i}.{'x' * 40}").write_bytes(b"x")
    for i in range(1500):
        (box / "new" / f"m{i}.{'x' * 40}").rename(box / "cur" / f"m{i}:2,S")
    wake_ups = 0
    while select.select([notifier._fd], [], [], 0)[0]:
        wake_ups += 1
        notifier.doRead()
        clock.advance(notifier.pace)
    assert 2 <= wake_ups <= 10  # a read takes up to 64 KiB, not one event pair
    clock.advance(1)
    assert calls == [("u", "fid")] * 2
