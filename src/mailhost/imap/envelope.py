"""FETCH ENVELOPE (RFC 3501 §7.4.2).

Values go out as the message has them: RFC 2047 encoded-words stay encoded for the
client to decode, folding is removed (RFC 5322 §2.2.3), and raw 8-bit octets are sent
as literals by :mod:`mailhost.imap.wire` rather than breaking the response.  Like
Dovecot, the subject and display names are tidied for display (whitespace runs made
one space, ends trimmed).  Of repeated fields the first is used.
"""

from __future__ import annotations

import functools
import re

from mailhost.imap import wire
from mailhost.mime.address import Address, parse_address_list
from mailhost.mime.headers import HeaderField, text, unfold, wire_bytes
from mailhost.mime.structure import Part

_WSP_RUN = re.compile(rb"[ \t]+")
_FIELDS = frozenset(
    {
        "date",
        "subject",
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "in-reply-to",
        "message-id",
    }
)


def envelope(part: Part, data: bytes) -> bytes:
    """The parenthesised ENVELOPE of the message whose header ``part`` holds.

    ``part`` is the top-level message or the encapsulated message of a message/rfc822
    part.  RFC 3501: absent Date/Subject/In-Reply-To/Message-ID are NIL, present but
    empty ones the empty string; Sender and Reply-To default to From when absent or
    empty.
    """
    values = _first_values(part.fields)
    date, in_reply_to, message_id = (
        _nstring(values.get(k)) for k in ("date", "in-reply-to", "message-id")
    )
    raw_subject = values.get("subject")
    subject = b"NIL" if raw_subject is None else imap_string(for_humans(raw_subject))
    from_ = _addresses(values.get("from"))
    sender = _addresses(values.get("sender"))
    reply_to = _addresses(values.get("reply-to"))
    if sender == b"NIL":
        sender = from_
    if reply_to == b"NIL":
        reply_to = from_
    items = [
        date,
        subject,
        from_,
        sender,
        reply_to,
        _addresses(values.get("to")),
        _addresses(values.get("cc")),
        _addresses(values.get("bcc")),
        in_reply_to,
        message_id,
    ]
    return b"(" + b" ".join(items) + b")"


def _first_values(fields: list[HeaderField]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for f in fields:
        lname = f.name.lower()
        if lname in _FIELDS and lname not in out:
            out[lname] = f.value
    return out


def imap_string(value: bytes) -> bytes:
    """A header-derived value as an IMAP string.

    RFC 3501 §9 forbids NUL in strings and literals alike, so a NUL octet (seen in
    broken mail) is sent as 0x80, as Dovecot's header parser does.
    """
    if b"\x00" in value:
        value = value.replace(b"\x00", b"\x80")
    return wire.quoted(value)


def for_humans(value: bytes) -> bytes:
    """Subject and display names as Dovecot sends them: line breaks removed, runs of
    spaces and tabs made one space, ends trimmed."""
    value = value.replace(b"\r", b"").replace(b"\n", b"")
    if b"\t" in value or b"  " in value:
        value = _WSP_RUN.sub(b" ", value)
    return value.strip(b" ")


def _nstring(value: bytes | None) -> bytes:
    if value is None:
        return b"NIL"
    return imap_string(unfold(value))


def _addresses(value: bytes | None) -> bytes:
    """``(address ...)`` or NIL for an empty list (RFC 3501 ``env-from`` etc.)."""
    if value is None:
        return b"NIL"
    if len(value) > _CACHED_ADDRESS_MAX:
        return _format_addresses(value)
    return _cached_addresses(value)


#: Address fields longer than this are formatted each time rather than cached.
_CACHED_ADDRESS_MAX = 512


def _format_addresses(value: bytes) -> bytes:
    addrs = parse_address_list(text(unfold(value)))
    if not addrs:
        return b"NIL"
    return b"(" + b"".join(_address(a) for a in addrs) + b")"


#: The same From and To values recur throughout a mailbox; the result depends only on
#: the raw value, so a listing of many messages parses each distinct one once.
_cached_addresses = functools.lru_cache(maxsize=4096)(_format_addresses)


def _address(addr: Address) -> bytes:
    name = b"NIL" if addr.name is None else imap_string(for_humans(wire_bytes(addr.name)))
    return b"(" + b" ".join([name, *(_nstr(v) for v in addr[1:])]) + b")"


def _nstr(value: str | None) -> bytes:
    return b"NIL" if value is None else imap_string(wire_bytes(value))
