"""The command table: which handler answers which command in which state (RFC 3501 §3).

Handlers live in :mod:`~mailhost.imap.anystate`, :mod:`~mailhost.imap.login`,
:mod:`~mailhost.imap.authenticated` and :mod:`~mailhost.imap.selected`; each registers
itself here with :func:`command`.  A handler parses its arguments, does its work, writes
its untagged responses and returns the text of the tagged OK; it raises
:class:`~mailhost.imap.responses.No`, :class:`~mailhost.imap.responses.Bad`,
:class:`~mailhost.imap.args.ParseError` or a :mod:`mailhost.errors` condition otherwise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailhost.imap.args import Args

if TYPE_CHECKING:
    from mailhost.imap.protocol import IMAPSession

NOT_AUTHENTICATED = "not authenticated"
AUTHENTICATED = "authenticated"
SELECTED = "selected"
LOGOUT = "logout"

ANY = frozenset({NOT_AUTHENTICATED, AUTHENTICATED, SELECTED})
AUTH = frozenset({AUTHENTICATED, SELECTED})
SEL = frozenset({SELECTED})
PRE = frozenset({NOT_AUTHENTICATED})

#: RFC 3501 §7.4.1: no EXPUNGE while answering these (their UID forms may have them);
#: SORT and THREAD answer with sequence numbers as SEARCH does.
NO_EXPUNGE = frozenset({b"FETCH", b"STORE", b"SEARCH", b"SORT", b"THREAD"})
#: Commands that change nothing in the mailbox they leave selected (a FETCH that sets
#: ``\Seen`` marks the session stale on its own): after one, only a wake-up calls for a pull.
PURE = frozenset(
    {
        b"CAPABILITY",
        b"NOOP",
        b"CHECK",
        b"LOGOUT",
        b"ID",
        b"FETCH",
        b"SEARCH",
        b"SORT",
        b"THREAD",
        b"SELECT",
        b"EXAMINE",
    }
)
#: Commands that take the UID prefix (RFC 3501 §6.4.8, RFC 4315, RFC 6851).
UID_COMMANDS = frozenset(
    {b"FETCH", b"SEARCH", b"SORT", b"THREAD", b"STORE", b"COPY", b"MOVE", b"EXPUNGE"}
)

Handler = Callable[["IMAPSession", Args, bool], Awaitable[bytes]]


@dataclass(frozen=True)
class Entry:
    handler: Handler
    states: frozenset[str]


COMMANDS: dict[bytes, Entry] = {}


class Closed(Exception):
    """The session ended while a command was running."""


def command(name: str, states: frozenset[str]) -> Callable[[Handler], Handler]:
    """Register ``f`` as the handler of ``name`` in ``states``."""

    def register(f: Handler) -> Handler:
        COMMANDS[name.encode()] = Entry(f, states)
        return f

    return register
