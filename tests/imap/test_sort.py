"""SORT (RFC 5256): base subjects, each sort key, REVERSE, ties and the search part."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imapkit import Host, lines, untagged

from mailhost.imap import selected
from mailhost.imap import sort as sort_module
from mailhost.imap.config import IMAPConfig
from mailhost.imap.sort import base_subject, sent_date


@pytest.mark.parametrize(
    ("subject", "base"),
    [
        ("Hello", "Hello"),
        ("Re: Hello", "Hello"),
        ("RE: re: Fwd: Hello", "Hello"),
        ("Re[2]: Hello", "Hello"),
        ("[list] Re: Hello", "Hello"),
        ("Re: [list] Hello", "Hello"),
        ("Hello (fwd)", "Hello"),
        ("Hello (fwd) (FWD)  ", "Hello"),
        ("[Fwd: Re: Hello]", "Hello"),
        ("Fw: [Fwd: Hello (fwd)]", "Hello"),
        ("  Many\t spaces  here ", "Many spaces here"),
        ("[list]", "[list]"),  # a blob alone is the subject
        ("Re:", ""),
        ("Reply: not a leader", "Reply: not a leader"),
    ],
)
def test_base_subject(subject: str, base: str) -> None:
    assert base_subject(subject) == base


def _msg(subject: str, sender: str, to: str, date: str, body: str = "x") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nCc: {to}\r\nSubject: {subject}\r\nDate: {date}\r\n\r\n"
        f"{body}\r\n"
    ).encode()


@pytest.fixture
def mailbox(host: Host) -> Host:
    host.deliver(
        _msg(
            "Re: beta", "Zed <zed@x.org>", "amy@x.org", "Tue, 03 Mar 2026 10:00:00 +0000", "a" * 50
        )
    )
    host.deliver(
        _msg("alpha", "Bob <bob@x.org>", "Cal <cal@x.org>", "Mon, 02 Mar 2026 10:00:00 +0000")
    )
    host.deliver(_msg("=?utf-8?q?Gamma?=", "amy@x.org", "bob@x.org", "not a date", "b" * 20))
    host.deliver(
        _msg("[list] Alpha", "BOB <bob@y.org>", "zed@x.org", "Wed, 04 Mar 2026 09:00:00 +0100")
    )
    return host


def _sort(host: Host, line: str) -> list[int]:
    c = host.connect()
    c.login()
    c.select()
    answer = c.cmd(line)
    assert lines(answer)[-1].endswith(b"OK SORT completed"), answer
    (only,) = untagged(answer)
    assert only.startswith(b"* SORT")
    return [int(n) for n in only.split()[2:]]


@pytest.mark.parametrize(
    ("criteria", "order"),
    [
        ("SUBJECT", [2, 4, 1, 3]),  # alpha, Alpha (ties in mailbox order), beta, Gamma
        ("REVERSE SUBJECT", [3, 1, 2, 4]),  # REVERSE leaves ties in mailbox order
        ("FROM", [3, 2, 4, 1]),  # amy, bob, BOB, zed: the mailbox, without case
        ("TO", [1, 3, 2, 4]),  # amy, bob, cal, zed
        ("CC", [1, 3, 2, 4]),
        ("ARRIVAL", [1, 2, 3, 4]),
        ("REVERSE ARRIVAL", [4, 3, 2, 1]),
        # message 3 has no readable Date: its internal date (delivery, now) stands in
        ("DATE", [2, 1, 4, 3]),
        ("SUBJECT REVERSE DATE", [4, 2, 1, 3]),
        ("FROM SUBJECT", [3, 2, 4, 1]),
    ],
)
def test_sort_keys(mailbox: Host, criteria: str, order: list[int]) -> None:
    assert _sort(mailbox, f"a SORT ({criteria}) UTF-8 ALL") == order


def test_size(mailbox: Host) -> None:
    sizes = {m.uid: m.size for m in mailbox.inbox().list_messages()}
    assert len(set(sizes.values())) == 4
    assert _sort(mailbox, "a SORT (SIZE) UTF-8 ALL") == sorted(sizes, key=sizes.__getitem__)
    assert _sort(mailbox, "b SORT (REVERSE SIZE) UTF-8 ALL") == sorted(
        sizes, key=sizes.__getitem__, reverse=True
    )


def test_search_part_and_uid_form(mailbox: Host) -> None:
    c = mailbox.connect()
    c.login()
    c.select()
    c.cmd("a STORE 1 +FLAGS (\\Deleted)")
    c.cmd("b EXPUNGE")
    # UIDs 2, 3, 4 are now messages 1, 2, 3
    assert c.cmd("c UID SORT (SUBJECT) US-ASCII NOT DELETED") == (
        b"* SORT 2 4 3\r\nc OK SORT completed\r\n"
    )
    assert c.cmd("d SORT (SUBJECT) UTF-8 FROM bob") == b"* SORT 1 3\r\nd OK SORT completed\r\n"
    assert c.cmd("e SORT (SUBJECT) UTF-8 SUBJECT nothing") == b"* SORT\r\ne OK SORT completed\r\n"
    assert c.cmd("f SORT (SUBJECT) X-NOSUCH ALL").startswith(b"f NO [BADCHARSET")
    for bad in (
        "SORT SUBJECT UTF-8 ALL",
        "SORT (SUBJECT) UTF-8",
        "SORT (NAME) UTF-8 ALL",
        "SORT () UTF-8 ALL",
    ):
        assert c.cmd(f"g {bad}").startswith(b"g BAD"), bad


def test_no_expunge_during_sort(host: Host) -> None:
    """SORT answers with sequence numbers: like SEARCH, it is never interrupted by an
    EXPUNGE (RFC 3501 §7.4.1); UID SORT may report it first."""
    for n in range(3):
        host.deliver(_msg(f"s{n}", "a@x.org", "b@x.org", "Mon, 02 Mar 2026 10:00:00 +0000"))
    a = host.connect()
    a.login()
    a.select()
    host.expunge_elsewhere(2)
    answer = a.cmd("c SORT (SUBJECT) UTF-8 ALL")
    assert b"EXPUNGE" not in answer
    assert b"* SORT 1 3" in answer  # message 2 is gone, the others keep their numbers
    assert b"* 2 EXPUNGE" in a.cmd("d UID SORT (SUBJECT) UTF-8 ALL")


def test_offered(host: Host) -> None:
    c = host.connect()
    c.login()
    assert b" SORT " in c.cmd("a CAPABILITY")


@pytest.mark.parametrize(
    "value",
    [
        b"Tue, 14 Nov 2023 22:14:20 +0000",
        b"14 Nov 2023 22:14 -0830",
        b"  Wed,  4 Mar 2026 09:00:00 +0100",
        b"Mon, 29 Feb 2027 10:00:00 +0000",  # no such day: not a date
        b"Mon, 02 Mar 2026 10:00:00 GMT",  # obsolete zone: the email package reads it
        b"Mon, 02 Mar 2026 10:00:00 +0000 (UTC)",
        b"2 Mar 2026",
        b"garbage",
    ],
)
def test_sent_date_reads_as_the_email_package_does(value: bytes) -> None:
    try:
        expected: float | None = email.utils.parsedate_to_datetime(value.decode()).timestamp()
    except (TypeError, ValueError, IndexError):
        expected = None
    assert sent_date(value) == expected


def test_a_second_sort_reads_no_header(mailbox: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _sort(mailbox, "a SORT (SUBJECT REVERSE DATE FROM) UTF-8 ALL")
    reads: list[list[int]] = []
    real = selected.header_keys

    def counted(folder: object, uids: list[int], keys: list[bytes]) -> object:
        reads.append(list(uids))
        return real(folder, uids, keys)  # type: ignore[arg-type]

    monkeypatch.setattr(selected, "header_keys", counted)
    assert _sort(mailbox, "b UID SORT (FROM SUBJECT) UTF-8 ALL") == [3, 2, 4, 1]
    assert _sort(mailbox, "c SORT (SUBJECT REVERSE DATE FROM) UTF-8 ALL") == first
    assert reads == []
    # a key not read before is read, for every message
    assert _sort(mailbox, "d SORT (TO) UTF-8 ALL") == [1, 3, 2, 4]
    assert reads == [[1, 2, 3, 4]]


def test_sort_without_the_cache() -> None:
    host = Host(IMAPConfig(structure_cache_mb=0))
    host.deliver(_msg("b", "x@x.org", "y@x.org", "Mon, 02 Mar 2026 10:00:00 +0000"))
    host.deliver(_msg("a", "x@x.org", "y@x.org", "Mon, 02 Mar 2026 10:00:00 +0000"))
    assert _sort(host, "a SORT (SUBJECT) UTF-8 ALL") == [2, 1]
    assert _sort(host, "a SORT (SUBJECT) UTF-8 ALL") == [2, 1]


def test_a_group_sorts_by_its_name(host: Host) -> None:
    """The first address as ENVELOPE lists it: a group's start marker carries the group's
    name (Dovecot sorts the same way); no From at all sorts first."""
    date = "Mon, 02 Mar 2026 10:00:00 +0000"
    host.deliver(_msg("a", "zed@x.org", "y@x.org", date))
    host.deliver(_msg("b", "undisclosed-recipients:;", "y@x.org", date))
    host.deliver(b"Subject: c\r\n\r\nno From\r\n")
    host.deliver(_msg("d", "amy@x.org", "y@x.org", date))
    assert _sort(host, "a SORT (FROM) UTF-8 ALL") == [3, 4, 2, 1]


def test_a_sort_again_or_of_fewer_messages_uses_the_kept_order(
    mailbox: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _sort(mailbox, "a SORT (REVERSE DATE SUBJECT) UTF-8 ALL")
    orderings: list[int] = []
    real = selected._sort_pairs

    def counted(found: list[tuple[int, int]], *args: object) -> object:
        orderings.append(len(found))
        return real(found, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(selected, "_sort_pairs", counted)
    assert _sort(mailbox, "b SORT (REVERSE DATE SUBJECT) UTF-8 ALL") == first
    assert _sort(mailbox, "c UID SORT (REVERSE DATE SUBJECT) UTF-8 ALL") == first
    assert _sort(mailbox, "d SORT (REVERSE DATE SUBJECT) UTF-8 FROM bob") == [
        n for n in first if n in (2, 4)
    ]
    assert orderings == []
    # a new message is not in the kept order: the folder is sorted again, and kept
    mailbox.deliver(_msg("new", "a@x.org", "b@x.org", "Wed, 04 Mar 2026 10:00:00 +0000"))
    # (message 3 has no readable Date: its delivery, today, is the latest)
    assert first[0] == 3
    assert _sort(mailbox, "e SORT (REVERSE DATE SUBJECT) UTF-8 ALL") == [3, 5, *first[1:]]
    assert _sort(mailbox, "f SORT (REVERSE DATE SUBJECT) UTF-8 ALL") == [3, 5, *first[1:]]
    assert orderings == [5]


_DATES = [f"Mon, 0{d} Mar 2026 10:00:00 +0000" for d in range(1, 4)]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(
                st.just("deliver"),
                st.sampled_from(["a", "Re: a", "b", "c"]),
                st.sampled_from(["x@x.org", "Y@x.org", "z@x.org"]),
                st.sampled_from(_DATES),
            ),
            st.tuples(st.just("expunge"), st.integers(1, 12)),
            st.tuples(st.just("seen"), st.integers(1, 12)),
            st.tuples(
                st.just("sort"),
                st.sampled_from(
                    ["SUBJECT", "REVERSE DATE", "FROM ARRIVAL", "SIZE REVERSE FROM", "DISPLAYFROM"]
                ),
                st.sampled_from(["ALL", "UNSEEN", "SEEN", "FROM x"]),
                st.booleans(),
            ),
        ),
        max_size=25,
    )
)
def test_kept_orders_answer_as_a_fresh_sort_does(ops: list[tuple[object, ...]]) -> None:
    kept, fresh = Host(), Host(IMAPConfig(structure_cache_mb=0))
    sessions = []
    for host in (kept, fresh):
        c = host.connect()
        c.login()
        c.select()
        sessions.append(c)
    for n, op in enumerate(ops):
        answers = []
        for host, c in zip((kept, fresh), sessions, strict=True):
            if op[0] == "deliver":
                host.deliver(_msg(str(op[1]), str(op[2]), "to@x.org", str(op[3]), "b" * n))
            elif op[0] in ("expunge", "seen"):
                exists = len(host.inbox().list_messages())
                if exists:
                    seq = int(op[1]) % exists + 1  # type: ignore[call-overload]
                    flag = "\\Deleted" if op[0] == "expunge" else "\\Seen"
                    c.cmd(f"s{n} STORE {seq} +FLAGS.SILENT ({flag})")
                    if op[0] == "expunge":
                        c.cmd(f"x{n} EXPUNGE")
            else:
                form = "UID SORT" if op[3] else "SORT"
                answers.append(untagged(c.cmd(f"t{n} {form} ({op[1]}) UTF-8 {op[2]}")))
        if answers:
            assert answers[0] == answers[1], op


@given(
    st.text(alphabet=st.sampled_from(list("reREfwdFWD:[]() \t\r\nab\u00a0\u2003x")), max_size=24)
)
def test_the_quick_base_subject_is_the_rfc_one(subject: str) -> None:
    """Subjects that cannot begin with a leader, blob or wrapper nor end with a trailer
    skip the RFC 5256 loop; for every subject the answer must be the loop's."""
    normal = sort_module._WSP.sub(" ", subject).strip()
    assert sort_module.base_subject_of(subject) == sort_module._take_off(normal)


