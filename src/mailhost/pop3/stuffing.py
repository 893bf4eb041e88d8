"""The multi-line body of RETR and TOP: dot-stuffing, TOP truncation, NUL workaround.

Every transform is a small stateful object fed the message in chunks of any size: the
result never depends on where the chunks were cut (RFC 1939 §3 byte-stuffing must work
across buffer boundaries, which the stock Twisted server got wrong).  Input is the store's
CRLF form; the transforms never change line endings, so the octets before stuffing are
exactly the size LIST reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

TERMINATOR = b".\r\n"


class Transform(Protocol):
    def feed(self, chunk: bytes) -> bytes:
        """Transform the next piece of the message."""

    @property
    def done(self) -> bool:
        """True once further input cannot change the output (TOP reached its limit)."""


#: Dots looked at one by one before :func:`stuff_lines` falls back to a full search.
_DOT_PROBES = 16


def _dot_after_lf(data: bytes) -> bool:
    """Whether ``b"\\n."`` occurs in ``data``.

    ``bytes.find`` of a one-octet needle is a ``memchr`` while two-octet needles use a
    much slower general search (about 1 ns per octet).  Most messages have few dots, so
    checking each dot's predecessor is far cheaper; prose with many dots soon falls back
    to the general search.
    """
    find = data.find
    i = find(b".", 1)
    for _ in range(_DOT_PROBES):
        if i < 0:
            return False
        if data[i - 1] == 0x0A:
            return True
        i = find(b".", i + 1)
    return i >= 0 and find(b"\n.", i - 1) >= 0


def stuff_lines(data: bytes, line_start: bool = True) -> bytes:
    """RFC 1939 §3 byte-stuffing of one piece: a ``.`` after LF gets another ``.``.

    ``line_start`` says whether ``data`` begins a line (the piece before ended with LF).
    Returns ``data`` itself when nothing needs stuffing (no copy).
    """
    if _dot_after_lf(data):
        data = data.replace(b"\n.", b"\n..")
    if line_start and data[:1] == b".":
        data = b"." + data
    return data


def render_message(data: bytes, outlook_no_nuls: bool = False) -> bytes:
    """The whole multi-line RETR body of a CRLF message read in one piece: stuffed and
    terminated, byte for byte what :class:`BodyWriter` produces from any chunking."""
    if outlook_no_nuls:
        data = data.replace(b"\0", b"\x80")
    body = stuff_lines(data)
    if not data or data.endswith(b"\r\n"):
        return body + TERMINATOR
    return body + b"\r\n" + TERMINATOR


class DotStuffer:
    """RFC 1939 §3: a line beginning with ``.`` gets one more ``.`` in front.

    Only the last octet of the previous chunk matters: a chunk continues a line unless
    that octet was LF.  ``finish`` returns the terminating ``.CRLF``, preceded by a CRLF
    when the message did not end with one (the added CRLF belongs to the termination, so
    the message's octet count is unchanged).
    """

    done = False

    def __init__(self) -> None:
        self._line_start = True
        self._last_two = b""

    def feed(self, chunk: bytes) -> bytes:
        if not chunk:
            return chunk
        out = stuff_lines(chunk, self._line_start)
        self._line_start = chunk[-1:] == b"\n"
        self._last_two = (self._last_two + chunk[-2:])[-2:]
        return out

    def finish(self) -> bytes:
        if self._last_two in (b"", b"\r\n"):
            return TERMINATOR
        return b"\r\n" + TERMINATOR


class NulToHighBit:
    """Dovecot's ``outlook-no-nuls``: NUL becomes 0x80, so sizes stay the same."""

    done = False

    def feed(self, chunk: bytes) -> bytes:
        return chunk.replace(b"\0", b"\x80")


class TopFilter:
    """RFC 1939 §7 TOP: the header, the blank line after it, then ``lines`` body lines.

    The body count starts after the header separator, so ``TOP n 0`` is the header and
    the blank line only.  A message without a separator is all header.  With
    ``add_eoh`` (Dovecot's ``oe-ns-eoh``) such a message gets an empty line appended.
    """

    def __init__(self, lines: int, add_eoh: bool = False) -> None:
        self._remaining = lines
        self._in_header = True
        self._line_start = True
        self._add_eoh = add_eoh
        self._line_len = 0  # octets of the current header line seen so far
        self._ended_cr = False
        self.done = False

    def feed(self, chunk: bytes) -> bytes:
        if self.done or not chunk:
            return b""
        pos = 0
        n = len(chunk)
        while pos < n:
            if self._in_header:
                nl = chunk.find(b"\n", pos)
                if nl < 0:
                    self._line_len += n - pos
                    self._line_start = False
                    self._ended_cr = chunk[-1:] == b"\r"
                    return chunk
                length = self._line_len + (nl - pos)
                # an empty line is LF alone or CRLF (the CR may end the previous chunk)
                blank = length == 0 or (
                    length == 1 and (chunk[nl - 1 : nl] == b"\r" if nl > pos else self._ended_cr)
                )
                self._line_len = 0
                self._ended_cr = False
                pos = nl + 1
                self._line_start = True
                if blank:
                    self._in_header = False
                    if self._remaining == 0:
                        self.done = True
                        return chunk[:pos]
                continue
            # body: count line ends
            need = self._remaining
            end = pos
            for _ in range(need):
                nl = chunk.find(b"\n", end)
                if nl < 0:
                    break
                end = nl + 1
                self._remaining -= 1
            else:
                if self._remaining == 0:
                    self.done = True
                    return chunk[:end]
            self._line_start = chunk[-1:] == b"\n"
            return chunk
        return chunk

    def finish(self) -> bytes:
        """What to add once the message ended before TOP's limit."""
        if self._in_header and self._add_eoh:
            return b"\r\n" if self._line_start else b"\r\n\r\n"
        return b""


def render(chunks: Iterable[bytes], transforms: list[Transform]) -> bytes:
    """Run ``chunks`` through ``transforms`` and a :class:`DotStuffer`, with termination.

    For messages read in one piece; streaming uses :class:`BodyWriter`.
    """
    writer = BodyWriter(transforms)
    out = [writer.feed(c) for c in chunks]
    out.append(writer.finish())
    return b"".join(out)


class BodyWriter:
    """Chain of optional transforms, then dot-stuffing; ``finish`` adds the terminator."""

    def __init__(self, transforms: list[Transform]) -> None:
        self._transforms = transforms
        self._stuffer = DotStuffer()

    @property
    def done(self) -> bool:
        return any(t.done for t in self._transforms)

    def feed(self, chunk: bytes) -> bytes:
        for t in self._transforms:
            chunk = t.feed(chunk)
        return self._stuffer.feed(chunk)

    def finish(self) -> bytes:
        tail = b""
        for t in self._transforms:
            fin = getattr(t, "finish", None)
            if fin is not None:
                tail += fin()
        return self._stuffer.feed(tail) + self._stuffer.finish()
