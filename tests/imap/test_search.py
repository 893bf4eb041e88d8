"""Every RFC 3501 SEARCH key (§6.4.4), over flags, sizes, dates, headers and text."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from imapkit import Client, Host

from mailhost.imap.commands import SeqSet
from mailhost.imap.search import (
    _ADDRESS_NOISE,
    _FIELD_VALUE,
    _addresses,
    _could_hold_address,
    _in_set,
)

M1 = (
    b"From: Alice Example <alice@example.org>\r\n"
    b"To: bob@example.org\r\n"
    b"Cc: carol@example.org\r\n"
    b"Subject: Quarterly report\r\n"
    b"Date: Mon, 02 Mar 2026 23:30:00 -0800\r\n"
    b"X-Priority: 1\r\n"
    b"\r\n"
    b"Numbers are up.\r\n"
)
M2 = (
    b"From: =?iso-8859-1?q?J=FCrgen?= <j@example.de>\r\n"
    b"To: alice@example.org\r\n"
    b"Bcc: hidden@example.org\r\n"
    b"Subject: =?utf-8?b?R3LDvMOfZQ==?=\r\n"
    b"Date: Tue, 10 Mar 2026 08:00:00 +0000\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Sch=F6ne Gr=FC=DFe\r\n"
)
M3 = b"Subject: no date\r\nFrom: dave@example.net\r\n\r\n" + b"z" * 2000 + b"\r\n"


@pytest.fixture
def c(host: Host) -> Client:
    inbox = host.inbox()
    inbox.append(M1, ["\\Seen", "\\Answered"], internaldate=1772539200.0)  # 3 Mar 2026
    inbox.append(M2, ["\\Flagged", "\\Draft", "$Work"], internaldate=1773144000.0)  # 10 Mar
    inbox.claim_recent()  # another session saw 1 and 2 first
    inbox.append(M3, ["\\Deleted"], internaldate=1774008000.0)  # 20 Mar 2026
    client = host.connect()
    client.login()
    client.select()
    return client


@pytest.mark.parametrize(
    "criteria,expected",
    [
        ("ALL", "1 2 3"),
        ("ANSWERED", "1"),
        ("UNANSWERED", "2 3"),
        ("DELETED", "3"),
        ("UNDELETED", "1 2"),
        ("DRAFT", "2"),
        ("UNDRAFT", "1 3"),
        ("FLAGGED", "2"),
        ("UNFLAGGED", "1 3"),
        ("SEEN", "1"),
        ("UNSEEN", "2 3"),
        ("KEYWORD $Work", "2"),
        ("UNKEYWORD $Work", "1 3"),
        ("RECENT", "3"),
        ("NEW", "3"),
        ("OLD", "1 2"),
        ("LARGER 1000", "3"),
        ("SMALLER 1000", "1 2"),
        ("BEFORE 10-Mar-2026", "1"),
        ("ON 10-Mar-2026", "2"),
        ("SINCE 10-Mar-2026", "2 3"),
        ('SENTON "2-Mar-2026"', "1"),
        ("SENTBEFORE 3-Mar-2026", "1"),
        ("SENTSINCE 10-Mar-2026", "2 3"),
        ("FROM alice", "1"),
        ("FROM jürgen", "2"),
        ("TO alice", "2"),
        ("CC carol", "1"),
        ("BCC hidden", "2"),
        ("SUBJECT QUARTERLY", "1"),
        ("SUBJECT grüße", "2"),
        ("HEADER X-Priority 1", "1"),
        ('HEADER X-Priority ""', "1"),
        ('HEADER "Content-Transfer-Encoding" quoted', "2"),
        ("BODY numbers", "1"),
        ("BODY SCHÖNE", "2"),
        ("BODY alice", ""),
        ("TEXT alice", "1 2"),
        ("TEXT zzzz", "3"),
        ("1:2", "1 2"),
        ("2:*", "2 3"),
        ("UID 1,3", "1 3"),
        ("NOT SEEN", "2 3"),
        ("OR SEEN FLAGGED", "1 2"),
        ("OR (SEEN ANSWERED) NOT (OR FLAGGED DELETED)", "1"),
        ("(FLAGGED) (DRAFT) UNSEEN", "2"),
        ("NOT NOT NOT ALL", ""),
    ],
)
def test_search_key(c: Client, criteria: str, expected: str) -> None:
    out = c.send(b"s SEARCH CHARSET UTF-8 " + criteria.encode() + b"\r\n")
    assert out == b"* SEARCH%s\r\ns OK SEARCH completed\r\n" % (
        b" " + expected.encode() if expected else b""
    )


def test_uid_search_and_literal_strings(c: Client) -> None:
    assert c.cmd("a UID SEARCH 2:3") == b"* SEARCH 2 3\r\na OK SEARCH completed\r\n"
    assert c.send(b"b SEARCH CHARSET UTF-8 SUBJECT {6+}\r\ngr\xc3\xbc\xc3\x9f\r\n") == (
        b"* SEARCH 2\r\nb OK SEARCH completed\r\n"
    )
    assert c.cmd("c SEARCH CHARSET US-ASCII SUBJECT report") == (
        b"* SEARCH 1\r\nc OK SEARCH completed\r\n"
    )


@pytest.mark.parametrize(
    "bad", ["SEARCH", "SEARCH FROB", "SEARCH SINCE 31-Feb-2026", "SEARCH OR SEEN", "SEARCH (SEEN"]
)
def test_search_syntax(c: Client, bad: str) -> None:
    assert c.cmd("x " + bad).startswith(b"x BAD ")


ADDRESSES = [
    b"From: <user-from (comment)@ (comment) domain.org>\r\nSubject: 1\r\n\r\nx\r\n",
    b'To: "Quoted Name" <q@example.org>,\r\n joe @ example . org\r\nSubject: 2\r\n\r\nx\r\n',
    b"Cc: Some One <some.one@example.com>\r\nReceived: by x (y)\r\nSubject: 3\r\n\r\nx\r\n",
    b"From: =?utf-8?q?J=C3=BCrgen?= <j (work) @example.de>\r\nSubject: 4\r\n\r\nx\r\n",
]


@pytest.mark.parametrize(
    "criteria,expected",
    [
        # an address matches as mailbox@host, whatever comments and spaces are inside
        ("FROM user-from@domain.org", "1"),
        ("HEADER FROM user-from@domain.org", "1"),
        ("FROM user-from@domain.com", ""),
        ("FROM j@example.de", "4"),
        ("TO joe@example.org", "2"),
        # and as the text the field holds, decoded
        ("FROM comment", "1"),
        ("FROM jürgen", "4"),
        ('TO "quoted name"', "2"),
        ('CC "some one"', "3"),
        # leaving spaces out is only a first look: it finds no new matches
        ("CC someone", ""),
        ("TO qname", ""),
        ("CC some.one@example.com", "3"),
        ("TO some.one", ""),
    ],
)
def test_address_keys_match_the_address(host: Host, criteria: str, expected: str) -> None:
    """RFC 3501 defines FROM, TO, CC and BCC on the envelope's address fields."""
    inbox = host.inbox()
    for data in ADDRESSES:
        inbox.append(data)
    client = host.connect()
    client.login()
    client.select()
    out = client.send(b"s SEARCH CHARSET UTF-8 " + criteria.encode() + b"\r\n")
    assert out == b"* SEARCH%s\r\ns OK SEARCH completed\r\n" % (
        b" " + expected.encode() if expected else b""
    )


