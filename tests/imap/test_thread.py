"""THREAD (RFC 5256): ORDEREDSUBJECT and REFERENCES, in the response forms Dovecot gives."""

from __future__ import annotations

import pytest
from imapkit import Host, lines, untagged

from mailhost.imap import selected


def _msg(
    n: int, subject: str, day: int, refs: str = "", in_reply_to: str = "", mid: str | None = None
) -> bytes:
    head = [
        f"From: u{n}@x.org",
        f"Subject: {subject}",
        f"Date: Mon, {day:02d} Mar 2026 10:00:00 +0000",
        f"Message-ID: <{mid if mid is not None else f'm{n}@x'}>",
    ]
    if refs:
        head.append("References: " + " ".join(f"<{r}>" for r in refs.split()))
    if in_reply_to:
        head.append(f"In-Reply-To: <{in_reply_to}>")
    return ("\r\n".join(head) + "\r\n\r\nbody\r\n").encode()


def _thread(host: Host, line: str) -> bytes:
    c = host.connect()
    c.login()
    c.select()
    answer = c.cmd(line)
    assert lines(answer)[-1].endswith(b"OK THREAD completed"), answer
    (only,) = untagged(answer)
    return only


def test_ordered_subject(host: Host) -> None:
    host.deliver(_msg(1, "alpha", 3))
    host.deliver(_msg(2, "Re: alpha", 2))
    host.deliver(_msg(3, "beta", 1))
    host.deliver(_msg(4, "RE: Alpha", 4))
    host.deliver(_msg(5, "beta", 5))
    host.deliver(_msg(6, "gamma", 6))
    # by base subject, the earliest first; threads by their first message's date
    assert _thread(host, "a THREAD ORDEREDSUBJECT UTF-8 ALL") == b"* THREAD (3 5)(2 (1)(4))(6)"


def test_references_chains_siblings_and_subjects(host: Host) -> None:
    host.deliver(_msg(1, "plan", 1))
    host.deliver(_msg(2, "Re: plan", 2, refs="m1@x"))
    host.deliver(_msg(3, "Re: plan", 3, refs="m1@x m2@x"))
    host.deliver(_msg(4, "Re: plan", 4, in_reply_to="m1@x"))  # a sibling of 2
    host.deliver(_msg(5, "other", 5))
    # a reply whose parent is not here: a thread of its own, joined by its subject
    host.deliver(_msg(6, "Re: other", 6, refs="gone@x"))
    assert _thread(host, "a THREAD REFERENCES UTF-8 ALL") == b"* THREAD (1 (2 3)(4))(5 6)"
    # UID form and a search: only what matches is threaded
    assert _thread(host, "b UID THREAD REFERENCES US-ASCII NOT FROM u2") == (
        b"* THREAD (1 (3)(4))(5 6)"
    )


def test_references_dummy_root_with_two_children(host: Host) -> None:
    # two replies to a message that is not in the mailbox: siblings under a dummy
    host.deliver(_msg(1, "Re: lost", 2, refs="lost@x"))
    host.deliver(_msg(2, "Re: lost", 1, refs="lost@x"))
    assert _thread(host, "a THREAD REFERENCES UTF-8 ALL") == b"* THREAD ((2)(1))"


def test_references_survives_loops_and_repeated_ids(host: Host) -> None:
    host.deliver(_msg(1, "a", 1, refs="m2@x"))
    host.deliver(_msg(2, "b", 2, refs="m1@x"))  # would close a loop: 1 stays under 2
    host.deliver(_msg(3, "c", 3, mid="m1@x"))  # a Message-ID seen before: its own thread
    host.deliver(_msg(4, "d", 4, mid=""))
    answer = _thread(host, "a THREAD REFERENCES UTF-8 ALL")
    assert answer == b"* THREAD (2 1)(3)(4)"


