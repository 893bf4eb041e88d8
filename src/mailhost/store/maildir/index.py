"""``mailhost-index``: a folder's journal of MODSEQs, sizes, dates and names.

The dovecot-uidlist says which UID each file has; this file holds what IMAP needs
besides (RFC 7162 MODSEQs, expunge markers, the ``\\Recent`` floor, idempotency keys)
and caches what a listing needs (CRLF size, INTERNALDATE, current file name) so opening
a folder reads one file and never the messages.

It is an append-only journal of text lines, compacted (rewritten atomically) when it grows
past twice the live records.  A torn last line (writer killed) is cut off by the next
writer.  Records::

    I 1 V<uidvalidity> G<guid>                     header (first line)
    A <uid> <modseq> <append modseq> <crlf size> <mtime ns> <name>
    S <uid> <crlf size> <mtime ns>                  sizes of an A with "- -" learnt
    F <uid> <modseq> <name>                         flags/name changed
    X <uid> <modseq>                                expunged
    N <uidnext>    H <highestmodseq>    T <oldest modseq with full history>
    R <recent floor>    K <uid> <idempotency key>
    U <inode> <size>                                dovecot-uidlist this reflects
    D <new/ mtime ns> <cur/ mtime ns> <scan start ns>

``<name>`` is ``new/<file>`` or ``cur/<file>``.  A file found on disk (written by another
program) is recorded with ``-`` for size and mtime: measuring it means reading it, so that
waits until a listing first needs it (as Dovecot does); an ``S`` record then gives them.

Expunge markers are kept for the last :data:`EXPUNGE_HISTORY` expunges; asking for changes
from before the oldest kept one is answered with ``ChangeSet(reset=True)`` (``T`` records
where history starts).
"""

from __future__ import annotations

INDEX_FILE = "mailhost-index"
VERSION = "1"
EXPUNGE_HISTORY = 20_000
IDEMPOTENCY_KEYS = 2_000


class IndexCorrupt(ValueError):
    """The journal cannot be trusted; the folder's index is rebuilt from disk."""


def header(uidvalidity: int, guid: str) -> str:
    return f"I {VERSION} V{uidvalidity} G{guid}\n"


def parse_header(line: str) -> tuple[int, str]:
    parts = line.split()
    if len(parts) != 4 or parts[0] != "I" or parts[1] != VERSION:
        raise IndexCorrupt(f"bad index header {line!r}")
    if not parts[2].startswith("V") or not parts[3].startswith("G"):
        raise IndexCorrupt(f"bad index header {line!r}")
    try:
        return int(parts[2][1:]), parts[3][1:]
    except ValueError as exc:
        raise IndexCorrupt(f"bad index header {line!r}") from exc


#: size and mtime of a message not measured yet (in memory; ``-`` in the journal)
UNKNOWN = -1


def rec_append(uid: int, modseq: int, cmodseq: int, vsize: int, mtime_ns: int, name: str) -> str:
    if mtime_ns < 0:
        return f"A {uid} {modseq} {cmodseq} - - {name}\n"
    return f"A {uid} {modseq} {cmodseq} {vsize} {mtime_ns} {name}\n"


def rec_sizes(uid: int, vsize: int, mtime_ns: int) -> str:
    return f"S {uid} {vsize} {mtime_ns}\n"


def number(text: str) -> int:
    """A size or mtime field of an ``A`` record (``-``: not measured yet)."""
    return UNKNOWN if text == "-" else int(text)


def rec_flags(uid: int, modseq: int, name: str) -> str:
    return f"F {uid} {modseq} {name}\n"


def rec_expunge(uid: int, modseq: int) -> str:
    return f"X {uid} {modseq}\n"


def rec_value(kind: str, *values: int) -> str:
    return kind + "".join(f" {v}" for v in values) + "\n"


def rec_key(uid: int, key: str) -> str:
    if "\n" in key or "\r" in key:
        raise ValueError("idempotency key may not contain line breaks")
    return f"K {uid} {key}\n"
