"""The quick paths of header scanning, parsing, ENVELOPE and BODYSTRUCTURE give exactly
what the general ones give.

Header blocks are read with one regular-expression pass when they are plain CRLF fields,
Content-* values and formatted pieces are memoised, and ENVELOPE is read from the first
value of each field name.  Each is checked here against the line-by-line scanner, the
uncached parser and straightforward formatters, on generated messages.
"""

from __future__ import annotations

import email.policy
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.message import MIMEMessage
from email.mime.text import MIMEText

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mimehelpers import multipart, named

from mailhost.imap import envelope as envelope_module
from mailhost.imap import wire
from mailhost.imap.bodystructure import bodystructure
from mailhost.imap.envelope import envelope, for_humans, imap_string
from mailhost.mime import headers as headers_module
from mailhost.mime import structure as structure_module
from mailhost.mime.address import parse_address_list
from mailhost.mime.headers import HeaderField, scan_header, text, unfold, wire_bytes
from mailhost.mime.structure import Part, first_fields, parse, some_fields
from mailhost.mime.text import header_text, header_values
from mailhost.store.crlf import header_block, to_crlf

# --- generated header blocks -------------------------------------------------------------

_NAMES = st.sampled_from(
    [
        "Subject",
        "subject",
        "From",
        "To",
        "Cc",
        "Date",
        "Message-ID",
        "Content-Type",
        "CONTENT-TYPE",
        "Content-Transfer-Encoding",
        "Content-Disposition",
        "Content-ID",
        "Content-Language",
        "X-Odd_Name!",
        "Sender",
        "Reply-To",
    ]
)
_VALUE = st.text(
    alphabet=st.sampled_from(list(' \tabcXYZ<>@.,;:"()=\\/\x00\x7f\r\xe9')), max_size=30
)
_LINE_END = st.sampled_from(["\r\n", "\r\n", "\r\n", "\n", "\r", "\r\r\n"])


@st.composite
def _line(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["field"] * 6 + ["folded", "spaced", "stray", "empty", "from"]))
    end = draw(_LINE_END)
    if kind == "field":
        return f"{draw(_NAMES)}:{draw(_VALUE)}{end}"
    if kind == "folded":
        fold = draw(st.sampled_from([" ", "\t"]))
        return f"{draw(_NAMES)}: {draw(_VALUE)}{end}{fold}{draw(_VALUE)}{end}"
    if kind == "spaced":
        return f"{draw(_NAMES)} \t: {draw(_VALUE)}{end}"
    if kind == "stray":
        return f"{draw(_VALUE)}{end}"
    if kind == "from":
        return f"From someone{end}"
    return end


@st.composite
def _block(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(_line(), max_size=8))
    tail = draw(st.sampled_from(["\r\n", "\r\n", "\n", ""]))
    body = draw(st.sampled_from(["", "body\r\n", "a\r\n\r\nb: c\r\n", "x: y\r\n"]))
    return ("".join(lines) + tail + body).encode("utf-8", "surrogateescape")


@settings(max_examples=600, deadline=None)
@given(_block(), st.integers(0, 3), st.integers(0, 3))
def test_scan_header_quick_path_matches_line_scanner(data: bytes, cut_start: int, cut: int) -> None:
    start = min(cut_start, len(data))
    limit = max(start, len(data) - cut)
    assert scan_header(data, start, limit) == headers_module._scan_lines(data, start, limit)


@settings(max_examples=600, deadline=None)
@given(_block(), st.integers(0, 3), st.integers(0, 3))
def test_field_values_match_line_scanner(data: bytes, cut_start: int, cut: int) -> None:
    start = min(cut_start, len(data))
    limit = max(start, len(data) - cut)
    got = headers_module.field_values(data, start, limit)
    if got is None:
        return  # declined (bare LF, not at a line start...): the line scanner reads it
    names, values, body = got
    fields, line_body = headers_module._scan_lines(data, start, limit)
    assert list(names) == [f.name.encode("ascii") for f in fields]
    assert list(values) == [f.value for f in fields]
    assert body == line_body


