"""The store contract (:mod:`mailhost.store.api`), run against every store.

Each test makes its changes through ``stores.store`` and, where it matters, looks through
``stores.peer``: for the Maildir store in the ``two-handles`` run that is a second
``MaildirStore`` on the same tree, standing in for another process or node.
"""

from __future__ import annotations

import time

import pytest
from storekit import Factory, Stores

from mailhost.errors import (
    CannotDelete,
    FolderExists,
    InvalidFolderName,
    LeaseLost,
    MailboxInUse,
    MessageGone,
    MessageTooBig,
    NoSuchFolder,
    OverQuota,
)
from mailhost.store.api import (
    ANSWERED,
    DELETED,
    DRAFT,
    FLAGGED,
    INBOX,
    RECENT,
    SEEN,
    ChangeKind,
    FlagMode,
)

MSG = b"From: a@example.org\nSubject: hi\n\nbody line\n"
MSG_CRLF = MSG.replace(b"\n", b"\r\n")


def inbox(stores: Stores, user: str = "alice", peer: bool = False):  # type: ignore[no-untyped-def]
    s = stores.peer if peer else stores.store
    return s.account(user).folder(INBOX)


# -- accounts and folders ---------------------------------------------------------------


def test_new_account_has_inbox_first_and_special_folders(stores: Stores) -> None:
    folders = stores.store.account("alice").list_folders()
    assert folders[0].name == INBOX
    roles = {f.name: f.special_use for f in folders}
    assert roles["Sent"] == "\\Sent"
    assert roles["Trash"] == "\\Trash"
    assert roles["Drafts"] == "\\Drafts"
    assert {"INBOX", "Sent", "Trash", "Drafts"} <= set(
        stores.store.account("alice").subscriptions()
    )
    assert len({f.folder_id for f in folders}) == len(folders)


def test_peer_sees_the_same_folders(stores: Stores) -> None:
    stores.store.account("alice").create_folder("Lists/Twisted")
    mine = [(f.name, f.folder_id) for f in stores.store.account("alice").list_folders()]
    theirs = [(f.name, f.folder_id) for f in stores.peer.account("alice").list_folders()]
    assert mine == theirs


def test_create_with_parents_and_has_children(stores: Stores) -> None:
    acct = stores.store.account("alice")
    acct.create_folder("Work/2024/Q1")
    by_name = {f.name: f for f in acct.list_folders()}
    assert by_name["Work"].has_children
    assert by_name["Work/2024"].has_children
    assert not by_name["Work/2024/Q1"].has_children
    names = [f.name for f in acct.list_folders()]
    assert names.index("Work") < names.index("Work/2024") < names.index("Work/2024/Q1")
    acct.folder("Work/2024").append(MSG)


def test_create_existing_and_trailing_delimiter(stores: Stores) -> None:
    acct = stores.store.account("alice")
    acct.create_folder("Projects/")
    assert "Projects" in [f.name for f in acct.list_folders()]
    with pytest.raises(FolderExists):
        acct.create_folder("Projects")
    with pytest.raises(FolderExists):
        acct.create_folder("inbox")


@pytest.mark.parametrize("bad", ["", "a//b", "/a", "a/../b", "a\x00b", "a\x01b", "..", "a/./b"])
def test_invalid_folder_names_refused(stores: Stores, bad: str) -> None:
    with pytest.raises(InvalidFolderName):
        stores.store.account("alice").create_folder(bad)


def test_inbox_is_case_insensitive(stores: Stores) -> None:
    acct = stores.store.account("alice")
    acct.folder("inbox").append(MSG)
    assert acct.folder("InBoX").status().messages == 1


def test_non_ascii_folder_names_round_trip(stores: Stores) -> None:
    acct = stores.store.account("alice")
    acct.create_folder("Répertoire & Co/日本")
    assert "Répertoire & Co/日本" in [f.name for f in stores.peer.account("alice").list_folders()]
    stores.peer.account("alice").folder("Répertoire & Co/日本").append(MSG)


def test_no_such_folder(stores: Stores) -> None:
    acct = stores.store.account("alice")
    with pytest.raises(NoSuchFolder):
        acct.folder("Nope")
    with pytest.raises(NoSuchFolder):
        acct.delete_folder("Nope")
    with pytest.raises(NoSuchFolder):
        acct.rename_folder("Nope", "Other")


