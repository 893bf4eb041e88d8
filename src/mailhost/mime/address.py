"""Address lists (RFC 5322 §3.4) as IMAP ENVELOPE wants them (RFC 3501 §7.4.2).

Each address becomes ``(name, adl, mailbox, host)``.  Groups are framed as RFC 3501
describes: a start marker ``(None, None, group-name, None)`` and an end marker of four
Nones.  Parsing is lenient and never raises; RFC 2047 encoded-words stay as sent.
An address without a local part or domain gets ``MISSING_MAILBOX``/``MISSING_DOMAIN``
(as Dovecot does), because a NIL host would read as a group marker.
"""

from __future__ import annotations

import re
from typing import NamedTuple

MISSING_MAILBOX = "MISSING_MAILBOX"
MISSING_DOMAIN = "MISSING_DOMAIN"

_SPECIALS = '()<>@,;:\\".[]'
_ATOM = re.compile(r'[^ \t\r\n()<>@,;:\\".\[\]]+')  # control octets too: never stuck
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\x80-\U0010ffff-]+"
_DOT_ATOM = re.compile(rf"^{_ATEXT}(\.{_ATEXT})*$")


class Address(NamedTuple):
    name: str | None
    adl: str | None
    mailbox: str | None
    host: str | None


class _Tok(NamedTuple):
    kind: str  # "atom", "qs", "lit", "comment", or the special character itself
    text: str
    space_before: bool


def _tokenize(value: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(value)
    space = False
    while i < n:
        c = value[i]
        if c in " \t\r\n":
            space = True
            i += 1
            continue
        if c == "(":
            depth, j, buf = 0, i, []
            while j < n:
                ch = value[j]
                if ch == "\\" and j + 1 < n:
                    buf.append(value[j + 1])
                    j += 2
                    continue
                if ch == "(":
                    depth += 1
                    if depth > 1:
                        buf.append(ch)
                elif ch == ")":
                    depth -= 1
                    if depth == 0:
                        j += 1
                        break
                    buf.append(ch)
                else:
                    buf.append(ch)
                j += 1
            toks.append(_Tok("comment", "".join(buf).strip(), True))
            space = True
            i = j
            continue
        if c == '"':
            j, buf = i + 1, []
            while j < n and value[j] != '"':
                if value[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(value[j])
                j += 1
            toks.append(_Tok("qs", "".join(buf), space))
            i = j + 1
        elif c == "[":
            j = value.find("]", i)
            j = n if j < 0 else j + 1
            toks.append(_Tok("lit", value[i:j], space))
            i = j
        elif c in _SPECIALS:
            toks.append(_Tok(c, c, space))
            i += 1
        else:
            m = _ATOM.match(value, i)
            assert m is not None
            toks.append(_Tok("atom", m.group(), space))
            i = m.end()
        space = False
    return toks


def _phrase(toks: list[_Tok]) -> str | None:
    out: list[str] = []
    for t in toks:
        if t.kind == "comment":
            continue
        if out and t.space_before:
            out.append(" ")
        out.append(t.text)
    text = "".join(out).strip()
    return text or None


def _comment(toks: list[_Tok]) -> str | None:
    for t in reversed(toks):
        if t.kind == "comment" and t.text:
            return t.text
    return None


def _local_part(toks: list[_Tok]) -> str | None:
    words = [t for t in toks if t.kind != "comment"]
    if not words:
        return None
    if len(words) == 1 and words[0].kind == "qs":
        text = words[0].text
        if _DOT_ATOM.match(text):
            return text
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "".join(t.text for t in words) or None


def _domain(toks: list[_Tok]) -> str | None:
    return "".join(t.text for t in toks if t.kind != "comment") or None


def parse_address_list(value: str) -> list[Address]:
    """Addresses and group markers of an unfolded address-list value, in order."""
    toks = _tokenize(value)
    out: list[Address] = []
    in_group = False
    i, n = 0, len(toks)
    stops = {"<", ":", "@", ",", ";", ">"}
    while i < n:
        kind = toks[i].kind
        if kind in (",", ">"):
            i += 1
            continue
        if kind == ";":
            if in_group:
                out.append(Address(None, None, None, None))
                in_group = False
            i += 1
            continue
        j = i
        while j < n and toks[j].kind not in stops:
            j += 1
        phrase = toks[i:j]
        stop = toks[j].kind if j < n else ""
        if stop == ":":
            if not in_group:
                out.append(Address(None, None, _phrase(phrase) or "", None))
                in_group = True
            i = j + 1
            continue
        if stop == "<":
            i, addr = _angle_addr(toks, j + 1, phrase)
            out.append(addr)
        elif stop == "@":
            k = j + 1
            while k < n and toks[k].kind in ("atom", ".", "lit", "comment"):
                second_word = toks[k].space_before and toks[k].kind in ("atom", "lit")
                if k > j + 1 and second_word and toks[k - 1].kind not in (".", "comment"):
                    break  # the domain has ended
                k += 1
            domain_toks = toks[j + 1 : k]
            name = _comment(phrase + domain_toks)
            out.append(
                Address(
                    name,
                    None,
                    _local_part(phrase) or MISSING_MAILBOX,
                    _domain(domain_toks) or MISSING_DOMAIN,
                )
            )
            i = k
        else:
            mailbox = _local_part(phrase)
            if mailbox is not None:
                out.append(Address(_comment(phrase), None, mailbox, MISSING_DOMAIN))
            i = j
        # Skip junk up to the next separator.
        while i < n and toks[i].kind not in (",", ";"):
            if toks[i].kind == "<":
                break
            i += 1
    if in_group:
        out.append(Address(None, None, None, None))
    return out


def _angle_addr(toks: list[_Tok], i: int, phrase: list[_Tok]) -> tuple[int, Address]:
    """``[route] addr-spec ">"`` from ``i`` (just after ``<``)."""
    n = len(toks)
    end = i
    while end < n and toks[end].kind != ">":
        end += 1
    inner = toks[i:end]
    adl: str | None = None
    colon = next((k for k, t in enumerate(inner) if t.kind == ":"), -1)
    if colon >= 0 and inner and inner[0].kind == "@":
        adl = "".join(t.text for t in inner[:colon] if t.kind != "comment") or None
        inner = inner[colon + 1 :]
    at = max((k for k, t in enumerate(inner) if t.kind == "@"), default=-1)
    if at >= 0:
        local, domain = _local_part(inner[:at]), _domain(inner[at + 1 :])
    else:
        local, domain = _local_part(inner), None
    name = _phrase(phrase) or _comment(phrase + inner)
    addr = Address(name, adl, local or MISSING_MAILBOX, domain or MISSING_DOMAIN)
    return min(end + 1, n), addr
