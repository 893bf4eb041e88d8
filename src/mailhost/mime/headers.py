"""Header blocks by byte offset, and the MIME parameter syntax (RFC 5322 §2.2, RFC 2045 §5.1).

IMAP sections must be exact slices of the stored message, so header fields are located by
offset here rather than re-serialised.  Values are kept as raw bytes; the few structured
ones MIME needs (Content-Type and friends) are parsed from a text form that decodes bytes
with ``surrogateescape``, so 8-bit octets survive a round trip to the wire unchanged.
"""

from __future__ import annotations

import re
import urllib.parse
from itertools import repeat
from typing import NamedTuple

#: A whole field: its name (RFC 5322 ``ftext``), optional obsolete whitespace, the colon,
#: the value with its continuation lines (lines that begin with whitespace), and the final
#: line break if there is one.
_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)\n?")
#: :data:`_FIELD` with the whole field, the name, and the value from its first octet that
#: is not whitespace (its final CR still on), so that one ``findall`` reads a whole block.
_FIELD_PARTS = re.compile(rb"(([\x21-\x39\x3b-\x7e]+)[ \t]*:[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)\n)")
_TOKEN = re.compile(r"[^\x00-\x20\x7f()<>@,;:\\\"/\[\]?=]+")
_SECTION = re.compile(r"^(.*?)\*(?:(\d+)(\*)?)?$", re.DOTALL)

Params = list[tuple[str, str]]


class HeaderField(NamedTuple):
    """One header field: its name as written and where its lines lie in the message.

    A named tuple rather than a dataclass: a message has dozens and a folder listing
    parses thousands of headers, so construction cost counts.
    """

    #: The field name as written (obsolete whitespace before the colon removed).
    name: str
    #: Offset of the first octet of the field's first line.
    start: int
    #: Offset just after the field's last line break (folded lines included).
    end: int
    #: The raw value: octets after the colon up to the final line break, leading
    #: whitespace removed, folding kept.
    value: bytes


def text(value: bytes) -> str:
    """A header value as text: 8-bit octets kept losslessly as surrogate escapes."""
    return value.decode("utf-8", "surrogateescape")


def wire_bytes(value: str) -> bytes:
    """Inverse of :func:`text`: the exact octets a value was parsed from."""
    return value.encode("utf-8", "surrogateescape")


def unfold(value: bytes) -> bytes:
    """RFC 5322 §2.2.3 unfolding (line breaks removed), surrounding whitespace trimmed."""
    if b"\n" in value or b"\r" in value:
        value = value.replace(b"\r", b"").replace(b"\n", b"")
    return value.strip(b" \t")


def scan_header(data: bytes, start: int, limit: int) -> tuple[list[HeaderField], int]:
    """Fields of the header block at ``start`` and the offset where its body begins.

    The block ends after the first empty line (RFC 5322 §2.1), which belongs to the
    header as RFC 3501 §6.4.5 ``HEADER`` requires.  Mail from broken software sometimes
    lacks that line: a line that is neither a field nor a continuation then starts the
    body, as Python's ``email`` parser also decides.  A leading mbox ``From`` line is
    skipped.  Never reads past ``limit``.
    """
    fast = scan_fields(data, start, limit)
    if fast is None:
        return _scan_lines(data, start, limit)
    (wholes, names, values), header_end = fast
    fields: list[HeaderField] = []
    append = fields.append
    new = tuple.__new__
    pos = start
    for whole, name, value in zip(wholes, names, values, strict=True):
        end = pos + len(whole)
        append(new(HeaderField, (name.decode("ascii"), pos, end, value)))
        pos = end
    return fields, header_end


#: Longest header block (with its empty line) that :func:`scan_fields` reads.
_QUICK_MAX = 64 * 1024
#: Columns of a header block's fields: whole fields, names, values.
FieldColumns = tuple[tuple[bytes, ...], tuple[bytes, ...], tuple[bytes, ...]]


def scan_fields(data: bytes, start: int, limit: int) -> tuple[FieldColumns, int] | None:
    """:func:`scan_header` of the usual header block, in one regular-expression pass.

    For a block that is nothing but fields ending at the first CRLF CRLF (as the store
    serves mail): the octets of each whole field, each name and each value (as
    :attr:`HeaderField.value` has it), and the offset where the body begins.  None for
    anything else (an mbox ``From`` line, a line that is not a field, a header not ended
    by CRLF CRLF, one over ``_QUICK_MAX``), which :func:`scan_header` reads line by line.
    """
    block_end = _quick_block_end(data, start, limit)
    if block_end is None:
        return None
    found = _FIELD_PARTS.findall(data, start, block_end)
    if not found:
        return None
    wholes, names, values = zip(*found, strict=True)
    # the fields must tile the block: no line skipped, nothing left over
    if sum(map(len, wholes)) != block_end - start:
        return None
    # every field ends with a line break: its CR is not part of the value
    return (wholes, names, tuple(map(bytes.removesuffix, values, repeat(b"\r")))), block_end + 2