@given(value=st.text(alphabet='ab. @<>"(),\\\t:;', max_size=30), data=st.data())
def test_the_first_look_at_an_address_field_hides_no_match(value: str, data: st.DataObject) -> None:
    """Whatever a FROM key matches in the value, as text or as an address, the cheap first
    look at the raw header lets through."""
    value = value.strip(" \t")
    targets = [value, *_addresses(value)]
    target = data.draw(st.sampled_from(targets))
    start = data.draw(st.integers(0, len(target)))
    needle = target[start : data.draw(st.integers(start, len(target)))].casefold()
    assume(needle)
    field = re.compile(rb"\nfrom" + _FIELD_VALUE)
    raw = b"Subject: x\r\nFrom: " + value.encode() + b"\r\n\r\n"
    assert _could_hold_address(raw, field, needle.encode().translate(None, _ADDRESS_NOISE))


@given(
    st.lists(
        st.tuples(st.integers(1, 60) | st.none(), st.integers(1, 60) | st.none()),
        min_size=1,
        max_size=12,
    ),
    st.integers(1, 60),
)
def test_set_membership_agrees_with_the_ranges(
    ranges: list[tuple[int | None, int | None]], star: int
) -> None:
    """Many ranges (a saved result) are joined and bisected; the answer must not change."""
    seqset = SeqSet(tuple(ranges))
    inside = _in_set(seqset, star)
    for n in range(0, 62):
        assert inside(n) == any(lo <= n <= hi for lo, hi in seqset.bounds(star)), n


def test_within_older_and_younger(host: Host) -> None:
    """RFC 5032 (WITHIN): the internal date against a number of seconds before now."""
    now = time.time()
    for age in (3 * 3600, 1800, 60):
        host.inbox().append(M1, (), now - age)
    c = host.connect()
    c.login()
    c.select()
    assert c.cmd("a SEARCH OLDER 3600") == b"* SEARCH 1\r\na OK SEARCH completed\r\n"
    assert c.cmd("b SEARCH YOUNGER 3600") == b"* SEARCH 2 3\r\nb OK SEARCH completed\r\n"
    assert c.cmd("c SEARCH YOUNGER 600") == b"* SEARCH 3\r\nc OK SEARCH completed\r\n"
    assert c.cmd("d UID SEARCH NOT OLDER 7200 OLDER 600") == (
        b"* SEARCH 2\r\nd OK SEARCH completed\r\n"
    )
    assert c.cmd("e SEARCH OLDER 0").startswith(b"e BAD ")
    assert c.cmd("f SEARCH YOUNGER x").startswith(b"f BAD ")
    assert b" WITHIN" in c.cmd("g CAPABILITY")


@pytest.mark.parametrize(
    ("charset", "needle"),
    [
        ("ISO-8859-1", "grüße".encode("latin-1")),
        ("windows-1252", "schöne".encode("cp1252")),
        ("KOI8-R", "grüße".encode()),  # not KOI8-R text: it matches nothing
        ("ISO-8859-15", "Grüße".encode("iso-8859-15")),
    ],
)
def test_search_in_other_charsets(c: Client, charset: str, needle: bytes) -> None:
    """Strings in any charset the platform decodes, as Dovecot takes them through iconv;
    they are compared with the decoded message as UTF-8 strings are."""
    answer = c.send(
        b"a SEARCH CHARSET %s TEXT {%d+}\r\n%s\r\n" % (charset.encode(), len(needle), needle)
    )
    expected = b"* SEARCH\r\n" if charset == "KOI8-R" else b"* SEARCH 2\r\n"
    assert answer == expected + b"a OK SEARCH completed\r\n"


@pytest.mark.parametrize("charset", ["X-NOSUCH", "base64", "idna", "unicode_escape", "undefined"])
def test_codecs_that_are_no_charsets_are_refused(c: Client, charset: str) -> None:
    assert c.cmd(f"a SEARCH CHARSET {charset} TEXT x").startswith(b"a NO [BADCHARSET ")
