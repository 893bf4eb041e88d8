"""A big foreign folder's first look: the quick paths give what the general ones give.

A folder seen for the first time (no index, no uidlist) is taken in by
``FolderState._first_look`` when its names have the usual shape, and kept as one list
(``_cold``) until something needs its messages one by one; the first sized listing
measures most of the folder in one go and compacts the index.  Each is checked here
against the general path it stands in for.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailhost.store.api import ANSWERED, DELETED, FLAGGED, INBOX, SEEN, FlagMode
from mailhost.store.crlf import crlf_size
from mailhost.store.maildir import MaildirStore
from mailhost.store.maildir import state as state_mod
from mailhost.store.maildir.filename import base_of, delivery_order
from mailhost.store.maildir.folder import MaildirFolder
from mailhost.store.maildir.uidlist import parse_uidlist

LF_MSG = b"From: x@example.org\nSubject: cold\n\nline one\nline two\n"

#: ``(sub, seconds, rest, info part)`` of a foreign file: usual epoch names (some sharing
#: a second), names with size hints, flags and odd shapes
_heads = st.one_of(
    st.integers(1_700_000_000, 1_799_999_999).map(str),
    st.integers(1_700_000_000, 1_799_999_999).map(str),
    st.integers(1_700_000_000, 1_700_000_003).map(str),
    st.sampled_from(["99", "x", "1700000001a", "0700000001"]),
)
_rest = st.text(alphabet="0123456789MPQab.,=-", min_size=1, max_size=8)
_infos = st.sampled_from(["", ":2,", ":2,S", ":2,FS", ":2,RST", ":2,a", ":1,odd"])
_files = st.lists(
    st.tuples(st.sampled_from(["new", "cur"]), _heads, _rest, _infos),
    min_size=0,
    max_size=25,
)


def _store(root: Path) -> MaildirStore:
    return MaildirStore(root / "%u", fsync=False)


def _fill(root: Path, files: list[tuple[str, str]]) -> dict[str, bytes]:
    """Write the files (``n`` copies of the message for the n-th one); body by name."""
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    bodies = {}
    for i, (sub, name) in enumerate(files):
        data = LF_MSG * (i % 3 + 1)
        (root / sub / name).write_bytes(data)
        os.utime(root / sub / name, ns=(0, (1_600_000_000 + i) * 10**9))
        bodies[f"{sub}/{name}"] = data
    return bodies


def _no_first_look(self: state_mod.FolderState, new: list[str], cur: list[str]) -> bool:
    return False


def _seen_state(box: MaildirFolder) -> tuple[object, ...]:
    """Everything a client or Dovecot can see of a folder, but its UIDVALIDITY and GUID."""
    root = box._state.path
    flags = box.list_flags()
    infos = box.list_messages()
    _header, records = parse_uidlist((root / "dovecot-uidlist").read_text())
    names = {m.uid: box._state.msgs[m.uid].name for m in infos}
    return (
        flags.uids,
        flags.flags,
        flags.modseqs,
        flags.unseen,
        flags.recent,
        flags.uidnext,
        [(m.uid, m.flags, m.size, m.internaldate, m.modseq) for m in infos],
        [(r.uid, r.base, r.ext) for r in records],
        names,
    )


def _compare(files: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        quick_root, plain_root = Path(tmp, "quick", "u"), Path(tmp, "plain", "u")
        _fill(quick_root, files)
        _fill(plain_root, files)
        quick = _store(quick_root.parent).account("u").folder(INBOX)
        with monkeypatch.context() as m:
            m.setattr(state_mod.FolderState, "_first_look", _no_first_look)
            plain = _store(plain_root.parent).account("u").folder(INBOX)
        assert _seen_state(quick) == _seen_state(plain)


@settings(max_examples=150, deadline=None)
@given(_files)
def test_first_look_matches_the_general_reconcile(
    files: list[tuple[str, str, str, str]],
) -> None:
    # one file per base: a base listed twice is given a fresh random one, on both paths
    by_base = {
        head + "." + rest: (sub, head + "." + rest + info) for sub, head, rest, info in files
    }
    listed = list(by_base.values())
    with pytest.MonkeyPatch.context() as monkeypatch:
        _compare(listed, monkeypatch)


@pytest.mark.parametrize(
    "files",
    [
        [("new", "1700000000"), ("new", "1700000001.a")],  # a name of digits alone
        [("new", "17000"), ("cur", "1700000001.a:2,S")],  # shorter than the seconds
        [("new", "1700000002.b"), ("new", "1700000001.a:2,S")],  # an info part in new/
        [("cur", "1700000001:2,S.a"), ("cur", "1700000002.b")],  # ":" in the seconds' place
        # digits, but not ASCII ones
        [("cur", "\u0661\u0667" + "\u0660" * 7 + "\u0661.a"), ("cur", "1700000002.b")],
        [("new", "1700000010.a"), ("new", "1700000009.b"), ("new", "1700000009.a")],
    ],
)
def test_odd_first_looks_match_the_general_reconcile(
    files: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _compare(files, monkeypatch)


def test_usual_names_take_the_quick_path_in_delivery_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one second each, in new/ and cur/ at random, listed in hash order by the kernel
    files = [
        ("cur", f"{1_700_000_000 + n}.M{n}P1.host:2,{'S' if n % 3 else 'FS'}")
        if n % 2
        else ("new", f"{1_700_000_000 + n}.M{n}P1.host")
        for n in range(300)
    ]
    bodies = _fill(tmp_path / "u", files)
    calls: list[bool] = []
    first_look = state_mod.FolderState._first_look

    def spy(self: state_mod.FolderState, new: list[str], cur: list[str]) -> bool:
        calls.append(first_look(self, new, cur))
        return calls[-1]

    monkeypatch.setattr(state_mod.FolderState, "_first_look", spy)
    box = _store(tmp_path).account("u").folder(INBOX)
    assert calls == [True]
    state = box._state
    listing = box.list_flags()
    bases = [base_of(name[4:]) for name in sorted(bodies, key=lambda n: n[4:])]
    assert bases == delivery_order(bases)
    cold = state._cold
    assert cold is not None  # no message made one by one yet
    assert [base_of(n[4:]) for n in cold.names] == bases
    assert listing.uids == list(range(1, 301))
    assert listing.flags == [
        frozenset({SEEN} if n % 3 else {SEEN, FLAGGED}) if n % 2 else frozenset()
        for n in range(300)
    ]
    assert listing.unseen == 150
    _header, records = parse_uidlist((tmp_path / "u" / "dovecot-uidlist").read_text())
    assert [(r.uid, r.base) for r in records] == list(enumerate(bases, 1))
    infos = box.list_messages()
    assert [m.size for m in infos] == [
        crlf_size(bodies[n]) for n in sorted(bodies, key=lambda n: n[4:])
    ]


def test_select_of_cold_folder_makes_no_message_objects(tmp_path: Path) -> None:
    files = [("new", f"{1_700_000_000 + n}.M{n}.host") for n in range(50)]
    _fill(tmp_path / "u", files)
    box = _store(tmp_path).account("u").folder(INBOX)
    listing = box.list_flags()
    recent = box.claim_recent()
    box.changes_since(listing.highestmodseq)
    again = box.list_flags()
    state = box._state
    assert state._cold is not None and state._msgs == {} and state._names == {}
    assert recent == frozenset(range(1, 51))
    assert again.uids == listing.uids and again.recent == 0
    assert state.count() == 50


def _cold_box(
    root: Path, count: int, settled: bool = False
) -> tuple[MaildirFolder, dict[str, bytes]]:
    """A folder of ``count`` foreign files after its first look and flag listing;
    ``settled``: its directories were last changed long ago (no sync lists them again)."""
    files = [
        ("cur", f"{1_700_000_000 + n}.M{n}.host:2,S")
        if n % 2
        else ("new", f"{1_700_000_000 + n}.M{n}.host")
        for n in range(count)
    ]
    bodies = _fill(root / "u", files)
    if settled:
        for sub in ("new", "cur"):
            os.utime(root / "u" / sub, ns=(0, 1_600_000_000 * 10**9))
    box = _store(root).account("u").folder(INBOX)
    box.list_flags()
    assert box._state._cold is not None
    return box, bodies


def test_every_first_use_of_a_cold_folder_sees_all_its_messages(tmp_path: Path) -> None:
    uses = {
        "get": lambda box: box.get(7).uid,
        "read": lambda box: box.read_message(7),
        "flag": lambda box: box.set_flags([7, 8], [ANSWERED], FlagMode.ADD),
        "expunge": lambda box: (box.set_flags([7], [DELETED], FlagMode.ADD), box.expunge([7])),
        "append": lambda box: box.append(LF_MSG).uid,
        "status": lambda box: box.status().messages,
        "changes": lambda box: box.changes_since(1).changes[-1].uid,
        "list": lambda box: box.list_messages()[-1].uid,
    }
    for what, use in uses.items():
        root = tmp_path / what
        box, bodies = _cold_box(root, 20)
        use(box)
        listed = box.list_messages()
        other = _store(root).account("u").folder(INBOX).list_messages()
        assert listed == other, what
        uids = [m.uid for m in listed]
        if what == "expunge":
            assert uids == [u for u in range(1, 21) if u != 7]
        elif what == "append":
            assert uids == list(range(1, 22))
        else:
            assert uids == list(range(1, 21)), what
        if what == "flag":
            assert [m.flags for m in listed[6:8]] == [{ANSWERED}, {SEEN, ANSWERED}]
        assert box.read_message(5) == bodies["new/1700000004.M4.host"].replace(b"\n", b"\r\n")


def test_delivery_and_outside_rename_after_a_cold_open(tmp_path: Path) -> None:
    box, _bodies = _cold_box(tmp_path, 10)
    root = tmp_path / "u"
    os.rename(root / "new" / "1700000000.M0.host", root / "cur" / "1700000000.M0.host:2,F")
    (root / "new" / "1800000000.late.host").write_bytes(LF_MSG)
    for sub in ("new", "cur"):
        os.utime(root / sub, ns=(0, 0))  # a change the next sync must list to see
    listing = box.list_flags()
    assert listing.uids == list(range(1, 12))
    assert listing.flags[0] == {FLAGGED}
    assert box._state.msgs[1].name == "cur/1700000000.M0.host:2,F"


def test_threads_asking_at_once_share_one_thaw(tmp_path: Path) -> None:
    box, bodies = _cold_box(tmp_path, 200)
    state = box._state
    start = threading.Barrier(4)
    seen: list[int] = []

    def reader() -> None:
        start.wait()
        seen.append(len(state.msgs))
        box.read_message(100)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [200] * 4
    assert state._cold is None and len(state.names) == 200
    assert set(state.names.values()) == set(range(1, 201))
    assert {state.msgs[uid].name for uid in state.names.values()} == set(bodies)


@pytest.mark.parametrize("settled", [True, False])
def test_first_sized_listing_of_big_folder_compacts_the_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settled: bool
) -> None:
    box, bodies = _cold_box(tmp_path, 1500, settled)
    thawed_with_sizes: list[bool] = []
    thaw = state_mod.FolderState._thaw

    def spy(
        self: state_mod.FolderState,
        vsizes: list[int] | None = None,
        mtimes: list[int] | None = None,
    ) -> bool:
        thawed_with_sizes.append(vsizes is not None)
        return thaw(self, vsizes, mtimes)

    monkeypatch.setattr(state_mod.FolderState, "_thaw", spy)
    root = tmp_path / "u"
    # one file goes before it is measured, one is renamed (directories' mtimes kept)
    stamps = {sub: os.stat(root / sub).st_mtime_ns for sub in ("new", "cur")}
    os.unlink(root / "new" / "1700000010.M10.host")
    os.rename(root / "cur" / "1700000011.M11.host:2,S", root / "cur" / "1700000011.M11.host:2,RS")
    for sub, ns in stamps.items():
        os.utime(root / sub, ns=(ns, ns))
    # settled: only failing to open them tells, while measuring the folder still cold;
    # not settled: the sync before the listing lists the directories and sees it
    infos = box.list_messages()
    assert thawed_with_sizes == [settled]
    assert [m.uid for m in infos] == [u for u in range(1, 1501) if u != 11]
    by_uid = {m.uid: m for m in infos}
    assert by_uid[12].flags == {SEEN, ANSWERED}
    ordered = sorted(bodies, key=lambda n: n[4:])
    for uid in (1, 2, 12, 700, 1500):
        assert by_uid[uid].size == crlf_size(bodies[ordered[uid - 1]])
        assert by_uid[uid].internaldate == 1_600_000_000.0 + uid - 1
    assert box.status().size == sum(m.size for m in infos)
    index = (root / "mailhost-index").read_text()
    lines = index.splitlines()
    # (when the folder was measured cold, the two files it did not find are journalled
    # after the sizes: one expunged, one renamed and measured on its own)
    unmeasured = {line.split()[1] for line in lines if line[0] == "A" and " - - " in line}
    assert unmeasured == ({"11", "12"} if settled else set())
    assert [line.split()[1] for line in lines if line[0] == "S"] == (["12"] if settled else [])
    other = _store(tmp_path).account("u").folder(INBOX)
    assert other.list_messages() == infos


def test_size_hints_in_names_are_used_and_others_measured(tmp_path: Path) -> None:
    files = [
        ("new", "1700000000.a.host,S=10,W=999"),
        ("cur", "1700000001.b.host:2,S"),
        ("new", "1700000002.c.host,S=5"),
    ]
    bodies = _fill(tmp_path / "u", files)
    box = _store(tmp_path).account("u").folder(INBOX)
    sizes = [m.size for m in box.list_messages()]
    assert sizes == [
        999,
        crlf_size(bodies["cur/1700000001.b.host:2,S"]),
        crlf_size(bodies["new/1700000002.c.host,S=5"]),
    ]
    _header, records = parse_uidlist((tmp_path / "u" / "dovecot-uidlist").read_text())
    assert [r.ext for r in records] == [(("S", "10"),), (), (("S", "5"),)]
