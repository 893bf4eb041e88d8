"""Decoded text of headers and bodies, for SEARCH (RFC 3501 §6.4.4).

Everything here is best effort and never raises: RFC 2047 encoded-words are decoded,
raw 8-bit headers are read as UTF-8 (falling back to Windows-1252), bodies are
transfer-decoded (base64, quoted-printable) and charset-decoded with replacement.
"""

from __future__ import annotations

import binascii
import re

from mailhost.mime.headers import decode_charset, unfold
from mailhost.mime.structure import Part, complete

_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
_BETWEEN_WORDS = re.compile(rb"(\?=)[ \t\r\n]+(?==\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)")


def decode_raw(raw: bytes) -> str:
    """Unencoded header octets as text: UTF-8 if valid, else Windows-1252."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def decode_words(value: bytes) -> str:
    """RFC 2047 decoding of an unfolded header value (whitespace between words dropped)."""
    if b"=?" not in value:
        return decode_raw(value)
    value = _BETWEEN_WORDS.sub(rb"\1", value)
    out: list[str] = []
    pos = 0
    for m in _ENCODED_WORD.finditer(value):
        out.append(decode_raw(value[pos : m.start()]))
        charset = m.group(1).split(b"*", 1)[0].decode("ascii", "replace")  # RFC 2231 §5
        payload = m.group(3)
        is_b = m.group(2) in b"bB"
        raw = _b64(payload) if is_b else binascii.a2b_qp(payload.replace(b"_", b" "))
        out.append(decode_charset(raw, charset))
        pos = m.end()
    out.append(decode_raw(value[pos:]))
    return "".join(out)


def _b64(payload: bytes) -> bytes:
    """Lenient base64: stray characters skipped, padding repaired, never raises."""
    payload = _NOT_BASE64.sub(b"", payload)
    if len(payload) % 4 == 1:  # a lone trailing sextet carries no octet
        payload = payload[:-1]
    try:
        return binascii.a2b_base64(payload + b"=" * (-len(payload) % 4))
    except binascii.Error:
        return b""


def header_values(part: Part, data: bytes, name: str) -> list[str]:
    """Decoded values of every field called ``name`` in ``part``'s header, in order."""
    return [decode_words(unfold(value)) for value in part.values_of(name)]


def header_text(part: Part, data: bytes) -> str:
    """All of ``part``'s header fields as decoded ``Name: value`` lines."""
    return "".join(f"{name}: {decode_words(unfold(value))}\n" for name, value in part.headers)


def transfer_decode(part: Part, data: bytes) -> bytes:
    """The body of a leaf part with its Content-Transfer-Encoding undone (RFC 2045 §6)."""
    body = data[part.header_end : part.body_end]
    enc = (part.encoding or "7bit").lower()
    if enc == "base64":
        return _b64(body)
    if enc == "quoted-printable":
        return binascii.a2b_qp(body)
    return body


def part_text(part: Part, data: bytes) -> str:
    """The decoded text of one text/* leaf part."""
    return decode_charset(transfer_decode(part, data), part.charset or "us-ascii")


def body_text(part: Part, data: bytes) -> str:
    """The decoded text of every text/* part under ``part`` (HTML included as is)."""
    leaves = complete(part, data).walk()
    texts = [part_text(p, data) for p in leaves if p.is_text and not p.children]
    return "\n".join(texts)
