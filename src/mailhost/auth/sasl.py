"""SASL PLAIN (RFC 4616) and LOGIN exchanges, shared by POP3 AUTH and IMAP AUTHENTICATE.

Pure logic: the protocol reads a base64 line from the client (or an initial response),
feeds it here and writes back the challenge.  Cancelling with ``*`` (RFC 5034 §4,
RFC 3501 §6.2.2) is handled by the protocol, which knows its own syntax.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass


class SASLError(ValueError):
    """The client's response is malformed (bad base64, wrong PLAIN layout)."""


@dataclass(frozen=True, slots=True)
class Challenge:
    """Send ``+ <base64 of data>`` and feed the next client line."""

    data: bytes

    @property
    def encoded(self) -> bytes:
        return base64.b64encode(self.data)


@dataclass(frozen=True, slots=True)
class Credentials:
    """The exchange is complete: check these."""

    username: str
    password: str
    authzid: str = ""


Step = Challenge | Credentials


def decode_response(line: bytes) -> bytes:
    """Decode one base64 client response; ``=`` is an empty initial response (RFC 4959)."""
    line = line.strip()
    if line == b"=":
        return b""
    try:
        return base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError) as e:
        raise SASLError("invalid base64") from e


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SASLError("credentials are not UTF-8") from e


class Mechanism:
    name = ""

    def start(self, initial: bytes | None) -> Step:
        """Begin; ``initial`` is the decoded initial response if the client sent one."""
        raise NotImplementedError

    def feed(self, response: bytes) -> Step:
        """Take one decoded client response."""
        raise NotImplementedError


class Plain(Mechanism):
    """``[authzid] NUL authcid NUL passwd``."""

    name = "PLAIN"

    def start(self, initial: bytes | None) -> Step:
        return Challenge(b"") if initial is None else self.feed(initial)

    def feed(self, response: bytes) -> Step:
        parts = response.split(b"\0")
        if len(parts) != 3 or not parts[1]:
            raise SASLError("PLAIN response must be authzid NUL user NUL password")
        authzid, user, password = (_text(p) for p in parts)
        return Credentials(user, password, authzid)


class Login(Mechanism):
    """The obsolete LOGIN mechanism: two challenges, ``Username:`` and ``Password:``."""

    name = "LOGIN"

    def __init__(self) -> None:
        self._user: str | None = None

    def start(self, initial: bytes | None) -> Step:
        if initial is None:
            return Challenge(b"Username:")
        return self.feed(initial)

    def feed(self, response: bytes) -> Step:
        if self._user is None:
            self._user = _text(response)
            return Challenge(b"Password:")
        return Credentials(self._user, _text(response))


MECHANISMS: dict[str, type[Mechanism]] = {"PLAIN": Plain, "LOGIN": Login}


def mechanism(name: str) -> Mechanism | None:
    """A fresh exchange for ``name`` (case-insensitive), or None if unknown."""
    cls = MECHANISMS.get(name.upper())
    return cls() if cls else None
