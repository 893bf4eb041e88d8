"""UTF8=ACCEPT (RFC 6855): ENABLE, mailbox names as UTF-8 both ways, APPEND's UTF8 data,
and that a client which did not enable it keeps modified UTF-7."""

from __future__ import annotations

import pytest
from imapkit import Client, Host, untagged

UTF8_MESSAGE = "From: Jürgen <j@example.org>\r\nSubject: Grüße\r\n\r\nHallo\r\n".encode()


@pytest.fixture
def host() -> Host:
    return Host()


def _utf8(host: Host) -> Client:
    c = host.connect()
    c.login()
    assert c.cmd("e ENABLE UTF8=ACCEPT") == (b"* ENABLED UTF8=ACCEPT\r\ne OK ENABLE completed\r\n")
    return c


def test_offered_once_logged_in(host: Host) -> None:
    c = host.connect()
    assert b"UTF8=ACCEPT" not in c.cmd("a CAPABILITY")
    c.login()
    assert b" UTF8=ACCEPT" in c.cmd("b CAPABILITY")


def test_names_are_utf8_both_ways(host: Host) -> None:
    c = _utf8(host)
    assert c.cmd('a CREATE "Entwürfe/Grüße"') == b"a OK CREATE completed\r\n"
    listed = c.cmd('b LIST "" "Entwürfe*"')
    assert untagged(listed) == [
        '* LIST (\\HasChildren) "/" "Entwürfe"'.encode(),
        '* LIST (\\HasNoChildren) "/" "Entwürfe/Grüße"'.encode(),
    ]
    assert c.cmd('c STATUS "Entwürfe/Grüße" (MESSAGES)') == (
        '* STATUS "Entwürfe/Grüße" (MESSAGES 0)\r\nc OK STATUS completed\r\n'.encode()
    )
    assert c.cmd('d SELECT "Entwürfe/Grüße"').endswith(b"d OK [READ-WRITE] SELECT completed\r\n")
    # the same folder, for a client that speaks modified UTF-7
    other = host.connect()
    other.login()
    assert untagged(other.cmd('x LIST "" "Entw*/*"')) == [
        b'* LIST (\\HasNoChildren) "/" "Entw&APw-rfe/Gr&APwA3w-e"'
    ]


def test_a_utf8_client_takes_ampersand_as_itself(host: Host) -> None:
    c = _utf8(host)
    assert c.cmd('a CREATE "R&D"') == b"a OK CREATE completed\r\n"
    assert untagged(c.cmd('b LIST "" "R*"')) == [b'* LIST (\\HasNoChildren) "/" "R&D"']
    other = host.connect()
    other.login()
    assert untagged(other.cmd('x LIST "" "R*"')) == [b'* LIST (\\HasNoChildren) "/" "R&-D"']


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        (b'"\xff\xfe"', b"NO [CANNOT] Mailbox name is not valid UTF-8"),
        (b'"a\xc2\x85b"', b"NO [CANNOT] Mailbox name has a control character"),
    ],
)
def test_bad_utf8_names_are_refused(host: Host, name: bytes, answer: bytes) -> None:
    c = _utf8(host)
    assert c.send(b"a CREATE " + name + b"\r\n") == b"a " + answer + b"\r\n"


def test_append_takes_utf8_data(host: Host) -> None:
    c = _utf8(host)
    n = len(UTF8_MESSAGE)
    answer = c.send(b"a APPEND INBOX UTF8 (~{%d+}\r\n" % n + UTF8_MESSAGE + b")\r\n")
    assert answer.startswith(b"a OK [APPENDUID "), answer
    assert host.inbox().read_message(host.inbox().list_messages()[0].uid) == UTF8_MESSAGE


def test_append_utf8_data_needs_enable(host: Host) -> None:
    c = host.connect()
    c.login()
    n = len(UTF8_MESSAGE)
    answer = c.send(b"a APPEND INBOX UTF8 (~{%d+}\r\n" % n + UTF8_MESSAGE + b")\r\n")
    assert answer.startswith(b"a BAD "), answer
    assert host.inbox().list_messages() == []


def test_not_in_the_selected_state(host: Host) -> None:
    c = host.connect()
    c.login()
    c.select()
    assert c.cmd("a ENABLE UTF8=ACCEPT").startswith(b"a BAD ")
    # and modified UTF-7 it stays
    c.cmd('b CREATE "Entw&APw-rfe"')
    assert untagged(c.cmd('c LIST "" "Entw*"')) == [b'* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"']


def test_search_charset_utf8_is_still_taken(host: Host) -> None:
    """RFC 6855 §3 lets a server refuse SEARCH CHARSET after ENABLE UTF8=ACCEPT for the
    conflict of labels; UTF-8 and US-ASCII cannot conflict, so they are taken."""
    host.deliver(UTF8_MESSAGE)
    c = _utf8(host)
    c.select()
    assert c.cmd("a SEARCH CHARSET UTF-8 SUBJECT grüße") == (
        b"* SEARCH 1\r\na OK SEARCH completed\r\n"
    )
    assert c.cmd("b SEARCH SUBJECT grüße") == b"* SEARCH 1\r\nb OK SEARCH completed\r\n"
