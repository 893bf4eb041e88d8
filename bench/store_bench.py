"""Maildir store benchmark: open and list big folders of foreign files.

Builds folders the way a test harness or an MDA would (small files with LF line endings,
no sizes in the names, half of them seen in ``cur/``), then times:

* cold open: first sight, no index (the files are listed, given UIDs and journalled);
* flags: ``list_flags()`` right after (what SELECT needs: UIDs and flags, no sizes);
* 1st list: ``list_messages()`` then (every file is read once to learn its CRLF size and
  stat-ed for its date: the cost of the first ``FETCH 1:* RFC822.SIZE``);
* warm open: a new store object on the indexed folder (another process starting);
* list: ``list_messages()`` (UID, FLAGS, SIZE) on the open folder;
* status: ``status()`` on the open folder (sync check + counters);
* append: milliseconds per ``append()`` of a small message into the big folder (fsync on);
* list+rescan: ``list_messages()`` right after those appends (directory listed again);
* flag 1k: one ``set_flags()`` adding ``\\Flagged`` to 1,000 messages (1,000 renames, fsync on);
* list again: ``list_messages()`` after that change (only the changed entries are new);
* read 2k: ``read_message()`` of 2,000 messages (what POP3 RETR and FETCH BODY[] call);
* flag cur 1k: ``set_flags()`` adding ``\\Answered`` to 1,000 messages in ``cur/`` (once the
  directories settled: an IMAP ``STORE`` on seen mail);
* sync after: ``changes_since()`` right after it, as IMAP asks after every command, then
  ``status()`` (the directories need not be listed again after our own renames).

Usage: ``python bench/store_bench.py [--sizes 10000,100000] [--dir /tmp/x]``.
Not a test: it prints a table and the ratios between sizes (linear cost means the ratio
of times is close to the ratio of sizes).

``--repeat N`` times only the first look (cold open, flags, 1st list), N times on one tree
whose store files are removed in between, and prints the best wall-clock and CPU times:
steadier than one run on a busy machine, where CPU time is what one core has to spare.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mailhost.store.api import ANSWERED, FLAGGED, INBOX, SEEN, FlagMode
from mailhost.store.maildir import MaildirStore
from mailhost.store.maildir.state import FolderState

BODY = (
    "From: sender{n}@example.org\nTo: user@example.org\nSubject: message {n}\n"
    "Message-ID: <{n}@example.org>\n\nHello {n},\nthis is a short test message.\n"
)


APPENDS = 200
#: a little more than the store's settle window for directory mtimes
SETTLE_S = 2.1
T = TypeVar("T")


def build(root: Path, count: int) -> None:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    start = 1_700_000_000
    for n in range(count):
        name = f"{start + n}.M{n}P1.bench"
        data = BODY.format(n=n).encode()
        path = root / "cur" / f"{name}:2,S" if n % 2 else root / "new" / name
        with open(path, "wb") as f:
            f.write(data)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def run(base: Path, count: int) -> dict[str, float]:
    user = f"u{count}"
    root = base / user
    build(root, count)
    os.sync()
    template = base / "%u"
    # the tree was delivered a while ago (as a harness or MDA would have it): the
    # directories look settled, so only changes made later make a sync list them again
    old = time.time_ns() - 10_000_000_000
    for sub in ("new", "cur"):
        os.utime(root / sub, ns=(old, old))

    def open_folder():  # type: ignore[no-untyped-def]
        return MaildirStore(template, fsync=True).account(user).folder(INBOX)

    cold, box = timed(open_folder)
    flags_t, flags = timed(box.list_flags)
    assert len(flags.uids) == count
    first_t, _ = timed(box.list_messages)
    assert box.status().messages == count
    # a later start: the directory has settled, the index is trusted as it is
    for sub in ("new", "cur"):
        os.utime(root / sub, ns=(old, old))
    box.status()
    warm, box2 = timed(open_folder)
    listing_t, listing = timed(box2.list_messages)
    assert len(listing) == count
    assert sum(1 for m in listing if "\\Seen" in m.flags) == count // 2
    status_t, _ = timed(box2.status)
    data = BODY.format(n="appended").encode()
    append_t, _ = timed(lambda: [box2.append(data) for _ in range(APPENDS)])
    relist_t, again = timed(box2.list_messages)
    assert len(again) == count + APPENDS
    first = [m.uid for m in again[:1000]]
    flag_t, changed = timed(lambda: box2.set_flags(first, [FLAGGED], FlagMode.ADD))
    assert len(changed) == len(first)
    list2_t, _ = timed(box2.list_messages)
    some = [m.uid for m in again[: min(2000, len(again))]]
    read_t, _ = timed(lambda: [box2.read_message(uid) for uid in some])
    time.sleep(SETTLE_S)  # let new/ (changed above) settle: one more listing trusts it
    before = box2.status().highestmodseq
    seen = [m.uid for m in again if SEEN in m.flags][:1000]
    flag_cur_t, changed = timed(lambda: box2.set_flags(seen, [ANSWERED], FlagMode.ADD))
    assert len(changed) == len(seen)
    sync_t, changes = timed(lambda: (box2.changes_since(before), box2.status())[0])
    assert len(changes.changes) == len(seen)
    return {
        "cold open": cold,
        "flags": flags_t,
        "1st list": first_t,
        "warm open": warm,
        "list": listing_t,
        "status": status_t,
        "append (ms)": append_t / APPENDS * 1000,
        "list+rescan": relist_t,
        "flag 1k": flag_t,
        "list again": list2_t,
        "read 2k": read_t,
        "flag cur 1k": flag_cur_t,
        "sync after": sync_t,
    }


def _forget_store_files(root: Path, settled_ns: int) -> None:
    """Make ``root`` a foreign folder again: no index, uidlist or lock (the message files
    keep their names: nothing renamed them), directories settled."""
    for entry in os.listdir(root):
        if entry.startswith(("mailhost", "dovecot")):
            os.unlink(root / entry)
    for sub in ("new", "cur"):
        os.utime(root / sub, ns=(settled_ns, settled_ns))


def timed_cpu(fn: Callable[[], T]) -> tuple[float, float, T]:
    """Wall-clock and CPU seconds of ``fn()``, and its result."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = fn()
    return time.perf_counter() - wall0, time.process_time() - cpu0, result


