"""Shared state of an IMAP listener: connection counts per address and per user."""

from __future__ import annotations

from collections import Counter


class Limits:
    """Counts live connections per IP and logged-in sessions per user (0 = unlimited)."""

    def __init__(self, per_ip: int, per_user: int) -> None:
        self.per_ip = per_ip
        self.per_user = per_user
        self.ips: Counter[str] = Counter()
        self.users: Counter[str] = Counter()

    def connect(self, ip: str) -> bool:
        if self.per_ip and self.ips[ip] >= self.per_ip:
            return False
        self.ips[ip] += 1
        return True

    def disconnect(self, ip: str) -> None:
        self.ips[ip] -= 1
        if self.ips[ip] <= 0:
            del self.ips[ip]

    def login(self, user: str) -> bool:
        if self.per_user and self.users[user] >= self.per_user:
            return False
        self.users[user] += 1
        return True

    def logout(self, user: str) -> None:
        self.users[user] -= 1
        if self.users[user] <= 0:
            del self.users[user]
