"""The IDLE poll: the pull that stands in for lost wake-ups (RFC 2177; ``idle_poll_interval``).

Wake-ups are best effort; a session that IDLEs pulls ``Folder.changes_since`` every
``idle_poll_interval`` seconds without one, and at each keep-alive tick.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from imapkit import Client, Host

from mailhost import errors
from mailhost.config import ConfigValueError
from mailhost.imap.config import IMAPConfig
from mailhost.store.api import ChangeSet


def count_pulls(c: Client) -> list[int]:
    """Record the MODSEQ of every ``changes_since`` call the session makes from now on."""
    calls: list[int] = []
    folder = c.session.folder
    real: Callable[[int], ChangeSet] = folder.changes_since

    def changes_since(modseq: int) -> ChangeSet:
        calls.append(modseq)
        return real(modseq)

    folder.changes_since = changes_since
    return calls


def selected(host: Host, name: str = "INBOX") -> Client:
    c = host.connect()
    c.login()
    c.select(name)
    return c


def test_without_push_or_poll_only_the_keepalive_tick_pulls() -> None:
    host = Host(IMAPConfig(idle_poll_interval=0), push=False)
    c = selected(host)
    assert c.cmd("a IDLE") == b"+ idling\r\n"
    host.deliver()
    host.clock.advance(119)
    assert c.take() == b""
    host.clock.advance(1)
    assert c.take() == b"* 1 EXISTS\r\n* 1 RECENT\r\n* OK Still here\r\n"
    assert c.cmd("DONE") == b"a OK IDLE terminated\r\n"


def test_poll_interval_bounds_the_delay_without_push() -> None:
    host = Host(IMAPConfig(idle_poll_interval=10), push=False)
    c = selected(host)
    assert c.cmd("a IDLE") == b"+ idling\r\n"
    host.clock.advance(3)
    host.deliver()
    host.clock.advance(6.9)
    assert c.take() == b""
    host.clock.advance(0.1)
    assert c.take() == b"* 1 EXISTS\r\n* 1 RECENT\r\n"
    host.deliver()
    host.clock.advance(10)
    assert c.take() == b"* 2 EXISTS\r\n* 2 RECENT\r\n"


def test_a_wake_up_moves_the_next_poll_on() -> None:
    """With working wake-ups the poll adds no pulls while changes keep coming."""
    host = Host(IMAPConfig(idle_poll_interval=30), push=True)
    c = selected(host)
    calls = count_pulls(c)
    assert c.cmd("a IDLE") == b"+ idling\r\n"
    calls.clear()  # the pulls around the IDLE command itself
    host.clock.advance(20)
    host.deliver()  # woken: pulls at 20 s
    assert c.take() == b"* 1 EXISTS\r\n* 1 RECENT\r\n"
    assert len(calls) == 1
    host.clock.advance(10)  # 30 s: a pull began 10 s ago, so no poll
    assert len(calls) == 1
    host.clock.advance(20)  # 50 s: 30 s since that pull
    assert len(calls) == 2
    host.clock.advance(30)
    assert len(calls) == 3
    assert c.take() == b""


def test_no_polls_after_done_nor_without_a_mailbox() -> None:
    host = Host(IMAPConfig(idle_poll_interval=5), push=False)
    c = selected(host)
    calls = count_pulls(c)
    assert c.cmd("a IDLE") == b"+ idling\r\n"
    assert c.cmd("DONE") == b"a OK IDLE terminated\r\n"
    calls.clear()
    host.clock.advance(100)
    assert calls == []
    assert c.cmd("b UNSELECT") == b"b OK UNSELECT completed\r\n"
    assert c.cmd("c IDLE") == b"+ idling\r\n"
    host.clock.advance(100)
    assert c.take() == b""
    host.clock.advance(20)
    assert c.take() == b"* OK Still here\r\n"
    assert c.cmd("DONE") == b"c OK IDLE terminated\r\n"
    assert not c.session.failures


def test_a_failed_poll_is_retried_at_the_next() -> None:
    host = Host(IMAPConfig(idle_poll_interval=5), push=False)
    c = selected(host)
    folder = c.session.folder
    real = folder.changes_since
    trouble = [True]

    def changes_since(modseq: int) -> ChangeSet:
        if trouble[0]:
            raise errors.TemporaryFailure("disk busy")
        return real(modseq)

    assert c.cmd("a IDLE") == b"+ idling\r\n"
    folder.changes_since = changes_since
    host.deliver()
    host.clock.advance(5)
    assert c.take() == b""
    assert not c.closed
    trouble[0] = False
    host.clock.advance(5)
    assert c.take() == b"* 1 EXISTS\r\n* 1 RECENT\r\n"


def test_poll_finds_the_selected_mailbox_deleted() -> None:
    host = Host(IMAPConfig(idle_poll_interval=5), push=False)
    host.store.account("alice").create_folder("Box")
    c = selected(host, "Box")
    assert c.cmd("a IDLE") == b"+ idling\r\n"
    host.store.account("alice").delete_folder("Box")
    host.clock.advance(5)
    assert c.take() == b"* BYE Selected mailbox is gone\r\n"
    assert c.closed


@pytest.mark.parametrize("value", [-1.0, -0.001])
def test_negative_poll_interval_is_refused(value: float) -> None:
    with pytest.raises(ConfigValueError):
        IMAPConfig(idle_poll_interval=value)
    assert IMAPConfig(idle_poll_interval=0).idle_poll_interval == 0