def test_quick_path_taken_for_store_headers() -> None:
    data = b"A: 1\r\nB:  two\r\n\tthree\r\nC : x\r\r\n\r\nbody"
    found = headers_module.scan_fields(data, 0, len(data))
    assert found is not None
    (wholes, names, values), end = found
    assert names == (b"A", b"B", b"C")
    assert values == (b"1", b"two\r\n\tthree", b"x\r")
    assert b"".join(wholes) + b"\r\n" == data[:end] and data[end:] == b"body"
    assert headers_module.field_values(data, 0, len(data)) == (names, values, end)


@pytest.mark.parametrize(
    "data",
    [
        b"From x\r\nA: 1\r\n\r\n",  # mbox From line
        b" stray\r\nA: 1\r\n\r\n",
        b"A: 1\nB: 2\n\nbody\r\n\r\n",  # LF header, CRLF CRLF in the body
        b"A: 1\r\nnot a field\r\n\r\n",
        b"\r\n\r\nA: 1\r\n\r\n",
        b"A: 1\r\n",
    ],
)
def test_quick_path_declines_unusual_blocks(data: bytes) -> None:
    assert headers_module.scan_fields(data, 0, len(data)) is None
    assert headers_module.field_values(data, 0, len(data)) is None
    assert scan_header(data, 0, len(data)) == headers_module._scan_lines(data, 0, len(data))


def test_quick_path_reads_a_bounded_block() -> None:
    fields = b"".join(b"X-Field-%d: %s\r\n" % (i, b"v" * 60) for i in range(1200))
    data = fields + b"Subject: late\r\n\r\nbody\r\n"
    assert len(data) > headers_module._QUICK_MAX
    assert headers_module.scan_fields(data, 0, len(data)) is None
    assert headers_module.field_values(data, 0, len(data)) is None
    part = parse(data)
    assert part.header("subject") == b"late" and data[part.header_end :] == b"body\r\n"
    _compare(data, part)


# --- generated messages --------------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.just("\n"), max_size=80
)
_HEADER_VALUE = st.text(alphabet=st.sampled_from(list(' abcXY<>@.,;:"()\\\t=é|')), max_size=40)


def _leaf() -> st.SearchStrategy[Message]:
    text_part = st.builds(
        lambda s, sub: MIMEText(s, sub, "us-ascii"),
        _TEXT,
        st.sampled_from(["plain", "html", "x-custom"]),
    )
    app = st.builds(
        lambda b, name: named(MIMEApplication(b, "octet-stream"), name),
        st.binary(max_size=100),
        st.sampled_from(["Report.PDF", "a b.bin", "x;y.dat", None]),
    )
    return st.one_of(text_part, app)


def _extend(children: st.SearchStrategy[Message]) -> st.SearchStrategy[Message]:
    return st.one_of(
        st.builds(
            multipart,
            st.sampled_from(["mixed", "alternative", "digest"]),
            st.lists(children, min_size=1, max_size=3),
        ),
        st.builds(MIMEMessage, children),
    )


_TREES = st.recursive(_leaf(), _extend, max_leaves=5)
_EXTRA = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "Subject",
                "From",
                "Sender",
                "Reply-To",
                "To",
                "Cc",
                "Bcc",
                "Date",
                "Message-ID",
                "In-Reply-To",
                "Content-ID",
                "Content-Description",
                "Content-MD5",
                "Content-Location",
                "Content-Language",
                "Content-Transfer-Encoding",
                "Content-Disposition",
                "Content-Type",
            ]
        ),
        _HEADER_VALUE,
    ),
    max_size=6,
)