def run_cold(base: Path, count: int, repeat: int) -> dict[str, float]:
    """Best of ``repeat`` first looks at one tree: wall-clock and CPU seconds of each step."""
    user = f"u{count}"
    root = base / user
    build(root, count)
    os.sync()
    template = base / "%u"
    settled = time.time_ns() - 10_000_000_000
    best: dict[str, float] = {}

    def keep(name: str, wall: float, cpu: float) -> None:
        best[name] = min(best.get(name, wall), wall)
        best[name + " cpu"] = min(best.get(name + " cpu", cpu), cpu)

    for _ in range(repeat):
        _forget_store_files(root, settled)
        wall, cpu, box = timed_cpu(
            lambda: MaildirStore(template, fsync=True).account(user).folder(INBOX)
        )
        keep("cold open", wall, cpu)
        wall, cpu, flags = timed_cpu(box.list_flags)
        assert len(flags.uids) == count
        keep("flags", wall, cpu)
        wall, cpu, listing = timed_cpu(box.list_messages)
        assert len(listing) == count
        keep("1st list", wall, cpu)
    return best


def _cell(column: str, value: float) -> str:
    return f"{value:>10.2f}ms" if "(ms)" in column else f"{value:>11.3f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dir", default=None, help="work directory (default: a temp dir)")
    parser.add_argument(
        "--eager", action="store_true", help="measure every file at first sight (no lazy sizes)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=0,
        help="time only the first look, this many times per size, and print the best",
    )
    args = parser.parse_args()
    if args.eager:
        FolderState.lazy_sizes = False
    sizes = [int(s) for s in args.sizes.split(",")]
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="store-bench-"))
    try:
        if args.repeat > 0:
            results = {n: run_cold(base, n, args.repeat) for n in sizes}
        else:
            results = {n: run(base, n) for n in sizes}
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)
    with open("/proc/loadavg") as f:
        load = f.read().strip()
    cols = list(next(iter(results.values())))
    print(f"loadavg: {load}")
    print(f"{'messages':>10} " + " ".join(f"{c:>12}" for c in cols))
    for n, row in results.items():
        print(f"{n:>10} " + " ".join(_cell(c, row[c]) for c in cols))
    if len(sizes) > 1:
        small, big = sizes[0], sizes[-1]
        ratios = " ".join(f"{results[big][c] / results[small][c]:>11.1f}x" for c in cols)
        print(f"{f'{big}/{small}':>10} {ratios}   (size ratio {big / small:.0f}x)")


if __name__ == "__main__":
    main()
