"""Integration tests: the real service on free loopback ports, real clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mailhost.testing import MailHost

USERS = {"alice": "alice-secret", "bob": "bob-secret"}


@pytest.fixture
def host(tmp_path: Path) -> Iterator[MailHost]:
    with MailHost(tmp_path / "host", users=USERS) as h:
        yield h


def message(n: int, body: str = "") -> bytes:
    return (
        f"From: sender{n}@example.org\r\nTo: alice@example.org\r\n"
        f"Subject: message {n}\r\nMessage-ID: <m{n}@example.org>\r\n\r\n"
        f"{body or f'This is message number {n}.'}\r\n"
    ).encode()
