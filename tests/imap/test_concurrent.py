"""Several sessions on one mailbox (RFC 3501 §5.2, §7.4.1; RFC 2180).

Every test runs with the change hub's wake-ups on and off (the ``push`` fixture): the
sessions must converge on the pull alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from imapkit import MESSAGE, SPECIAL, Client, Host

from mailhost.store.api import FlagMode
from mailhost.store.maildir import MaildirStore


@pytest.fixture(params=["memory", "maildir"])
def host(request: pytest.FixtureRequest, tmp_path: Path, push: bool) -> Host:
    """Every test here runs against both stores: the view must not depend on either."""
    store = None
    if request.param == "maildir":
        store = MaildirStore(tmp_path / "%u", fsync=False, special_folders=SPECIAL)
    return Host(store=store, push=push)


def two(host: Host, n: int = 3) -> tuple[Client, Client]:
    for _ in range(n):
        host.deliver()
    a, b = host.connect(), host.connect()
    for c in (a, b):
        c.login()
        c.select()
    return a, b


def test_append_by_another_session(host: Host) -> None:
    a, b = two(host)
    out = b.send(b"x APPEND INBOX {5+}\r\nHello\r\n")
    # the appending session hears of it once (it is selected on INBOX too) and
    # is the one that gets \Recent for it
    assert out.startswith(b"* 4 EXISTS\r\n* 1 RECENT\r\nx OK [APPENDUID ")
    assert a.cmd("y NOOP") == b"* 4 EXISTS\r\n* 3 RECENT\r\ny OK NOOP completed\r\n"
    assert b.cmd("z NOOP") == b"z OK NOOP completed\r\n"


def test_updates_go_out_with_the_tagged_response(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command's untagged updates and its tagged line make one write (one segment)."""
    a, b = two(host)
    writes: list[bytes] = []
    real = a.proto.write
    monkeypatch.setattr(a.proto, "write", lambda d: (writes.append(d), real(d)))
    b.send(b"x APPEND INBOX {5+}\r\nHello\r\n")
    assert a.cmd("y NOOP") == b"* 4 EXISTS\r\n* 3 RECENT\r\ny OK NOOP completed\r\n"
    assert writes == [b"* 4 EXISTS\r\n* 3 RECENT\r\ny OK NOOP completed\r\n"]
    writes.clear()
    assert a.cmd("z LOGOUT") == b"* BYE Logging out\r\nz OK LOGOUT completed\r\n"
    assert writes == [b"* BYE Logging out\r\nz OK LOGOUT completed\r\n"]
    assert a.closed


def test_flag_change_reported_once(host: Host) -> None:
    a, b = two(host)
    assert b.cmd("x STORE 2 +FLAGS (\\Flagged)") == (
        b"* 2 FETCH (FLAGS (\\Flagged))\r\nx OK STORE completed\r\n"
    )
    assert b.cmd("x2 NOOP") == b"x2 OK NOOP completed\r\n"
    assert a.cmd("y NOOP") == (
        b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent))\r\ny OK NOOP completed\r\n"
    )
    assert a.cmd("z NOOP") == b"z OK NOOP completed\r\n"


def test_expunge_waits_for_a_command_that_allows_it(host: Host) -> None:
    a, b = two(host)
    b.cmd("x STORE 2 +FLAGS.SILENT (\\Deleted)")
    assert b.cmd("x2 EXPUNGE") == b"* 2 EXPUNGE\r\nx2 OK EXPUNGE completed\r\n"
    # FETCH: no EXPUNGE; message 2 keeps its number, what the session knows of it is
    # answered (RFC 2180 §4.1.1), its contents cannot be
    assert a.cmd("y FETCH 1:3 (UID FLAGS)") == (
        b"* 1 FETCH (UID 1 FLAGS (\\Recent))\r\n* 2 FETCH (UID 2 FLAGS (\\Recent))\r\n"
        b"* 3 FETCH (UID 3 FLAGS (\\Recent))\r\ny OK FETCH completed\r\n"
    )
    assert a.cmd("y1 FETCH 1:3 BODY.PEEK[HEADER.FIELDS (X)]") == (
        b"* 1 FETCH (BODY[HEADER.FIELDS (X)] {2}\r\n\r\n)\r\n"
        b"* 3 FETCH (BODY[HEADER.FIELDS (X)] {2}\r\n\r\n)\r\n"
        b"y1 NO [EXPUNGEISSUED] Some of the requested messages no longer exist\r\n"
    )
    assert a.cmd("y2 STORE 3 +FLAGS (\\Seen)") == (
        b"* 3 FETCH (FLAGS (\\Recent \\Seen))\r\ny2 OK STORE completed\r\n"
    )
    assert a.cmd("y3 SEARCH ALL") == b"* SEARCH 1 3\r\ny3 OK SEARCH completed\r\n"
    # UID commands may announce it
    assert a.cmd("y4 UID FETCH 3 UID") == (
        b"* 2 EXPUNGE\r\n* 2 FETCH (UID 3)\r\ny4 OK FETCH completed\r\n"
    )
    assert a.cmd("z NOOP") == b"z OK NOOP completed\r\n"


