"""A tree written by Dovecot opens with its identity intact, and stays readable by Dovecot.

The fixture and what Dovecot reported for it are described in
``tests/data/dovecot-maildir/README.md``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mailhost.store.api import ANSWERED, FLAGGED, INBOX, SEEN, FlagMode
from mailhost.store.maildir import MaildirStore
from mailhost.store.maildir.uidlist import parse_uidlist

DELIVERED = 1_672_653_600
FIXTURE = Path(__file__).parent.parent / "data" / "dovecot-maildir" / "alice"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "alice"
    shutil.copytree(FIXTURE, root)  # copy2 keeps mtimes: they are the INTERNALDATEs
    for folder in (root, root / ".Lists.Twisted", root / ".R&AOk-pertoire"):
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(exist_ok=True)
    # a checkout does not keep mtimes: give each message a distinct delivery time
    for i, path in enumerate(sorted(root.glob("*/*.vm,*")) + sorted(root.glob(".*/*/*.vm,*"))):
        os.utime(path, (DELIVERED + i, DELIVERED + i))
    return root


def open_store(tree: Path) -> MaildirStore:
    return MaildirStore(tree.parent / "%u", fsync=False, special_folders={"\\Sent": "Sent"})


def test_identity_is_kept(tree: Path) -> None:
    acct = open_store(tree).account("alice")
    box = acct.folder(INBOX)
    assert box.uidvalidity == 1795684815
    assert box.folder_id == "13eee827cff9076bfc35000083ecc375"
    listed = box.list_messages()
    assert [m.uid for m in listed] == [1, 2, 3, 5]
    assert [m.flags for m in listed] == [
        {SEEN},
        {SEEN, "$Forwarded"},
        {FLAGGED, "$Label1", "Important"},
        {ANSWERED},
    ]
    assert all(m.size == 174 for m in listed)
    status = box.status()
    assert status.uidnext == 6  # header says N5: stale, the last UID + 1 wins
    assert status.messages == 4
    files = {p.stat().st_mtime: p for p in (tree / "new").iterdir()}
    for m in listed:
        path = files[m.internaldate]  # INTERNALDATE is the file's mtime
        assert box.read_message(m.uid) == path.read_bytes().replace(b"\n", b"\r\n")

    lists = acct.folder("Lists/Twisted")
    assert lists.uidvalidity == 1795684816
    assert [(m.uid, m.flags, m.size) for m in lists.list_messages()] == [
        (1, set(), 57),
        (2, {SEEN}, 57),
    ]
    accents = acct.folder("Répertoire")
    assert accents.uidvalidity == 1795684817
    assert accents.status().uidnext == 2  # header says N1
    assert "Lists/Twisted" in acct.subscriptions()
    names = [f.name for f in acct.list_folders()]
    assert names[0] == INBOX and {"Lists", "Lists/Twisted", "Répertoire", "Sent"} <= set(names)


def test_opening_reads_no_message_with_sizes_in_names(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    opened: list[str] = []
    real_open = builtins.open

    def spy(file: object, *args: object, **kw: object) -> object:
        opened.append(str(file))
        return real_open(file, *args, **kw)  # type: ignore[call-overload]

    monkeypatch.setattr(builtins, "open", spy)
    open_store(tree).account("alice").folder(INBOX).list_messages()
    assert not [p for p in opened if "/new/" in p or "/cur/" in p]


def test_mailhost_writes_what_dovecot_reads(tree: Path) -> None:
    acct = open_store(tree).account("alice")
    box = acct.folder(INBOX)
    box.set_flags([1], [ANSWERED, "NewKeyword"], FlagMode.ADD)
    box.append(b"Subject: new\n\nbody\n", flags=["$Forwarded"])
    box.expunge([3])
    header, records = parse_uidlist((tree / "dovecot-uidlist").read_text())
    assert header.uidvalidity == 1795684815
    assert header.guid == "13eee827cff9076bfc35000083ecc375"
    uids = [r.uid for r in records]
    assert uids == sorted(set(uids))  # Dovecot refuses a uidlist whose UIDs go back
    assert uids[-1] == 6
    keywords = (tree / "dovecot-keywords").read_text().splitlines()
    assert keywords[:3] == ["0 $Forwarded", "1 $Label1", "2 Important"]
    assert "3 NewKeyword" in keywords
    names = os.listdir(tree / "cur")
    assert any(n.endswith(":2,RSd") for n in names)  # R, S and keyword d, letters sorted
    assert any(n.endswith(":2,a") for n in names)  # $Forwarded is keyword a, not P
    # a second store (another process, or the next start) agrees
    again = open_store(tree).account("alice").folder(INBOX)
    assert [(m.uid, m.flags) for m in again.list_messages()] == [
        (1, {SEEN, ANSWERED, "NewKeyword"}),
        (2, {SEEN, "$Forwarded"}),
        (5, {ANSWERED}),
        (6, {"$Forwarded"}),
    ]


def test_import_killed_before_its_records_keeps_dovecot_uids(tree: Path) -> None:
    open_store(tree).account("alice").folder(INBOX).list_messages()
    index = tree / "mailhost-index"
    lines = index.read_text().splitlines(keepends=True)
    # as if killed right after writing the new index's first lines
    index.write_text("".join(line for line in lines if line[0] in "INHT"))
    box = open_store(tree).account("alice").folder(INBOX)
    assert [m.uid for m in box.list_messages()] == [1, 2, 3, 5]
    assert box.status().uidnext == 6


def test_a_client_of_dovecot_resyncs_its_flags_once(tree: Path) -> None:
    """Dovecot's MODSEQs (a count of changes) are not carried over, and ours start above
    any it can have handed out: a CONDSTORE client's ``CHANGEDSINCE`` from before the
    move finds every message changed (one full flag resync), never none."""
    box = open_store(tree).account("alice").folder(INBOX)
    assert min(m.modseq for m in box.list_messages()) > 2**32
    assert box.status().highestmodseq > 2**32