#: One field of a CRLF header block, anchored at a line start: its name and its value
#: (folding kept, final CRLF not).  :func:`field_values` reads a whole block with it.
_FIELD_AT_LINE = re.compile(
    rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)\r\n", re.MULTILINE
)


def field_values(
    data: bytes, start: int, limit: int
) -> tuple[tuple[bytes, ...], tuple[bytes, ...], int] | None:
    """The names and values of :func:`scan_fields`, and the offset where the body begins,
    without the whole fields: the cheaper pass for callers that need no field's offsets
    (a MIME parse).  None where :func:`scan_fields` gives None, and also for a block with a
    line ended by a bare LF (the store serves CRLF only)."""
    block_end = _quick_block_end(data, start, limit)
    if block_end is None:
        return None
    found = _FIELD_AT_LINE.findall(data, start, block_end)
    # each match is a line not starting with whitespace and the continuation lines after
    # it: the fields tile the block when they are as many as such lines
    lines = data.count(b"\n", start, block_end)
    if len(found) != lines:
        folded = data.count(b"\n ", start, block_end) + data.count(b"\n\t", start, block_end)
        if not found or len(found) != lines - folded:
            return None
    names, values = zip(*found, strict=True)
    return names, values, block_end + 2


def _quick_block_end(data: bytes, start: int, limit: int) -> int | None:
    """Where a header block read in one pass ends (after the CRLF of its last field):
    None for an mbox ``From`` line or no CRLF CRLF within ``_QUICK_MAX`` octets."""
    if data.startswith(b"From ", start):
        return None
    # (bounded, so that a part without an empty line costs no more than a short look)
    blank = data.find(b"\r\n\r\n", start, min(limit, start + _QUICK_MAX))
    return None if blank < start else blank + 2


def _scan_lines(data: bytes, start: int, limit: int) -> tuple[list[HeaderField], int]:
    fields: list[HeaderField] = []
    pos = start
    if data.startswith(b"From ", pos):
        nl = data.find(b"\n", pos, limit)
        pos = limit if nl < 0 else nl + 1
    # stray whitespace lines before the first field are skipped
    while pos < limit and data[pos] in (0x20, 0x09):
        nl = data.find(b"\n", pos, limit)
        pos = limit if nl < 0 else nl + 1
    match = _FIELD.match
    append = fields.append
    while pos < limit:
        m = match(data, pos, limit)
        if m is None:
            first = data[pos]
            if first == 0x0A:
                return fields, pos + 1
            if first == 0x0D and data.startswith(b"\r\n", pos):
                return fields, min(pos + 2, limit)
            return fields, pos
        name, value = m.group(1, 2)
        end = m.end()
        if end > m.end(2) and value.endswith(b"\r"):
            value = value[:-1]
        append(HeaderField(name.decode("ascii"), pos, end, value.lstrip(b" \t")))
        pos = end
    return fields, pos


def first_value(fields: list[HeaderField], name: str) -> bytes | None:
    """The raw value of the first field called ``name`` (case-insensitive), if any."""
    lname = name.lower()
    for f in fields:
        if f.name.lower() == lname:
            return f.value
    return None


# --- RFC 2045 structured values ---------------------------------------------------------


def skip_cfws(s: str, i: int) -> int:
    """Skip whitespace and (nested) comments from ``i``."""
    n = len(s)
    while i < n:
        c = s[i]
        if c in " \t\r\n":
            i += 1
        elif c == "(":
            depth = 0
            while i < n:
                c = s[i]
                if c == "\\":
                    i += 2
                    continue
                if c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                    if depth == 0:
                        i += 1
                        break
                i += 1
        else:
            break
    return min(i, n)


def token(s: str, i: int) -> tuple[str, int]:
    """An RFC 2045 token at ``i`` ("" if none) and the offset after it."""
    match = _TOKEN.match(s, i)
    if match is None:
        return "", i
    return match.group(), match.end()


def quoted_string(s: str, i: int) -> tuple[str, int]:
    """The content of the quoted string opening at ``s[i] == '"'``; unterminated runs to the end."""
    out: list[str] = []
    i += 1
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n:
            out.append(s[i + 1])
            i += 2
        elif c == '"':
            return "".join(out), i + 1
        else:
            if c not in "\r\n":
                out.append(c)
            i += 1
    return "".join(out), i


def parse_media_type(value: str) -> tuple[str, str, Params] | None:
    """``type/subtype; params`` of a Content-Type value, or None when it has no valid type.

    RFC 2045 §5.2 recommends treating an invalid Content-Type as the default, so the
    caller falls back to text/plain.  The type names keep the case they were sent in.
    """
    i = skip_cfws(value, 0)
    mtype, i = token(value, i)
    i = skip_cfws(value, i)
    if not mtype or i >= len(value) or value[i] != "/":
        return None
    i = skip_cfws(value, i + 1)
    subtype, i = token(value, i)
    if not subtype:
        return None
    return mtype, subtype, parse_params(value, i)


