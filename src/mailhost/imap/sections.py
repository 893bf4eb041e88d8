"""FETCH body sections and partials (RFC 3501 §6.4.5).

Every result is a slice of the stored octets (HEADER.FIELDS: the chosen field lines as
they are, folding included, in message order, then the empty line), so RFC822.SIZE,
BODY[] and the parts always agree with what the client can reassemble.

Part numbers resolve as RFC 3501 and Dovecot's ``imap_msgpart_find`` do: numbers index
the parts of a multipart; a non-multipart part has only part 1, itself (so ``1.1`` of a
leaf is the leaf, as in Dovecot), and nothing below it unless it is message/rfc822,
whose further numbers index the parts of the encapsulated message.  A part that does
not exist (HEADER/TEXT of a part that is not message/rfc822 included) gives None: the
server then sends an empty string, as Dovecot's ``imap_msgpart_open`` does ("MIME part
not found. return an empty part.").
"""

from __future__ import annotations

from collections.abc import Iterable

from mailhost.imap import wire
from mailhost.mime.headers import HeaderField
from mailhost.mime.structure import Part, complete
from mailhost.mime.text import transfer_decode

TEXT_SPECS = ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME")


def find_part(root: Part, path: tuple[int, ...]) -> Part | None:
    """The part ``path`` names (``()`` is the message itself), or None."""
    part = root
    for depth, number in enumerate(path):
        more = depth + 1 < len(path)
        if part.is_multipart:
            if not 1 <= number <= len(part.children):
                return None
            part = part.children[number - 1]
        elif number != 1 or (more and not part.is_message):
            return None
        if more and part.is_message:
            part = part.children[0]
    return part


def section_bytes(
    part: Part,
    data: bytes,
    path: tuple[int, ...],
    text: str | None,
    fields: tuple[str, ...] = (),
) -> bytes | None:
    """The octets of ``BODY[<path>.<text> (<fields>)]`` or None when the part is absent.

    ``part`` is the parsed root of ``data``.  ``text`` is None for the part's body
    (``BODY[]`` for the whole message when ``path`` is empty), or one of
    :data:`TEXT_SPECS`.  HEADER, HEADER.FIELDS[.NOT] and TEXT with a path need a
    message/rfc822 part and then apply to the encapsulated message; MIME needs a path.
    """
    if path:
        part = complete(part, data)
    target = find_part(part, path)
    if target is None:
        return None
    if text is None:
        if not path:
            return data
        return data[target.header_end : target.body_end]
    spec = text.upper()
    if spec == "MIME":
        if not path:
            return None
        return data[target.start : target.header_end]
    if path:
        if not target.is_message:
            return None
        target = target.children[0]
    if spec == "HEADER":
        return data[target.start : target.header_end]
    if spec == "TEXT":
        return data[target.header_end : target.body_end]
    if spec == "HEADER.FIELDS":
        return header_fields(target.fields, data, fields, exclude=False)
    if spec == "HEADER.FIELDS.NOT":
        return header_fields(target.fields, data, fields, exclude=True)
    raise ValueError(f"unknown section text {text!r}")


def header_fields(
    fields: list[HeaderField], data: bytes, names: Iterable[str], exclude: bool
) -> bytes:
    """The lines of the fields named (or, with ``exclude``, not named) plus CRLF."""
    wanted = {n.lower() for n in names}
    out = [data[f.start : f.end] for f in fields if (f.name.lower() in wanted) != exclude]
    out.append(b"\r\n")
    return b"".join(out)


def partial(data: bytes, origin: int, count: int | None) -> bytes:
    """The ``<origin.count>`` slice (RFC 3501 §6.4.5): empty past the end, short at it."""
    origin = max(origin, 0)
    if count is None:
        return data[origin:]
    return data[origin : origin + max(count, 0)]


def parse_section_spec(spec: str) -> tuple[tuple[int, ...], str | None, tuple[str, ...]]:
    """``(path, text, fields)`` of the text between ``BODY[`` and ``]`` (RFC 3501 §9).

    Header names may be atoms or quoted strings.  Raises ValueError on bad syntax, for
    the server to answer BAD.
    """
    head, _, rest = spec.partition(" ")
    pieces = head.split(".") if head else []
    path: list[int] = []
    while pieces and pieces[0].isdigit():
        number = int(pieces.pop(0))
        if number < 1 or len(path) >= 100:
            raise ValueError("bad part number")
        path.append(number)
    text = ".".join(pieces).upper() or None
    if text is not None and text not in TEXT_SPECS:
        raise ValueError(f"bad section text {text!r}")
    if text == "MIME" and not path:
        raise ValueError("MIME needs a part number")
    if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        return tuple(path), text, _header_list(rest)
    if rest:
        raise ValueError("unexpected data after section")
    return tuple(path), text, ()


def _header_list(text: str) -> tuple[str, ...]:
    text = text.strip()
    if not (text.startswith("(") and text.endswith(")")):
        raise ValueError("header list expected")
    inner = text[1:-1]
    names: list[str] = []
    i, n = 0, len(inner)
    while i < n:
        if inner[i] == " ":
            i += 1
            continue
        if inner[i] == '"':
            j, buf = i + 1, []
            while j < n and inner[j] != '"':
                if inner[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(inner[j])
                j += 1
            if j >= n:
                raise ValueError("unterminated quoted string")
            names.append("".join(buf))
            i = j + 1
        else:
            j = inner.find(" ", i)
            j = n if j < 0 else j
            names.append(inner[i:j])
            i = j
    if not names or any(not name or any(c in name for c in "(){") for name in names):
        raise ValueError("bad header list")
    return tuple(names)


def section_label(path: tuple[int, ...], text: str | None, fields: tuple[str, ...] = ()) -> bytes:
    """The section as the FETCH response names it, e.g. ``1.2.HEADER.FIELDS (From To)``.

    Goes between ``BODY[`` and ``]``; a partial fetch adds ``<origin>`` after the
    bracket (RFC 3501 §7.4.2: the count is not echoed).
    """
    parts = [str(n).encode() for n in path]
    if text is not None:
        parts.append(text.upper().encode())
    label = b".".join(parts)
    if text is not None and text.upper().startswith("HEADER.FIELDS"):
        label += b" " + wire.plist([wire.astring(f) for f in fields])
    return label


class UnknownTransferEncoding(ValueError):
    """RFC 3516 §4.3: BINARY of a part whose Content-Transfer-Encoding we cannot undo.

    The server answers ``NO [UNKNOWN-CTE]``.
    """


def binary_section(part: Part, data: bytes, path: tuple[int, ...]) -> bytes | None:
    """``BINARY[<path>]`` (RFC 3516): the part's body with its transfer encoding undone.

    None when the part does not exist.  Composite parts (multipart, message/rfc822) and
    ``BINARY[]`` are returned as they are, since they carry no transfer encoding of
    their own (RFC 2045 §6.4).
    """
    target = find_part(complete(part, data), path)
    if target is None:
        return None
    if not path:
        return data
    if target.is_multipart or target.is_message:
        return data[target.header_end : target.body_end]
    enc = (target.encoding or "7bit").lower()
    if enc not in ("7bit", "8bit", "binary", "base64", "quoted-printable"):
        raise UnknownTransferEncoding(enc)
    return transfer_decode(target, data)
