"""ESEARCH (RFC 4731): SEARCH RETURN (MIN MAX ALL COUNT), its answers with and without
matches, UID SEARCH, the MODSEQ of the messages returned (RFC 7162 §3.1.5), and the
errors of a malformed RETURN."""

from __future__ import annotations

import re

import pytest
from imapkit import MESSAGE, Client, Host

from mailhost.store.api import FlagMode


@pytest.fixture
def host() -> Host:
    return Host()


def _selected(host: Host, count: int = 7) -> Client:
    c = host.selected(*[MESSAGE] * count)
    # UID 5 expunged (sequence numbers 1-6 are UIDs 1-4, 6, 7); UIDs 2, 3, 4 and 7 seen,
    # which are sequence numbers 2, 3, 4 and 6
    host.inbox().set_flags([2, 3, 4, 7], ["\\Seen"], mode=FlagMode.ADD)
    host.inbox().set_flags([5], ["\\Deleted"], mode=FlagMode.ADD)
    c.cmd("x EXPUNGE")
    return c


def test_offered_once_logged_in(host: Host) -> None:
    c = host.connect()
    assert b"ESEARCH" not in c.cmd("a CAPABILITY")
    c.login()
    assert b" ESEARCH" in c.cmd("b CAPABILITY")


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        (
            "SEARCH RETURN (MIN MAX COUNT ALL) SEEN",
            b" MIN 2 MAX 6 ALL 2:4,6 COUNT 4",
        ),
        ("SEARCH RETURN () SEEN", b" ALL 2:4,6"),
        ("SEARCH RETURN (ALL) SEEN", b" ALL 2:4,6"),
        ("SEARCH RETURN (MIN) SEEN", b" MIN 2"),
        ("SEARCH RETURN (max) SEEN", b" MAX 6"),
        ("SEARCH RETURN (COUNT) SEEN", b" COUNT 4"),
        ("SEARCH RETURN (COUNT COUNT MIN) SEEN", b" MIN 2 COUNT 4"),
        (
            "UID SEARCH RETURN (MIN MAX ALL COUNT) SEEN",
            b" UID MIN 2 MAX 7 ALL 2:4,7 COUNT 4",
        ),
        ("UID SEARCH RETURN (ALL) ALL", b" UID ALL 1:4,6:7"),
        (
            "SEARCH RETURN (MIN MAX ALL) CHARSET UTF-8 UNSEEN",
            b" MIN 1 MAX 5 ALL 1,5",
        ),
        # nothing found: MIN, MAX and ALL are left out, COUNT is 0
        ("SEARCH RETURN (MIN MAX ALL COUNT) DRAFT", b" COUNT 0"),
        ("UID SEARCH RETURN (MIN) DRAFT", b" UID"),
    ],
)
def test_answers(host: Host, command: str, answer: bytes) -> None:
    c = _selected(host)
    expected = b'* ESEARCH (TAG "t1")' + answer + b"\r\nt1 OK SEARCH completed\r\n"
    assert c.cmd(f"t1 {command}") == expected


def test_the_tag_is_quoted_as_sent(host: Host) -> None:
    c = _selected(host)
    assert c.cmd("A.b-9 SEARCH RETURN (COUNT) ALL") == (
        b'* ESEARCH (TAG "A.b-9") COUNT 6\r\nA.b-9 OK SEARCH completed\r\n'
    )


def test_without_return_the_answer_is_a_plain_search(host: Host) -> None:
    c = _selected(host)
    assert c.cmd("a SEARCH SEEN") == b"* SEARCH 2 3 4 6\r\na OK SEARCH completed\r\n"


@pytest.mark.parametrize(
    "command",
    [
        "SEARCH RETURN (UPDATE) ALL",  # CONTEXT=SEARCH is not offered
        "SEARCH RETURN (PARTIAL 1:10) ALL",
        "SEARCH RETURN (MIN ALL",
        "SEARCH RETURN MIN ALL",
        "SEARCH RETURN (MIN)",
        "SEARCH RETURN (MIN)ALL",
    ],
)
def test_malformed_returns_are_bad(host: Host, command: str) -> None:
    c = _selected(host)
    assert c.cmd(f"b {command}").startswith(b"b BAD ")


def test_modseq_of_the_messages_returned(host: Host) -> None:
    c = _selected(host)
    modseqs = {
        int(m.group(1)): int(m.group(2))
        for m in re.finditer(rb"\* (\d+) FETCH \(MODSEQ \((\d+)\)\)", c.cmd("a FETCH 1:* (MODSEQ)"))
    }
    seen = [2, 3, 4, 6]

    def esearch(returns: str) -> bytes:
        answer = c.cmd(f"t SEARCH RETURN ({returns}) MODSEQ 1 SEEN")
        assert answer.endswith(b"t OK SEARCH completed\r\n"), answer
        return answer.split(b"\r\n")[0]

    assert esearch("MIN") == b'* ESEARCH (TAG "t") MIN 2 MODSEQ %d' % modseqs[2]
    assert esearch("MAX") == b'* ESEARCH (TAG "t") MAX 6 MODSEQ %d' % modseqs[6]
    assert esearch("MIN MAX") == (
        b'* ESEARCH (TAG "t") MIN 2 MAX 6 MODSEQ %d' % max(modseqs[2], modseqs[6])
    )
    highest = max(modseqs[n] for n in seen)
    assert esearch("COUNT") == b'* ESEARCH (TAG "t") COUNT 4 MODSEQ %d' % highest
    assert esearch("ALL") == b'* ESEARCH (TAG "t") ALL 2:4,6 MODSEQ %d' % highest
    # none found: no MODSEQ
    assert c.cmd("u SEARCH RETURN (COUNT) MODSEQ 1 DRAFT").split(b"\r\n")[0] == (
        b'* ESEARCH (TAG "u") COUNT 0'
    )
