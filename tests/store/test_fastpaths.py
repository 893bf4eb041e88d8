"""The Maildir store's fast paths agree with the plain code they stand in for."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailhost.store import crlf
from mailhost.store.api import DELETED, FLAGGED, INBOX, SEEN, FlagMode, MessageInfo
from mailhost.store.crlf import (
    HEADER_CHUNK,
    crlf_size,
    crlf_size_fd,
    header_block,
    read_fd,
    read_whole,
    to_crlf,
)
from mailhost.store.maildir import MaildirStore
from mailhost.store.maildir import state as state_mod
from mailhost.store.maildir.filename import (
    base_of,
    delivery_order,
    listed_bases,
    listed_infos,
    natural_key,
)

LF_MSG = b"From: x@example.org\nSubject: fast\n\nbody\n"

names = st.text(alphabet="0123456789.MPQabc,=:-", min_size=1, max_size=16)
dotted = st.builds(
    lambda sec, rest: f"{sec}.{rest}", st.integers(0, 30), st.text(alphabet="0123456789MPQa.")
)
epoch = st.builds(
    lambda sec, rest: f"{sec}.{rest}",
    st.integers(1_700_000_000, 1_700_000_009),
    st.text(alphabet="0123456789MPQa.,=:"),
)
lines = st.lists(st.sampled_from([b"a", b"\n", b"\r", b"\r\n", b"xyz"]), max_size=40).map(b"".join)


@given(st.lists(dotted, unique=True))
def test_delivery_order_of_usual_names_is_natural_order(bases: list[str]) -> None:
    got = delivery_order(list(bases))
    assert [natural_key(b) for b in got] == sorted(natural_key(b) for b in bases)


@given(st.lists(st.one_of(names, dotted), unique=True))
def test_delivery_order_of_any_names_is_natural_order(bases: list[str]) -> None:
    got = delivery_order(list(bases))
    assert sorted(got) == sorted(bases)
    assert [natural_key(b) for b in got] == sorted(natural_key(b) for b in bases)


@given(st.lists(st.one_of(epoch, epoch, names), unique=True))
def test_delivery_order_of_epoch_names_is_natural_order(bases: list[str]) -> None:
    """Names with same-width second counts (shared seconds too) take the string-sort path."""
    got = delivery_order(list(bases))
    assert sorted(got) == sorted(bases)
    assert [natural_key(b) for b in got] == sorted(natural_key(b) for b in bases)


@given(st.lists(st.tuples(st.sampled_from(["new/", "cur/"]), names)))
def test_listed_bases_and_infos_match_the_plain_split(listed: list[tuple[str, str]]) -> None:
    full = [sub + name for sub, name in listed]
    assert listed_bases(full) == [base_of(n[4:]) for n in full]
    assert listed_infos(full) == [n.partition(":")[2] for n in full]


@given(lines, st.integers(1, 7))
def test_crlf_size_fd_and_read_fd_match_whole_data(data: bytes, whole: int) -> None:
    old = crlf.WHOLE_READ
    crlf.WHOLE_READ = whole  # small: the chunked paths too
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "msg"
            path.write_bytes(data)
            # a stated size that is right, too small (file grew) and too big (shrank)
            for stated in (len(data), max(0, len(data) - 3), len(data) + 2):
                fd = os.open(path, os.O_RDONLY)
                try:
                    assert crlf_size_fd(fd, stated) == crlf_size(data)
                finally:
                    os.close(fd)
                fd = os.open(path, os.O_RDONLY)
                try:
                    assert read_fd(fd, stated) == data
                finally:
                    os.close(fd)
    finally:
        crlf.WHOLE_READ = old


@pytest.mark.parametrize(
    "size", [0, 1, crlf.CHUNK - 1, crlf.CHUNK, crlf.CHUNK + 1, 3 * crlf.CHUNK + 5]
)
def test_read_whole_reads_every_octet(tmp_path: Path, size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    path = tmp_path / "msg"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert read_whole(fd) == data
    finally:
        os.close(fd)


def test_message_info_built_fast_equals_the_dataclass() -> None:
    args = (7, frozenset({SEEN}), 123, 1.5, 9)
    fast = state_mod._message_info(*args)
    plain = MessageInfo(*args)
    assert fast == plain and hash(fast) == hash(plain) and repr(fast) == repr(plain)
    with pytest.raises(AttributeError):
        fast.size = 1  # type: ignore[misc]


def _store(tmp_path: Path) -> MaildirStore:
    return MaildirStore(tmp_path / "%u", fsync=False)


@pytest.mark.parametrize(
    "data",
    [
        LF_MSG,
        LF_MSG.replace(b"\n", b"\r\n"),
        b"\nbody only\n",
        b"\r\nbody only\r\n",
        b"Subject: no body\n",
        b"",
        b"X-Long: " + b"y" * (3 * HEADER_CHUNK) + b"\n\nbody\n",
        b"A: b\r\n" * (HEADER_CHUNK // 6) + b"\r\n" + b"tail\r\n",
    ],
)
def test_read_message_and_header_of_foreign_files(tmp_path: Path, data: bytes) -> None:
    acct = _store(tmp_path).account("u")
    (acct.root / "new" / "100.a.host").write_bytes(data)
    box = acct.folder(INBOX)
    (info,) = box.list_messages()
    whole = box.read_message(info.uid)
    assert whole == to_crlf(data) and len(whole) == info.size
    assert box.read_header(info.uid) == header_block(whole)
    with box.open_message(info.uid) as f:
        assert f.read() == whole


def test_big_foreign_file_is_measured_in_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_mod, "WHOLE_READ", 10)
    monkeypatch.setattr(crlf, "WHOLE_READ", 10)
    acct = _store(tmp_path).account("u")
    big = b"line\r\n" * 50 + b"bare\n" * 50
    (acct.root / "new" / "1.big.host").write_bytes(big)
    (acct.root / "cur" / "2.small.host:2,S").write_bytes(LF_MSG)
    box = acct.folder(INBOX)
    assert [m.size for m in box.list_messages()] == [crlf_size(big), crlf_size(LF_MSG)]


def test_line_breaks_and_dots_in_listed_names_are_skipped(tmp_path: Path) -> None:
    acct = _store(tmp_path).account("u")
    for name in ("1.a.host", ".dot", "2.cr\rname", "3.lf\nname", "4.b.host:2,S"):
        (acct.root / "new" / name).write_bytes(LF_MSG)
    box = acct.folder(INBOX)
    assert [m.uid for m in box.list_messages()] == [1, 2]
    assert box.status().messages == 2


def test_set_flags_keeps_unknown_letters_and_mixed_flags(tmp_path: Path) -> None:
    acct = _store(tmp_path).account("u")
    for i, info in enumerate(["2,", "2,S", "2,FP", "2,S", "2,PT", ""]):
        name = f"{100 + i}.m{i}.host" + (f":{info}" if info else "")
        (acct.root / ("cur" if info else "new") / name).write_bytes(LF_MSG)
    box = acct.folder(INBOX)
    changed = box.set_flags(range(1, 7), [SEEN, "$Work"], FlagMode.ADD)
    assert [m.uid for m in changed] == [1, 2, 3, 4, 5, 6]
    assert all({SEEN, "$Work"} <= m.flags for m in changed)
    files = sorted(os.listdir(acct.root / "cur"))
    assert [f.partition(":")[2] for f in files] == [
        "2,Sa",
        "2,Sa",
        "2,FPSa",
        "2,Sa",
        "2,PSTa",
        "2,Sa",
    ]
    changed = box.set_flags([3, 5], [FLAGGED, DELETED], FlagMode.REMOVE)
    assert [(m.uid, m.flags) for m in changed] == [(3, {SEEN, "$Work"}), (5, {SEEN, "$Work"})]
    assert box.set_flags([3, 5], [FLAGGED, DELETED], FlagMode.REMOVE) == []
    replaced = box.set_flags([1, 2], [FLAGGED], FlagMode.REPLACE)
    assert [m.flags for m in replaced] == [{FLAGGED}, {FLAGGED}]
    fresh = _store(tmp_path).account("u").folder(INBOX).list_messages()
    assert fresh == box.list_messages()


def test_kept_listing_follows_every_kind_of_change(tmp_path: Path) -> None:
    """After each change the kept, patched listing equals one built from scratch by
    another store object (another process) reading the same folder."""
    store = _store(tmp_path)
    acct = store.account("u")
    for i in range(30):
        (acct.root / "new" / f"{1000 + i}.f{i}.host").write_bytes(LF_MSG * (i % 3 + 1))
    box = acct.folder(INBOX)
    rnd = random.Random(7)
    for step in range(60):
        box.list_messages()  # keep the listing, then change something
        uids = [m.uid for m in box.list_messages()]
        op = step % 6
        if op == 0:
            box.set_flags(rnd.sample(uids, min(5, len(uids))), [SEEN], FlagMode.ADD)
        elif op == 1:
            box.append(LF_MSG, flags=[f"$K{step % 4}"])
        elif op == 2 and uids:
            box.expunge(rnd.sample(uids, 2))
        elif op == 3:
            (acct.root / "new" / f"{2000 + step}.d.host").write_bytes(LF_MSG)
        elif op == 4 and uids:
            (name,) = [
                n for n in os.listdir(acct.root / "cur") if n.startswith(str(1000 + uids[0] - 1))
            ] or [None]
            if name is not None:
                os.rename(acct.root / "cur" / name, acct.root / "cur" / (name + "F"))
        else:
            box.set_flags(rnd.sample(uids, min(3, len(uids))), [SEEN], FlagMode.REMOVE)
        kept = box.list_messages()
        fresh = _store(tmp_path).account("u").folder(INBOX).list_messages()
        assert kept == fresh, step
        assert box.status().messages == len(kept)
        assert box.status().size == sum(m.size for m in kept)


# -- sizes learnt on first use ------------------------------------------------------------


def _count_measuring(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the files measured from here on (by the bulk and the single path)."""
    counted: list[int] = []
    many, one = state_mod._measure_many, state_mod._measure

    def counting_many(folder_dir: str, names: list[str]) -> list[tuple[int, int] | None]:
        counted.extend(1 for _ in names)
        return many(folder_dir, names)

    def counting_one(path: str, vsize: int | None = None) -> tuple[int, int] | None:
        counted.append(1)
        return one(path, vsize)

    monkeypatch.setattr(state_mod, "_measure_many", counting_many)
    monkeypatch.setattr(state_mod, "_measure", counting_one)
    return counted


