"""A message's MIME tree by byte offset (RFC 2045, RFC 2046, RFC 5322).

:func:`parse` never raises on bad input and never copies bodies: every :class:`Part`
records where its header and body lie in the original octets, so IMAP body sections are
exact slices.  Parsing is pure (same bytes, same tree), so a store may cache the result
or anything derived from it.

Rules where real mail is broken, mostly as Dovecot and Python's ``email`` decide:

* no Content-Type, or one without a valid ``type/subtype``: text/plain (RFC 2045 §5.2),
  but message/rfc822 inside multipart/digest (RFC 2046 §5.1.5);
* the first of repeated Content-* fields wins;
* a multipart without a ``boundary`` is treated as a single part of that type;
* a multipart whose closing delimiter is missing ends where its body ends, and one with
  no delimiter at all has no parts;
* boundary lines must be exact (``--boundary``, optional ``--``, then only whitespace),
  as RFC 2046 §5.1.1 defines them, so a boundary that prefixes another cannot confuse
  the nesting;
* nesting and the number of parts are bounded: beyond the limits a part is a leaf.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

from mailhost.mime.headers import (
    HeaderField,
    Params,
    field_values,
    param,
    parse_disposition,
    parse_media_type,
    scan_header,
    skip_cfws,
    text,
    token,
    unfold,
)

#: Deepest nesting of multipart and message/rfc822 parts that is parsed.
MAX_DEPTH = 64
#: Most parts parsed in one message.
MAX_PARTS = 10_000


@dataclass(slots=True, eq=False)
class Part:
    """One MIME entity: a whole message, a part of a multipart, or an encapsulated message.

    Offsets index the octets given to :func:`parse`.  ``start:header_end`` is the header
    block including its terminating empty line; ``body_start:body_end`` the body
    (``body_start == header_end``).  For a part of a multipart, ``body_end`` excludes the
    line break before the next delimiter, which RFC 2046 §5.1.1 assigns to the delimiter.

    A tree is not changed once :func:`parse` has returned it.
    """

    start: int
    header_end: int
    body_end: int
    #: The octets parsed, from which :attr:`fields` is read when first asked for.
    data: bytes = field(repr=False)
    #: Raw value (as :attr:`HeaderField.value`) of the first field of each name, by
    #: lower-case name: what ENVELOPE and the Content-* fields are read from.
    first_values: dict[bytes, bytes] = field(repr=False)
    #: The header fields, once read (see :attr:`fields`).
    _fields: list[HeaderField] | None = field(default=None, repr=False)
    #: Names and values of the header fields, in order, when read without :attr:`fields`.
    _columns: tuple[tuple[bytes, ...], tuple[bytes, ...]] | None = field(default=None, repr=False)
    #: Media type and subtype as sent (case kept); see :attr:`type` for comparisons.
    media_type: str = "text"
    media_subtype: str = "plain"
    #: Content-Type parameters in IMAP form (RFC 2231 continuations joined), case kept.
    params: Params = field(default_factory=list)
    #: True when the part had a valid Content-Type field.
    explicit_type: bool = False
    encoding: str | None = None
    content_id: str | None = None
    description: str | None = None
    md5: str | None = None
    disposition: str | None = None
    disposition_params: Params = field(default_factory=list)
    language: list[str] | None = None
    location: str | None = None
    #: Parts of a multipart; for message/rfc822 the encapsulated message as one child.
    children: list[Part] = field(default_factory=list)
    #: Line breaks (LF) in the body; IMAP reports this for text/* and message/rfc822.
    lines: int = 0
    #: False when parsed with ``headers_only``: children were not looked for.
    complete: bool = True

    @property
    def fields(self) -> list[HeaderField]:
        """Every header field, in order, duplicates kept.

        Most messages are answered from :attr:`first_values` alone, so the field list
        of the usual header block is built only when something needs it.
        """
        fields = self._fields
        if fields is None:
            fields = self._fields = scan_header(self.data, self.start, self.body_end)[0]
        return fields

    @property
    def body_start(self) -> int:
        return self.header_end

    @property
    def end(self) -> int:
        return self.body_end

    @property
    def body_size(self) -> int:
        return self.body_end - self.header_end

    @property
    def type(self) -> str:
        """Lower-case media type, for comparisons."""
        return self.media_type.lower()

    @property
    def subtype(self) -> str:
        return self.media_subtype.lower()

    @property
    def is_multipart(self) -> bool:
        """True when this part was parsed as a multipart (it has a boundary)."""
        return self.type == "multipart" and self.boundary is not None

    @property
    def is_message(self) -> bool:
        """True for message/rfc822: one child, the encapsulated message."""
        return self.type == "message" and self.subtype == "rfc822"

    @property
    def is_text(self) -> bool:
        return self.type == "text"

    @property
    def boundary(self) -> str | None:
        value = param(self.params, "boundary")
        return value or None

    @property
    def charset(self) -> str | None:
        return param(self.params, "charset")

    @property
    def headers(self) -> list[tuple[str, bytes]]:
        """``(name, raw value)`` of every header field, in order, duplicates kept."""
        if self._fields is None and self._columns is not None:
            names, values = self._columns
            return [(n.decode("ascii"), v) for n, v in zip(names, values, strict=True)]
        return [(f.name, f.value) for f in self.fields]

    def values_of(self, name: str) -> list[bytes]:
        """Raw values of every field called ``name`` (case-insensitive), in order."""
        if not name.isascii():
            return []  # field names are ASCII
        if self._fields is None and self._columns is not None:
            lname = name.lower().encode("ascii")
            names, values = self._columns
            return [v for n, v in zip(names, values, strict=True) if n.lower() == lname]
        lower = name.lower()
        return [f.value for f in self.fields if f.name.lower() == lower]

    def header(self, name: str) -> bytes | None:
        """Raw value of the first field called ``name`` (case-insensitive)."""
        if not name.isascii():
            return None  # field names are ASCII
        return self.first_values.get(name.lower().encode("ascii"))

    def walk(self) -> list[Part]:
        """This part and every part below it, depth first."""
        out: list[Part] = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


class _Budget:
    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts = 0


def parse(data: bytes, headers_only: bool = False) -> Part:
    """The MIME tree of a whole message.  Never raises for any input octets.

    ``headers_only`` reads the top-level header alone (enough for ENVELOPE, HEADER
    sections and header SEARCH); the result has ``complete == False`` and no children.
    """
    data = bytes(data)
    if headers_only:
        part = _entity(data, 0, len(data), "text", "plain")
        part.complete = False
        return part
    return _parse_entity(data, 0, len(data), 0, _Budget(), ("text", "plain"))


def complete(part: Part, data: bytes) -> Part:
    """``part`` itself, or the full parse when ``part`` is a ``headers_only`` top level."""
    if part.complete or part.start != 0:
        return part
    return parse(data)


def first_fields(data: bytes) -> dict[bytes, bytes]:
    """The raw value of the first field of each name (by lower-case name) in the header
    block ``data`` begins with: :attr:`Part.first_values` without the rest of a parse."""
    fast = field_values(data, 0, len(data))
    if fast is not None:
        names, values, _ = fast
        return dict(zip(map(bytes.lower, reversed(names)), reversed(values), strict=True))
    fields, _ = scan_header(data, 0, len(data))
    return {f.name.lower().encode("ascii"): f.value for f in reversed(fields)}


def some_fields(header: bytes, names: Sequence[bytes]) -> dict[bytes, bytes]:
    """:func:`first_fields` of only ``names`` (lower-case), for the CRLF header block
    :meth:`Folder.read_header` gives: found by searching the block for each name at a
    line start, not by reading every field, which SORT and THREAD would otherwise do for
    each message of a folder.

    A name written with whitespace before its colon (obsolete syntax) sends the block to
    :func:`first_fields`.  Unlike it, a line that is not a field (broken mail) does not
    end the header here: the fields after it are found too, as Dovecot reads them.
    """
    low = b"\r\n" + header.lower()
    out: dict[bytes, bytes] = {}
    for name in names:
        line = b"\r\n" + name
        after = len(line)
        at = low.find(line)
        while at >= 0:
            c = low[at + after : at + after + 1]
            if c == b":":
                break
            if c == b" " or c == b"\t":
                first = first_fields(header)
                return {n: first[n] for n in names if n in first}
            at = low.find(line, at + 1)  # a longer name (``Date-Received``)
        if at < 0:
            continue
        # ``at`` in ``low`` is where the field's line starts in ``header``
        start = at + len(name) + 1
        while start < len(header) and header[start] in (0x20, 0x09):
            start += 1
        end = header.find(b"\r\n", start)
        while end >= 0 and header[end + 2 : end + 3] in (b" ", b"\t"):
            end = header.find(b"\r\n", end + 2)
        out[name] = header[start:] if end < 0 else header[start:end]
    return out


def _entity(data: bytes, start: int, end: int, dtype: str, dsub: str) -> Part:
    fast = field_values(data, start, end)
    if fast is not None:
        names, values, header_end = fast
        # reversed, so that the first field of a name is the one kept
        first = dict(zip(map(bytes.lower, reversed(names)), reversed(values), strict=True))
        part = Part(start, header_end, end, data, first, None, (names, values), dtype, dsub)
    else:
        fields, header_end = scan_header(data, start, end)
        first = {f.name.lower().encode("ascii"): f.value for f in reversed(fields)}
        part = Part(
            start, header_end, end, data, first, fields, media_type=dtype, media_subtype=dsub
        )
    _apply_content_fields(part, first)
    return part


def _apply_content_fields(part: Part, first: dict[bytes, bytes]) -> None:
    """Fill the Content-* attributes from the first field of each name (as Dovecot does)."""
    raw = first.get(b"content-type")
    if raw is not None:
        media = _media_type(raw)
        if media is not None:
            part.media_type, part.media_subtype = media[0], media[1]
            part.params = list(media[2])
            part.explicit_type = True
        else:
            part.media_type, part.media_subtype = "text", "plain"
    raw = first.get(b"content-transfer-encoding")
    if raw is not None:
        part.encoding = _encoding(raw)
    raw = first.get(b"content-disposition")
    if raw is not None:
        disp = _disposition(raw)
        if disp is not None:
            part.disposition, part.disposition_params = disp[0], list(disp[1])
    for name in _OTHER_CONTENT_FIELDS:
        raw = first.get(name)
        if raw is None:
            continue
        value = text(unfold(raw))
        if name == b"content-id":
            part.content_id = value
        elif name == b"content-description":
            part.description = value
        elif name == b"content-md5":
            part.md5 = value
        elif name == b"content-location":
            part.location = value
        else:
            part.language = _languages(value) or None


_OTHER_CONTENT_FIELDS = (
    b"content-id",
    b"content-description",
    b"content-md5",
    b"content-location",
    b"content-language",
)


def _parse_encoding(raw: bytes) -> str | None:
    """RFC 2045 §6.1: a single token; anything else is ignored (then 7bit)."""
    value = text(unfold(raw))
    i = skip_cfws(value, 0)
    enc, i = token(value, i)
    if enc and skip_cfws(value, i) == len(value):
        return enc
    return None


_cached_encoding = functools.lru_cache(maxsize=256)(_parse_encoding)


def _encoding(raw: bytes) -> str | None:
    if len(raw) > 80:
        return _parse_encoding(raw)
    return _cached_encoding(raw)


def _parse_disposition(raw: bytes) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    disp = parse_disposition(text(unfold(raw)))
    return None if disp is None else (disp[0], tuple(disp[1]))


_cached_disposition = functools.lru_cache(maxsize=1024)(_parse_disposition)


def _disposition(raw: bytes) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    """A raw Content-Disposition value parsed; short ones (``inline``, ``attachment``
    with a common file name) once per mailbox."""
    if len(raw) > 80:
        return _parse_disposition(raw)
    return _cached_disposition(raw)


def _parse_media_type(raw: bytes) -> tuple[str, str, tuple[tuple[str, str], ...]] | None:
    media = parse_media_type(text(unfold(raw)))
    return None if media is None else (media[0], media[1], tuple(media[2]))


_cached_media_type = functools.lru_cache(maxsize=1024)(_parse_media_type)


def _media_type(raw: bytes) -> tuple[str, str, tuple[tuple[str, str], ...]] | None:
    """A raw Content-Type value parsed; the few values a mailbox uses are parsed once
    (multipart boundaries differ per message, so long values are not cached)."""
    if len(raw) > 80:
        return _parse_media_type(raw)
    return _cached_media_type(raw)


def _languages(value: str) -> list[str]:
    """RFC 3282 language tags of a Content-Language value."""
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        i = skip_cfws(value, i)
        tag, j = token(value, i)
        if tag:
            out.append(tag)
        j = skip_cfws(value, j)
        nxt = value.find(",", j)
        if nxt < 0:
            break
        i = nxt + 1
    return out


def _parse_entity(
    data: bytes, start: int, end: int, depth: int, budget: _Budget, default: tuple[str, str]
) -> Part:
    budget.parts += 1
    part = _entity(data, start, end, *default)
    mtype = part.media_type.lower()
    if mtype == "text":
        # the usual leaf: nothing below it
        part.lines = data.count(b"\n", part.header_end, end)
        return part
    if depth >= MAX_DEPTH or budget.parts >= MAX_PARTS:
        # Too deep or too many: a leaf, except that message/rfc822 still gets its
        # header so that ENVELOPE can be answered.
        part.lines = data.count(b"\n", part.header_end, end)
        if part.is_message:
            child = _entity(data, part.header_end, end, "text", "plain")
            child.complete = False
            part.children.append(child)
        return part
    if mtype == "multipart" and part.boundary is not None:
        boundary = part.boundary
        child_default = ("message", "rfc822") if part.subtype == "digest" else ("text", "plain")
        for cstart, cend in _split_multipart(data, part.header_end, end, boundary):
            if budget.parts >= MAX_PARTS:
                break
            part.children.append(
                _parse_entity(data, cstart, cend, depth + 1, budget, child_default)
            )
    elif part.is_message:
        part.children.append(
            _parse_entity(data, part.header_end, end, depth + 1, budget, ("text", "plain"))
        )
        part.lines = data.count(b"\n", part.header_end, end)
    return part


def _split_multipart(data: bytes, start: int, end: int, boundary: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each body part between the delimiter lines (RFC 2046 §5.1.1)."""
    delim = boundary.encode("utf-8", "surrogateescape")
    delim = b"--" + delim
    # (line start, offset after the line) of each delimiter line, and whether it closes.
    lines: list[tuple[int, int]] = []
    closed = False
    i = data.find(delim, start, end)
    while i >= 0:
        if i == start or data[i - 1] == 0x0A:
            after = _delimiter_end(data, i + len(delim), end)
            if after is not None:
                line_end, closing = after
                lines.append((i, line_end))
                if closing:
                    closed = True
                    break
                i = data.find(delim, line_end, end)
                continue
        i = data.find(delim, i + 1, end)
    spans: list[tuple[int, int]] = []
    for k in range(len(lines) - 1):
        pstart = lines[k][1]
        spans.append((pstart, _before_line_break(data, lines[k + 1][0], pstart)))
    if lines and not closed:
        spans.append((lines[-1][1], end))
    return spans


def _delimiter_end(data: bytes, j: int, end: int) -> tuple[int, bool] | None:
    """If a delimiter line continues validly at ``j``: (offset after the line, closing)."""
    closing = data.startswith(b"--", j) and j + 2 <= end
    for close in (True, False) if closing else (False,):
        k = j + 2 if close else j
        while k < end and data[k] in (0x20, 0x09):
            k += 1
        if k >= end:
            return end, close
        if data[k] == 0x0A:
            return k + 1, close
        if data[k] == 0x0D and (k + 1 == end or data[k + 1] == 0x0A):
            return min(k + 2, end), close
    return None


def _before_line_break(data: bytes, line_start: int, floor: int) -> int:
    """Offset of the CRLF (or LF) that ends the line before ``line_start``, not below ``floor``."""
    pos = line_start
    if pos > floor and data[pos - 1] == 0x0A:
        pos -= 1
        if pos > floor and data[pos - 1] == 0x0D:
            pos -= 1
    return pos
