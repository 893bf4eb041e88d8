"""SEARCH evaluation (RFC 3501 §6.4.4) over a session's view.

A search key is compiled once into a predicate over one message.  Flag, sequence and
UID keys are answered from the session's view, size and dates from the listing, so a
search made only of those (``UNSEEN``, ``DELETED``, ``UID 100:*``) reads no file and
runs on the reactor thread.  Header keys (``FROM``, ``SUBJECT``, ``HEADER``, sent
dates) read the message's header block only; body and text keys read the whole
message.  Values are compared case-insensitively against decoded header values and
MIME-decoded text parts (``mailhost.mime.text``).  Before decoding, a header that is
plain ASCII without RFC 2047 encoded-words is checked at the octet level: when the
needle cannot occur in it, no field is decoded.  A message that vanished meanwhile
simply does not match.
"""

from __future__ import annotations

import datetime
import email.utils
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from mailhost.errors import MessageGone
from mailhost.imap.commands import SearchKey, SeqSet, local_day
from mailhost.mime.address import MISSING_DOMAIN, MISSING_MAILBOX, parse_address_list
from mailhost.mime.structure import parse
from mailhost.mime.text import body_text, header_text, header_values
from mailhost.store.api import SEEN, Folder, MessageInfo

#: Keys answered without reading any message.
_CHEAP = frozenset(
    {"AND", "ALL", "FLAG", "NEW", "OLD", "RECENT", "NOT", "OR", "SEQ", "UID", "MODSEQ"}
)
#: Keys that need the listing's size or internal date.
_LISTING = frozenset({"SIZE", "DATE", "AGE"})


@dataclass(slots=True)
class Candidate:
    seq: int
    uid: int
    flags: frozenset[str]
    recent: bool
    modseq: int = 0


class _Message:
    """One candidate while a key is evaluated: what is read is read once."""

    __slots__ = ("_data", "_gone", "_header", "_parsed", "_whole", "cand", "folder", "info")

    def __init__(self, folder: Folder, cand: Candidate, info: MessageInfo | None) -> None:
        self.folder = folder
        self.cand = cand
        self.info = info
        self._gone = False
        self._header: bytes | None = None
        self._data: bytes | None = None
        #: (data, part): the whole message parsed, or (when not ``_whole``) its header.
        self._parsed: tuple[bytes, Any] | None = None
        self._whole = False

    def raw_header(self) -> bytes | None:
        """The header block (CRLF form), or None if the message is gone."""
        if self._header is None and not self._gone:
            if self._data is not None:
                self._header = _header_block(self._data)
            else:
                try:
                    self._header = self.folder.read_header(self.cand.uid)
                except MessageGone:
                    self._gone = True
        return self._header

    def header(self) -> tuple[bytes, Any] | None:
        """``(data, part)`` whose ``part.fields`` are the top-level header fields."""
        if self._parsed is None:
            raw = self.raw_header()
            if raw is None:
                return None
            self._parsed = (raw, parse(raw, headers_only=True))
        return self._parsed

    def load(self) -> tuple[bytes, Any] | None:
        """The whole message and its MIME tree, or None if it is gone."""
        if not self._whole and not self._gone:
            try:
                self._data = self.folder.read_message(self.cand.uid)
            except MessageGone:
                self._gone = True
                return None
            self._parsed = (self._data, parse(self._data))
            self._whole = True
        return self._parsed if self._whole else None


def _header_block(data: bytes) -> bytes:
    if data.startswith(b"\r\n"):
        return b"\r\n"
    end = data.find(b"\r\n\r\n")
    return data if end < 0 else data[: end + 4]


Predicate = Callable[[_Message], bool]


def _needs(key: SearchKey, kinds: set[str]) -> None:
    op = key[0]
    kinds.add(str(op))
    for sub in key[1:]:
        if isinstance(sub, tuple):
            if sub and isinstance(sub[0], str):
                _needs(sub, kinds)
            else:
                for k in sub:
                    if isinstance(k, tuple):
                        _needs(k, kinds)


def key_kinds(key: SearchKey) -> set[str]:
    """The operators a key uses (``{"AND", "FLAG", "HEADER"}``)."""
    kinds: set[str] = set()
    _needs(key, kinds)
    return kinds