def test_delete_folder(stores: Stores) -> None:
    acct = stores.store.account("alice")
    acct.create_folder("Old")
    acct.folder("Old").append(MSG)
    acct.delete_folder("Old")
    assert "Old" not in [f.name for f in stores.peer.account("alice").list_folders()]
    with pytest.raises(NoSuchFolder):
        stores.peer.account("alice").folder("Old")
    with pytest.raises(CannotDelete):
        acct.delete_folder("INBOX")


def test_recreated_folder_gets_new_uidvalidity(stores: Stores) -> None:
    acct = stores.store.account("alice")
    acct.create_folder("Again")
    first = acct.folder("Again").uidvalidity
    acct.delete_folder("Again")
    acct.create_folder("Again")
    assert acct.folder("Again").uidvalidity != first


def test_rename_with_children_keeps_ids_and_messages(stores: Stores) -> None:
    acct = stores.store.account("alice")
    acct.create_folder("A/B")
    acct.folder("A/B").append(MSG)
    ids = {f.name: f.folder_id for f in acct.list_folders()}
    uidvalidity = acct.folder("A/B").uidvalidity
    acct.rename_folder("A", "Z")
    peer = stores.peer.account("alice")
    after = {f.name: f.folder_id for f in peer.list_folders()}
    assert "A" not in after and "A/B" not in after
    assert after["Z"] == ids["A"]
    assert after["Z/B"] == ids["A/B"]
    moved = peer.folder("Z/B")
    assert moved.uidvalidity == uidvalidity
    assert moved.read_message(1) == MSG_CRLF


def test_rename_errors(stores: Stores) -> None:
    acct = stores.store.account("alice")
    acct.create_folder("X")
    acct.create_folder("Y")
    with pytest.raises(FolderExists):
        acct.rename_folder("X", "Y")
    with pytest.raises(InvalidFolderName):
        acct.rename_folder("X", "X/inside")


def test_rename_inbox_moves_messages(stores: Stores) -> None:
    acct = stores.store.account("alice")
    box = acct.folder(INBOX)
    box.append(MSG, flags=[SEEN])
    box.append(MSG)
    acct.rename_folder(INBOX, "Old Mail")
    peer = stores.peer.account("alice")
    assert peer.folder(INBOX).status().messages == 0
    old = peer.folder("Old Mail").list_messages()
    assert len(old) == 2
    assert SEEN in old[0].flags
    # INBOX keeps working and never reuses UIDs
    assert acct.folder(INBOX).append(MSG).uid == 3


def test_subscriptions(stores: Stores) -> None:
    acct = stores.store.account("alice")
    acct.subscribe("Not/Yet/There")
    acct.subscribe("Sent", False)
    peer = stores.peer.account("alice")
    subs = peer.subscriptions()
    assert "Not/Yet/There" in subs
    assert "Sent" not in subs
    assert {f.name: f.subscribed for f in peer.list_folders()}["Sent"] is False


# -- messages ----------------------------------------------------------------------------


def test_append_and_read_back_crlf(stores: Stores) -> None:
    box = inbox(stores)
    info = box.append(MSG)
    assert info.uid == 1
    assert info.size == len(MSG_CRLF)
    other = inbox(stores, peer=True)
    assert other.read_message(1) == MSG_CRLF
    with other.open_message(1) as f:
        assert f.read() == MSG_CRLF
    listed = other.list_messages()
    assert [(m.uid, m.size) for m in listed] == [(1, len(MSG_CRLF))]
    assert box.append(MSG_CRLF).size == len(MSG_CRLF)


def test_read_header_stops_at_the_empty_line(stores: Stores) -> None:
    box = inbox(stores)
    long_body = b"Subject: big\n\n" + b"body line\n" * 20_000
    box.append(long_body)
    box.append(b"Subject: no body")
    box.append(b"\nonly a body\n")
    other = inbox(stores, peer=True)
    assert other.read_header(1) == b"Subject: big\r\n\r\n"
    assert other.read_header(2) == b"Subject: no body"
    assert other.read_header(3) == b"\r\n"
    with pytest.raises(MessageGone):
        other.read_header(99)


