"""ENVELOPE, BODYSTRUCTURE and BODY kept by the host for every session (imap/structures.py)."""

from __future__ import annotations

from typing import Any

import pytest
from imapkit import MESSAGE, Host, untagged

from mailhost.imap import fetch
from mailhost.imap.config import IMAPConfig
from mailhost.imap.structures import StructureCache, digest_of

MULTIPART = (
    b"From: Carol <carol@example.org>\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\none\r\n"
    b"--b\r\nContent-Type: application/pdf; name=x.pdf\r\nContent-Transfer-Encoding: base64\r\n"
    b"\r\nAAAA\r\n--b--\r\n"
)
ITEMS = "(UID ENVELOPE BODYSTRUCTURE BODY)"


def test_the_cache_keeps_the_most_recently_used_within_its_octets() -> None:
    cache = StructureCache(1200)
    cache.add(("f", 1, 1), {b"ENVELOPE": b"a" * 100})
    cache.add(("f", 1, 2), {b"ENVELOPE": b"b" * 100})
    assert cache.get(("f", 1, 1)) == {b"ENVELOPE": b"a" * 100}  # now the most recent
    cache.add(("f", 1, 3), {b"ENVELOPE": b"c" * 300})
    # 3 x (values + 300) > 1200: the least recently used went
    assert cache.get(("f", 1, 2)) is None
    assert len(cache) == 2 and cache.size == 100 + 300 + 2 * 300
    # another item of a kept message joins its entry, counted once
    cache.add(("f", 1, 3), {b"BODY": b"d" * 50})
    assert cache.get(("f", 1, 3)) == {b"ENVELOPE": b"c" * 300, b"BODY": b"d" * 50}
    assert cache.size == 100 + 350 + 2 * 300
    cache.add(("f", 1, 1), {b"ENVELOPE": b"A" * 50})  # replaced, not counted twice
    assert cache.size == 50 + 350 + 2 * 300
    cache.add(("f", 1, 4), {b"BODY": b"x" * 2000})  # larger than the whole cache: not kept
    assert cache.get(("f", 1, 4)) is None and len(cache) == 2
    assert cache.get(("f", 2, 1)) is None  # another UIDVALIDITY


def test_many_added_at_once_as_one_by_one() -> None:
    """SORT and THREAD add a folder's worth at once, in slices: the same entries, order and
    size as adding each, bound included."""
    items = {uid: {b"SORT DATE": b"%d" % uid * (uid % 7)} for uid in range(1, 400)}
    one, many = StructureCache(40_000), StructureCache(40_000)
    for uid, values in items.items():
        one.add(("f", 1, uid), values)
    many.add_many("f", 1, items)
    assert many.size == one.size <= 40_000
    assert list(many._entries.items()) == list(one._entries.items())


def test_many_looked_up_at_once_in_order_and_refreshed() -> None:
    cache = StructureCache(3 * 400)
    for uid in (1, 2, 3):
        cache.add(("f", 1, uid), {b"ENVELOPE": b"%d" % uid * 100})
    assert cache.get_many("f", 1, [3, 9, 1]) == [
        {b"ENVELOPE": b"3" * 100},
        None,
        {b"ENVELOPE": b"1" * 100},
    ]
    assert cache.get_many("g", 1, [1]) == [None]
    # 1 and 3 were used last: a fourth entry pushes 2 out
    cache.add(("f", 1, 4), {b"ENVELOPE": b"4" * 100})
    assert cache.get(("f", 1, 2)) is None and cache.get(("f", 1, 1)) is not None


def test_a_worker_thread_looks_up_while_the_reactor_adds() -> None:
    """SORT and THREAD look up in a worker thread while FETCH adds on the reactor."""
    import threading

    cache = StructureCache(2_000_000)
    errors: list[BaseException] = []
    uids = list(range(1, 20_001))

    def reader() -> None:
        try:
            for _ in range(20):
                got = cache.get_many("f", 1, uids)
                assert len(got) == len(uids)
        except BaseException as e:  # (reported below: a thread's exception is lost)
            errors.append(e)

    thread = threading.Thread(target=reader)
    thread.start()
    for round_ in range(5):
        for uid in uids:
            cache.add(("f", 1, uid), {b"ENVELOPE": b"%d" % (uid + round_)})
    thread.join()
    assert errors == []
    assert cache.size <= cache.max_bytes


