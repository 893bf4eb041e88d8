"""The greeting gate over real sockets: a busy host greets newcomers when a talker is done."""

from __future__ import annotations

import imaplib
import poplib
import socket
import time
from pathlib import Path

import pytest
from integration_support import USERS, RawIMAP

from mailhost.admission import QUIET_AFTER
from mailhost.config import load_config
from mailhost.testing import MailHost


def test_pop3_greeting_waits_for_a_talking_imap_session_then_serves(tmp_path: Path) -> None:
    host = MailHost(tmp_path / "host", users=USERS)
    text = host.config_path.read_text(encoding="utf-8")
    host.config_path.write_text(
        text.replace(
            "threads = 4\n", "threads = 4\nactive_sessions = 1\ngreeting_wait_max = 30.0\n"
        ),
        encoding="utf-8",
    )
    host.config = load_config(host.config_path)
    with host:
        talker = RawIMAP(host, user="alice")
        waiting = socket.create_connection((host.host, host.pop3_port), timeout=10)
        # the IMAP session keeps talking; the POP3 connection gets no greeting meanwhile
        longest_gap, last = 0.0, time.monotonic()
        until = last + 4 * QUIET_AFTER
        while time.monotonic() < until:
            talker.ok("NOOP")
            now = time.monotonic()
            longest_gap, last = max(longest_gap, now - last), now
        if longest_gap >= QUIET_AFTER / 2:
            pytest.skip(f"this machine stalled {longest_gap:.2f}s between two NOOPs")
        waiting.settimeout(0.0)
        with pytest.raises(BlockingIOError):
            waiting.recv(100)
        talker.ok("LOGOUT")
        talker.close()
        waiting.settimeout(10)
        assert waiting.recv(100).startswith(b"+OK ")
        waiting.close()
        # and the host goes on serving both protocols normally
        pop = poplib.POP3(host.host, host.pop3_port, timeout=10)
        pop.user("alice")
        pop.pass_(USERS["alice"])
        pop.quit()
        imap = imaplib.IMAP4(host.host, host.imap_port, timeout=10)
        imap.login("alice", USERS["alice"])
        imap.logout()
