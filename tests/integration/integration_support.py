"""Shared data for the integration tests."""

from __future__ import annotations

USERS = {"alice": "alice-secret", "bob": "bob-secret"}


def message(n: int, body: str = "") -> bytes:
    return (
        f"From: sender{n}@example.org\r\nTo: alice@example.org\r\n"
        f"Subject: message {n}\r\nMessage-ID: <m{n}@example.org>\r\n\r\n"
        f"{body or f'This is message number {n}.'}\r\n"
    ).encode()