def is_cheap(key: SearchKey) -> bool:
    """True when the key needs neither the listing nor any message (flags, numbers)."""
    return key_kinds(key) <= _CHEAP


def _contains(haystack: str, needle: str) -> bool:
    return needle.casefold() in haystack.casefold()


def _sent_date(msg: _Message) -> datetime.date | None:
    loaded = msg.header()
    if loaded is None:
        return None
    for value in header_values(loaded[1], loaded[0], "Date"):
        try:
            return email.utils.parsedate_to_datetime(value).date()
        except (TypeError, ValueError, IndexError):
            continue
    if msg.info is None:
        return None
    return local_day(msg.info.internaldate)


def _compare(d: datetime.date | None, op: str, ref: datetime.date) -> bool:
    if d is None:
        return False
    return d < ref if op == "<" else d == ref if op == "=" else d >= ref


def _in_set(s: SeqSet, star: int) -> Callable[[int], bool]:
    if star <= 0:
        return lambda n: False
    bounds = s.bounds(star)
    if len(bounds) == 1:
        lo, hi = bounds[0]
        return lambda n: lo <= n <= hi
    if len(bounds) <= 4:
        return lambda n: any(lo <= n <= hi for lo, hi in bounds)
    # a saved result (``$``) can be thousands of ranges: joined, then bisected
    starts: list[int] = []
    ends: list[int] = []
    for lo, hi in sorted(bounds):
        if ends and lo <= ends[-1] + 1:
            ends[-1] = max(ends[-1], hi)
        else:
            starts.append(lo)
            ends.append(hi)

    def inside(n: int) -> bool:
        i = bisect_right(starts, n) - 1
        return i >= 0 and n <= ends[i]

    return inside


def _could_contain(raw: bytes, needle: bytes) -> bool:
    """False only when ``needle`` (lower-case ASCII) cannot be in any decoded field value.

    Holds for a header of plain ASCII without encoded-words: its decoded, unfolded
    values are then substrings of the header with its line breaks removed, and
    case-folding ASCII is lower-casing.  Anything else may decode to the needle.
    """
    if not raw.isascii() or b"=?" in raw:
        return True
    return needle in raw.lower().replace(b"\r", b"").replace(b"\n", b"")


def compile_key(key: SearchKey, max_seq: int, max_uid: int) -> Predicate:
    """The key as a predicate over one message."""
    op = key[0]
    if op == "AND":
        subs = [compile_key(k, max_seq, max_uid) for k in key[1]]  # type: ignore[attr-defined]
        if len(subs) == 1:
            return subs[0]

        def all_of(m: _Message) -> bool:
            return all(f(m) for f in subs)

        return all_of
    if op == "ALL":
        return lambda m: True
    if op == "FLAG":
        flag, want = key[1], key[2]
        if want:
            return lambda m: flag in m.cand.flags
        return lambda m: flag not in m.cand.flags
    if op == "NEW":
        return lambda m: m.cand.recent and SEEN not in m.cand.flags
    if op == "OLD":
        return lambda m: not m.cand.recent
    if op == "RECENT":
        want_recent = key[1]
        return lambda m: m.cand.recent is want_recent
    if op == "NOT":
        inner = compile_key(key[1], max_seq, max_uid)  # type: ignore[arg-type]
        return lambda m: not inner(m)
    if op == "OR":
        a = compile_key(key[1], max_seq, max_uid)  # type: ignore[arg-type]
        b = compile_key(key[2], max_seq, max_uid)  # type: ignore[arg-type]
        return lambda m: a(m) or b(m)
    if op == "MODSEQ":
        least: int = key[1]  # type: ignore[assignment]
        return lambda m: m.cand.modseq >= least
    if op == "SEQ":
        in_seq = _in_set(key[1], max_seq)  # type: ignore[arg-type]
        return lambda m: in_seq(m.cand.seq)
    if op == "UID":
        in_uid = _in_set(key[1], max_uid)  # type: ignore[arg-type]
        return lambda m: in_uid(m.cand.uid)
    if op == "SIZE":
        limit: int = key[2]  # type: ignore[assignment]
        if key[1] == ">":
            return lambda m: m.info is not None and m.info.size > limit
        return lambda m: m.info is not None and m.info.size < limit
    if op == "AGE":
        moment: float = key[2]  # type: ignore[assignment]
        if key[1] == "<":
            return lambda m: m.info is not None and m.info.internaldate < moment
        return lambda m: m.info is not None and m.info.internaldate >= moment
    if op == "DATE":
        ref: datetime.date = key[3]  # type: ignore[assignment]
        cmp = str(key[2])
        if key[1] == "internal":

            def internal(m: _Message) -> bool:
                if m.info is None:
                    return False
                return _compare(local_day(m.info.internaldate), cmp, ref)

            return internal
        return lambda m: _compare(_sent_date(m), cmp, ref)
    if op == "HEADER":
        return _header_key(str(key[1]), str(key[2]))
    if op == "BODY":
        body_needle = str(key[1])

        def body(m: _Message) -> bool:
            loaded = m.load()
            if loaded is None:
                return False
            return _contains(body_text(loaded[1], loaded[0]), body_needle)

        return body
    if op == "TEXT":
        text_needle = str(key[1])

        def text(m: _Message) -> bool:
            loaded = m.load()
            if loaded is None:
                return False
            data, part = loaded
            return _contains(header_text(part, data), text_needle) or _contains(
                body_text(part, data), text_needle
            )

        return text
    raise AssertionError(f"unknown search key {op!r}")


