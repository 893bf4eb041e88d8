"""The command reader: bytes in, whole commands out (RFC 3501 §2.2, §4.3, §7.5; RFC 7888).

Sans-I/O: the connection calls :meth:`CommandReader.feed` with whatever arrived and pulls
events with :meth:`CommandReader.next_event` when it is ready for the next command, so
pipelined commands are answered one at a time, in order, and the result is the same
whether the bytes came one by one or in one burst.

A literal is data, never a command: a synchronising literal ``{n}`` is read only after
the server's ``+`` (the reader yields :class:`Continue` for that), and a
non-synchronising one ``{n+}`` (LITERAL+) is read at once.  Every buffer is bounded: a
line longer than ``max_line`` is skipped up to its end and answered ``BAD``; a literal
over its limit is refused without being kept - a synchronising one is simply never
invited (no ``+``), a non-synchronising one is read and thrown away - so the connection
stays in step with the client.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

_LITERAL_MARKER = re.compile(rb"\{(\d{1,20})(\+?)\}\r?$")
# RFC 3501 tag: ASTRING-CHAR except "+"; atom-specials are ( ) { SP CTL % * " \ ]
_TAG = re.compile(rb"^[\x21\x23-\x27\x2c-\x5b\x5d-\x7a\x7c\x7e]+$")


@dataclass(frozen=True, slots=True)
class Command:
    """One complete command: ``lines[i]`` is followed by ``literals[i]`` if it exists.

    The text of each line has its CRLF and its literal marker removed; ``rest`` is where
    the arguments start in ``lines[0]`` (after the tag, the name and one space).
    """

    tag: bytes
    name: bytes
    lines: tuple[bytes, ...]
    literals: tuple[bytes, ...]
    rest: int


@dataclass(frozen=True, slots=True)
class Continue:
    """Send a command continuation request (``+``), then pull again."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A command that cannot be read: answer it and pull again.

    ``reason`` is ``"line"`` (line too long), ``"literal"`` (a literal over the
    command's limit), ``"toobig"`` (an APPEND message over the size limit) or
    ``"syntax"`` (no valid tag or command name).  ``tag`` is None when none was read.
    """

    tag: bytes | None
    name: bytes
    reason: Literal["line", "literal", "toobig", "syntax"]


Event = Command | Continue | Rejected

#: ``(command name, literals read so far) -> most octets for the next literal``, or None
#: when the command takes only small literals (bounded by ``max_line`` in total).
BigLiteralLimit = Callable[[bytes, int], int | None]


def _no_big_literals(name: bytes, index: int) -> int | None:
    return None


class CommandReader:
    def __init__(self, max_line: int, big_literal_limit: BigLiteralLimit = _no_big_literals):
        self.max_line = max_line
        self._big_limit = big_literal_limit
        self._buf = bytearray()
        self._reset()

    def _reset(self) -> None:
        self._tag: bytes | None = None
        self._name = b""
        self._rest = 0
        self._lines: list[bytes] = []
        self._literals: list[bytes] = []
        self._size = 0
        self._literal: bytearray | None = None
        self._literal_want = 0
        self._discard = 0
        self._skip_line = False
        #: The command was answered already; its remaining lines and literals are dropped.
        self._dead = False

    # -- input -------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def buffered(self) -> int:
        """Octets received but not yet taken into a command."""
        return len(self._buf)

    def take_buffered(self) -> bytes:
        """Everything received but not yet read into a command, removed (after COMPRESS:
        it is compressed data, to be inflated before it is read)."""
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def clear(self) -> None:
        """Drop everything received so far (after STARTTLS: RFC 3501 §6.2.1, no injection)."""
        self._buf.clear()
        self._reset()

    def pending(self) -> Command | None:
        """The command read so far while a synchronising literal awaits its ``+``."""
        if self._literal is None or self._literal or not self._lines:
            return None
        return Command(
            self._tag or b"", self._name, tuple(self._lines), tuple(self._literals), self._rest
        )

    def refuse_literal(self) -> None:
        """Answer the pending command without inviting its synchronising literal.

        The client sends nothing more of it (no ``+`` came), so the next line is a new
        command.
        """
        self._reset()

    @property
    def in_command(self) -> bool:
        """True between the first line of a command and its end."""
        return bool(self._lines) or self._skip_line or self._discard > 0

    def next_line(self) -> bytes | None:
        """One raw line (IDLE's ``DONE``, an AUTHENTICATE response), CRLF removed.

        None until a whole line is buffered.  A line over ``max_line`` comes back
        truncated to ``max_line + 1`` octets (so the caller sees it is too long) once
        its end has been skipped.
        """
        while True:
            if self._skip_line:
                nl = self._buf.find(b"\n")
                if nl < 0:
                    self._buf.clear()
                    return None
                del self._buf[: nl + 1]
                self._skip_line = False
                return b"x" * (self.max_line + 1)
            nl = self._buf.find(b"\n", 0, self.max_line + 2)
            if nl < 0:
                if len(self._buf) > self.max_line + 1:
                    self._skip_line = True
                    continue
                return None
            line = bytes(self._buf[:nl])
            del self._buf[: nl + 1]
            return line[:-1] if line.endswith(b"\r") else line

    # -- commands ----------------------------------------------------------------------

    def next_event(self) -> Event | None:
        """The next event, or None until more bytes arrive."""
        while True:
            if self._discard:
                n = min(self._discard, len(self._buf))
                del self._buf[:n]
                self._discard -= n
                if self._discard:
                    return None
            if self._literal is not None:
                need = self._literal_want - len(self._literal)
                take = min(need, len(self._buf))
                self._literal += self._buf[:take]
                del self._buf[:take]
                if len(self._literal) < self._literal_want:
                    return None
                self._literals.append(bytes(self._literal))
                self._literal = None
            if self._skip_line:
                nl = self._buf.find(b"\n")
                if nl < 0:
                    self._buf.clear()
                    return None
                del self._buf[: nl + 1]
                self._skip_line = False
                continue
            before = len(self._buf)
            event = self._read_line()
            if event is not None:
                return event
            if len(self._buf) == before and not self._skip_line:
                return None  # no whole line yet (an over-long one is skipped first)

    def _read_line(self) -> Event | None:
        limit = self.max_line + 2
        nl = self._buf.find(b"\n", 0, limit)
        if nl < 0:
            if len(self._buf) <= self.max_line + 1:
                return None
            # an over-long line: answer now, skip up to its end, start afresh
            # look only at what any chunking of the input would have shown by now
            head = bytes(self._buf[: min(limit, 200)])
            tag = self._tag if self._lines else _tag_of(head)
            name = self._name if self._lines else _name_of(head)
            dead = self._dead
            self._reset()
            self._skip_line = True
            return None if dead else Rejected(tag, name, "line")
        line = bytes(self._buf[:nl])
        del self._buf[: nl + 1]
        if line.endswith(b"\r"):
            line = line[:-1]
        marker = _LITERAL_MARKER.search(line)
        text = line[: marker.start()] if marker else line
        if not self._lines:
            if not line.strip() and not self._dead:
                return None  # a stray empty line is not worth a BAD
            if not self._dead:
                sp = text.find(b" ")
                tag = text if sp < 0 else text[:sp]
                if not _TAG.match(tag):
                    return self._abandon(marker, None, b"", "syntax")
                sp2 = text.find(b" ", sp + 1) if sp >= 0 else -1
                name = b"" if sp < 0 else text[sp + 1 :] if sp2 < 0 else text[sp + 1 : sp2]
                if not name:
                    return self._abandon(marker, tag, b"", "syntax")
                self._tag, self._name = tag, name.upper()
                self._rest = len(text) if sp2 < 0 else sp2 + 1
        if self._dead:
            if marker and marker.group(2):
                self._discard = int(marker.group(1))
                return None
            self._reset()
            return None
        self._lines.append(text)
        self._size += len(line) + 2  # the marker and line end count too: no endless {0}
        if marker is None:
            command = Command(
                self._tag or b"",
                self._name,
                tuple(self._lines),
                tuple(self._literals),
                self._rest,
            )
            self._reset()
            return command
        size = int(marker.group(1))
        sync = not marker.group(2)
        big = self._big_limit(self._name, len(self._literals))
        if big is not None:
            allowed, reason = big, "toobig"
        else:
            allowed, reason = self.max_line - self._size, "literal"
            self._size += size
        if size > allowed:
            return self._abandon(marker, self._tag, self._name, reason)  # type: ignore[arg-type]
        self._literal = bytearray()
        self._literal_want = size
        return Continue() if sync else None

    def _abandon(
        self,
        marker: re.Match[bytes] | None,
        tag: bytes | None,
        name: bytes,
        reason: Literal["line", "literal", "toobig", "syntax"],
    ) -> Rejected:
        """Refuse the command now; drop what the client still sends of it."""
        self._reset()
        if marker is not None and marker.group(2):
            # a non-synchronising literal is on its way: read it, drop it, and drop
            # the rest of the command with it
            self._discard = int(marker.group(1))
            self._dead = True
        return Rejected(tag, name, reason)


def _tag_of(head: bytes) -> bytes | None:
    tag = head.split(b" ", 1)[0]
    return tag if _TAG.match(tag) else None


def _name_of(head: bytes) -> bytes:
    parts = head.split(b" ", 2)
    return parts[1].upper() if len(parts) > 1 else b""
