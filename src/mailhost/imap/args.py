"""A cursor over one command's arguments: the RFC 3501 §9 lexical rules.

The grammar of each command (see :mod:`mailhost.imap.commands`) reads its arguments
through :class:`Args`, which treats a literal exactly like a quoted string wherever the
ABNF allows a ``string`` and nowhere else.
"""

from __future__ import annotations

import re

from mailhost.imap.parser import Command

# ATOM-CHAR: any CHAR except atom-specials ( ) { SP CTL % * " \ ]
_ATOM = re.compile(rb"[^(){ \x00-\x1f\x7f-\xff%*\"\\\]]+")
# ASTRING-CHAR adds "]"
_ASTRING = re.compile(rb"[^(){ \x00-\x1f\x7f-\xff%*\"\\]+")
# list-mailbox: ATOM-CHAR / "%" / "*" / "]"
_LIST_CHARS = re.compile(rb"[^(){ \x00-\x1f\x7f-\xff\"\\]+")
_NUMBER = re.compile(rb"[0-9]+")


class ParseError(ValueError):
    """The arguments do not follow the command's grammar: answered ``BAD``."""


class Args:
    def __init__(self, command: Command, utf8: bool = False) -> None:
        self._lines = command.lines
        self._literals = command.literals
        self._i = 0
        self._pos = command.rest
        #: The client enabled UTF8=ACCEPT (RFC 6855): mailbox names are UTF-8, not
        #: modified UTF-7.
        self.utf8 = utf8

    @property
    def _line(self) -> bytes:
        return self._lines[self._i]

    def at_literal(self) -> bool:
        return self._pos >= len(self._line) and self._i < len(self._literals)

    def at_end(self) -> bool:
        return self._pos >= len(self._line) and self._i >= len(self._literals)

    def peek(self) -> bytes:
        """The next octet, or ``b""`` at the end of the line or before a literal."""
        return self._line[self._pos : self._pos + 1]

    def maybe(self, token: bytes) -> bool:
        """Take ``token`` (case-insensitive) if it comes next."""
        end = self._pos + len(token)
        if self._line[self._pos : end].upper() == token.upper():
            self._pos = end
            return True
        return False

    def expect(self, token: bytes) -> None:
        if not self.maybe(token):
            raise ParseError(f"expected {token.decode()!r}")

    def sp(self) -> None:
        self.expect(b" ")

    def end(self) -> None:
        if not self.at_end():
            raise ParseError("unexpected extra arguments")

    def _match(self, pattern: re.Pattern[bytes], what: str) -> bytes:
        m = pattern.match(self._line, self._pos)
        if not m:
            raise ParseError(f"expected {what}")
        self._pos = m.end()
        return m.group()

    def atom(self) -> bytes:
        return self._match(_ATOM, "an atom")

    def number(self) -> int:
        digits = self._match(_NUMBER, "a number")
        if len(digits) > 10 or int(digits) > 0xFFFFFFFF:
            raise ParseError("number out of range")
        return int(digits)

    def mod_sequence(self) -> int:
        """``mod-sequence-valzer`` (RFC 7162 §7): 0 to 2^63 - 1."""
        digits = self._match(_NUMBER, "a mod-sequence value")
        if len(digits) > 19 or int(digits) > 0x7FFFFFFFFFFFFFFF:
            raise ParseError("mod-sequence value out of range")
        return int(digits)

    def nz_number(self) -> int:
        n = self.number()
        if n == 0:
            raise ParseError("expected a non-zero number")
        return n

    def literal(self) -> bytes:
        if not self.at_literal():
            raise ParseError("expected a literal")
        data = self._literals[self._i]
        self._i += 1
        self._pos = 0
        return data

    def quoted(self) -> bytes:
        self.expect(b'"')
        out = bytearray()
        line = self._line
        while True:
            if self._pos >= len(line):
                raise ParseError("unterminated quoted string")
            c = line[self._pos]
            self._pos += 1
            if c == 0x22:
                return bytes(out)
            if c == 0x5C:
                if self._pos >= len(line) or line[self._pos] not in b'"\\':
                    raise ParseError("bad escape in quoted string")
                c = line[self._pos]
                self._pos += 1
            elif c in (0, 13, 10):
                raise ParseError("bad character in quoted string")
            out.append(c)

    def string(self) -> bytes:
        if self.at_literal():
            return self.literal()
        if self.peek() == b'"':
            return self.quoted()
        raise ParseError("expected a string")

    def astring(self) -> bytes:
        if self.at_literal() or self.peek() == b'"':
            return self.string()
        return self._match(_ASTRING, "an atom or string")

    def list_mailbox(self) -> bytes:
        """LIST/LSUB pattern: a string or atom characters with ``%`` and ``*``."""
        if self.at_literal() or self.peek() == b'"':
            return self.string()
        return self._match(_LIST_CHARS, "a mailbox pattern")

    def charset_string(self) -> bytes:
        """An astring, possibly with 8-bit octets (lenient for SEARCH with CHARSET UTF-8)."""
        if self.at_literal() or self.peek() == b'"':
            return self.string()
        m = re.compile(rb"[^(){ \x00-\x1f\x7f%*\"\\]+").match(self._line, self._pos)
        if not m:
            raise ParseError("expected a string")
        self._pos = m.end()
        return m.group()
