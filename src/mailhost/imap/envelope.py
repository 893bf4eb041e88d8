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
from mailhost.mime.headers import text, unfold, wire_bytes
from mailhost.mime.structure import Part

_WSP_RUN = re.compile(rb"[ \t]+")
#: Values that go out as ``"value"`` unchanged: no CR, LF, NUL, quote, backslash or
#: 8-bit octet (see :func:`mailhost.imap.wire.quoted`).
_PLAIN = re.compile(rb"[\x01-\x09\x0b\x0c\x0e-\x21\x23-\x5b\x5d-\x7f]*")
#: The longest value :func:`mailhost.imap.wire.quoted` sends quoted.
_QUOTED_MAX = 1024


def envelope(part: Part, data: bytes) -> bytes:
    """The parenthesised ENVELOPE of the message whose header ``part`` holds.

    ``part`` is the top-level message or the encapsulated message of a message/rfc822
    part.  RFC 3501: absent Date/Subject/In-Reply-To/Message-ID are NIL, present but
    empty ones the empty string; Sender and Reply-To default to From when absent or
    empty.
    """
    get = part.first_values.get
    subject = get(b"subject")
    from_ = get(b"from")
    sender = get(b"sender")
    reply_to = get(b"reply-to")
    to, cc, bcc = get(b"to"), get(b"cc"), get(b"bcc")
    if sender is None and reply_to is None and cc is None and bcc is None:
        # the usual message: From and To only
        addresses = _from_to(from_, to)
    else:
        addresses = _address_fields(from_, sender, reply_to, to, cc, bcc)
    return b"".join(
        [
            b"(",
            _nstring(get(b"date")),
            b" ",
            b"NIL" if subject is None else _subject(subject),
            b" ",
            addresses,
            b" ",
            _nstring(get(b"in-reply-to")),
            b" ",
            _nstring(get(b"message-id")),
            b")",
        ]
    )


def _address_fields(
    from_: bytes | None,
    sender: bytes | None,
    reply_to: bytes | None,
    to: bytes | None,
    cc: bytes | None,
    bcc: bytes | None,
) -> bytes:
    """``from SP sender SP reply-to SP to SP cc SP bcc`` of RFC 3501 ``envelope``."""
    from_list = _addresses(from_)
    sender_list = _addresses(sender)
    reply_to_list = _addresses(reply_to)
    if sender_list == b"NIL":
        sender_list = from_list
    if reply_to_list == b"NIL":
        reply_to_list = from_list
    items = [
        from_list,
        sender_list,
        reply_to_list,
        _addresses(to),
        _addresses(cc),
        _addresses(bcc),
    ]
    return b" ".join(items)


def _from_to(from_: bytes | None, to: bytes | None) -> bytes:
    if (from_ is None or len(from_) <= _CACHED_ADDRESS_MAX) and (
        to is None or len(to) <= _CACHED_ADDRESS_MAX
    ):
        return _cached_from_to(from_, to)
    return _address_fields(from_, None, None, to, None, None)


def _format_from_to(from_: bytes | None, to: bytes | None) -> bytes:
    return _address_fields(from_, None, None, to, None, None)


#: A mailbox's messages come from a few senders to a few recipients: the six address
#: lists of such a message are formatted once per (From, To) pair.
_cached_from_to = functools.lru_cache(maxsize=1024)(_format_from_to)


def _subject(value: bytes) -> bytes:
    """The Subject as :func:`imap_string` of :func:`for_humans` sends it."""
    if len(value) <= _QUOTED_MAX and _PLAIN.fullmatch(value) is not None:
        if b"\t" in value or b"  " in value:
            value = _WSP_RUN.sub(b" ", value)
        return b'"' + value.strip(b" ") + b'"'
    return imap_string(for_humans(value))


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
    if len(value) <= _QUOTED_MAX and _PLAIN.fullmatch(value) is not None:
        # nothing to unfold, escape or send as a literal
        return b'"' + value.strip(b" \t") + b'"'
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
