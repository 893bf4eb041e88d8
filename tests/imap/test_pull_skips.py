"""Trips to the store per command of a short session (while wake-ups are pushed, the pulls
before and after a command are skipped when nothing happened), and what still makes a
command pull."""

from __future__ import annotations

from typing import Any

import pytest
from imapkit import Client, Host, untagged

from mailhost.blocking import InlineBlocking

PULL = "_changes_and_recent"


class Counting(InlineBlocking):
    """Inline calls, counted by the name of the function run (and the MODSEQ each pull
    started from)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.pulled_from: list[int] = []

    def run(self, f: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(f, "__name__", "?")
        self.calls.append(name)
        if name == PULL:
            self.pulled_from.append(args[1])
        return super().run(f, *args, **kwargs)

    def take(self) -> list[str]:
        calls, self.calls = self.calls, []
        return calls


def _session(push: bool, select: bool = False) -> tuple[Host, Client, Counting]:
    blocking = Counting()
    h = Host(blocking=blocking, push=push)
    for i in range(5):
        h.deliver(b"Subject: %d\r\n\r\nbody\r\n" % i)
    c = h.connect()
    c.login()
    if select:
        c.select()
    return h, c, blocking


@pytest.mark.parametrize("push", [True, False], ids=["push", "pull-only"])
def test_trips_of_a_short_session(push: bool) -> None:
    _, c, blocking = _session(push)
    blocking.take()
    assert b"S1 OK" in c.cmd("S1 SELECT INBOX")
    # one call opens the folder, lists its flags and claims \Recent
    assert blocking.take() == ["_open_folder"] + ([] if push else [PULL])
    out = c.cmd("F1 FETCH 1,3,5 (BODY.PEEK[HEADER])")
    assert out.count(b" FETCH (") == 3
    # the headers of all three messages in one call
    assert blocking.take() == ([] if push else [PULL]) + ["load_parsed"] + ([] if push else [PULL])
    assert c.cmd("N1 NOOP") == b"N1 OK NOOP completed\r\n"
    # nothing woke the session: no trip at all
    assert blocking.take() == ([] if push else [PULL, PULL])
    assert b"O1 OK" in c.cmd("O1 LOGOUT")
    # the session ends: nothing to report any more
    assert blocking.take() == []


def test_wake_up_during_a_command_brings_the_pull_after_it() -> None:
    h, c, blocking = _session(True)
    c.select()
    blocking.take()
    # a delivery while FETCH reads (after its first pull) wakes the session
    folder: Any = c.session.folder  # type: ignore[union-attr]
    folder.read_header = _deliver_then(h, folder.read_header)
    out = c.cmd("F1 FETCH 1 (BODY.PEEK[HEADER])")
    assert b"* 6 EXISTS" in out
    assert blocking.take() == ["load_parsed", PULL]


def _deliver_then(h: Host, f: Any) -> Any:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        h.deliver(b"Subject: late\r\n\r\nbody\r\n")
        return f(*args, **kwargs)

    return wrapped


def test_a_command_that_changes_the_mailbox_pulls_after_it() -> None:
    h, c, blocking = _session(True)
    c.select()
    h.store.remove_listener(h.hub.notify)  # even with its wake-up lost, STORE is followed up
    blocking.take()
    out = c.cmd("T1 STORE 1 +FLAGS.SILENT (\\Flagged)")
    assert b"T1 OK" in out
    calls = blocking.take()
    assert calls == ["set_flags", PULL]


def test_fetch_setting_seen_pulls_after_it() -> None:
    _h, c, blocking = _session(True)
    c.select()
    blocking.take()
    out = c.cmd("F1 FETCH 2 (BODY[HEADER])")
    assert b"\\Seen" in out
    assert blocking.take()[-1] == PULL


def test_change_by_another_session_is_reported_without_a_pull_after() -> None:
    h, a, blocking = _session(True)
    a.select()
    b = h.connect()
    b.login()
    b.select()
    b.cmd("T1 STORE 1 +FLAGS (\\Answered)")
    blocking.take()
    out = a.cmd("N1 NOOP")
    assert b"* 1 FETCH (UID 1 FLAGS (\\Answered \\Recent))" in untagged(out)
    assert blocking.take() == [PULL]  # the wake-up came before the NOOP: its first pull saw it


def test_a_command_pulls_anyway_once_the_last_pull_is_old() -> None:
    from mailhost.imap.protocol import LOOK_AFTER

    h, c, blocking = _session(True)
    c.select()
    h.store.remove_listener(h.hub.notify)  # a wake-up lost
    h.deliver(b"Subject: unseen by the hub\r\n\r\nbody\r\n")
    blocking.take()
    assert c.cmd("N1 NOOP") == b"N1 OK NOOP completed\r\n"
    assert blocking.take() == []
    h.clock.advance(LOOK_AFTER)
    assert c.cmd("N2 NOOP") == b"* 6 EXISTS\r\n* 6 RECENT\r\nN2 OK NOOP completed\r\n"
    assert blocking.take() == [PULL]


@pytest.mark.parametrize("how", ["delete", "rename"])
def test_a_folder_deleted_or_renamed_by_another_session_wakes_this_one(
    how: str, tmp_path: Any
) -> None:
    from mailhost.store.maildir import MaildirStore

    h = Host(store=MaildirStore(tmp_path / "%u", fsync=False), push=True)
    a = h.connect()
    a.login()
    assert b"C1 OK" in a.cmd("C1 CREATE Work")
    a.select("Work")
    assert not a.session.stale
    b = h.connect()
    b.login()
    command = "DELETE Work" if how == "delete" else "RENAME Work Play"
    assert b"D1 OK" in b.cmd(f"D1 {command}")
    assert a.session.stale  # woken: its next command looks
    out = a.cmd("N1 NOOP")
    assert out.startswith(b"* BYE "), out
    assert a.closed


def test_a_change_whose_wake_up_is_on_its_way_is_seen() -> None:
    """The store stamps the folder in the thread that changes it: a command that reaches
    the session before the wake-up (still queued for the reactor) pulls anyway."""
    h, c, blocking = _session(True)
    queued: list[Any] = []

    class Later:
        def callFromThread(self, f: Any, *args: Any) -> None:
            queued.append((f, args))

    assert b"S1 OK" in c.cmd("S1 SELECT INBOX")
    h.hub._reactor = Later()  # type: ignore[assignment]
    blocking.take()
    h.deliver(b"Subject: late\r\n\r\nbody\r\n")
    assert queued, "the wake-up waits for the reactor"
    assert c.cmd("N1 NOOP") == b"* 6 EXISTS\r\n* 6 RECENT\r\nN1 OK NOOP completed\r\n"
    assert blocking.take() == [PULL]
    # the late wake-up then changes nothing
    for f, args in queued:
        f(*args)
    assert c.cmd("N2 NOOP") == b"N2 OK NOOP completed\r\n"


def test_a_store_on_a_current_view_pulls_from_its_own_modseq() -> None:
    _h, c, blocking = _session(True, select=True)
    before = c.session.view.modseq  # type: ignore[union-attr]
    out = c.cmd("T1 STORE 1:3 +FLAGS (\\Flagged)")
    assert out.count(b" FETCH (FLAGS") == 3
    assert blocking.pulled_from == [before + 1]  # not the three changes again
    assert c.session.view.modseq == before + 1  # type: ignore[union-attr]


def test_a_store_after_an_unseen_change_still_reports_it() -> None:
    h, a, blocking = _session(True, select=True)
    h.store.remove_listener(h.hub.notify)  # a's wake-up is lost
    b = h.connect()
    b.login()
    b.select()
    b.cmd("B1 STORE 2 +FLAGS (\\Answered)")
    before = a.session.view.modseq  # type: ignore[union-attr]
    blocking.pulled_from.clear()
    out = a.cmd("T1 STORE 1 +FLAGS (\\Flagged)")
    assert b"* 2 FETCH (UID 2 FLAGS (\\Answered \\Recent))" in out
    assert blocking.pulled_from == [before]


def test_a_store_reports_a_delivery_made_just_after_it() -> None:
    h, c, _blocking = _session(True, select=True)
    folder: Any = c.session.folder  # type: ignore[union-attr]
    store = folder.set_flags

    def store_then_deliver(*args: Any) -> Any:
        changed = store(*args)
        h.deliver(b"Subject: late\r\n\r\nbody\r\n")
        return changed

    folder.set_flags = store_then_deliver
    out = c.cmd("T1 STORE 1 +FLAGS (\\Flagged)")
    assert b"* 6 EXISTS" in out and out.endswith(b"T1 OK STORE completed\r\n")