def _foreign_folder(root: Path, count: int) -> list[bytes]:
    bodies = []
    for i in range(count):
        data = LF_MSG * (i % 4 + 1)
        sub, name = ("cur", f"{5000 + i}.n{i}.host:2,S") if i % 2 else ("new", f"{5000 + i}.n{i}")
        (root / sub / name).write_bytes(data)
        os.utime(root / sub / name, ns=(0, (1_600_000_000 + i) * 10**9))
        bodies.append(data)
    return bodies


def test_select_listing_of_foreign_folder_reads_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acct = _store(tmp_path).account("u")
    bodies = _foreign_folder(acct.root, 20)
    counted = _count_measuring(monkeypatch)
    box = acct.folder(INBOX)
    listing = box.list_flags()
    box.claim_recent()
    box.changes_since(0)
    assert counted == []
    assert listing.uids == list(range(1, 21))
    assert listing.flags == [frozenset({SEEN}) if i % 2 else frozenset() for i in range(20)]
    assert listing.uidnext == 21 and listing.uidvalidity == box.uidvalidity
    assert " - - " in (acct.root / "mailhost-index").read_text()
    infos = box.list_messages()  # now every file is read, once
    assert len(counted) == 20
    assert [m.size for m in infos] == [crlf_size(b) for b in bodies]
    assert [m.internaldate for m in infos] == [1_600_000_000.0 + i for i in range(20)]
    assert [m.modseq for m in infos] == listing.modseqs
    assert box.status().size == sum(crlf_size(b) for b in bodies)
    # another process reads the sizes from the index, and measures nothing
    counted.clear()
    other = _store(tmp_path).account("u").folder(INBOX)
    assert other.list_messages() == infos
    assert counted == []