def test_open_message_streams_exactly_size_octets(stores: Stores) -> None:
    body = b"x" * 100_000 + b"\n" + b"y\r\n" * 50_000 + b"tail\n"
    info = inbox(stores).append(body)
    chunks = []
    with inbox(stores, peer=True).open_message(info.uid) as f:
        while chunk := f.read(4097):
            chunks.append(chunk)
    data = b"".join(chunks)
    assert len(data) == info.size
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_uids_strictly_increase_and_are_never_reused(stores: Stores) -> None:
    box = inbox(stores)
    uids = [box.append(MSG).uid for _ in range(3)]
    assert uids == [1, 2, 3]
    assert box.expunge([3]) == [3]
    assert inbox(stores, peer=True).append(MSG).uid == 4
    status = inbox(stores).status()
    assert status.uidnext == 5
    assert status.messages == 3


def test_flags_add_remove_replace(stores: Stores) -> None:
    box = inbox(stores)
    box.append(MSG)
    box.append(MSG)
    changed = box.set_flags([1, 2, 99], [SEEN, "$Forwarded"], FlagMode.ADD)
    assert [m.uid for m in changed] == [1, 2]
    assert changed[0].flags == {SEEN, "$Forwarded"}
    assert box.set_flags([1], [SEEN], FlagMode.ADD) == []
    box.set_flags([1], [SEEN], FlagMode.REMOVE)
    box.set_flags([2], [ANSWERED, FLAGGED, DRAFT, DELETED, "Work"], FlagMode.REPLACE)
    peer = inbox(stores, peer=True)
    got = {m.uid: m.flags for m in peer.list_messages()}
    assert got[1] == {"$Forwarded"}
    assert got[2] == {ANSWERED, FLAGGED, DRAFT, DELETED, "Work"}
    status = peer.status()
    assert status.unseen == 2


def test_flags_unchanged_since(stores: Stores) -> None:
    """RFC 7162 §3.2: only messages whose MODSEQ is at most the given one change."""
    box = inbox(stores)
    for _ in range(3):
        box.append(MSG)
    before = box.status().highestmodseq
    inbox(stores, peer=True).set_flags([2], [FLAGGED], FlagMode.ADD)  # another process
    changed, modified = box.set_flags_unchanged_since([1, 2, 3, 99], [SEEN], FlagMode.ADD, before)
    assert [m.uid for m in changed] == [1, 3] and modified == [2]
    assert all(m.modseq > before + 1 for m in changed)
    got = {m.uid: m.flags for m in inbox(stores, peer=True).list_messages()}
    assert got == {1: {SEEN}, 2: {FLAGGED}, 3: {SEEN}}
    # nothing newer than the highest: everything may change (or is already so)
    top = box.status().highestmodseq
    changed, modified = box.set_flags_unchanged_since([1, 2], [SEEN], FlagMode.ADD, top)
    assert [m.uid for m in changed] == [2] and modified == []


def test_recent_is_never_stored(stores: Stores) -> None:
    box = inbox(stores)
    info = box.append(MSG, flags=[RECENT, SEEN])
    assert info.flags == {SEEN}
    assert box.set_flags([1], [RECENT], FlagMode.ADD) == []


def test_append_with_flags_and_internaldate(stores: Stores) -> None:
    when = 1_600_000_000.5
    info = inbox(stores).append(MSG, flags=[SEEN, "Important"], internaldate=when)
    got = inbox(stores, peer=True).get(info.uid) or inbox(stores, peer=True).list_messages()[0]
    assert abs(got.internaldate - when) < 0.01
    assert got.flags == {SEEN, "Important"}


def test_expunge(stores: Stores) -> None:
    box = inbox(stores)
    for _ in range(4):
        box.append(MSG)
    assert box.expunge([2, 4, 9]) == [2, 4]
    assert box.expunge([2]) == []
    peer = inbox(stores, peer=True)
    assert [m.uid for m in peer.list_messages()] == [1, 3]
    with pytest.raises(MessageGone):
        peer.read_message(2)
    assert peer.get(2) is None


