"""IMAP string syntax (RFC 3501 §4.3, §9): atoms, quoted strings, literals and NIL.

Every response builder goes through these, so a value with a quote, a CR/LF or 8-bit
bytes becomes a literal instead of breaking the client's parser.
"""

from __future__ import annotations

import re

_ATOM_SPECIALS = re.compile(rb'[(){ \x00-\x1f\x7f%*"\\\]]')
_QUOTABLE = re.compile(rb"^[\x01-\x09\x0b\x0c\x0e-\x7f]*$")
#: RFC 6855 §3 adds UTF-8 characters to ``QUOTED-CHAR`` for a client that enabled
#: UTF8=ACCEPT.
_QUOTABLE_UTF8 = re.compile(rb"^[\x01-\x09\x0b\x0c\x0e-\xff]*$")


def _bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def literal(value: str | bytes) -> bytes:
    """``{n}\\r\\n`` followed by the octets."""
    data = _bytes(value)
    return b"{%d}\r\n" % len(data) + data


def quoted(value: str | bytes) -> bytes:
    """A quoted string if the value allows one, else a literal."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    if len(data) > 1024 or not _QUOTABLE.match(data):
        return literal(data)
    if b"\\" in data or b'"' in data:
        data = data.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
    return b'"' + data + b'"'


def quoted_utf8(value: str) -> bytes:
    """:func:`quoted` for a client that enabled UTF8=ACCEPT: text quoted as UTF-8."""
    data = value.encode("utf-8")
    if len(data) > 1024 or not _QUOTABLE_UTF8.match(data):
        return literal(data)
    if b"\\" in data or b'"' in data:
        data = data.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
    return b'"' + data + b'"'


def string(value: str | bytes) -> bytes:
    """An IMAP ``string`` (quoted or literal)."""
    return quoted(value)


def nstring(value: str | bytes | None) -> bytes:
    """``NIL`` for None, else :func:`string`."""
    return b"NIL" if value is None else quoted(value)


def astring(value: str | bytes) -> bytes:
    """An atom when the value is a valid non-empty atom, else :func:`string`."""
    data = _bytes(value)
    if data and not _ATOM_SPECIALS.search(data) and data.upper() != b"NIL" and data.isascii():
        return data
    return quoted(data)


def plist(items: list[bytes]) -> bytes:
    """A parenthesised list of already-formatted items."""
    return b"(" + b" ".join(items) + b")"
