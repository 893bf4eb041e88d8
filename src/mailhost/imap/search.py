"""SEARCH evaluation (RFC 3501 §6.4.4) over a session's view, away from the reactor.

Flag, sequence and UID keys are answered from the session's view; size and dates from
the store's listing; header, body and text keys read the message, parse its MIME
structure and compare case-insensitively against decoded header values and
MIME-decoded text parts (``mailhost.mime.text``).  A message that vanished meanwhile
simply does not match.
"""

from __future__ import annotations

import datetime
import email.utils
from dataclasses import dataclass, field
from typing import Any

from mailhost.errors import MessageGone
from mailhost.imap.commands import SearchKey, SeqSet
from mailhost.store.api import SEEN, Folder, MessageInfo


@dataclass(slots=True)
class Candidate:
    seq: int
    uid: int
    flags: frozenset[str]
    recent: bool


@dataclass
class _Message:
    folder: Folder
    cand: Candidate
    info: MessageInfo | None
    _data: bytes | None = None
    _part: Any = None
    _loaded: bool = False
    _cache: dict[str, object] = field(default_factory=dict)

    def load(self) -> tuple[bytes, Any] | None:
        if not self._loaded:
            self._loaded = True
            try:
                self._data = self.folder.read_message(self.cand.uid)
            except MessageGone:
                return None
            from mailhost.mime.structure import parse

            self._part = parse(self._data)
        if self._data is None:
            return None
        return self._data, self._part


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


def _contains(haystack: str, needle: str) -> bool:
    return needle.casefold() in haystack.casefold()


def _sent_date(msg: _Message) -> datetime.date | None:
    loaded = msg.load()
    if loaded is None:
        return None
    from mailhost.mime.text import header_values

    for value in header_values(loaded[1], loaded[0], "Date"):
        try:
            return email.utils.parsedate_to_datetime(value).date()
        except (TypeError, ValueError, IndexError):
            continue
    if msg.info is None:
        return None
    return datetime.datetime.fromtimestamp(msg.info.internaldate, datetime.UTC).date()


def _compare(d: datetime.date | None, op: str, ref: datetime.date) -> bool:
    if d is None:
        return False
    return d < ref if op == "<" else d == ref if op == "=" else d >= ref


def _match(key: SearchKey, msg: _Message, max_seq: int, max_uid: int) -> bool:
    op = key[0]
    c = msg.cand
    if op == "AND":
        return all(_match(k, msg, max_seq, max_uid) for k in key[1])  # type: ignore[attr-defined]
    if op == "ALL":
        return True
    if op == "FLAG":
        return (key[1] in c.flags) is key[2]
    if op == "NEW":
        return c.recent and SEEN not in c.flags
    if op == "OLD":
        return not c.recent
    if op == "RECENT":
        return c.recent is key[1]
    if op == "NOT":
        return not _match(key[1], msg, max_seq, max_uid)  # type: ignore[arg-type]
    if op == "OR":
        return _match(key[1], msg, max_seq, max_uid) or _match(key[2], msg, max_seq, max_uid)  # type: ignore[arg-type]
    if op == "SEQ":
        s: SeqSet = key[1]  # type: ignore[assignment]
        return max_seq > 0 and s.contains(c.seq, max_seq)
    if op == "UID":
        u: SeqSet = key[1]  # type: ignore[assignment]
        return max_uid > 0 and u.contains(c.uid, max_uid)
    if op == "SIZE":
        if msg.info is None:
            return False
        return msg.info.size > key[2] if key[1] == ">" else msg.info.size < key[2]  # type: ignore[operator]
    if op == "DATE":
        ref: datetime.date = key[3]  # type: ignore[assignment]
        if key[1] == "internal":
            if msg.info is None:
                return False
            day = datetime.datetime.fromtimestamp(msg.info.internaldate, datetime.UTC).date()
            return _compare(day, str(key[2]), ref)
        return _compare(_sent_date(msg), str(key[2]), ref)
    loaded = msg.load()
    if loaded is None:
        return False
    data, part = loaded
    from mailhost.mime.text import body_text, header_text, header_values

    if op == "HEADER":
        name, needle = str(key[1]), str(key[2])
        values = header_values(part, data, name)
        if not needle:
            return bool(values)
        return any(_contains(v, needle) for v in values)
    if op == "BODY":
        return _contains(body_text(part, data), str(key[1]))
    if op == "TEXT":
        needle = str(key[1])
        return _contains(header_text(part, data), needle) or _contains(
            body_text(part, data), needle
        )
    raise AssertionError(f"unknown search key {op!r}")


def run_search(
    folder: Folder, candidates: list[Candidate], key: SearchKey, max_seq: int, max_uid: int
) -> list[Candidate]:
    """The matching candidates, in order.  Blocking: runs through ``Blocking.run``."""
    kinds: set[str] = set()
    _needs(key, kinds)
    infos: dict[int, MessageInfo] = {}
    if kinds & {"SIZE", "DATE"}:
        infos = {m.uid: m for m in folder.list_messages()}
    out = []
    for c in candidates:
        msg = _Message(folder, c, infos.get(c.uid))
        if _match(key, msg, max_seq, max_uid):
            out.append(c)
    return out