def test_copy_keeps_flags_and_dates(stores: Stores) -> None:
    acct = stores.store.account("alice")
    box = acct.folder(INBOX)
    box.append(MSG, flags=[SEEN, "Tag"], internaldate=1_500_000_000)
    box.append(MSG)
    trash = acct.folder("Trash")
    assert box.copy_to([1, 2, 7], trash) == [(1, 1), (2, 2)]
    copied = stores.peer.account("alice").folder("Trash").list_messages()
    assert copied[0].flags == {SEEN, "Tag"}
    assert abs(copied[0].internaldate - 1_500_000_000) < 0.01
    assert box.status().messages == 2
    assert stores.peer.account("alice").folder("Trash").read_message(2) == MSG_CRLF


def test_move_expunges_source(stores: Stores) -> None:
    acct = stores.store.account("alice")
    box = acct.folder(INBOX)
    for _ in range(3):
        box.append(MSG)
    sent = acct.folder("Sent")
    before = box.status().highestmodseq
    assert box.move_to([1, 3], sent) == [(1, 1), (3, 2)]
    assert [m.uid for m in box.list_messages()] == [2]
    changes = box.changes_since(before).changes
    assert {(c.kind, c.uid) for c in changes} == {(ChangeKind.EXPUNGE, 1), (ChangeKind.EXPUNGE, 3)}
    assert stores.peer.account("alice").folder("Sent").status().messages == 2


def test_copy_into_same_folder(stores: Stores) -> None:
    box = inbox(stores)
    box.append(MSG, flags=[FLAGGED])
    assert box.copy_to([1], box) == [(1, 2)]
    assert [m.flags for m in box.list_messages()] == [{FLAGGED}, {FLAGGED}]


def test_idempotency_key(stores: Stores) -> None:
    box = inbox(stores)
    first = box.append(MSG, idempotency_key="lmtp-123")
    again = inbox(stores, peer=True).append(MSG, idempotency_key="lmtp-123")
    assert again.uid == first.uid
    assert box.status().messages == 1
    assert box.append(MSG, idempotency_key="lmtp-124").uid == 2


# -- change feed -------------------------------------------------------------------------


def test_changes_since(stores: Stores) -> None:
    box = inbox(stores)
    start = box.status().highestmodseq
    box.append(MSG)
    box.append(MSG)
    mid = box.status().highestmodseq
    box.set_flags([1], [SEEN], FlagMode.ADD)
    box.expunge([2])
    box.append(MSG)
    peer = inbox(stores, peer=True)
    all_changes = peer.changes_since(start)
    assert not all_changes.reset
    kinds = {c.uid: c.kind for c in all_changes.changes}
    assert kinds == {1: ChangeKind.APPEND, 2: ChangeKind.EXPUNGE, 3: ChangeKind.APPEND}
    recent = peer.changes_since(mid).changes
    assert [(c.kind, c.uid) for c in recent] == [
        (ChangeKind.FLAGS, 1),
        (ChangeKind.EXPUNGE, 2),
        (ChangeKind.APPEND, 3),
    ]
    assert recent[0].flags == {SEEN}
    modseqs = [c.modseq for c in recent]
    assert modseqs == sorted(modseqs) and len(set(modseqs)) == 3
    final = peer.status().highestmodseq
    assert final == recent[-1].modseq == all_changes.highestmodseq
    assert peer.changes_since(final).changes == ()


def test_modseq_grows_with_every_change(stores: Stores) -> None:
    box = inbox(stores)
    seen = [box.status().highestmodseq]
    box.append(MSG)
    seen.append(box.status().highestmodseq)
    box.set_flags([1], [FLAGGED], FlagMode.ADD)
    seen.append(box.status().highestmodseq)
    box.expunge([1])
    seen.append(inbox(stores, peer=True).status().highestmodseq)
    assert seen == sorted(seen) and len(set(seen)) == 4


def test_claim_recent_hands_each_message_out_once(stores: Stores) -> None:
    box = inbox(stores)
    box.append(MSG)
    box.append(MSG)
    assert box.claim_recent() == {1, 2}
    assert inbox(stores, peer=True).claim_recent() == frozenset()
    box.append(MSG)
    assert inbox(stores, peer=True).claim_recent() == {3}
    assert box.claim_recent() == frozenset()


def test_select_is_list_flags_and_claim_recent_in_one_look(stores: Stores) -> None:
    box = inbox(stores)
    box.append(MSG)
    box.append(MSG, [SEEN])
    listing, recent = box.select(claim=False)
    assert recent == frozenset()
    assert listing == box.list_flags()
    # a read-only look claims nothing: the next session still gets them
    listing, recent = inbox(stores, peer=True).select(claim=True)
    assert recent == {1, 2}
    assert listing.uids == [1, 2] and listing.flags[1] == frozenset({SEEN})
    assert box.select(claim=True)[1] == frozenset()


