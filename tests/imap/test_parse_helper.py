"""Parse helper processes: what they build is what the host builds, and a helper that is
busy, stopped, killed or frozen costs an answer nothing (its messages are built here)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from imapkit import Host

from mailhost.imap import parse_helper
from mailhost.imap.fetch import load_structures
from mailhost.imap.parse_helper import ParseHelpers, build, structure_item
from mailhost.imap.structures import StructureCache
from mailhost.mime.structure import parse
from mailhost.store.api import FlagMode, Folder
from mailhost.store.maildir import MaildirStore
from mailhost.store.memory import MemoryStore

NAMES = [b"ENVELOPE", b"BODYSTRUCTURE", b"BODY"]

MULTIPART = (
    b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\n"
    b"To: a@example.org, (comment) b@example.org\r\n"
    b"Subject: parts %d\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"
    b"--b\r\nContent-Type: message/rfc822\r\n\r\n"
    b"Subject: inner\r\nFrom: x@y\r\n\r\ninner body\r\n"
    b"--b--\r\n"
)
PLAIN = (
    b"From: s%d@example.org\r\nSubject: plain\r\n"
    b"Date: Tue, 14 Nov 2023 22:14:20 +0000\r\n\r\nbody\r\n"
)


def _messages(n: int) -> list[bytes]:
    return [(MULTIPART if k % 3 == 0 else PLAIN) % k for k in range(n)]


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    store = MaildirStore(tmp_path / "%u", fsync=False)
    inbox = store.account("alice").folder("INBOX")
    for data in _messages(200):
        inbox.append(data)
    return inbox


@pytest.fixture
def helpers() -> Iterator[ParseHelpers]:
    h = ParseHelpers(1)
    h.start()
    _wait_ready(h)
    yield h
    h.stop()


def _wait_ready(h: ParseHelpers) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        helper = h._helpers[0]
        with helper.lock:
            if helper.usable():
                return
        time.sleep(0.02)
    raise AssertionError("the helper never became ready")


def _in_process(folder: Folder, uids: list[int]) -> dict[int, dict[bytes, bytes]]:
    out = {}
    for uid in uids:
        data = folder.read_message(uid)
        part = parse(data)
        out[uid] = {name: structure_item(name, part, data) for name in NAMES}
    return out


def _uids(folder: Folder) -> list[int]:
    return [m.uid for m in folder.list_messages()]


def test_build_matches_the_host_for_files_with_lf_and_crlf(tmp_path: Path) -> None:
    files = []
    expected = {}
    for k, data in enumerate(_messages(6)):
        path = tmp_path / f"m{k}"
        # files other programs wrote end lines with LF; their CRLF size is not known
        path.write_bytes(data.replace(b"\r\n", b"\n") if k % 2 else data)
        files.append((k, str(path), -1 if k % 2 else len(data)))
        part = parse(data)
        expected[k] = {name: structure_item(name, part, data) for name in NAMES}
    files.append((99, str(tmp_path / "renamed-meanwhile"), 10))
    assert build(files, NAMES) == expected  # the missing file is left to the host


def test_a_shared_batch_builds_what_the_host_builds(folder: Folder, helpers: ParseHelpers) -> None:
    uids = _uids(folder)
    own, share = helpers.share(folder, uids, NAMES)
    assert share is not None
    assert own == uids[:100] and share.uids == uids[100:]
    assert share.collect() == _in_process(folder, share.uids)
    assert helpers.messages_built == 100
    # freed: the next batch is shared again
    own, share = helpers.share(folder, uids, NAMES)
    assert share is not None
    share.collect()


def test_load_structures_builds_the_first_part_and_hands_the_rest_out(
    folder: Folder, helpers: ParseHelpers
) -> None:
    uids = _uids(folder)
    values, done, recent, share = load_structures(folder, uids, False, NAMES, helpers)
    assert share is not None
    assert done == 100 and sorted(values) == uids[:100]
    assert values == _in_process(folder, uids[:100])
    assert len(recent) == 8 and recent[-1][0] == uids[99]
    assert share.collect() == _in_process(folder, uids[100:])


def test_small_batches_busy_helpers_and_fileless_stores_get_no_share(
    folder: Folder, helpers: ParseHelpers
) -> None:
    uids = _uids(folder)
    few = uids[: 2 * parse_helper.MIN_SHARE - 1]
    assert helpers.share(folder, few, NAMES) == (few, None)
    with helpers._helpers[0].lock:  # another thread's share
        assert helpers.share(folder, uids, NAMES) == (uids, None)
    memory = MemoryStore().account("alice").folder("INBOX")
    for data in _messages(100):
        memory.append(data)
    listed = _uids(memory)
    assert helpers.share(memory, listed, NAMES) == (listed, None)
    # nothing was left claimed by the refusals
    assert helpers.share(folder, uids, NAMES)[1] is not None


def test_a_share_is_cut_at_its_octet_bound(
    folder: Folder, helpers: ParseHelpers, monkeypatch: pytest.MonkeyPatch
) -> None:
    uids = _uids(folder)
    sizes = [size for _uid, _path, size in folder.message_files(uids[100:110])]
    assert all(size > 0 for size in sizes)  # the store knows the sizes of its own files
    monkeypatch.setattr(parse_helper, "SHARE_BYTES", sum(sizes))
    own, share = helpers.share(folder, uids, NAMES)
    assert share is not None
    # the rest is for a later batch: neither built here nor handed out
    assert own == uids[:100] and share.uids == uids[100:110]
    assert share.collect() == _in_process(folder, share.uids)


def test_a_killed_helper_leaves_its_share_to_the_host_and_comes_back(
    folder: Folder, helpers: ParseHelpers, monkeypatch: pytest.MonkeyPatch
) -> None:
    uids = _uids(folder)
    (pid,) = helpers.pids
    os.kill(pid, signal.SIGKILL)
    _own, share = helpers.share(folder, uids, NAMES)
    if share is not None:  # the death was not yet seen when the share went out
        assert share.collect() == {}
    # stopped, and not started again before RESTART_INTERVAL
    assert helpers.pids == []
    assert helpers.share(folder, uids, NAMES) == (uids, None)
    monkeypatch.setattr(parse_helper, "RESTART_INTERVAL", 0.0)
    assert helpers.share(folder, uids, NAMES) == (uids, None)  # started, still importing
    _wait_ready(helpers)
    (new_pid,) = helpers.pids
    assert new_pid != pid
    _own, share = helpers.share(folder, uids, NAMES)
    assert share is not None and share.collect() == _in_process(folder, share.uids)


def test_a_frozen_helper_is_given_up_after_the_share_timeout(
    folder: Folder, helpers: ParseHelpers, monkeypatch: pytest.MonkeyPatch
) -> None:
    uids = _uids(folder)
    (pid,) = helpers.pids
    monkeypatch.setattr(parse_helper, "SHARE_TIMEOUT", 0.5)
    os.kill(pid, signal.SIGSTOP)
    try:
        _own, share = helpers.share(folder, uids, NAMES)
        assert share is not None
        started = time.monotonic()
        assert share.collect() == {}
        assert time.monotonic() - started < 5
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert helpers.pids == []  # killed and reaped, not left stopped
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_a_file_renamed_after_it_was_handed_out_is_built_by_the_host(
    folder: Folder, helpers: ParseHelpers
) -> None:
    uids = _uids(folder)
    stale = folder.message_files(uids)
    # another process changes a flag: the file has a new name
    folder.set_flags([uids[150]], ["\\Flagged"], FlagMode.ADD)

    class Stale:
        def message_files(self, wanted: Iterable[int]) -> list[tuple[int, str, int]]:
            chosen = set(wanted)
            return [f for f in stale if f[0] in chosen]

    _own, share = helpers.share(Stale(), uids, NAMES)
    assert share is not None
    built = share.collect()
    assert uids[150] not in built and len(built) == 99
    assert folder.read_message(uids[150])  # still there, under its new name


def test_stop_ends_the_helpers(folder: Folder) -> None:
    h = ParseHelpers(2)
    h.start()
    pids = h.pids
    assert len(pids) == 2
    h.stop()
    assert h.pids == []
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


@pytest.mark.parametrize("cache_bytes", [64 << 20, 2000])
def test_a_fetch_with_helpers_answers_as_one_without(
    tmp_path: Path, helpers: ParseHelpers, cache_bytes: int
) -> None:
    """The same bytes, whether the helpers' share waits in the cache until its turn or is
    pushed out of a cache too small to keep it (then it is read again here)."""
    answers = []
    for with_helpers in (False, True):
        store = MaildirStore(tmp_path / str(with_helpers) / "%u", fsync=False)
        host = Host(store=store, parse_helpers=helpers if with_helpers else None)
        host.factory.structures = StructureCache(cache_bytes)
        for data in _messages(300):
            host.deliver(data)
        c = host.selected()
        before = helpers.messages_built
        answers.append(c.cmd("F1 FETCH 1:* (ENVELOPE BODYSTRUCTURE BODY)"))
        assert (helpers.messages_built > before) is with_helpers
    assert answers[0] == answers[1]
    assert answers[0].count(b" FETCH (") == 300 and answers[0].endswith(
        b"F1 OK FETCH completed\r\n"
    )


def test_no_more_helpers_than_the_cores_left_to_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    for cores, configured, wanted in [({0}, 1, 0), ({0, 1}, 1, 1), ({0, 1}, 4, 1), ({3}, 4, 0)]:
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid, c=cores: c)
        assert parse_helper.helpers_wanted(configured) == wanted
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(8)))
    assert parse_helper.helpers_wanted(0) == 0
    assert parse_helper.helpers_wanted(3) == 3


THREADED = (
    b"From: =?utf-8?q?J=C3=BCrgen?= <j%d@example.org>\r\nTo: x@example.org\r\n"
    b"Subject: Re: topic %d\r\nMessage-ID: <m%d@example.org>\r\n"
    b"References: <m%d@example.org>\r\nDate: Tue, 14 Nov 2023 22:%02d:20 +0000\r\n\r\nbody\r\n"
)


def _threaded(n: int) -> list[bytes]:
    # every third message has no Date: the host threads it by its internal date
    out = [THREADED % (k % 7, k % 5, k, max(k - 3, 0), k % 60) for k in range(n)]
    return [m.replace(b"Date: ", b"X-Date: ") if k % 3 == 0 else m for k, m in enumerate(out)]


def test_sort_and_thread_keys_built_by_a_helper_are_the_hosts(tmp_path: Path) -> None:
    from mailhost.imap.sort import header_keys
    from mailhost.imap.thread import read_thread_keys, to_cached

    store = MaildirStore(tmp_path / "%u", fsync=False)
    inbox = store.account("alice").folder("INBOX")
    for data in _threaded(40):
        inbox.append(data.replace(b"\r\n", b"\n") if len(data) % 2 else data)
    uids = [m.uid for m in inbox.list_messages()]
    files = inbox.message_files(uids)
    keys = [b"DATE", b"SUBJECT", b"FROM", b"DISPLAYFROM"]
    assert build(files, [b"SORT " + k for k in keys]) == header_keys(inbox, uids, keys)
    built = build(files, [b"THREAD"])
    infos = {m.uid: m for m in inbox.list_messages()}
    here = {k.uid: to_cached(k) for k in read_thread_keys(inbox, list(enumerate(uids, 1)), infos)}
    dated = [u for i, u in enumerate(uids) if i % 3]
    assert sorted(built) == dated  # undated ones are left to the host
    assert {u: v[b"THREAD"] for u, v in built.items()} == {u: here[u] for u in dated}


def test_sort_and_thread_with_helpers_answer_as_without(
    tmp_path: Path, helpers: ParseHelpers
) -> None:
    answers = []
    for with_helpers in (False, True):
        store = MaildirStore(tmp_path / str(with_helpers) / "%u", fsync=False)
        host = Host(store=store, parse_helpers=helpers if with_helpers else None)
        for data in _threaded(300):
            host.deliver(data)
        c = host.selected()
        before = helpers.messages_built
        answers.append(
            [
                c.cmd("S1 SORT (REVERSE DATE SUBJECT) UTF-8 ALL"),
                c.cmd("S2 UID SORT (DISPLAYFROM) UTF-8 ALL"),
                c.cmd("T1 THREAD REFERENCES UTF-8 ALL"),
                c.cmd("T2 THREAD ORDEREDSUBJECT UTF-8 ALL"),
            ]
        )
        assert (helpers.messages_built > before) is with_helpers
    assert answers[0] == answers[1]
    assert all(a.split(b"\r\n")[-2].endswith(b"completed") for a in answers[0])
