"""Integration tests: the real service on free loopback ports, real clients."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration_support import USERS

from mailhost.testing import MailHost

#: MAILHOST_TEST_PUSH=off runs the hosts without change wake-ups: sessions must then
#: converge on the pull alone (IDLE polls every 0.2 s).
PUSH = os.environ.get("MAILHOST_TEST_PUSH", "on")
if PUSH not in ("on", "off"):
    raise ValueError(f"MAILHOST_TEST_PUSH must be 'on' or 'off', not {PUSH!r}")


@pytest.fixture
def host(tmp_path: Path) -> Iterator[MailHost]:
    # extra_config lands in [imap], the test host's last table
    extra = "idle_poll_interval = 0.2\n" if PUSH == "off" else ""
    with MailHost(tmp_path / "host", users=USERS, extra_config=extra) as h:
        if PUSH == "off":
            assert h.service is not None
            h.service.changes.push_enabled = False
        yield h