def test_listeners_hear_changes(stores: Stores) -> None:
    heard: list[tuple[str, str]] = []
    stores.store.add_listener(lambda user, fid: heard.append((user, fid)))
    box = inbox(stores)
    box.append(MSG)
    assert ("alice", box.folder_id) in heard
    heard.clear()
    box.set_flags([1], [SEEN], FlagMode.ADD)
    assert ("alice", box.folder_id) in heard
    heard.clear()
    box.expunge([1])
    assert ("alice", box.folder_id) in heard


def test_peer_listeners_hear_changes_at_next_call(stores: Stores) -> None:
    heard: list[tuple[str, str]] = []
    peer_box = inbox(stores, peer=True)
    stores.peer.add_listener(lambda user, fid: heard.append((user, fid)))
    inbox(stores).append(MSG)
    peer_box.status()
    assert ("alice", peer_box.folder_id) in heard


# -- lease, quota, limits ----------------------------------------------------------------


def test_maildrop_lease_is_exclusive(stores: Stores) -> None:
    lease = stores.store.account("alice").acquire_maildrop("pop3 session 1", ttl=60)
    with pytest.raises(MailboxInUse):
        stores.peer.account("alice").acquire_maildrop("pop3 session 2", ttl=60)
    lease.check()
    lease.renew()
    lease.release()
    second = stores.peer.account("alice").acquire_maildrop("pop3 session 2", ttl=60)
    with pytest.raises(LeaseLost):
        lease.check()
    second.release()
    lease.release()  # harmless


def test_expired_lease_is_recovered(stores: Stores) -> None:
    stale = stores.store.account("alice").acquire_maildrop("gone", ttl=0.05)
    time.sleep(0.1)
    fresh = stores.peer.account("alice").acquire_maildrop("new", ttl=60)
    with pytest.raises(LeaseLost):
        stale.check()
    with pytest.raises(LeaseLost):
        stale.renew()
    fresh.check()


def test_quota(make_stores: Factory) -> None:
    stores = make_stores(quota_bytes=3 * len(MSG_CRLF))
    acct = stores.store.account("alice")
    box = acct.folder(INBOX)
    box.append(MSG)
    box.append(MSG)
    q = stores.peer.account("alice").quota()
    assert (q.used, q.limit, q.messages) == (2 * len(MSG_CRLF), 3 * len(MSG_CRLF), 2)
    box.copy_to([1], acct.folder("Trash"))
    with pytest.raises(OverQuota):
        box.append(MSG)
    with pytest.raises(OverQuota):
        box.copy_to([1], acct.folder("Trash"))
    # moving within the account uses no more space
    assert box.move_to([1], acct.folder("Sent")) == [(1, 1)]


def test_message_too_big(make_stores: Factory) -> None:
    stores = make_stores(max_message_size=2048)
    box = stores.store.account("alice").folder(INBOX)
    with pytest.raises(MessageTooBig):
        box.append(b"x" * 2049)
    box.append(b"x" * 2048)


def test_accounts_are_separate(stores: Stores) -> None:
    inbox(stores, "alice").append(MSG)
    assert inbox(stores, "bob", peer=True).status().messages == 0


def test_list_flags_agrees_with_listing_and_status(stores: Stores) -> None:
    box = inbox(stores)
    box.append(MSG, flags=[SEEN])
    box.append(MSG, flags=["$Work", FLAGGED])
    box.append(MSG)
    box.expunge([1])
    listing = inbox(stores, peer=True).list_flags()
    infos = box.list_messages()
    status = box.status()
    assert listing.uids == [m.uid for m in infos] == [2, 3]
    assert listing.flags == [m.flags for m in infos]
    assert listing.modseqs == [m.modseq for m in infos]
    assert (listing.uidvalidity, listing.uidnext, listing.highestmodseq) == (
        status.uidvalidity,
        status.uidnext,
        status.highestmodseq,
    )
    assert (listing.unseen, listing.recent) == (status.unseen, status.recent) == (2, 2)
    box.claim_recent()
    assert inbox(stores, peer=True).list_flags().recent == 0