def test_a_listed_size_is_answered_after_an_expunge_elsewhere(host: Host) -> None:
    a, b = two(host)
    sizes = a.cmd("s FETCH 1:3 RFC822.SIZE")
    b.cmd("x STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.cmd("x2 EXPUNGE")
    out = a.cmd("y FETCH 2 (UID RFC822.SIZE INTERNALDATE)")
    size = sizes.split(b"\r\n")[1].split(b"RFC822.SIZE ")[1].rstrip(b")")
    assert out.startswith(b"* 2 FETCH (UID 2 RFC822.SIZE %s INTERNALDATE " % size)
    assert out.endswith(b"\r\ny OK FETCH completed\r\n")
    assert a.cmd("z NOOP") == b"* 2 EXPUNGE\r\nz OK NOOP completed\r\n"


def test_expunge_then_append_keeps_numbers_straight(host: Host) -> None:
    a, b = two(host)
    b.cmd("x STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.cmd("x2 EXPUNGE")
    host.deliver()
    # during FETCH the expunged message still counts: EXISTS 4, not 3
    out = a.cmd("y FETCH 3 UID")
    assert out == b"* 3 FETCH (UID 3)\r\n* 4 EXISTS\r\n* 4 RECENT\r\ny OK FETCH completed\r\n"
    assert a.cmd("z NOOP") == b"* 1 EXPUNGE\r\nz OK NOOP completed\r\n"
    assert a.cmd("w FETCH 3 UID") == b"* 3 FETCH (UID 4)\r\nw OK FETCH completed\r\n"


def test_changes_by_another_process(host: Host) -> None:
    a, _ = two(host)
    inbox = host.inbox()
    # as a POP3 QUIT or delivery would, straight through the store
    inbox.expunge([1])
    inbox.set_flags([3], ["\\Answered"], FlagMode.ADD)
    host.deliver(MESSAGE)
    assert a.cmd("y NOOP") == (
        b"* 1 EXPUNGE\r\n* 3 EXISTS\r\n* 3 RECENT\r\n"
        b"* 2 FETCH (UID 3 FLAGS (\\Answered \\Recent))\r\ny OK NOOP completed\r\n"
    )


def test_pull_alone_converges_at_a_command(host: Host) -> None:
    a, b = two(host)
    b.cmd("x STORE 1 +FLAGS (\\Seen)")
    assert a.cmd("y CHECK") == (
        b"* 1 FETCH (UID 1 FLAGS (\\Recent \\Seen))\r\ny OK CHECK completed\r\n"
    )


def test_idle_sees_append_at_once(host: Host) -> None:
    a, b = two(host)
    assert a.cmd("i IDLE") == b"+ idling\r\n"
    b.send(b"x APPEND INBOX {5+}\r\nHello\r\n")
    if host.push:
        # woken, the idling session pulls before the appending one: \Recent is its
        assert a.take() == b"* 4 EXISTS\r\n* 4 RECENT\r\n"
    else:
        # the appending session pulled at the end of APPEND and claimed \Recent
        assert a.take() == b""
        host.let_idle_see()
        assert a.take() == b"* 4 EXISTS\r\n* 3 RECENT\r\n"
    recent = b" \\Recent" if host.push else b""
    b.cmd("x2 STORE 4 +FLAGS (\\Deleted)")
    host.let_idle_see()
    assert a.take() == b"* 4 FETCH (UID 4 FLAGS (\\Deleted%s))\r\n" % recent
    b.cmd("x3 EXPUNGE")
    host.let_idle_see()
    assert a.take() == b"* 4 EXPUNGE\r\n"
    assert a.cmd("DONE") == b"i OK IDLE terminated\r\n"
    assert a.cmd("n NOOP") == b"n OK NOOP completed\r\n"


def test_idle_poll_is_the_only_source_without_push(host: Host) -> None:
    """Without wake-ups an IDLE client hears of a change at the next poll, not before."""
    a, _ = two(host)
    interval = host.factory.config.idle_poll_interval
    assert a.cmd("i IDLE") == b"+ idling\r\n"
    host.clock.advance(interval / 2)
    host.deliver()
    if host.push:
        assert a.take() == b"* 4 EXISTS\r\n* 4 RECENT\r\n"
    else:
        assert a.take() == b""
        host.clock.advance(interval / 2)
        assert a.take() == b"* 4 EXISTS\r\n* 4 RECENT\r\n"
    # and again at the poll after that
    host.inbox().set_flags([1], ["\\Seen"], FlagMode.ADD)
    host.let_idle_see()
    assert a.take() == b"* 1 FETCH (UID 1 FLAGS (\\Recent \\Seen))\r\n"
    assert a.cmd("DONE") == b"i OK IDLE terminated\r\n"


def test_three_sessions(host: Host) -> None:
    a, b = two(host)
    c = host.connect()
    c.login()
    c.select()
    a.cmd("1 STORE 1 +FLAGS.SILENT (\\Deleted)")
    a.cmd("2 EXPUNGE")
    b.send(b"3 APPEND INBOX {1+}\r\nX\r\n")
    c.cmd("4 STORE 2 FLAGS (\\Flagged)")
    assert a.cmd("5 NOOP") == (
        b"* 3 EXISTS\r\n* 2 RECENT\r\n* 1 FETCH (UID 2 FLAGS (\\Flagged \\Recent))\r\n"
        b"5 OK NOOP completed\r\n"
    )
    # B's APPEND already reported the expunge; C's STORE could not
    assert b.cmd("6 NOOP") == b"* 1 FETCH (UID 2 FLAGS (\\Flagged))\r\n6 OK NOOP completed\r\n"
    assert c.cmd("7 NOOP") == b"* 1 EXPUNGE\r\n7 OK NOOP completed\r\n"
    for s in (a, b, c):
        assert s.cmd("8 FETCH 1:* UID") == (
            b"* 1 FETCH (UID 2)\r\n* 2 FETCH (UID 3)\r\n* 3 FETCH (UID 4)\r\n"
            b"8 OK FETCH completed\r\n"
        )


def test_selected_folder_deleted_elsewhere(host: Host) -> None:
    host.store.account("alice").create_folder("Box")
    a = host.connect()
    a.login()
    a.select("Box")
    host.store.account("alice").delete_folder("Box")
    assert a.cmd("x NOOP") == b"* BYE Selected mailbox was deleted\r\n"
    assert a.closed


def test_search_and_fetch_do_not_swallow_flag_updates(host: Host) -> None:
    a, b = two(host)
    b.cmd("x STORE 1 +FLAGS (\\Flagged \\Seen)")
    assert a.cmd("y SEARCH FLAGGED") == (
        b"* SEARCH 1\r\n* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent \\Seen))\r\n"
        b"y OK SEARCH completed\r\n"
    )
    b.cmd("x2 STORE 2 +FLAGS (\\Seen)")
    assert a.cmd("z FETCH 2 BODY[]<0.4>") == (
        b"* 2 FETCH (BODY[]<0> {4}\r\nFrom)\r\n* 2 FETCH (UID 2 FLAGS (\\Recent \\Seen))\r\n"
        b"z OK FETCH completed\r\n"
    )


def test_fetch_everything_in_an_empty_mailbox(host: Host) -> None:
    a = host.connect()
    a.login()
    a.select()
    assert a.cmd("x FETCH 1:* FLAGS") == b"x OK FETCH completed\r\n"
    assert a.cmd("y FETCH 1 FLAGS") == b"y BAD Invalid message sequence number\r\n"


def test_new_keyword_from_another_session_updates_flags(host: Host) -> None:
    a, b = two(host)
    b.cmd("x STORE 1 +FLAGS.SILENT ($Label1)")
    assert a.cmd("y NOOP") == (
        b"* FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen $Label1)\r\n"
        b"* OK [PERMANENTFLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen $Label1 \\*)]"
        b" Flags permitted\r\n"
        b"* 1 FETCH (UID 1 FLAGS (\\Recent $Label1))\r\ny OK NOOP completed\r\n"
    )
