"""SORT (RFC 5256 §3): the messages a search finds, in the order of sort criteria.

Webmail (Roundcube, SnappyMail) asks the server to sort rather than fetch every header.
Keys are compared as RFC 5256 says: with ``i;ascii-casemap`` (ASCII letters without
case), the base subject of §2.1, the first address's mailbox for FROM, TO and CC, the
sent date (the internal date when the Date field cannot be read), and the mailbox
order breaking ties.  Keys are read from the headers alone, off the reactor.
"""

from __future__ import annotations

import datetime
import email.utils
import re
from operator import itemgetter
from typing import Any

from mailhost.errors import MessageGone
from mailhost.mime.address import parse_address_list
from mailhost.mime.headers import text, unfold, wire_bytes
from mailhost.mime.structure import some_fields
from mailhost.mime.text import decode_words
from mailhost.store.api import Folder, MessageInfo

#: Keys read from the message's header (the others come from the listing).
_FROM_HEADER = frozenset({b"CC", b"DATE", b"FROM", b"SUBJECT", b"TO", b"DISPLAYFROM", b"DISPLAYTO"})
#: The header field each header key reads (RFC 5957's keys read From and To).
_FIELD = {b"DISPLAYFROM": b"from", b"DISPLAYTO": b"to"}

Criterion = tuple[bytes, bool]  # (key, reversed)

_WSP = re.compile(r"[ \t\r\n]+")
#: subj-trailer: "(fwd)" at the end (RFC 5256 §5)
_TRAILER = re.compile(r"\s*\(fwd\)\s*$", re.IGNORECASE)
#: subj-blob: "[" *BLOBCHAR "]" *WSP
_BLOB = r"\[[^\[\]]*\]\s*"
#: subj-leader: *subj-blob subj-refwd, where subj-refwd is ("re" / ("fw" ["d"])) *WSP
#: [subj-blob] ":"
_LEADER = re.compile(rf"^(?:{_BLOB})*(?:re|fwd?)\s*(?:{_BLOB})?:\s*", re.IGNORECASE)
_LEADING_BLOB = re.compile(rf"^{_BLOB}")
_FWD_WRAPPER = re.compile(r"^\[fwd:(.*)\]$", re.IGNORECASE | re.DOTALL)


def header_criteria(criteria: list[Criterion]) -> list[bytes]:
    """The keys of ``criteria`` read from the message header, each once."""
    return list(dict.fromkeys(key for key, _ in criteria if key in _FROM_HEADER))


def base_subject(subject: str) -> str:
    """RFC 5256 §2.1, steps 1 to 6, compared afterwards without ASCII case."""
    return base_subject_of(subject)[0]


def base_subject_of(subject: str) -> tuple[str, bool]:
    """:func:`base_subject` and whether the subject marked a reply or forward (a
    ``Re:``/``Fwd:`` leader, a ``(fwd)`` trailer or a ``[Fwd: ...]`` wrapper was taken
    off), which THREAD REFERENCES weighs."""
    if "  " in subject or "\t" in subject or "\r" in subject or "\n" in subject:
        s = _WSP.sub(" ", subject).strip()
    else:
        s = subject.strip()
    head = s[:2].lower()
    if head != "re" and head != "fw" and s[:1] != "[" and s[-1:] != ")":
        # no leader, blob, wrapper or trailer can begin or end it: the usual subject
        return s, False
    return _take_off(s)


def _take_off(s: str) -> tuple[str, bool]:
    """Steps 2 to 6 of RFC 5256 §2.1 on a subject with its whitespace made single spaces."""
    reply = False
    while True:
        # (2) trailers, then (3)-(5) leaders and blobs, until nothing changes
        while True:
            stripped = _TRAILER.sub("", s)
            if stripped == s:
                break
            s, reply = stripped, True
        while True:
            before = s
            s = _LEADER.sub("", s)
            if s != before:
                reply = True
            blob = _LEADING_BLOB.match(s)
            if blob is not None and s[blob.end() :]:
                s = s[blob.end() :]
            if s == before:
                break
        wrapped = _FWD_WRAPPER.match(s)
        if wrapped is None:
            return s.strip(), reply
        s, reply = wrapped.group(1).strip(), True


def casemap(value: str) -> str:
    """``i;ascii-casemap``: ASCII letters compared without case, everything else as is."""
    return (
        value.upper()
        if value.isascii()
        else "".join(c.upper() if c.isascii() else c for c in value)
    )


def _display_name(raw: bytes | None) -> str:
    """RFC 5957 DISPLAYFROM and DISPLAYTO: the first address's display name, decoded, or
    where it has none its ``mailbox@host`` (a group's name for a group), as Dovecot takes
    it."""
    if raw is None:
        return ""
    for address in parse_address_list(text(unfold(raw))):
        if address.name:
            name = decode_words(wire_bytes(address.name))
            if name:
                return casemap(name)
        if address.mailbox is not None and address.host is not None:
            return casemap(f"{address.mailbox}@{address.host}")
        return casemap(address.mailbox or "")
    return ""


def _first_mailbox(raw: bytes | None) -> str:
    if raw is None:
        return ""
    # the first address as ENVELOPE lists it: a group's start marker carries the group's
    # name there (``undisclosed-recipients:;``), as Dovecot sorts it too
    for address in parse_address_list(text(unfold(raw))):
        return casemap(address.mailbox or "")
    return ""