def parse_disposition(value: str) -> tuple[str, Params] | None:
    """``disposition; params`` of a Content-Disposition value (RFC 2183), None if invalid."""
    i = skip_cfws(value, 0)
    kind, i = token(value, i)
    if not kind:
        return None
    return kind, parse_params(value, i)


def parse_params(value: str, i: int) -> Params:
    """``; name=value`` pairs from ``i``, leniently, with RFC 2231 continuations merged.

    Accepts what real mail contains: a trailing or doubled ``;``, comments, quoted
    values holding ``;``, and unquoted values with spaces (taken up to the next ``;``).
    A parameter without ``=`` is dropped.  Values keep their case.
    """
    raw: Params = []
    n = len(value)
    while i < n:
        i = skip_cfws(value, i)
        if i >= n:
            break
        if value[i] == ";":
            i += 1
            continue
        name, j = token(value, i)
        j = skip_cfws(value, j)
        if not name or j >= n or value[j] != "=":
            i = _next_semicolon(value, max(j, i + 1))
            continue
        j = skip_cfws(value, j + 1)
        if j < n and value[j] == '"':
            pval, j = quoted_string(value, j)
        else:
            start = j
            pval, j = token(value, j)
            k = skip_cfws(value, j)
            if k < n and value[k] != ";":
                end = _next_semicolon(value, k)
                pval = value[start:end].strip(" \t\r\n")
                j = end
        raw.append((name, pval))
        i = _next_semicolon(value, j)
    return merge_rfc2231(raw)


def _next_semicolon(s: str, i: int) -> int:
    """Offset of the next ``;`` outside quotes from ``i`` (or the end)."""
    n = len(s)
    while i < n:
        c = s[i]
        if c == ";":
            return i
        if c == '"':
            _, i = quoted_string(s, i)
            continue
        i += 1
    return n


def merge_rfc2231(raw: Params) -> Params:
    """Join RFC 2231 §3 continuations (``name*0``, ``name*1*`` ...) into one parameter.

    Exactly as Dovecot's ``rfc2231_parse``: the result stays in RFC 2231 form rather
    than being decoded (IMAP clients decode it from BODYSTRUCTURE).  When any segment
    is extended the joined parameter is ``name*`` with value
    ``charset'language'percent-encoded`` (``%`` escaped in plain segments), otherwise
    plain ``name``.  Joined parameters follow the ordinary ones, sorted by name; a set
    with a missing index is passed on unjoined.
    """
    plain: Params = []
    sections: list[tuple[str, int, bool, str]] = []
    for name, pval in raw:
        m = _SECTION.match(name)
        if m is None:
            plain.append((name, pval))
        elif m.group(2) is None:  # "name*": one extended section
            sections.append((m.group(1), 0, True, pval))
        else:
            sections.append((m.group(1), int(m.group(2)[:9]), m.group(3) is not None, pval))
    if not sections:
        return plain
    sections.sort(key=lambda sec: (sec[0], sec[1]))
    out = plain
    i = 0
    while i < len(sections):
        key = sections[i][0]
        j = i
        while j < len(sections) and sections[j][0].lower() == key.lower():
            j += 1
        group = sections[i:j]
        if any(sec[1] != index for index, sec in enumerate(group)):
            out.extend((f"{k}*{n}*" if ext else f"{k}*{n}", v) for k, n, ext, v in group)
        elif any(ext for _, _, ext, _ in group):
            pieces = [] if group[0][2] else ["''"]
            pieces.extend(v if ext else v.replace("%", "%25") for _, _, ext, v in group)
            out.append((key + "*", "".join(pieces)))
        else:
            out.append((key, "".join(v for _, _, _, v in group)))
        i = j
    return out


def param(params: Params, name: str) -> str | None:
    """The decoded value of parameter ``name`` (case-insensitive), RFC 2231 applied.

    For our own use (boundary, charset, filename), never for the wire.
    """
    lname = name.lower()
    for pname, pval in params:
        if pname.lower() == lname + "*":
            return decode_rfc2231(pval)
    for pname, pval in params:
        if pname.lower() == lname:
            return pval
    return None


def decode_rfc2231(value: str) -> str:
    """``charset'lang'%XX..`` to text; an unknown charset falls back to UTF-8 with replacement."""
    parts = value.split("'", 2)
    if len(parts) != 3:
        charset, encoded = "us-ascii", value
    else:
        charset, _, encoded = parts
    raw = urllib.parse.unquote_to_bytes(wire_bytes(encoded))
    return decode_charset(raw, charset or "us-ascii")


def decode_charset(raw: bytes, charset: str) -> str:
    """Bytes in a MIME charset to text; never raises (unknown charsets are read as UTF-8)."""
    name = charset.strip().strip('"').lower()
    if name in ("us-ascii", "ascii", "", "unknown-8bit", "x-unknown", "default"):
        name = "utf-8"
    try:
        return raw.decode(name, "replace")
    except (LookupError, ValueError, TypeError):
        return raw.decode("utf-8", "replace")
