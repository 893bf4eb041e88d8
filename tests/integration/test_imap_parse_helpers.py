"""ENVELOPE and BODYSTRUCTURE built by the parse helper processes, over sockets: a host
with helpers answers a client's message list byte for byte as a host without them,
for mail it stored and for files another program wrote, and goes on answering when a
helper dies."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration_support import USERS, imap_login, wait_until

from mailhost.imap import parse_helper
from mailhost.testing import MailHost

MULTIPART = (
    "From: =?utf-8?q?J=C3=BCrgen?= <j{n}@example.org>\r\n"
    "To: a@example.org, (comment) b@example.org\r\n"
    "Subject: parts {n}\r\nMessage-ID: <p{n}@example.org>\r\n"
    'Content-Type: multipart/mixed; boundary="b{n}"\r\n\r\n'
    "--b{n}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello {n}\r\n"
    "--b{n}\r\nContent-Type: message/rfc822\r\n\r\n"
    "Subject: inner\r\nFrom: x@y\r\n\r\ninner body\r\n"
    "--b{n}--\r\n"
)
PLAIN = (
    'From: "Sender {n}" <s{n}@example.org>\r\nTo: alice@example.org\r\n'
    "Subject: plain {n}\r\nDate: Tue, 14 Nov 2023 22:14:20 +0000\r\n\r\nbody {n}\r\n"
)
COUNT = 300


@pytest.fixture(autouse=True)
def one_helper_on_any_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hosts here get their helper even where the tests run on one core (where the
    service would start none: see test_parse_helper)."""
    monkeypatch.setattr(parse_helper, "helpers_wanted", lambda configured: configured)


ITEMS = "(UID ENVELOPE BODYSTRUCTURE BODY)"


def _message(n: int) -> bytes:
    return (MULTIPART if n % 3 == 0 else PLAIN).format(n=n).encode()


def _fill(host: MailHost) -> None:
    for n in range(COUNT):
        host.deliver("alice", _message(n))
    # files another program wrote: LF line ends, no size in the name
    new = Path(host.directory, "mail", "alice", "new")
    for n in range(COUNT, COUNT + 40):
        (new / f"1700000000.M{n}P1.other").write_bytes(_message(n).replace(b"\r\n", b"\n"))


def _message_list(host: MailHost, command: str = "FETCH", ranges: str = "1:*") -> list[bytes]:
    imap = imap_login(host)
    imap.select("INBOX", readonly=True)
    typ, data = imap._simple_command(command, ranges, ITEMS)
    assert typ == "OK", data
    _typ, lines = imap._untagged_response(typ, data, "FETCH")
    imap.logout()
    return [line if isinstance(line, bytes) else b"".join(line) for line in lines]


@pytest.fixture
def without_helpers(tmp_path: Path) -> Iterator[MailHost]:
    with MailHost(tmp_path / "plain", users=USERS, extra_config="parse_processes = 0\n") as h:
        assert h.service is not None and h.service.parse_helpers is None
        yield h


def _helpers_ready(host: MailHost) -> None:
    assert host.service is not None and host.service.parse_helpers is not None
    helpers = host.service.parse_helpers
    wait_until(lambda: helpers.ready() == 1, timeout=20)


def test_helpers_answer_as_the_host_does(host: MailHost, without_helpers: MailHost) -> None:
    _fill(host)
    _fill(without_helpers)
    _helpers_ready(host)
    assert host.service is not None
    helpers = host.service.parse_helpers
    expected = _message_list(without_helpers)
    assert len(expected) == COUNT + 40
    got = _message_list(host)
    assert got == expected
    # the comparison means something only if helpers built some of it
    assert helpers.messages_built >= COUNT // 2
    # and again from the cache, and for UID FETCH of a range
    assert _message_list(host) == expected
    assert _message_list(host, "UID", "FETCH 1:*") == _message_list(
        without_helpers, "UID", "FETCH 1:*"
    )


def test_a_helper_killed_between_commands_costs_no_answer(
    host: MailHost, without_helpers: MailHost
) -> None:
    _fill(host)
    _fill(without_helpers)
    _helpers_ready(host)
    assert host.service is not None
    helpers = host.service.parse_helpers
    (pid,) = helpers.pids
    os.kill(pid, signal.SIGKILL)
    assert _message_list(host) == _message_list(without_helpers)
    # the host stays up and serves other clients
    imap = imap_login(host)
    assert imap.select("INBOX")[0] == "OK"
    imap.logout()


def test_the_helpers_end_with_the_host(tmp_path: Path) -> None:
    host = MailHost(tmp_path / "h", users=USERS).start()
    assert host.service is not None
    pids = host.service.parse_helpers.pids
    assert len(pids) == 1
    host.stop()
    for pid in pids:
        with pytest.raises(ChildProcessError):  # ended and reaped
            os.waitpid(pid, os.WNOHANG)


def test_no_helper_without_a_structure_cache(tmp_path: Path) -> None:
    """Helpers hand their answers over through the cache: without one they would idle."""
    with MailHost(tmp_path / "h", users=USERS, extra_config="structure_cache_mb = 0\n") as host:
        assert host.service is not None and host.service.parse_helpers is None
