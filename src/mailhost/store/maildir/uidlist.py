"""``dovecot-uidlist``: a folder's UIDVALIDITY, next UID, GUID and the UID of each base name.

Version 3 (Dovecot ``maildir-uidlist.c``)::

    3 V<uidvalidity> N<nextuid> G<guid hex>
    <uid> [<key><value> ...] :<base name>

Line extensions we write are ``W<CRLF size>`` and ``S<on-disk size>``; others are kept
when read.  Version 1 (``1 <uidvalidity> <nextuid>`` / ``<uid> <name>``) is read too.
New records are appended (so the header's next UID may be stale: the next UID is the
larger of it and the last UID + 1); a record whose file is gone means an expunged message.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class UidListError(ValueError):
    """The file is not a uidlist we understand; the folder's index is rebuilt without it."""


@dataclass(slots=True)
class UidListHeader:
    version: int
    uidvalidity: int
    nextuid: int
    guid: str | None = None
    #: other header fields, kept as ``key -> value`` (first letter is the key)
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UidRecord:
    uid: int
    base: str
    ext: tuple[tuple[str, str], ...] = ()

    def ext_int(self, key: str) -> int | None:
        for k, v in self.ext:
            if k == key and v.isdigit():
                return int(v)
        return None


def parse_header(line: str) -> UidListHeader:
    parts = line.split()
    if not parts or not parts[0].isdigit():
        raise UidListError(f"bad uidlist header {line!r}")
    version = int(parts[0])
    if version == 1:
        if len(parts) < 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise UidListError(f"bad version 1 header {line!r}")
        return UidListHeader(1, int(parts[1]), int(parts[2]))
    if version != 3:
        raise UidListError(f"uidlist version {version} not supported")
    header = UidListHeader(3, 0, 1)
    for token in parts[1:]:
        key, value = token[0], token[1:]
        if key == "V" and value.isdigit():
            header.uidvalidity = int(value)
        elif key == "N" and value.isdigit():
            header.nextuid = int(value)
        elif key == "G":
            header.guid = value
        else:
            header.extra[key] = value
    if header.uidvalidity == 0:
        raise UidListError(f"uidlist header without UIDVALIDITY {line!r}")
    return header


def parse_record(line: str, version: int = 3) -> UidRecord:
    if version == 1:
        uid, sep, name = line.partition(" ")
        if not sep or not uid.isdigit() or not name:
            raise UidListError(f"bad uidlist line {line!r}")
        return UidRecord(int(uid), name)
    head, sep, base = line.partition(" :")
    if not sep:
        # "<uid> :<base>" is the usual shape; tolerate "<uid>:<base>" too
        head, sep, base = line.partition(":")
        if not sep:
            raise UidListError(f"bad uidlist line {line!r}")
    fields = head.split()
    if not fields or not fields[0].isdigit() or not base:
        raise UidListError(f"bad uidlist line {line!r}")
    ext = tuple((f[0], f[1:]) for f in fields[1:] if f)
    return UidRecord(int(fields[0]), base, ext)


def format_header(header: UidListHeader) -> str:
    parts = [f"3 V{header.uidvalidity} N{header.nextuid}"]
    if header.guid:
        parts.append(f"G{header.guid}")
    parts.extend(f"{k}{v}" for k, v in header.extra.items())
    return " ".join(parts) + "\n"


def format_record(record: UidRecord) -> str:
    ext = "".join(f" {k}{v}" for k, v in record.ext)
    return f"{record.uid}{ext} :{record.base}\n"


def make_record(uid: int, base: str, vsize: int, size: int | None = None) -> UidRecord:
    ext: tuple[tuple[str, str], ...] = (("W", str(vsize)),)
    if size is not None:
        ext += (("S", str(size)),)
    return UidRecord(uid, base, ext)


def record_line(uid: int, base: str, vsize: int | None, size: int | None = None) -> str:
    """``format_record(make_record(...))`` without the intermediate record: a cold
    folder writes one per message.  ``vsize`` None (not measured yet): no ``W``."""
    if vsize is None:
        return f"{uid} :{base}\n" if size is None else f"{uid} S{size} :{base}\n"
    if size is None:
        return f"{uid} W{vsize} :{base}\n"
    return f"{uid} W{vsize} S{size} :{base}\n"


def parse_uidlist(text: str) -> tuple[UidListHeader, list[UidRecord]]:
    """A whole file (complete lines only; a torn last line is the caller's to drop)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise UidListError("empty uidlist")
    header = parse_header(lines[0])
    records = [parse_record(line, header.version) for line in lines[1:] if line]
    return header, records


def format_uidlist(header: UidListHeader, records: list[UidRecord]) -> str:
    return format_header(header) + "".join(format_record(r) for r in records)
