"""Integration tests: the real service on free loopback ports, real clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from integration_support import USERS

from mailhost.testing import MailHost


@pytest.fixture
def host(tmp_path: Path) -> Iterator[MailHost]:
    with MailHost(tmp_path / "host", users=USERS) as h:
        yield h