def _message(tree: Message, extra: list[tuple[str, str]], crlf: bool) -> bytes:
    """The tree serialised, with the ``extra`` fields (raw, 8-bit, folded at ``|``) first."""
    eol = "\r\n" if crlf else "\n"
    lines = "".join(f"{name}: {value.replace('|', eol + ' ')}{eol}" for name, value in extra)
    policy = email.policy.SMTP if crlf else email.policy.compat32
    return lines.encode("utf-8") + tree.as_bytes(policy=policy)


def _general_parse(data: bytes) -> Part:
    """``parse`` with the one-pass header reading and the Content-* memos switched off."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(structure_module, "field_values", lambda data, start, limit: None)
        m.setattr(structure_module, "_cached_media_type", structure_module._parse_media_type)
        m.setattr(structure_module, "_cached_encoding", structure_module._parse_encoding)
        m.setattr(structure_module, "_cached_disposition", structure_module._parse_disposition)
        return parse(data)


_ATTRIBUTES = [
    "start",
    "header_end",
    "body_end",
    "first_values",
    "fields",
    "media_type",
    "media_subtype",
    "params",
    "explicit_type",
    "encoding",
    "content_id",
    "description",
    "md5",
    "disposition",
    "disposition_params",
    "language",
    "location",
    "lines",
    "complete",
]


def _same_tree(a: Part, b: Part) -> None:
    for name in _ATTRIBUTES:
        assert getattr(a, name) == getattr(b, name), name
    assert len(a.children) == len(b.children)
    for x, y in zip(a.children, b.children, strict=True):
        _same_tree(x, y)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TREES, _EXTRA, st.booleans())
def test_parse_and_formatting_match_general_paths(
    tree: Message, extra: list[tuple[str, str]], crlf: bool
) -> None:
    data = _message(tree, extra, crlf)
    ours = parse(data)
    # CRLF mail (as the store serves it) takes the quick path: no field list built
    assert (ours._fields is None) == crlf
    _compare(data, ours)


def _compare(data: bytes, ours: Part) -> None:
    general = _general_parse(data)
    # read from the field columns (before anything builds the field list)
    for name in ("subject", "From", "content-type", "x-a", "nothing"):
        expected = [f.value for f in general.fields if f.name.lower() == name.lower()]
        assert ours.values_of(name) == expected
        assert header_values(ours, data, name) == header_values(general, data, name)
    assert ours.headers == [(f.name, f.value) for f in general.fields]
    assert header_text(ours, data) == header_text(general, data)
    _same_tree(ours, general)
    assert envelope(ours, data) == _reference_envelope(general)
    for ext in (True, False):
        expected: list[bytes] = []
        _reference_body(general, data, ext, expected)
        assert bodystructure(ours, data, ext) == b"".join(expected)


_SEED = (
    b"From: a@b\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n"
    b"Content-Type: message/rfc822\r\n\r\nSubject: s\r\nContent-Type: multipart/alternative;"
    b" boundary=r\r\n\r\n--r\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\nContent-Disposition: inline\r\n\r\naGk=\r\n"
    b"--r--\r\n--q\r\nContent-ID: <x@y>\r\nContent-Language: en, de\r\n\r\nx\r\n--q--\r\n"
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(_SEED)),
            st.integers(0, 6),
            st.sampled_from([b"", b"\r\n", b"\n", b" ", b":", b"\r", b"X-A: 1\r\n", b"\xe9"]),
        ),
        max_size=5,
    )
)
def test_mutated_messages_match_general_paths(edits: list[tuple[int, int, bytes]]) -> None:
    data = _SEED
    for pos, drop, insert in edits:
        data = data[:pos] + insert + data[pos + drop :]
    _compare(data, parse(data))


def test_first_values_keep_the_first_field_of_a_name() -> None:
    data = b"Subject: one\r\nSUBJECT: two\r\nContent-Type: text/html\r\n\r\nx"
    part = parse(data)
    assert part.first_values == {b"subject": b"one", b"content-type": b"text/html"}
    assert part.header("subject") == b"one" and part.header("Suβject") is None
    assert part.values_of("SUBJECT") == [b"one", b"two"] and part.values_of("Suβject") == []
    assert [f.name for f in part.fields] == ["Subject", "SUBJECT", "Content-Type"]


# --- ENVELOPE pieces -----------------------------------------------------------------------

_RAW = st.binary(max_size=40) | st.text(
    alphabet=st.sampled_from(list(' \t\r\nab"\\\x00é')), max_size=30
).map(lambda s: s.encode("utf-8"))


@settings(max_examples=500, deadline=None)
@given(_RAW)
def test_quick_quoting_matches_general(value: bytes) -> None:
    assert envelope_module._subject(value) == imap_string(for_humans(value))
    assert envelope_module._nstring(value) == imap_string(unfold(value))


@pytest.mark.parametrize("size", [0, 1, 255, 256, 511, 512, 513, 1023, 1024, 1025, 4096])
def test_quick_quoting_matches_general_at_any_length(size: int) -> None:
    for value in (b"x" * size, b" " + b"y" * size + b"\t", b"a  b" * (size // 4)):
        assert envelope_module._subject(value) == imap_string(for_humans(value))
        assert envelope_module._nstring(value) == imap_string(unfold(value))


def test_long_values_are_literals() -> None:
    value = b"x" * 1500
    assert envelope_module._subject(value) == wire.literal(value)
    assert envelope_module._nstring(b" " + value) == wire.literal(value)


# --- reference formatters (the plain forms of envelope.py and bodystructure.py) ------------

_ENVELOPE_FIELDS = ("date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc")


def _reference_envelope(part: Part) -> bytes:
    values: dict[str, bytes] = {}
    for f in part.fields:
        values.setdefault(f.name.lower(), f.value)

    def nstring(v: bytes | None) -> bytes:
        return b"NIL" if v is None else imap_string(unfold(v))

    def addresses(v: bytes | None) -> bytes:
        if v is None:
            return b"NIL"
        addrs = parse_address_list(text(unfold(v)))
        if not addrs:
            return b"NIL"
        out = []
        for a in addrs:
            name = b"NIL" if a.name is None else imap_string(for_humans(wire_bytes(a.name)))
            rest = [b"NIL" if x is None else imap_string(wire_bytes(x)) for x in a[1:]]
            out.append(b"(" + b" ".join([name, *rest]) + b")")
        return b"(" + b"".join(out) + b")"

    subject = values.get("subject")
    from_ = addresses(values.get("from"))
    sender = addresses(values.get("sender"))
    reply_to = addresses(values.get("reply-to"))
    items = [
        nstring(values.get("date")),
        b"NIL" if subject is None else imap_string(for_humans(subject)),
        from_,
        from_ if sender == b"NIL" else sender,
        from_ if reply_to == b"NIL" else reply_to,
        addresses(values.get("to")),
        addresses(values.get("cc")),
        addresses(values.get("bcc")),
        nstring(values.get("in-reply-to")),
        nstring(values.get("message-id")),
    ]
    return b"(" + b" ".join(items) + b")"


def _s(value: str) -> bytes:
    return imap_string(wire_bytes(value))


def _ns(value: str | None) -> bytes:
    return b"NIL" if value is None else _s(value)


def _params(params: list[tuple[str, str]], default_charset: bool = False) -> bytes:
    items: list[bytes] = []
    for name, value in params:
        items += [_s(name), _s(value)]
    if default_charset and not any(n.lower() == "charset" for n, _ in params):
        items.append(b'"charset" "us-ascii"')
    return wire.plist(items) if items else b"NIL"


def _common_ext(part: Part) -> bytes:
    dsp = b"NIL"
    if part.disposition is not None:
        dsp = b"(" + _s(part.disposition) + b" " + _params(part.disposition_params) + b")"
    lang = b"NIL" if not part.language else wire.plist([_s(x) for x in part.language])
    return dsp + b" " + lang + b" " + _ns(part.location)


def _reference_body(part: Part, data: bytes, ext: bool, out: list[bytes]) -> None:
    out.append(b"(")
    if part.is_multipart:
        for child in part.children:
            _reference_body(child, data, ext, out)
        if not part.children:
            out.append(b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0')
            out.append(b" NIL NIL NIL NIL)" if ext else b")")
        out.append(b" " + _s(part.media_subtype))
        if ext:
            out.append(b" " + _params(part.params) + b" " + _common_ext(part))
        out.append(b")")
        return
    if part.is_message:
        out.append(b'"message" "rfc822"')
    else:
        out.append(_s(part.media_type) + b" " + _s(part.media_subtype))
    out.append(b" " + _params(part.params, default_charset=part.is_text))
    out.append(b" " + _ns(part.content_id) + b" " + _ns(part.description))
    out.append(b" " + (_s(part.encoding) if part.encoding else b'"7bit"'))
    out.append(b" %d" % part.body_size)
    if part.is_text:
        out.append(b" %d" % part.lines)
    elif part.is_message:
        inner = part.children[0]
        out.append(b" " + _reference_envelope(inner) + b" ")
        _reference_body(inner, data, ext, out)
        out.append(b" %d" % part.lines)
    if ext:
        out.append(b" " + _ns(part.md5) + b" " + _common_ext(part))
    out.append(b")")


def test_header_field_is_a_plain_named_tuple() -> None:
    field = scan_header(b"A: 1\r\n\r\n", 0, 8)[0][0]
    assert field == HeaderField("A", 0, 6, b"1") and type(field) is HeaderField


# --- the fields SORT and THREAD read ------------------------------------------------------

_WANTED = [b"date", b"subject", b"from", b"to", b"cc", b"message-id", b"references"]


@st.composite
def _field_block(draw: st.DrawFn) -> bytes:
    """A header block as the store gives it (CRLF, through the empty line), made of fields
    only: folded, repeated, in any case, some with obsolete whitespace before the colon."""
    kinds = st.sampled_from(["field"] * 5 + ["folded", "spaced"])
    lines = []
    for kind in draw(st.lists(kinds, max_size=10)):
        name = draw(_NAMES | st.sampled_from(["References", "Date-Received", "Tone", "X"]))
        value = draw(_VALUE).replace("\r", "")
        if kind == "field":
            lines.append(f"{name}:{value}\n")
        elif kind == "folded":
            lines.append(f"{name}: {value}\n{draw(st.sampled_from([' ', chr(9)]))}{value}x\n")
        else:
            lines.append(f"{name} \t: {value}\n")
    # a message without an empty line is all header; one may even end inside a name
    tail = draw(st.sampled_from(["\nbody\n", "\nbody\n", "", "Date", "Subject:x"]))
    data = ("".join(lines) + tail).encode("utf-8", "surrogateescape")
    return header_block(to_crlf(data))


@settings(max_examples=800, deadline=None)
@given(_field_block(), st.lists(st.sampled_from(_WANTED), min_size=1, max_size=4, unique=True))
def test_some_fields_match_first_fields(block: bytes, names: list[bytes]) -> None:
    first = first_fields(block)
    assert some_fields(block, names) == {n: first[n] for n in names if n in first}


def test_some_fields_reads_on_past_a_line_that_is_not_a_field() -> None:
    """Broken mail: the full parser ends the header at the stray line; SORT finds the Date
    after it, as Dovecot does."""
    block = b"Subject: s\r\nnot a field\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\n"
    assert b"date" not in first_fields(block)
    assert some_fields(block, [b"date", b"subject"]) == {
        b"date": b"Mon, 02 Mar 2026 10:00:00 +0000",
        b"subject": b"s",
    }
