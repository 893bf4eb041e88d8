"""FETCH BODY and BODYSTRUCTURE (RFC 3501 §7.4.2, grammar in §9).

Output follows Dovecot's ``imap-bodystructure.c`` so that clients moving over see the
same structure:

* type, subtype, parameter names and values, encodings and dispositions are sent in
  the case the message uses (RFC 3501 compares them case-insensitively; lower-casing
  values would break case-sensitive ones such as boundaries and file names);
* the defaults the message does not state are written in lower case, as Dovecot
  writes them: ``"text" "plain"`` for a missing Content-Type, ``"7bit"`` for a missing
  Content-Transfer-Encoding, and a ``"charset" "us-ascii"`` parameter added to any
  text/* part without one (RFC 2045 §5.2, RFC 2046 §4.1.2);
* message/rfc822 is always written ``"message" "rfc822"``;
* a multipart with no parts gets one empty text/plain part, since the grammar needs
  at least one;
* RFC 2231 parameters are sent in RFC 2231 form (continuations joined), for the client
  to decode.

Sizes are octets of the part's body only; line counts are its LF count.
"""

from __future__ import annotations

import functools

from mailhost.imap import wire
from mailhost.imap.envelope import envelope, imap_string
from mailhost.mime.headers import Params, wire_bytes
from mailhost.mime.structure import Part, complete

_EMPTY_BODY = b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0)'
_EMPTY_BODYSTRUCTURE = b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)'


def bodystructure(part: Part, data: bytes, extensible: bool = True) -> bytes:
    """The parenthesised ``body`` of ``part``: BODYSTRUCTURE, or BODY when not extensible.

    A ``headers_only`` parse is completed first.
    """
    out: list[bytes] = []
    _write(complete(part, data), data, extensible, out)
    return b"".join(out)


def _s(value: str) -> bytes:
    if len(value) > 64:
        return _string(value)
    return _short_string(value)


def _string(value: str) -> bytes:
    return imap_string(wire_bytes(value))


#: Types, parameter names, charsets and encodings recur in every message of a folder.
_short_string = functools.lru_cache(maxsize=2048)(_string)


def _ns(value: str | None) -> bytes:
    return b"NIL" if value is None else _s(value)


def _params(params: Params, default_charset: bool = False) -> bytes:
    items: list[bytes] = []
    seen_charset = False
    for name, value in params:
        if name.lower() == "charset":
            seen_charset = True
        items.append(_s(name))
        items.append(_s(value))
    if default_charset and not seen_charset:
        items.append(b'"charset" "us-ascii"')
    if not items:
        return b"NIL"
    return wire.plist(items)


def _common_ext(part: Part) -> bytes:
    """``body-fld-dsp SP body-fld-lang SP body-fld-loc``."""
    if part.disposition is None:
        dsp = b"NIL"
    else:
        dsp = b"(" + _s(part.disposition) + b" " + _params(part.disposition_params) + b")"
    lang = b"NIL" if not part.language else wire.plist([_s(x) for x in part.language])
    return dsp + b" " + lang + b" " + _ns(part.location)


def _write(part: Part, data: bytes, ext: bool, out: list[bytes]) -> None:
    mtype = part.media_type.lower()
    if mtype == "multipart" and part.is_multipart:
        out.append(b"(")
        if part.children:
            for child in part.children:
                _write(child, data, ext, out)
        else:
            out.append(_EMPTY_BODYSTRUCTURE if ext else _EMPTY_BODY)
        out.append(b" " + _s(part.media_subtype))
        if ext:
            out.append(b" " + _params(part.params) + b" " + _common_ext(part))
        out.append(b")")
        return
    is_text = mtype == "text"
    if is_text or not part.is_message:
        out.append(_leaf(part, is_text, ext))
        return
    # message/rfc822: the encapsulated message's envelope and structure follow
    out.append(b'("message" "rfc822" ' + _body_fields(part, False) + b" %d " % part.body_size)
    inner = part.children[0]
    out.append(envelope(inner, data) + b" ")
    _write(inner, data, ext, out)
    out.append(b" %d" % part.lines + _extension(part, ext))


def _leaf(part: Part, is_text: bool, ext: bool) -> bytes:
    """``body-type-text`` or ``body-type-basic`` with its extension data."""
    head = _type_head(part.media_type, part.media_subtype) + _body_fields(part, is_text)
    if is_text:
        return head + b" %d %d" % (part.body_size, part.lines) + _extension(part, ext)
    return head + b" %d" % part.body_size + _extension(part, ext)


def _body_fields(part: Part, is_text: bool) -> bytes:
    """``body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc`` (no size)."""
    params = part.params
    if not params:
        out = b'("charset" "us-ascii")' if is_text else b"NIL"
    elif len(params) == 1 and len(params[0][0]) + len(params[0][1]) <= 64:
        # the usual lone charset (or name) parameter
        out = _one_param(params[0], is_text)
    else:
        out = _params(params, default_charset=is_text)
    cid, description = part.content_id, part.description
    if cid is None and description is None:
        out += b" NIL NIL "
    else:
        out += b" " + _ns(cid) + b" " + _ns(description) + b" "
    encoding = part.encoding
    return out + (_s(encoding) if encoding else b'"7bit"')


def _extension(part: Part, ext: bool) -> bytes:
    """``SP body-ext-1part`` and the closing parenthesis."""
    if not ext:
        return b")"
    if (
        part.md5 is None
        and part.disposition is None
        and not part.language
        and part.location is None
    ):
        return b" NIL NIL NIL NIL)"
    return b" " + _ns(part.md5) + b" " + _common_ext(part) + b")"


def _type_head(media_type: str, media_subtype: str) -> bytes:
    """``("type" "subtype" `` of a leaf."""
    if len(media_type) + len(media_subtype) > 64:
        return _format_type_head(media_type, media_subtype)
    return _cached_type_head(media_type, media_subtype)


def _format_type_head(media_type: str, media_subtype: str) -> bytes:
    return b"(" + _s(media_type) + b" " + _s(media_subtype) + b" "


def _format_one_param(param: tuple[str, str], default_charset: bool) -> bytes:
    return _params([param], default_charset)


#: A mailbox has a few kinds of leaf part, with a few charsets.
_cached_type_head = functools.lru_cache(maxsize=1024)(_format_type_head)
_one_param = functools.lru_cache(maxsize=1024)(_format_one_param)
