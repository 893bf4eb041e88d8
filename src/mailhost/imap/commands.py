"""Argument grammar shared by several commands (RFC 3501 §9, RFC 4315, RFC 3691...).

Sequence sets, flag lists, dates, FETCH attributes and SEARCH keys are parsed here into
plain values; the session (:mod:`mailhost.imap.protocol`) decides what they mean for
the selected mailbox.
"""

from __future__ import annotations

import calendar
import codecs
import datetime
import re
import time
from dataclasses import dataclass

import twisted.mail.imap4  # noqa: F401  (registers the "imap4-utf-7" codec)

from mailhost.imap.args import Args, ParseError
from mailhost.store.api import INBOX

_SEQ_SET = re.compile(rb"[0-9*:,]+")
_SAVED = re.compile(rb"\$(?![^ )])")
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_MONTH_NAMES = [""] + [m for m in calendar.month_abbr if m]


class BadMailboxName(ValueError):
    """A mailbox name that is not canonical modified UTF-7 (RFC 3501 §5.1.3)."""


# -- sequence sets -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeqSet:
    """A ``sequence-set``: ranges with ``None`` standing for ``*`` (RFC 3501 §9)."""

    ranges: tuple[tuple[int | None, int | None], ...]
    #: The set was written with ``*``.
    has_star: bool = False
    #: The set is ``$``, the saved search result (RFC 5182); :attr:`ranges` is empty.
    saved: bool = False

    def bounds(self, star: int) -> list[tuple[int, int]]:
        """Ranges with ``*`` replaced by ``star`` and ends in ascending order."""
        out = []
        for a, b in self.ranges:
            lo = star if a is None else a
            hi = star if b is None else b
            out.append((min(lo, hi), max(lo, hi)))
        return out

    def contains(self, value: int, star: int) -> bool:
        return any(lo <= value <= hi for lo, hi in self.bounds(star))

    def max_number(self) -> int:
        """The largest explicit number in the set (0 if there is none)."""
        return max((n for r in self.ranges for n in r if n is not None), default=0)


def sequence_set(args: Args, saved_ok: bool = False) -> SeqSet:
    """A ``sequence-set``; ``$`` too where ``saved_ok`` (RFC 5182 ``seq-last-command``,
    which stands alone: ``$,1`` is not a set)."""
    if saved_ok and args.peek() == b"$":
        args._match(_SAVED, "$")
        return SeqSet((), saved=True)
    raw = args._match(_SEQ_SET, "a sequence set")
    ranges: list[tuple[int | None, int | None]] = []
    for part in raw.split(b","):
        ends = part.split(b":")
        if len(ends) > 2 or not all(ends):
            raise ParseError("bad sequence set")
        values: list[int | None] = []
        for e in ends:
            if e == b"*":
                values.append(None)
            elif e.isdigit() and len(e) <= 10 and 0 < int(e) <= 0xFFFFFFFF:
                values.append(int(e))
            else:
                raise ParseError("bad sequence set")
        ranges.append((values[0], values[-1]))
    return SeqSet(tuple(ranges), b"*" in raw)


# -- flags -------------------------------------------------------------------------------


def flag(args: Args) -> str:
    """``flag``: a system flag (``\\Seen``...) or a keyword atom."""
    if args.maybe(b"\\"):
        name = args.atom()
        text = "\\" + name.decode("ascii")
        known = {
            f.upper(): f for f in ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
        }
        if text.upper() not in known:
            raise ParseError(f"unknown system flag {text}")
        return known[text.upper()]
    return args.atom().decode("ascii")


def flag_list(args: Args, parens_optional: bool = False) -> list[str]:
    """``flag-list`` (or, for STORE, flags without parentheses)."""
    if not args.maybe(b"("):
        if not parens_optional:
            raise ParseError("expected a flag list")
        flags = [flag(args)]
        while args.maybe(b" "):
            flags.append(flag(args))
        return flags
    flags = []
    if args.maybe(b")"):
        return flags
    flags.append(flag(args))
    while args.maybe(b" "):
        flags.append(flag(args))
    args.expect(b")")
    return flags


# -- dates -------------------------------------------------------------------------------


