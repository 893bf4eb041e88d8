"""Test helpers: CRLF messages from LF source, and a strict reader of IMAP data items."""

from __future__ import annotations

import re
from email.message import Message
from email.mime.multipart import MIMEMultipart

_ATOM = re.compile(rb"[^(){ \x00-\x1f\x7f%*\"\\\]]+")

Item = bytes | None | int | list["Item"]


def read(data: bytes) -> Item:
    """Parse one IMAP data item (list, string, literal, NIL or number); reject trailing octets."""
    item, pos = _item(data, 0)
    assert pos == len(data), f"trailing data at {pos}: {data[pos : pos + 20]!r}"
    return item


def _item(data: bytes, pos: int) -> tuple[Item, int]:
    c = data[pos : pos + 1]
    if c == b"(":
        items: list[Item] = []
        pos += 1
        while data[pos : pos + 1] != b")":
            if items and data[pos : pos + 1] == b" ":
                pos += 1
            item, pos = _item(data, pos)
            items.append(item)
        return items, pos + 1
    if c == b'"':
        out = bytearray()
        pos += 1
        while data[pos : pos + 1] != b'"':
            ch = data[pos : pos + 1]
            assert ch not in (b"", b"\r", b"\n"), "bad quoted string"
            if ch == b"\\":
                pos += 1
                assert data[pos : pos + 1] in (b"\\", b'"')
            out += data[pos : pos + 1]
            pos += 1
        return bytes(out), pos + 1
    if c == b"{":
        m = re.compile(rb"\{(\d+)\}\r\n").match(data, pos)
        assert m is not None, "bad literal"
        n = int(m.group(1))
        end = m.end() + n
        assert end <= len(data)
        return data[m.end() : end], end
    m = _ATOM.match(data, pos)
    assert m is not None, f"bad item at {pos}: {data[pos : pos + 20]!r}"
    atom = m.group()
    if atom == b"NIL":
        return None, m.end()
    assert atom.isdigit(), f"unexpected atom {atom!r}"
    return int(atom), m.end()


def crlf(text: str) -> bytes:
    """A message written with LF in the test source, as the store serves it (CRLF)."""
    return text.replace("\n", "\r\n").encode("utf-8")


_LITERAL = re.compile(rb"\{(\d+)\}\r\n")


def imaplib_form(line: bytes) -> list[bytes | tuple[bytes, bytes]]:
    """A response line split the way imaplib hands it to imapclient (literals as tuples)."""
    out: list[bytes | tuple[bytes, bytes]] = []
    pos = 0
    while (m := _LITERAL.search(line, pos)) is not None:
        end = m.end() + int(m.group(1))
        out.append((line[pos : m.start()] + b"{%s}" % m.group(1), line[m.end() : end]))
        pos = end
    out.append(line[pos:])
    return out


def named(part: Message, name: str | None) -> Message:
    """``part`` as an attachment called ``name`` (unchanged for None)."""
    if name is not None:
        part.add_header("Content-Disposition", "attachment", filename=name)
    return part


def multipart(sub: str, parts: list[Message]) -> Message:
    """A multipart/``sub`` of ``parts``."""
    msg = MIMEMultipart(sub)
    for p in parts:
        msg.attach(p)
    return msg