_MONTHS = {
    m: i
    for i, m in enumerate(
        (
            b"jan",
            b"feb",
            b"mar",
            b"apr",
            b"may",
            b"jun",
            b"jul",
            b"aug",
            b"sep",
            b"oct",
            b"nov",
            b"dec",
        ),
        1,
    )
}
#: The usual RFC 5322 date-time (``Tue, 14 Nov 2023 22:14:20 +0000``): read without the
#: email package, which takes ten times as long.
_DATE = re.compile(
    rb"[ \t]*(?:[A-Za-z]{3},[ \t]*)?(\d{1,2})[ \t]+([A-Za-z]{3})[ \t]+(\d{4})[ \t]+"
    rb"(\d{2}):(\d{2})(?::(\d{2}))?[ \t]+([+-])(\d{2})(\d{2})"
)


def sent_date(raw: bytes | None) -> float | None:
    """The Date field as POSIX seconds, or None when it cannot be read."""
    if raw is None:
        return None
    m = _DATE.match(raw)
    if m is not None:
        day, mon, year, hh, mm, ss, sign, zh, zm = m.groups()
        month = _MONTHS.get(mon.lower())
        if month is not None:
            try:
                stamp = datetime.datetime(
                    int(year), month, int(day), int(hh), int(mm), int(ss or 0), tzinfo=datetime.UTC
                ).timestamp()
            except ValueError:
                return None
            offset = int(zh) * 3600 + int(zm) * 60
            return stamp - offset if sign == b"+" else stamp + offset
    try:
        return email.utils.parsedate_to_datetime(text(unfold(raw))).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def header_keys(
    folder: Folder, uids: list[int], keys: list[bytes]
) -> dict[int, dict[bytes, bytes]]:
    """The header-derived sort values of ``keys`` (DATE, SUBJECT, FROM, TO, CC,
    DISPLAYFROM, DISPLAYTO) of each message, as the octets the structure cache keeps (gone
    messages left out).  Blocking."""
    out: dict[int, dict[bytes, bytes]] = {}
    names = header_fields(keys)
    for uid in uids:
        try:
            header = folder.read_header(uid)
        except MessageGone:
            continue
        out[uid] = sort_values(some_fields(header, names), keys)
    return out


def header_fields(keys: list[bytes]) -> list[bytes]:
    """The header fields (lower-case names) that header sort keys read."""
    return list(dict.fromkeys(_FIELD.get(key, key.lower()) for key in keys))


def sort_values(first: dict[bytes, bytes], keys: list[bytes]) -> dict[bytes, bytes]:
    """The cached sort values of header ``keys`` from a message's first field values (by
    lower-case name): DATE as the sent date in seconds, or empty when the Date field cannot
    be read; the others as the compared strings in UTF-8."""
    values: dict[bytes, bytes] = {}
    for key in keys:
        if key == b"DATE":
            sent = sent_date(first.get(b"date"))
            value = b"" if sent is None else repr(sent).encode()
        elif key == b"SUBJECT":
            raw = first.get(b"subject")
            value = b"" if raw is None else _utf8(casemap(base_subject(decode_words(unfold(raw)))))
        elif key in _FIELD:
            value = _utf8(_display_name(first.get(_FIELD[key])))
        else:
            value = _utf8(_first_mailbox(first.get(key.lower())))
        values[CACHE_PREFIX + key] = value
    return values


#: Sort values kept in the structure cache are named ``SORT <key>``.
CACHE_PREFIX = b"SORT "


def _utf8(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def sort_column(
    key: bytes, uids: list[int], kept: dict[int, dict[bytes, bytes]], infos: dict[int, MessageInfo]
) -> list[Any]:
    """What ``key`` compares for each message of ``uids``, from :func:`header_keys` (every
    UID of a header key is in ``kept``) and the listing.  A column at a time: a SORT of a
    whole big folder makes this per message."""
    if key in (b"ARRIVAL", b"SIZE", b"DATE"):
        known = [infos.get(u) for u in uids]
        if key == b"SIZE":
            return [0 if i is None else i.size for i in known]
        dates = [0.0 if i is None else i.internaldate for i in known]
        if key == b"ARRIVAL":
            return dates
        # RFC 5256: the internal date when the sent date cannot be determined
        name = CACHE_PREFIX + key
        raws = [kept[u][name] for u in uids]
        return [float(raw) if raw else date for raw, date in zip(raws, dates, strict=True)]
    name = CACHE_PREFIX + key
    return [kept[u][name].decode("utf-8", "surrogatepass") for u in uids]


def ordered(
    found: list[tuple[int, int]], columns: list[list[Any]], criteria: list[Criterion]
) -> list[tuple[int, int]]:
    """``found`` ``(seq, uid)`` pairs in criteria order, ``columns[i]`` holding what
    criterion ``i`` compares of each; ties in mailbox order (RFC 5256 §3)."""
    rows = sorted(zip(found, *columns, strict=True), key=itemgetter(0))
    # stable sorts from the last criterion to the first (REVERSE keeps ties in order)
    for i in range(len(criteria) - 1, -1, -1):
        rows.sort(key=itemgetter(i + 1), reverse=criteria[i][1])
    return [row[0] for row in rows]