def test_display_keys(host: Host) -> None:
    """RFC 5957 (SORT=DISPLAY), which Roundcube asks for when it sorts by sender: the first
    address's display name, decoded, or its mailbox@host; a group by its name."""
    for sender, to in [
        ('"Zoe" <a@x.org>', '"Yan" <y@x.org>'),
        ("b@x.org", "undisclosed-recipients:;"),
        ("=?utf-8?q?=C3=84nne?= <c@x.org>", "x@x.org"),
        ('"" <d@x.org>', "x@x.org"),
        ("Adam <z@x.org>", "x@x.org"),
        (None, "x@x.org"),
    ]:
        head = f"From: {sender}\r\n" if sender else ""
        host.deliver(f"{head}To: {to}\r\nSubject: s\r\n\r\nx\r\n".encode())
    # "", ADAM, B@X.ORG, D@X.ORG, ZOE, ÄNNE (non-ASCII after ASCII, as i;ascii-casemap has it)
    assert _sort(host, "a SORT (DISPLAYFROM) UTF-8 ALL") == [6, 5, 2, 4, 1, 3]
    assert _sort(host, "b SORT (REVERSE DISPLAYFROM) UTF-8 ALL") == [3, 1, 4, 2, 5, 6]
    assert _sort(host, "c SORT (FROM) UTF-8 ALL") == [6, 1, 2, 3, 4, 5]  # by mailbox
    assert _sort(host, "d SORT (DISPLAYTO) UTF-8 ALL") == [2, 3, 4, 5, 6, 1]
    c = host.connect()
    c.login()
    assert b" SORT=DISPLAY" in c.cmd("e CAPABILITY")
