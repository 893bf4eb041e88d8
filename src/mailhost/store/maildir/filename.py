"""Maildir file names: unique base names, size fields and the ``:2,`` flag letters.

A file is ``<base>[:2,<letters>]``; the base never changes for the life of the message,
so it is how a message is found again after another process renamed it to change flags.
Like Dovecot the base may carry ``,S=<octets on disk>`` and ``,W=<octets with CRLF>`` so a
listing needs neither ``stat`` nor a read (https://cr.yp.to/proto/maildir.html,
Dovecot ``maildir-filename.c``).

System flags are the upper-case letters of the Maildir spec; keywords are the lower-case
letters ``a``..``z`` indexed by ``dovecot-keywords``.  ``$Forwarded`` is an ordinary keyword
(as Dovecot stores it), not the ``P`` letter.  Letters we do not know are kept untouched
when we rename a file.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from operator import itemgetter
from typing import TypeVar

from mailhost.store.api import ANSWERED, DELETED, DRAFT, FLAGGED, SEEN

INFO_SEP = ":"
INFO_PREFIX = "2,"

LETTER_TO_FLAG = {"D": DRAFT, "F": FLAGGED, "R": ANSWERED, "S": SEEN, "T": DELETED}
FLAG_TO_LETTER = {v: k for k, v in LETTER_TO_FLAG.items()}
KEYWORD_LETTERS = "abcdefghijklmnopqrstuvwxyz"

_counter = itertools.count()
_counter_lock = threading.Lock()
_K = TypeVar("_K", int, str)
_SIZE_RE = re.compile(r",([SW])=(\d+)")


def _hostname() -> str:
    host = socket.gethostname() or "localhost"
    # maildir spec: "/" and ":" in the host part are written as octal escapes
    return host.replace("/", "\\057").replace(":", "\\072").replace(",", "\\054")


_HOST = _hostname()


def new_base(size: int | None = None, vsize: int | None = None) -> str:
    """A fresh unique base name: ``<sec>.M<usec>P<pid>Q<n>R<random>.<host>[,S=..][,W=..]``."""
    now = time.time()
    sec = int(now)
    usec = int((now - sec) * 1_000_000)
    with _counter_lock:
        n = next(_counter)
    base = f"{sec}.M{usec}P{os.getpid()}Q{n}R{secrets.token_hex(4)}.{_HOST}"
    if size is not None:
        base += f",S={size}"
    if vsize is not None:
        base += f",W={vsize}"
    return base


def split_name(name: str) -> tuple[str, str | None]:
    """``(base, info)``; info is the text after ``:`` (``"2,FS"``) or None."""
    base, sep, info = name.partition(INFO_SEP)
    return base, (info if sep else None)


def base_of(name: str) -> str:
    return name.partition(INFO_SEP)[0]


def sizes_of(base: str) -> tuple[int | None, int | None]:
    """The ``,S=`` (on-disk) and ``,W=`` (CRLF) sizes written in a base name, if any."""
    size = vsize = None
    if "," not in base:
        return None, None  # most foreign names: no regex needed
    for key, value in _SIZE_RE.findall(base):
        if key == "S":
            size = int(value)
        else:
            vsize = int(value)
    return size, vsize


@dataclass(frozen=True, slots=True)
class Info:
    """The parsed flag part of a name."""

    system: frozenset[str]
    #: keyword letter indexes (0 for ``a``)
    keywords: tuple[int, ...]
    #: letters we do not interpret, kept when renaming (``P``, ``1,``-style info ...)
    other: str


_EMPTY = Info(frozenset(), (), "")
_info_cache: dict[str | None, Info] = {}


def parse_info(info: str | None) -> Info:
    """Parse the part after ``:``; cached, as a folder shares a few dozen distinct values."""
    cached = _info_cache.get(info)
    if cached is not None:
        return cached
    if info is None or not info.startswith(INFO_PREFIX):
        parsed = _EMPTY if info is None else Info(frozenset(), (), info)
    else:
        system = set()
        keywords = []
        other = []
        for ch in info[2:]:
            if ch in LETTER_TO_FLAG:
                system.add(LETTER_TO_FLAG[ch])
            elif "a" <= ch <= "z":
                keywords.append(ord(ch) - 97)
            else:
                other.append(ch)
        parsed = Info(frozenset(system), tuple(sorted(set(keywords))), "".join(other))
    if len(_info_cache) < 4096:
        _info_cache[info] = parsed
    return parsed


def format_info(
    system: frozenset[str] | set[str], keywords: tuple[int, ...] | list[int], other: str = ""
) -> str:
    """``2,<letters>`` with letters in ASCII order, as the Maildir spec asks."""
    letters = {FLAG_TO_LETTER[f] for f in system if f in FLAG_TO_LETTER}
    letters.update(KEYWORD_LETTERS[k] for k in keywords)
    letters.update(other)
    return INFO_PREFIX + "".join(sorted(letters))


def cur_name(base: str, info: str) -> str:
    return f"{base}{INFO_SEP}{info}"


_NUM_RE = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key comparing digit runs as numbers: the time prefix of Maildir names orders
    deliveries (Dovecot's ``maildir_time_cmp``) and ``2`` sorts before ``10``."""
    parts = _NUM_RE.split(name)
    return tuple((0, int(p)) if i % 2 else (1, p) for i, p in enumerate(parts) if p)


def delivery_order(bases: list[str]) -> list[str]:
    """``sorted(bases, key=natural_key)``, fast for the usual ``<seconds>.<rest>`` names.

    When every base starts with ASCII digits of one width and a dot (epoch seconds), a
    plain string sort already orders them by that number, and only runs sharing a second
    need the full :func:`natural_key` (a first look at a big folder sorts every name).
    Other names with a numeric head are sorted by it, then by :func:`natural_key`; any
    other shape is sorted by :func:`natural_key` alone.
    """
    ordered = sorted(bases)
    if not ordered:
        return ordered
    width = ordered[0].find(".")
    if width > 0 and min(map(len, ordered)) > width:
        heads = list(map(itemgetter(slice(0, width)), ordered))
        digits = "".join(heads)
        if (
            digits.isascii()
            and digits.isdecimal()
            and "".join(map(itemgetter(width), ordered)).count(".") == len(ordered)
        ):
            if len(set(heads)) == len(heads):
                return ordered
            out: list[str] = []
            for _sec, run in itertools.groupby(zip(heads, ordered, strict=True), key=_first):
                same = [base for _, base in run]
                out.extend(same if len(same) == 1 else sorted(same, key=natural_key))
            return out
    keyed: list[tuple[int, str]] = []
    for base in bases:
        head, dot, _rest = base.partition(".")
        if not dot or not head.isdecimal():
            return sorted(bases, key=natural_key)
        keyed.append((int(head), base))
    keyed.sort(key=_first)
    if len({sec for sec, _ in keyed}) == len(keyed):
        return [base for _, base in keyed]
    out = []
    for _sec, krun in itertools.groupby(keyed, key=_first):
        out.extend(sorted((base for _, base in krun), key=natural_key))
    return out


def listed_bases(names: list[str]) -> list[str]:
    """``base_of(n[4:])`` of each ``new/<file>`` or ``cur/<file>`` name."""
    return [name[4:].partition(INFO_SEP)[0] for name in names]


def listed_infos(names: list[str]) -> list[str]:
    """The info part (after ``:``) of each of ``names``; ``""`` for a name without one."""
    return [name.partition(INFO_SEP)[2] for name in names]


def _first(item: tuple[_K, str]) -> _K:
    return item[0]