def test_partly_measured_folder_journals_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acct = _store(tmp_path).account("u")
    bodies = _foreign_folder(acct.root, 6)
    box = acct.folder(INBOX)
    box.list_flags()
    info = box.get(3)
    assert info is not None and info.size == crlf_size(bodies[2])
    assert "\nS 3 " in (acct.root / "mailhost-index").read_text()
    counted = _count_measuring(monkeypatch)
    other = _store(tmp_path).account("u").folder(INBOX)
    assert other.get(3) == info
    assert counted == []
    assert [m.size for m in other.list_messages()] == [crlf_size(b) for b in bodies]
    assert len(counted) == 5


def test_file_renamed_or_deleted_before_it_was_measured(tmp_path: Path) -> None:
    acct = _store(tmp_path).account("u")
    bodies = _foreign_folder(acct.root, 4)
    box = acct.folder(INBOX)
    assert box.list_flags().uids == [1, 2, 3, 4]
    # another program sets a flag on message 1 and deletes message 2, keeping the
    # directories' mtimes so that only a failed open can tell
    stamps = {sub: os.stat(acct.root / sub).st_mtime_ns for sub in ("new", "cur")}
    os.rename(acct.root / "new" / "5000.n0", acct.root / "cur" / "5000.n0:2,F")
    os.unlink(acct.root / "cur" / "5001.n1.host:2,S")
    for sub, ns in stamps.items():
        os.utime(acct.root / sub, ns=(ns, ns))
    infos = box.list_messages()
    got = {m.uid: (m.size, m.flags) for m in infos}
    assert got[1] == (crlf_size(bodies[0]), {FLAGGED})
    assert 2 not in got
    assert box.status().size == sum(m.size for m in infos)
    assert box.status().messages == 3