def test_a_second_session_reads_no_message(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    first = host.selected(MESSAGE, MULTIPART, MESSAGE)
    answer = first.cmd(f"a FETCH 1:3 {ITEMS}")
    assert len(untagged(answer)) == 3

    calls = _count_loads(monkeypatch)
    second = host.connect()
    second.login()
    second.select()
    writes: list[bytes] = []
    real = second.proto.write
    monkeypatch.setattr(second.proto, "write", lambda d: (writes.append(d), real(d)))
    assert second.cmd(f"a FETCH 1:3 {ITEMS}") == answer
    # the responses went out together, as those of freshly parsed messages do
    assert len(writes) == 2 and writes[1] == b"a OK FETCH completed\r\n"
    assert second.cmd("b UID FETCH 2 (BODYSTRUCTURE)") == (
        b"* 2 FETCH (UID 2 BODYSTRUCTURE " + _value(answer, 2, b"BODYSTRUCTURE") + b")\r\n"
        b"b OK FETCH completed\r\n"
    )
    assert calls == []
    # anything else about the message is still read from it
    second.cmd("c FETCH 1 (ENVELOPE BODY.PEEK[HEADER])")
    assert calls == [[1]]


def _count_loads(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The UIDs of each batch of messages FETCH reads from here on."""
    calls: list[list[int]] = []
    for name in ("load_parsed", "load_structures"):
        real = getattr(fetch, name)

        def counted(folder: object, uids: list[int], *args: object, real: Any = real) -> object:
            calls.append(list(uids))
            return real(folder, uids, *args)

        monkeypatch.setattr(fetch, name, counted)
    return calls


def test_what_is_not_kept_yet_is_read(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    c = host.selected(MULTIPART, MULTIPART)
    envelopes = c.cmd("a FETCH 1 (ENVELOPE)")
    calls = _count_loads(monkeypatch)
    both = c.cmd("b FETCH 1:2 (ENVELOPE BODYSTRUCTURE)")
    assert calls == [[1, 2]]  # message 1's BODYSTRUCTURE was not kept yet
    assert _value(both, 1, b"ENVELOPE") == _value(envelopes, 1, b"ENVELOPE")
    assert c.cmd("c FETCH 1:2 (ENVELOPE BODYSTRUCTURE)") == both.replace(b"b OK", b"c OK")
    assert calls == [[1, 2]]


def test_a_new_folder_under_an_old_name_gets_its_own(host: Host) -> None:
    acct = host.store.account("alice")
    acct.create_folder("Work")
    acct.folder("Work").append(MESSAGE)
    c = host.connect()
    c.login()
    c.select("Work")
    old = c.cmd("a FETCH 1 (ENVELOPE)")
    assert b'"Hello"' in old
    c.cmd("b UNSELECT")
    assert c.cmd("c DELETE Work").endswith(b"c OK DELETE completed\r\n")
    c.cmd("d CREATE Work")
    acct.folder("Work").append(MULTIPART)
    c.select("Work")
    assert b'"parts"' in c.cmd("e FETCH 1 (ENVELOPE)")


def test_none_kept_when_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host(IMAPConfig(structure_cache_mb=0))
    assert host.factory.structures is None
    c = host.selected(MESSAGE)
    answer = c.cmd("a FETCH 1 (ENVELOPE BODYSTRUCTURE)")
    assert c.cmd("b FETCH 1 (ENVELOPE BODYSTRUCTURE)") == answer.replace(b"a OK", b"b OK")


def test_the_cache_is_the_hosts(host: Host) -> None:
    """Every listener (plain and implicit TLS) of one host shares one cache."""
    other = host.tls_listener()
    assert other.structures is host.factory.structures is not None
    assert Host().factory.structures is not host.factory.structures


def _value(answer: bytes, seq: int, name: bytes) -> bytes:
    """The parenthesised value of ``name`` in the FETCH response for ``seq``."""
    (line,) = [ln for ln in untagged(answer) if ln.startswith(b"* %d FETCH " % seq)]
    start = line.index(name + b" (") + len(name) + 1
    depth, i = 0, start
    while True:
        if line[i : i + 1] == b"(":
            depth += 1
        elif line[i : i + 1] == b")":
            depth -= 1
            if depth == 0:
                return line[start : i + 1]
        i += 1


def test_kept_orders_answer_for_subsets_and_are_bounded() -> None:
    cache = StructureCache(64 * 10)  # room for 10 UIDs of orders
    key = ("f", 1, ((b"DATE", True),))
    cache.keep_order(key, [5, 2, 9, 1])
    assert cache.order(key, [1, 2, 5, 9]) == [5, 2, 9, 1]
    assert cache.order(key, {9, 5}) == [5, 9]
    assert cache.order(key, [1, 2, 3]) is None  # 3 was not in the set sorted
    assert cache.order(("f", 2, key[2]), [1]) is None  # another UIDVALIDITY
    other = ("f", 1, ((b"SUBJECT", False),))
    cache.keep_order(other, [1, 2, 3, 4, 5, 6])
    assert cache.order(key, [1]) == [1]
    cache.keep_order(("g", 1, key[2]), [7, 8])  # 12 UIDs: the least recently used goes
    assert cache.order(other, [1]) is None
    assert cache.order(key, [2, 5]) == [5, 2]
    cache.keep_order(key, list(range(11)))  # more than all the room: not kept
    assert cache.order(key, [2, 5]) == [5, 2]


def test_kept_answers_are_for_the_same_messages_only_and_bounded() -> None:
    cache = StructureCache(4 * 40)  # room for 40 octets of answers
    key = ("f", 1, b"THREAD REFERENCES")
    found = [(1, 10), (2, 11)]
    cache.keep_answer(key, digest_of(found), b"(1 2)")
    assert cache.answer(key, digest_of([(1, 10), (2, 11)])) == b"(1 2)"
    assert cache.answer(key, digest_of([(1, 11), (2, 10)])) is None
    assert cache.answer(key, digest_of([(1, 10)])) is None
    assert cache.answer(("f", 1, b"THREAD ORDEREDSUBJECT"), digest_of(found)) is None
    cache.keep_answer(("g", 1, b"THREAD REFERENCES"), b"d", b"x" * 30)
    cache.keep_answer(("h", 1, b"THREAD REFERENCES"), b"d", b"y" * 30)  # the first two go
    assert cache.answer(key, digest_of(found)) is None
    assert cache.answer(("h", 1, b"THREAD REFERENCES"), b"d") == b"y" * 30
    cache.keep_answer(key, b"d", b"z" * 41)  # larger than all the room: not kept
    assert cache.answer(key, b"d") is None