def date(args: Args) -> datetime.date:
    """``date``: ``d-Mon-yyyy``, quoted or not."""
    text = args.quoted() if args.peek() == b'"' else args.atom()
    m = re.fullmatch(rb"(\d{1,2})-([A-Za-z]{3})-(\d{4})", text)
    if not m or m.group(2).upper().decode() not in _MONTHS:
        raise ParseError("bad date")
    try:
        return datetime.date(int(m.group(3)), _MONTHS[m.group(2).upper().decode()], int(m.group(1)))
    except ValueError:
        raise ParseError("bad date") from None


def date_time(args: Args) -> float:
    """``date-time`` of APPEND (``"dd-Mon-yyyy hh:mm:ss +zzzz"``) as POSIX seconds."""
    text = args.quoted()
    m = re.fullmatch(
        rb" ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)", text
    )
    if not m or m.group(2).upper().decode() not in _MONTHS:
        raise ParseError("bad date-time")
    try:
        offset = datetime.timedelta(hours=int(m.group(8)), minutes=int(m.group(9)))
        tz = datetime.timezone(-offset if m.group(7) == b"-" else offset)
        when = datetime.datetime(
            int(m.group(3)),
            _MONTHS[m.group(2).upper().decode()],
            int(m.group(1)),
            int(m.group(4)),
            int(m.group(5)),
            int(m.group(6)),
            tzinfo=tz,
        )
    except ValueError:
        raise ParseError("bad date-time") from None
    return when.timestamp()


def format_date_time(seconds: float) -> bytes:
    """INTERNALDATE as ``"dd-Mon-yyyy hh:mm:ss +hhmm"`` (RFC 3501 §9 ``date-time``), in
    the host's time zone (``TZ``), as Dovecot shows it; SEARCH BEFORE, ON and SINCE take
    the day of an INTERNALDATE in the same zone (see :func:`local_day`)."""
    t = time.localtime(seconds)
    offset = t.tm_gmtoff // 60
    sign = b"-" if offset < 0 else b"+"
    return b'"%02d-%s-%04d %02d:%02d:%02d %s%02d%02d"' % (
        t.tm_mday,
        _MONTH_NAMES[t.tm_mon].encode(),
        t.tm_year,
        t.tm_hour,
        t.tm_min,
        t.tm_sec,
        sign,
        abs(offset) // 60,
        abs(offset) % 60,
    )


def local_day(seconds: float) -> datetime.date:
    """The day of an INTERNALDATE in the host's time zone, as it is shown."""
    return datetime.date.fromtimestamp(seconds)


# -- mailbox names -----------------------------------------------------------------------


def decode_mailbox(raw: bytes, utf8: bool = False) -> str:
    """Wire name (modified UTF-7) to the store's Unicode name; INBOX in any case is INBOX.

    Only canonical modified UTF-7 is accepted, so two wire names never reach the same
    folder (Twisted's decoder is lenient: ``&AGE-`` would decode to ``a``).  Once the
    client enabled UTF8=ACCEPT (``utf8``), names are UTF-8 as sent (RFC 6855 §3), without
    control characters (RFC 5198).
    """
    if raw.upper() == b"INBOX":
        return INBOX
    if utf8:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadMailboxName("Mailbox name is not valid UTF-8") from None
        if _CONTROL.search(text):
            raise BadMailboxName("Mailbox name has a control character")
        return text
    try:
        name = raw.decode("imap4-utf-7")
    except (UnicodeDecodeError, ValueError) as e:
        raise BadMailboxName("Mailbox name is not valid modified UTF-7") from e
    if name.encode("imap4-utf-7") != raw:
        raise BadMailboxName("Mailbox name is not canonical modified UTF-7")
    return name


#: C0 and C1 controls and DEL, which RFC 5198 (Net-Unicode) keeps out of names.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def encode_mailbox(name: str, utf8: bool = False) -> bytes:
    """The store's name as the client writes it: modified UTF-7, or UTF-8 (``utf8``)."""
    return name.encode("utf-8") if utf8 else name.encode("imap4-utf-7")


def mailbox(args: Args) -> str:
    return decode_mailbox(args.astring(), args.utf8)