def _header_key(name: str, needle: str) -> Predicate:
    folded = needle.casefold()
    quick = folded.encode("ascii") if folded and folded.isascii() else None
    address = name.upper() in _ADDRESS_FIELDS
    # a first look at the raw header block that rules most messages out cheaply
    first_look: Callable[[bytes], bool] = _cannot_tell
    if quick is not None and address:
        field = re.compile(rb"\n" + re.escape(name.lower().encode("ascii")) + _FIELD_VALUE)
        first_look = partial(
            _could_hold_address, field=field, needle=quick.translate(None, _ADDRESS_NOISE)
        )
    elif quick is not None:
        first_look = partial(_could_contain, needle=quick)

    def header(m: _Message) -> bool:
        raw = m.raw_header()
        if raw is None or not first_look(raw):
            return False
        loaded = m.header()
        if loaded is None:
            return False
        values = header_values(loaded[1], loaded[0], name)
        if not folded:
            return bool(values)
        if any(folded in v.casefold() for v in values):
            return True
        return address and any(folded in a.casefold() for v in values for a in _addresses(v))

    return header


def _cannot_tell(raw: bytes) -> bool:
    return True


#: Keys on address fields.  RFC 3501 defines FROM, TO, CC and BCC on the envelope, so an
#: address also matches as ``mailbox@host``, whatever comments and spaces the header puts
#: around its parts (``<joe (work) @ example.org>``), as in Dovecot.
_ADDRESS_FIELDS = frozenset({"FROM", "TO", "CC", "BCC"})
#: Octets left out of both sides by :func:`_could_hold_address`.
_ADDRESS_NOISE = b'\r\n\t "'


def _addresses(value: str) -> list[str]:
    """``mailbox@host`` of each whole address in an address-list value (the placeholders
    ENVELOPE sends for a missing part are not text of the message)."""
    return [
        f"{a.mailbox}@{a.host}"
        for a in parse_address_list(value)
        if a.mailbox not in (None, MISSING_MAILBOX) and a.host not in (None, MISSING_DOMAIN)
    ]


#: The rest of a header field after its name: the colon, the value, continuation lines.
_FIELD_VALUE = rb"[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)"