def test_errors_and_empty(host: Host) -> None:
    host.deliver(_msg(1, "x", 1))
    c = host.connect()
    c.login()
    c.select()
    assert c.cmd("a THREAD REFERENCES UTF-8 SUBJECT nothing") == (
        b"* THREAD\r\na OK THREAD completed\r\n"
    )
    assert c.cmd("b THREAD REFS UTF-8 ALL").startswith(b"b BAD")
    assert c.cmd("c THREAD REFERENCES X-NOSUCH ALL").startswith(b"c NO [BADCHARSET")
    assert c.cmd("d THREAD REFERENCES UTF-8").startswith(b"d BAD")
    assert b"THREAD=REFERENCES THREAD=ORDEREDSUBJECT" not in c.cmd("e CAPABILITY")
    caps = c.cmd("e CAPABILITY")
    assert b" THREAD=ORDEREDSUBJECT " in caps and b" THREAD=REFERENCES " in caps


@pytest.mark.parametrize("algorithm", ["ORDEREDSUBJECT", "REFERENCES"])
def test_no_expunge_during_thread(host: Host, algorithm: str) -> None:
    for n in (1, 2, 3):
        host.deliver(_msg(n, f"s{n}", n))
    a = host.connect()
    a.login()
    a.select()
    host.expunge_elsewhere(2)
    answer = a.cmd(f"c THREAD {algorithm} UTF-8 ALL")
    assert b"EXPUNGE" not in answer and b"* THREAD (1)(3)" in answer
    assert b"* 2 EXPUNGE" in a.cmd(f"d UID THREAD {algorithm} UTF-8 ALL")


def test_a_second_thread_reads_no_header(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    host.deliver(_msg(1, "plan", 1))
    host.deliver(_msg(2, "Re: plan", 2, refs="m1@x"))
    host.deliver(_msg(3, "Fwd: plan (fwd)", 3, refs="missing@x"))
    host.deliver(_msg(4, "Ré\x00sumé", 4))
    first = _thread(host, "a THREAD REFERENCES UTF-8 ALL")
    assert first == b"* THREAD (1 (2)(3))(4)"
    reads: list[list[tuple[int, int]]] = []
    real = selected.read_thread_keys

    def counted(folder: object, found: list[tuple[int, int]], infos: object) -> object:
        reads.append(list(found))
        return real(folder, found, infos)  # type: ignore[arg-type]

    monkeypatch.setattr(selected, "read_thread_keys", counted)
    assert _thread(host, "b THREAD REFERENCES UTF-8 ALL") == first
    assert _thread(host, "c THREAD ORDEREDSUBJECT UTF-8 ALL") == b"* THREAD (1 (2)(3))(4)"
    assert reads == []
    # a message expunged: the kept keys of the others take their new numbers
    host.expunge_elsewhere(1)
    assert _thread(host, "d THREAD REFERENCES UTF-8 ALL") == b"* THREAD ((1)(2))(3)"
    assert reads == []


def test_the_same_messages_threaded_again_get_the_kept_answer(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n, subject, refs in [(1, "plan", ""), (2, "Re: plan", "m1@x"), (3, "other", "")]:
        host.deliver(_msg(n, subject, n, refs=refs))
    first = _thread(host, "a THREAD REFERENCES UTF-8 ALL")
    assert first == b"* THREAD (1 2)(3)"
    threadings: list[bytes] = []
    real = selected._threads

    def counted(algorithm: bytes, keys: list[object], uid: bool) -> bytes:
        threadings.append(algorithm)
        return real(algorithm, keys, uid)  # type: ignore[arg-type]

    monkeypatch.setattr(selected, "_threads", counted)
    assert _thread(host, "b THREAD REFERENCES UTF-8 ALL") == first
    assert threadings == []
    # other messages, other numbers, the other form or algorithm: threaded afresh
    assert _thread(host, "c THREAD REFERENCES UTF-8 NOT FROM u3") == b"* THREAD (1 2)"
    assert _thread(host, "d UID THREAD REFERENCES UTF-8 ALL") == first
    assert _thread(host, "e THREAD ORDEREDSUBJECT UTF-8 ALL") == b"* THREAD (1 2)(3)"
    assert len(threadings) == 3
    host.expunge_elsewhere(1)
    assert _thread(host, "f THREAD REFERENCES UTF-8 ALL") == b"* THREAD (1)(2)"
    host.deliver(_msg(4, "Re: other", 4, refs="m3@x"))
    assert _thread(host, "g THREAD REFERENCES UTF-8 ALL") == b"* THREAD (1)(2 3)"
    assert _thread(host, "h THREAD REFERENCES UTF-8 ALL") == b"* THREAD (1)(2 3)"
    assert len(threadings) == 5
