"""Reading message files, and line-ending normalisation: every message is served with CRLF
line endings.

Maildir files written by other programs usually end lines with a bare LF.  RFC822.SIZE,
POP3 LIST and the bytes RETR/FETCH send must all agree, so sizes are counted on the CRLF
form and streams convert on the fly, carrying a trailing CR across chunk boundaries.
"""

from __future__ import annotations

import errno
import io
import os
from typing import BinaryIO, cast

CHUNK = 64 * 1024
#: Files up to this size are read with one ``read(2)`` when measured or served whole.
WHOLE_READ = 4 << 20


_PLAIN_READ = os.O_RDONLY | os.O_CLOEXEC
#: How message files are opened to be read.  O_NOATIME: reading mail is no reason to write
#: its inode, which a ``relatime`` mount does at the first read of every message (what
#: mounting the store ``noatime`` avoids for the whole tree).
_message_read = _PLAIN_READ | getattr(os, "O_NOATIME", 0)


def open_message(path: str) -> int:
    """A descriptor to read the message file ``path``, its access time left alone where
    the kernel allows (it refuses O_NOATIME on another user's files to a process without
    CAP_FOWNER: then, and from then on, files are opened plainly)."""
    global _message_read
    try:
        return os.open(path, _message_read)
    except PermissionError as e:
        if e.errno != errno.EPERM or _message_read == _PLAIN_READ:
            raise
        _message_read = _PLAIN_READ
        return os.open(path, _message_read)


def to_crlf(data: bytes) -> bytes:
    """Return ``data`` with every bare LF turned into CRLF (existing CRLFs are kept)."""
    if b"\r" not in data:
        # (a one-byte search is many times faster than looking for b"\r\n" in text
        # full of LFs: this is most of the cost of serving a file written with LFs;
        # without any LF, replace gives ``data`` itself back)
        return data.replace(b"\n", b"\r\n")
    if b"\n" not in data:
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def crlf_size(data: bytes) -> int:
    """Octets of :func:`to_crlf` of ``data`` without building it."""
    if b"\r" not in data:
        return len(data) + data.count(b"\n")
    return len(data) + data.count(b"\n") - data.count(b"\r\n")


def crlf_size_of(stream: BinaryIO) -> int:
    """:func:`crlf_size` of everything ``stream`` yields, read in bounded chunks."""
    total = 0
    prev_cr = False
    while chunk := stream.read(CHUNK):
        total += crlf_size(chunk)
        if prev_cr and chunk.startswith(b"\n"):
            total -= 1  # a CRLF split across two chunks was counted as a bare LF
        prev_cr = chunk.endswith(b"\r")
    return total


def crlf_size_fd(fd: int, size: int) -> int:
    """:func:`crlf_size` of the file open as ``fd`` (at offset 0) whose ``fstat`` size is
    ``size``: one ``read(2)`` for a message file (never changed in place), bounded chunks
    for a large one."""
    if size <= WHOLE_READ:
        data = os.read(fd, size + 1)
        if len(data) == size or not data:
            return len(data) + data.count(b"\n") - (data.count(b"\r\n") if b"\r" in data else 0)
        with os.fdopen(os.dup(fd), "rb") as rest:
            return crlf_size_of(cast(BinaryIO, _Prefixed(data, rest)))
    with os.fdopen(os.dup(fd), "rb") as stream:
        return crlf_size_of(stream)


def read_whole(fd: int) -> bytes:
    """All of the file open as ``fd`` (at offset 0), without asking its size first.

    Most messages are a few kilobytes: one ``read(2)`` of ``CHUNK`` octets that comes back
    short has met the end of the (regular) file.  A longer one is read again whole by
    :func:`read_fd`, which costs two system calls more and saves copying it."""
    data = os.read(fd, CHUNK)
    if len(data) < CHUNK:
        return data
    os.lseek(fd, 0, os.SEEK_SET)
    return read_fd(fd, os.fstat(fd).st_size)


def read_fd(fd: int, size: int) -> bytes:
    """All of the file open as ``fd`` (at offset 0), ``size`` being its ``fstat`` size:
    one ``read(2)`` when the size is right, more if the file turns out longer."""
    data = os.read(fd, size + 1) if size < WHOLE_READ else b""
    if len(data) == size:
        return data
    chunks = [data]
    while chunk := os.read(fd, max(CHUNK, size - len(data))):
        chunks.append(chunk)
    return b"".join(chunks)


#: :func:`read_header_fd` reads in steps of this size, and no more than the limit.
HEADER_CHUNK = 16 * 1024
HEADER_LIMIT = 1 << 20


def read_header_fd(fd: int) -> bytes:
    """The CRLF header block of the message file open at ``fd`` (LF or CRLF on disk),
    through its empty line, read in steps and never past :data:`HEADER_LIMIT`."""
    buf = b""
    while len(buf) < HEADER_LIMIT:
        more = os.read(fd, HEADER_CHUNK)
        if not more:
            break
        buf += more
        if header_end(buf):
            break
    return header_block(to_crlf(buf[:HEADER_LIMIT]))


def header_end(raw: bytes) -> bool:
    """True once raw (LF or CRLF) message text holds the empty line ending its header."""
    return b"\n\n" in raw or b"\n\r\n" in raw or raw.startswith((b"\n", b"\r\n"))


class _Prefixed:
    """A stream that yields ``head`` and then the rest of ``tail``."""

    def __init__(self, head: bytes, tail: BinaryIO) -> None:
        self._head = head
        self._tail = tail

    def read(self, size: int = -1) -> bytes:
        if self._head:
            out, self._head = self._head, b""
            return out
        return self._tail.read(size)


def header_block(data: bytes) -> bytes:
    """The header of a CRLF message, through the empty line (all of it if none)."""
    if data.startswith(b"\r\n"):
        return b"\r\n"
    end = data.find(b"\r\n\r\n")
    return data if end < 0 else data[: end + 4]


def read_header_block(stream: BinaryIO, chunk: int = 8192, limit: int = 1 << 20) -> bytes:
    """Read a CRLF stream up to the end of its header (at most ``limit`` octets)."""
    buf = b""
    while len(buf) < limit:
        more = stream.read(chunk)
        if not more:
            break
        start = max(0, len(buf) - 3)
        buf += more
        if buf.startswith(b"\r\n") or buf.find(b"\r\n\r\n", start) >= 0:
            break
    return header_block(buf)


class CRLFReader(io.RawIOBase):
    """A read-only stream of ``raw`` with bare LFs turned into CRLF."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._pending = b""
        self._cr_carry = False  # the previous raw chunk ended in CR

    def readable(self) -> bool:
        return True

    def _convert(self, chunk: bytes) -> bytes:
        if self._cr_carry and chunk.startswith(b"\n"):
            # the CR of this CRLF was already emitted with the previous chunk
            out = b"\n" + to_crlf(chunk[1:]) if len(chunk) > 1 else b"\n"
        else:
            out = to_crlf(chunk)
        self._cr_carry = chunk.endswith(b"\r")
        return out

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            out = self._pending + self._convert(self._raw.read())
            self._pending = b""
            return out
        while len(self._pending) < size:
            chunk = self._raw.read(max(CHUNK, size))
            if not chunk:
                break
            self._pending += self._convert(chunk)
        out, self._pending = self._pending[:size], self._pending[size:]
        return out

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()