# -- FETCH -------------------------------------------------------------------------------

_FETCH_NAME = re.compile(rb"[A-Za-z0-9.]+")
_MACROS = {
    b"ALL": (b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE", b"ENVELOPE"),
    b"FAST": (b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE"),
    b"FULL": (b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE", b"ENVELOPE", b"BODY"),
}
_SIMPLE = {
    b"ENVELOPE",
    b"FLAGS",
    b"INTERNALDATE",
    b"RFC822",
    b"RFC822.HEADER",
    b"RFC822.SIZE",
    b"RFC822.TEXT",
    b"BODY",
    b"BODYSTRUCTURE",
    b"UID",
    b"MODSEQ",
}


@dataclass(frozen=True, slots=True)
class FetchItem:
    """One ``fetch-att``.

    ``name`` is the attribute (``FLAGS``, ``BODY[]`` for any body section, ``BINARY[]``,
    ``BINARY.SIZE``...); for sections, ``path``/``text``/``fields`` select the part as
    :func:`mailhost.imap.sections.section_bytes` takes them and ``label`` is the name
    the response uses (``BODY[1.HEADER]<0>``).
    """

    name: bytes
    peek: bool = False
    path: tuple[int, ...] = ()
    text: str | None = None
    fields: tuple[str, ...] = ()
    origin: int | None = None
    count: int | None = None
    label: bytes = b""

    @property
    def sets_seen(self) -> bool:
        """Fetching this sets ``\\Seen`` (RFC 3501 §6.4.5)."""
        if self.name in (b"RFC822", b"RFC822.TEXT"):
            return True
        return self.name in (b"BODY[]", b"BINARY[]") and not self.peek


def _section(args: Args) -> tuple[tuple[int, ...], str | None, tuple[str, ...], bytes]:
    """``section``: the part path, the text part and the label."""
    args.expect(b"[")
    path: list[int] = []
    text: str | None = None
    fields: list[str] = []
    want_text = not args.peek().isdigit() and args.peek() != b"]"
    if args.peek().isdigit():
        path.append(args.nz_number())
        while args.maybe(b"."):
            if args.peek().isdigit():
                path.append(args.nz_number())
            else:
                want_text = True
                break
    spec = b".".join(b"%d" % n for n in path)
    if want_text:
        word = args._match(re.compile(rb"[A-Za-z.]+"), "a section name").upper()
        if word in (b"HEADER.FIELDS", b"HEADER.FIELDS.NOT"):
            args.sp()
            args.expect(b"(")
            names = [args.astring()]
            while args.maybe(b" "):
                names.append(args.astring())
            args.expect(b")")
            if not all(n.isascii() for n in names):
                raise ParseError("bad header field name")
            fields = [n.decode("ascii").upper() for n in names]
            word += b" (" + b" ".join(f.encode() for f in fields) + b")"
        elif word not in (b"HEADER", b"TEXT") and not (word == b"MIME" and path):
            raise ParseError("bad section")
        text = word.split(b" ")[0].decode()
        spec = spec + b"." + word if spec else word
    args.expect(b"]")
    return tuple(path), text, tuple(fields), spec


def _partial(args: Args) -> tuple[int | None, int | None]:
    if not args.maybe(b"<"):
        return None, None
    origin = args.number()
    args.expect(b".")
    count = args.nz_number()
    args.expect(b">")
    return origin, count


def fetch_att(args: Args) -> FetchItem:
    word = args._match(_FETCH_NAME, "a fetch attribute").upper()
    if word in (b"BODY", b"BODY.PEEK") and args.peek() == b"[":
        path, text, fields, spec = _section(args)
        origin, count = _partial(args)
        label = b"BODY[" + spec + b"]" + (b"<%d>" % origin if origin is not None else b"")
        return FetchItem(b"BODY[]", word == b"BODY.PEEK", path, text, fields, origin, count, label)
    if word in (b"BINARY", b"BINARY.PEEK", b"BINARY.SIZE") and args.peek() == b"[":
        # RFC 3516 names parts by number only; HEADER, TEXT, MIME and HEADER.FIELDS are
        # taken as Dovecot takes them (and imaptest expects): the octets BODY[...] gives,
        # since only a part's own body carries a transfer encoding to undo
        path, text, fields, spec = _section(args)
        if word == b"BINARY.SIZE":
            label = b"BINARY.SIZE[" + spec + b"]"
            return FetchItem(b"BINARY.SIZE", path=path, text=text, fields=fields, label=label)
        origin, count = _partial(args)
        label = b"BINARY[" + spec + b"]" + (b"<%d>" % origin if origin is not None else b"")
        peek = word == b"BINARY.PEEK"
        return FetchItem(b"BINARY[]", peek, path, text, fields, origin, count, label)
    if word in _SIMPLE:
        return FetchItem(word, label=word)
    raise ParseError(f"unknown fetch attribute {word.decode(errors='replace')}")


def fetch_items(args: Args) -> list[FetchItem]:
    """``ALL`` / ``FAST`` / ``FULL`` / one attribute / a parenthesised list."""
    if args.maybe(b"("):
        items = [fetch_att(args)]
        while args.maybe(b" "):
            items.append(fetch_att(args))
        args.expect(b")")
        return items
    save = args._pos
    word = args._match(_FETCH_NAME, "a fetch attribute").upper()
    if word in _MACROS and args.peek() != b"[":
        return [FetchItem(w, label=w) for w in _MACROS[word]]
    args._pos = save
    return [fetch_att(args)]


# -- SEARCH ------------------------------------------------------------------------------

#: A search key as nested tuples: ``("FLAG", "\\Seen", True)``, ``("NOT", key)``,
#: ``("OR", a, b)``, ``("AND", (keys...))``, ``("SEQ", SeqSet)``, ``("UID", SeqSet)``,
#: ``("SIZE", ">", n)``, ``("DATE", "internal"|"sent", "<"|"="|">=", date)``,
#: ``("AGE", "<"|">=", POSIX seconds)`` (the internal date against a moment),
#: ``("HEADER", name, text)``, ``("BODY", text)``, ``("TEXT", text)``, ``("ALL",)``,
#: ``("NEW",)``, ``("OLD",)``, ``("RECENT", bool)``, ``("MODSEQ", n)``.
SearchKey = tuple[object, ...]

_FLAG_KEYS = {
    b"ANSWERED": ("\\Answered", True),
    b"DELETED": ("\\Deleted", True),
    b"DRAFT": ("\\Draft", True),
    b"FLAGGED": ("\\Flagged", True),
    b"SEEN": ("\\Seen", True),
    b"UNANSWERED": ("\\Answered", False),
    b"UNDELETED": ("\\Deleted", False),
    b"UNDRAFT": ("\\Draft", False),
    b"UNFLAGGED": ("\\Flagged", False),
    b"UNSEEN": ("\\Seen", False),
}
_ADDRESS_KEYS = {b"BCC", b"CC", b"FROM", b"TO", b"SUBJECT"}
_DATE_KEYS = {
    b"BEFORE": ("internal", "<"),
    b"ON": ("internal", "="),
    b"SINCE": ("internal", ">="),
    b"SENTBEFORE": ("sent", "<"),
    b"SENTON": ("sent", "="),
    b"SENTSINCE": ("sent", ">="),
}
_MAX_DEPTH = 50


def _text(raw: bytes, charset: str) -> str:
    return raw.decode(charset, errors="replace")


def search_key(args: Args, charset: str, depth: int = 0) -> SearchKey:
    if depth > _MAX_DEPTH:
        raise ParseError("search program nested too deeply")
    if args.maybe(b"("):
        keys = [search_key(args, charset, depth + 1)]
        while args.maybe(b" "):
            keys.append(search_key(args, charset, depth + 1))
        args.expect(b")")
        return ("AND", tuple(keys))
    c = args.peek()
    if c.isdigit() or c == b"*" or c == b"$":
        return ("SEQ", sequence_set(args, saved_ok=True))
    word = args.atom().upper()
    if word == b"ALL":
        return ("ALL",)
    if word in _FLAG_KEYS:
        name, present = _FLAG_KEYS[word]
        return ("FLAG", name, present)
    if word in (b"NEW", b"OLD"):
        return (word.decode(),)
    if word == b"RECENT":
        return ("RECENT", True)
    if word in (b"KEYWORD", b"UNKEYWORD"):
        args.sp()
        return ("FLAG", flag(args), word == b"KEYWORD")
    if word in _ADDRESS_KEYS:
        args.sp()
        return ("HEADER", word.decode(), _text(args.charset_string(), charset))
    if word == b"HEADER":
        args.sp()
        field_name = args.astring()
        args.sp()
        return (
            "HEADER",
            _text(field_name, "ascii").upper(),
            _text(args.charset_string(), charset),
        )
    if word in (b"BODY", b"TEXT"):
        args.sp()
        return (word.decode(), _text(args.charset_string(), charset))
    if word in _DATE_KEYS:
        args.sp()
        which, op = _DATE_KEYS[word]
        return ("DATE", which, op, date(args))
    if word in (b"LARGER", b"SMALLER"):
        args.sp()
        return ("SIZE", ">" if word == b"LARGER" else "<", args.number())
    if word in (b"OLDER", b"YOUNGER"):
        # RFC 5032 (WITHIN): an internal date more than, or at most, n seconds ago
        args.sp()
        since = time.time() - args.nz_number()
        return ("AGE", "<" if word == b"OLDER" else ">=", since)
    if word == b"NOT":
        args.sp()
        return ("NOT", search_key(args, charset, depth + 1))
    if word == b"OR":
        args.sp()
        a = search_key(args, charset, depth + 1)
        args.sp()
        return ("OR", a, search_key(args, charset, depth + 1))
    if word == b"UID":
        args.sp()
        return ("UID", sequence_set(args, saved_ok=True))
    if word == b"UNRECENT":
        return ("RECENT", False)
    if word == b"MODSEQ":
        # RFC 7162 §3.1.5: an optional flag's entry (there is one MODSEQ per message
        # here, so it narrows nothing) and the least MODSEQ wanted
        args.sp()
        if args.peek() == b'"':
            args.astring()
            args.sp()
            if args.atom().upper() not in (b"PRIV", b"SHARED", b"ALL"):
                raise ParseError("expected priv, shared or all")
            args.sp()
        return ("MODSEQ", args.mod_sequence())
    raise ParseError(f"unknown search key {word.decode(errors='replace')}")


#: Result options of SEARCH and SORT: RFC 4731 (ESEARCH), RFC 5267 (ESORT), and SAVE of
#: RFC 5182 (SEARCHRES).
SEARCH_RETURNS = (b"MIN", b"MAX", b"ALL", b"COUNT", b"SAVE")


def search_return(args: Args) -> tuple[bytes, ...] | None:
    """``"RETURN" SP "(" [option *(SP option)] ")" SP`` before the search program (RFC
    4731 §3): the options, ``RETURN ()`` meaning ALL; None when absent.  An option not
    known is BAD (RFC 4466 §2.6.1)."""
    if not args.maybe(b"RETURN ("):
        return None
    options: list[bytes] = []
    if not args.maybe(b")"):
        while True:
            word = args.atom().upper()
            if word not in SEARCH_RETURNS:
                raise ParseError(f"unknown search return option {word.decode(errors='replace')}")
            options.append(word)
            if args.maybe(b")"):
                break
            args.sp()
    args.sp()
    return tuple(dict.fromkeys(options)) or (b"ALL",)


class BadCharset(ValueError):
    """SEARCH CHARSET names a charset we do not search in (``NO [BADCHARSET]``)."""


def search_program(args: Args) -> tuple[SearchKey, str]:
    """``[CHARSET astring SP] search-key *(SP search-key)``."""
    charset = "utf-8"
    save = (args._i, args._pos)
    if args.maybe(b"CHARSET "):
        charset = _charset(args)
        args.sp()
    else:
        args._i, args._pos = save
    return _search_keys(args, charset), charset


def _charset(args: Args) -> str:
    """The charset of SEARCH, SORT and THREAD strings, as a Python codec name.

    RFC 3501 asks for US-ASCII and UTF-8; like Dovecot (iconv), any other charset the
    platform can decode is taken too (``ISO-8859-1``, ``windows-1252``, ``KOI8-R``,
    ``Shift_JIS``...), for clients such as mutt that search in the user's locale.  Codecs
    that are not charsets (``base64``, ``idna``, ``unicode_escape``...) are refused.
    """
    name = args.astring().decode("ascii", errors="replace")
    upper = name.upper()
    if upper in ("UTF-8", "UTF8"):
        return "utf-8"
    if upper == "US-ASCII":
        return "ascii"
    try:
        codec = codecs.lookup(name).name
        "x".encode(codec)  # a bytes-to-bytes codec (base64) is not a charset
    except (LookupError, ValueError):
        raise BadCharset(upper) from None
    if codec in _NOT_CHARSETS:
        raise BadCharset(upper)
    return codec


#: Text codecs of Python that are no charset a mail client means.
_NOT_CHARSETS = frozenset(
    {"idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined", "mbcs", "oem"}
)


def _search_keys(args: Args, charset: str) -> SearchKey:
    keys = [search_key(args, charset)]
    while args.maybe(b" "):
        keys.append(search_key(args, charset))
    args.end()
    return ("AND", tuple(keys))


#: RFC 5256 sort keys; ``REVERSE`` may precede each.
#: RFC 5256 sort keys, and DISPLAYFROM and DISPLAYTO of RFC 5957 (SORT=DISPLAY).
SORT_KEYS = frozenset(
    {b"ARRIVAL", b"CC", b"DATE", b"FROM", b"SIZE", b"SUBJECT", b"TO", b"DISPLAYFROM", b"DISPLAYTO"}
)


@dataclass(frozen=True, slots=True)
class QresyncParams:
    """SELECT's ``QRESYNC (uidvalidity modseq [known-uids [seq-match]])`` (RFC 7162 §3.2.5)."""

    uidvalidity: int
    modseq: int
    #: The UIDs the client knows of (None: all of them).
    known: SeqSet | None


def qresync_params(args: Args) -> QresyncParams:
    args.expect(b"(")
    uidvalidity = args.nz_number()
    args.sp()
    modseq = args.mod_sequence()
    if modseq == 0:
        raise ParseError("mod-sequence value must not be 0")
    known = None
    if args.maybe(b" "):
        if args.peek() == b"(":
            _seq_match(args)
        else:
            known = sequence_set(args)
            if args.maybe(b" "):
                _seq_match(args)
    args.expect(b")")
    return QresyncParams(uidvalidity, modseq, known)


def _seq_match(args: Args) -> None:
    """``(known-sequence-set SP known-uid-set)``: a hint for finding expunges, which the
    store's expunge history makes unneeded; checked and left."""
    args.expect(b"(")
    sequence_set(args)
    args.sp()
    sequence_set(args)
    args.expect(b")")


def thread_program(args: Args) -> tuple[bytes, SearchKey]:
    """``thread-alg SP search-charset 1*(SP search-key)`` (RFC 5256 §4)."""
    algorithm = args.atom().upper()
    if algorithm not in THREAD_ALGORITHMS:
        raise ParseError(f"unknown threading algorithm {algorithm.decode(errors='replace')}")
    args.sp()
    charset = _charset(args)
    args.sp()
    return algorithm, _search_keys(args, charset)


#: RFC 5256 threading algorithms offered (``THREAD=`` capabilities).
THREAD_ALGORITHMS = (b"ORDEREDSUBJECT", b"REFERENCES")


def sort_program(args: Args) -> tuple[list[tuple[bytes, bool]], SearchKey]:
    """``sort-criteria SP search-charset 1*(SP search-key)`` (RFC 5256 §4): the criteria
    as ``(key, reversed)``, then the search key."""
    args.expect(b"(")
    criteria = []
    while True:
        reverse = args.maybe(b"REVERSE ")
        key = args.atom().upper()
        if key not in SORT_KEYS:
            raise ParseError(f"unknown sort key {key.decode(errors='replace')}")
        criteria.append((key, reverse))
        if not args.maybe(b" "):
            break
    args.expect(b")")
    args.sp()
    charset = _charset(args)
    args.sp()
    return criteria, _search_keys(args, charset)
