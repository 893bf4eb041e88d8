"""SORT (RFC 5256 §3): the messages a search finds, in the order of sort criteria.

Webmail (Roundcube, SnappyMail) asks the server to sort rather than fetch every header.
Keys are compared as RFC 5256 says: with ``i;ascii-casemap`` (ASCII letters without
case), the base subject of §2.1, the first address's mailbox for FROM, TO and CC, the
sent date (the internal date when the Date field cannot be read), and the mailbox
order breaking ties.  Keys are read from the headers alone, off the reactor.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable
from typing import Any

from mailhost.errors import MessageGone
from mailhost.imap.search import Candidate
from mailhost.mime.address import parse_address_list
from mailhost.mime.headers import text, unfold
from mailhost.mime.structure import parse
from mailhost.mime.text import decode_words
from mailhost.store.api import Folder, MessageInfo

#: Keys read from the message's header (the others come from the listing).
_FROM_HEADER = frozenset({b"CC", b"DATE", b"FROM", b"SUBJECT", b"TO"})

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


def needs_header(criteria: list[Criterion]) -> bool:
    return any(key in _FROM_HEADER for key, _ in criteria)


def base_subject(subject: str) -> str:
    """RFC 5256 §2.1, steps 1 to 6, compared afterwards without ASCII case."""
    s = _WSP.sub(" ", subject).strip()
    while True:
        # (2) trailers, then (3)-(5) leaders and blobs, until nothing changes
        while True:
            stripped = _TRAILER.sub("", s)
            if stripped == s:
                break
            s = stripped
        while True:
            before = s
            s = _LEADER.sub("", s)
            blob = _LEADING_BLOB.match(s)
            if blob is not None and s[blob.end() :]:
                s = s[blob.end() :]
            if s == before:
                break
        wrapped = _FWD_WRAPPER.match(s)
        if wrapped is None:
            return s.strip()
        s = wrapped.group(1).strip()


def _casemap(value: str) -> str:
    """``i;ascii-casemap``: ASCII letters compared without case, everything else as is."""
    return (
        value.upper()
        if value.isascii()
        else "".join(c.upper() if c.isascii() else c for c in value)
    )


def _first_mailbox(raw: bytes | None) -> str:
    if raw is None:
        return ""
    for address in parse_address_list(text(unfold(raw))):
        if address.host is not None:  # (not a group marker)
            return _casemap(address.mailbox or "")
    return ""


def _sent(raw: bytes | None, info: MessageInfo | None) -> float:
    if raw is not None:
        try:
            return email.utils.parsedate_to_datetime(text(unfold(raw))).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    return info.internaldate if info is not None else 0.0


def sort_keys(
    folder: Folder,
    found: list[Candidate],
    criteria: list[Criterion],
    infos: dict[int, MessageInfo],
) -> list[tuple[Candidate, list[Any]]]:
    """Each candidate with its key values (gone messages left out).  Blocking."""
    out = []
    header = needs_header(criteria)
    for cand in found:
        info = infos.get(cand.uid)
        first: dict[bytes, bytes] = {}
        if header:
            try:
                raw = folder.read_header(cand.uid)
            except MessageGone:
                continue
            first = parse(raw, headers_only=True).first_values
        values: list[Any] = []
        for key, _ in criteria:
            values.append(_value(key, first, info))
        out.append((cand, values))
    return out


def _value(key: bytes, first: dict[bytes, bytes], info: MessageInfo | None) -> Any:
    if key == b"ARRIVAL":
        return info.internaldate if info is not None else 0.0
    if key == b"SIZE":
        return info.size if info is not None else 0
    if key == b"DATE":
        return _sent(first.get(b"date"), info)
    if key == b"SUBJECT":
        raw = first.get(b"subject")
        return _casemap(base_subject(decode_words(unfold(raw)))) if raw is not None else ""
    return _first_mailbox(first.get(key.lower()))


def ordered(keyed: list[tuple[Candidate, list[Any]]], criteria: list[Criterion]) -> list[Candidate]:
    """The candidates in criteria order; ties in mailbox order (RFC 5256 §3)."""
    out = sorted(keyed, key=lambda kv: kv[0].seq)
    # stable sorts from the last criterion to the first
    for i in range(len(criteria) - 1, -1, -1):
        reverse = criteria[i][1]
        out.sort(key=_nth(i), reverse=reverse)
    return [c for c, _ in out]


def _nth(i: int) -> Callable[[tuple[Candidate, list[Any]]], Any]:
    return lambda kv: kv[1][i]