def _could_hold_address(raw: bytes, field: re.Pattern[bytes], needle: bytes) -> bool:
    """False only when no value of the address ``field`` (``\\nname`` and
    :data:`_FIELD_VALUE`, the name in lower case) in the header ``raw`` can match
    ``needle`` (lower-case ASCII without :data:`_ADDRESS_NOISE`), as text or as an address.

    Leaving spaces, line breaks and quotes out of both sides keeps every substring of a
    plain ASCII value, and every address written in it, contiguous.  A comment or a
    backslash can split an address anywhere, and 8-bit octets or encoded-words may decode
    to anything: such a value is looked at in full.
    """
    plain = raw.isascii()
    # (``field`` is the name in lower case after a line break: a literal the regular
    # expression engine searches for quickly, which ``re.I | re.M`` would prevent)
    for value in field.findall(b"\n" + raw.lower()):
        if not plain or b"=?" in value or b"(" in value or b"\\" in value:
            return True
        if needle in value.translate(None, _ADDRESS_NOISE):
            return True
    return False


def cheap_matches(
    key: SearchKey,
    uids: list[int],
    flags: list[frozenset[str]],
    recent: set[int],
    modseqs: Sequence[int] = (),
) -> list[int]:
    """Positions (0-based sequence) in ``uids`` that a cheap key (:func:`is_cheap`) matches.

    Evaluated as set algebra over the whole mailbox, with ``flags[i]`` the flags of
    ``uids[i]`` and ``modseqs[i]`` its MODSEQ: a flag search over 100,000 messages is a
    few comprehensions.
    """
    n = len(uids)
    every = range(n)
    if key[0] == "FLAG":
        # the usual case (UNSEEN, DELETED...): one pass, already in order
        flag = key[1]
        if key[2]:
            return [i for i, f in enumerate(flags) if flag in f]
        return [i for i, f in enumerate(flags) if flag not in f]

    def ev(k: SearchKey) -> set[int]:
        op = k[0]
        if op == "AND":
            subs: tuple[SearchKey, ...] = k[1]  # type: ignore[assignment]
            if not subs:
                return set(every)
            out = ev(subs[0])
            for sub in subs[1:]:
                if not out:
                    break
                out &= ev(sub)
            return out
        if op == "ALL":
            return set(every)
        if op == "FLAG":
            flag = k[1]
            if k[2]:
                return {i for i, f in enumerate(flags) if flag in f}
            return {i for i, f in enumerate(flags) if flag not in f}
        if op in ("NEW", "OLD", "RECENT"):
            rec = {i for i, u in enumerate(uids) if u in recent} if recent else set()
            if op == "NEW":
                return {i for i in rec if SEEN not in flags[i]}
            if op == "OLD" or k[1] is False:
                return set(every) - rec
            return rec
        if op == "MODSEQ":
            least = k[1]
            return {i for i, m in enumerate(modseqs) if m >= least}  # type: ignore[operator]
        if op == "NOT":
            return set(every) - ev(k[1])  # type: ignore[arg-type]
        if op == "OR":
            return ev(k[1]) | ev(k[2])  # type: ignore[arg-type]
        if op in ("SEQ", "UID"):
            if not n:
                return set()
            seqset: SeqSet = k[1]  # type: ignore[assignment]
            out = set()
            if op == "SEQ":
                for lo, hi in seqset.bounds(n):
                    out.update(range(max(lo, 1) - 1, min(hi, n)))
            else:
                for lo, hi in seqset.bounds(uids[-1]):
                    out.update(range(bisect_left(uids, lo), bisect_right(uids, hi)))
            return out
        raise AssertionError(f"not a cheap search key {op!r}")

    return sorted(ev(key))


def needs_listing(key: SearchKey) -> bool:
    """True when the key compares sizes or dates (the listing is needed)."""
    return bool(key_kinds(key) & _LISTING)


def run_search(
    folder: Folder,
    candidates: list[Candidate],
    key: SearchKey,
    max_seq: int,
    max_uid: int,
    infos: dict[int, MessageInfo] | None = None,
) -> list[Candidate]:
    """The matching candidates, in order.  May block: runs through ``Blocking.run``.

    ``infos`` gives the listing of the candidates for size and date keys; without it
    the folder is listed when the key needs one.
    """
    if infos is None:
        infos = {}
        if needs_listing(key):
            infos = {m.uid: m for m in folder.list_messages()}
    match = compile_key(key, max_seq, max_uid)
    get = infos.get
    return [c for c in candidates if match(_Message(folder, c, get(c.uid)))]
