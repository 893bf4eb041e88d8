"""Property tests: MIME trees built with Python's ``email`` package, and garbage input."""

from __future__ import annotations

import email
import email.policy
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.message import MIMEMessage
from email.mime.text import MIMEText

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imapclient.response_parser import parse_fetch_response
from mimehelpers import imaplib_form, multipart, named, read

from mailhost.imap.bodystructure import bodystructure
from mailhost.imap.envelope import envelope
from mailhost.imap.sections import find_part, partial, section_bytes
from mailhost.mime.structure import Part, parse
from mailhost.mime.text import body_text, header_text, header_values

_TEXT = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.just("\n"), max_size=200
)


def _leaf() -> st.SearchStrategy[Message]:
    text = st.builds(
        lambda s, sub: MIMEText(s, sub, "us-ascii"),
        _TEXT,
        st.sampled_from(["plain", "html", "x-custom"]),
    )
    utf8 = st.builds(lambda s: MIMEText(s + " é", "plain", "utf-8"), _TEXT)
    app = st.builds(
        lambda b, name: named(MIMEApplication(b, "octet-stream"), name),
        st.binary(max_size=300),
        st.sampled_from(["Report.PDF", "a b.bin", "x;y.dat", None]),
    )
    return st.one_of(text, utf8, app)


def _extend(children: st.SearchStrategy[Message]) -> st.SearchStrategy[Message]:
    def message(inner: Message, subject: str) -> Message:
        inner["Subject"] = subject
        inner["From"] = "Inner <inner@example.org>"
        return MIMEMessage(inner)

    return st.one_of(
        st.builds(
            multipart,
            st.sampled_from(["mixed", "alternative", "related"]),
            st.lists(children, min_size=1, max_size=4),
        ),
        st.builds(message, children, st.sampled_from(["inner", "x"])),
    )


TREES = st.recursive(_leaf(), _extend, max_leaves=8)


def _serialize(tree: Message, crlf: bool) -> bytes:
    tree["From"] = "Outer <outer@example.org>"
    tree["Subject"] = "generated"
    return tree.as_bytes(policy=email.policy.SMTP if crlf else email.policy.compat32)


def _kind(m: Message) -> str:
    return m.get_content_type()


def _message_leaves(m: Message, path: tuple[int, ...]) -> list[tuple[tuple[int, ...], Message]]:
    """(IMAP part number, python part) of every leaf of a message, per RFC 3501 numbering."""
    if m.is_multipart() and _kind(m) != "message/rfc822":
        return _part_leaves(m, path)
    return _part_leaves(m, (*path, 1))  # a non-multipart message is its own part 1


def _part_leaves(m: Message, path: tuple[int, ...]) -> list[tuple[tuple[int, ...], Message]]:
    payload = m.get_payload()
    if _kind(m) == "message/rfc822":
        assert isinstance(payload, list)
        return _message_leaves(payload[0], path)
    if m.is_multipart():
        assert isinstance(payload, list)
        out = []
        for i, child in enumerate(payload, 1):
            out.extend(_part_leaves(child, (*path, i)))
        return out
    return [(path, m)]


def _shape(m: Message) -> object:
    kind = _kind(m)
    if kind == "message/rfc822":
        payload = m.get_payload()
        assert isinstance(payload, list)
        return (kind, [_shape(payload[0])])
    if m.is_multipart():
        payload = m.get_payload()
        assert isinstance(payload, list)
        return (kind, [_shape(c) for c in payload])
    return (kind, [])


def _our_shape(p: Part) -> object:
    return (f"{p.type}/{p.subtype}", [_our_shape(c) for c in p.children])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TREES, st.booleans())
def test_generated_trees(tree: Message, crlf: bool) -> None:
    """Shape, part numbers, sizes and line counts agree with Python's parser (CRLF or LF)."""
    data = _serialize(tree, crlf)
    ours = parse(data)
    python = email.message_from_bytes(data, policy=email.policy.compat32)
    assert _our_shape(ours) == _shape(python)
    structure = bodystructure(ours, data)
    read(structure)
    read(bodystructure(ours, data, False))
    read(envelope(ours, data))
    for path, leaf in _message_leaves(python, ()):
        payload = leaf.get_payload(decode=False)
        assert isinstance(payload, str)
        expected = payload.encode("ascii", "surrogateescape")
        got = section_bytes(ours, data, path, None)
        assert got == expected, path
        part = find_part(ours, path)
        assert part is not None and part.body_size == len(expected)
        if part.is_text:
            assert part.lines == payload.count("\n")
    assert section_bytes(ours, data, (), None) == data
    _client_reads(ours, structure, data)
    header = section_bytes(ours, data, (), "HEADER")
    text = section_bytes(ours, data, (), "TEXT")
    assert header is not None and text is not None and header + text == data


def _client_reads(ours: Part, structure: bytes, data: bytes) -> None:
    """IMAPClient's response parser reads BODYSTRUCTURE and ENVELOPE as we mean them."""
    line = b"1 (BODYSTRUCTURE " + structure + b" ENVELOPE " + envelope(ours, data) + b")"
    parsed = parse_fetch_response(imaplib_form(line))[1]
    body = parsed[b"BODYSTRUCTURE"]
    assert body.is_multipart == ours.is_multipart
    if ours.is_multipart:
        assert body[1].decode().lower() == ours.subtype
        assert len(body[0]) == len(ours.children)
    else:
        assert body[0].decode().lower() == ours.type
    assert parsed[b"ENVELOPE"].subject == b"generated"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_garbage_never_raises(data: bytes) -> None:
    _exercise(data)


_SEED = (
    b"From: a@b\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n"
    b"Content-Type: message/rfc822\r\n\r\nSubject: s\r\nContent-Type: multipart/alternative;"
    b" boundary=r\r\n\r\n--r\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\naGk=\r\n--r--\r\n--q\r\n\r\nx\r\n--q--\r\n"
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, len(_SEED)), st.integers(0, 8), st.binary(max_size=8)), max_size=6
    )
)
def test_mutated_messages_never_raise(edits: list[tuple[int, int, bytes]]) -> None:
    data = _SEED
    for pos, drop, insert in edits:
        data = data[:pos] + insert + data[pos + drop :]
    _exercise(data)


def _exercise(data: bytes) -> None:
    root = parse(data)
    read(bodystructure(root, data))
    read(bodystructure(root, data, False))
    read(envelope(root, data))
    read(envelope(parse(data, headers_only=True), data))
    body_text(root, data)
    header_text(root, data)
    header_values(root, data, "subject")
    for part in root.walk():
        assert 0 <= part.start <= part.header_end <= part.body_end <= len(data)
    for path in [(1,), (2,), (1, 1), (1, 2), (2, 1), (1, 1, 1)]:
        for text in (None, "HEADER", "TEXT", "MIME", "HEADER.FIELDS", "HEADER.FIELDS.NOT"):
            got = section_bytes(root, data, path, text, ("subject",))
            assert got is None or isinstance(got, bytes)
    assert partial(data, 3, 5) == data[3:8]