def test_copy_of_unmeasured_message_keeps_size_and_date(tmp_path: Path) -> None:
    acct = _store(tmp_path).account("u")
    bodies = _foreign_folder(acct.root, 3)
    acct.create_folder("Archive")
    box = acct.folder(INBOX)
    box.list_flags()
    pairs = box.copy_to([2, 3], acct.folder("Archive"))
    assert [old for old, _new in pairs] == [2, 3]
    copied = acct.folder("Archive").list_messages()
    assert [m.size for m in copied] == [crlf_size(bodies[1]), crlf_size(bodies[2])]
    assert [m.internaldate for m in copied] == [1_600_000_001.0, 1_600_000_002.0]


def test_eager_sizing_gives_the_same_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lazy_root = tmp_path / "lazy"
    lazy = MaildirStore(lazy_root / "%u", fsync=False).account("u")
    _foreign_folder(lazy.root, 12)
    lazy_infos = lazy.folder(INBOX).list_messages()
    monkeypatch.setattr(state_mod.FolderState, "lazy_sizes", False)
    eager = MaildirStore(tmp_path / "eager" / "%u", fsync=False).account("u")
    _foreign_folder(eager.root, 12)
    counted = _count_measuring(monkeypatch)
    box = eager.folder(INBOX)
    assert len(counted) == 12  # read at first sight
    assert " - - " not in (eager.root / "mailhost-index").read_text()
    eager_infos = box.list_messages()
    assert [(m.uid, m.flags, m.size, m.internaldate) for m in eager_infos] == [
        (m.uid, m.flags, m.size, m.internaldate) for m in lazy_infos
    ]


@given(st.lists(lines, min_size=1, max_size=5))
def test_read_message_serves_every_line_ending_mix_as_crlf(bodies: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        acct = _store(Path(tmp)).account("u")
        for i, data in enumerate(bodies):
            (acct.root / "new" / f"{10 + i}.r.host").write_bytes(data)
        box = acct.folder(INBOX)
        appended = box.append(bodies[0])
        for info, data in zip(box.list_messages(), [*bodies, bodies[0]], strict=True):
            got = box.read_message(info.uid)
            assert got == to_crlf(data) and len(got) == info.size
        assert box.read_message(appended.uid) == to_crlf(bodies[0])


def test_measuring_shared_among_threads_keeps_order_and_gaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big folder's files measured by several threads: the same answers, in order, with
    a vanished file as None, as one thread gives."""
    (tmp_path / "cur").mkdir()
    names = []
    for i in range(103):
        name = f"cur/{1_700_000_000 + i}.M{i}P1.host" + (",S=9,W=10:2,S" if i % 7 == 0 else ":2,")
        body = b"Subject: %d\n\n" % i + b"line\n" * (i % 5) + (b"crlf\r\n" if i % 3 == 0 else b"")
        (tmp_path / name).write_bytes(body)
        names.append(name)
    for gone in (5, 50, 102):
        os.unlink(tmp_path / names[gone])
    monkeypatch.setattr(state_mod, "_MEASURE_SHARE", 10)
    folder_dir = f"{tmp_path}/"
    one = state_mod._measure_run(folder_dir, names)
    assert [i for i, got in enumerate(one) if got is None] == [5, 50, 102]
    shared = state_mod._measure_many(folder_dir, names)
    assert shared == one
