"""FETCH (RFC 3501 §6.4.5, §7.4.2): message data, streamed where it can be large.

* ``BODY[]``, ``RFC822`` and their partials ``<origin.count>`` are streamed from
  ``Folder.open_message`` in ``chunk_size`` pieces, waiting for the transport to drain
  between chunks; only ``count`` octets are read after the origin, which is reached by
  seeking (or, for a stream that converts line endings and cannot seek, by reading past
  it).  A 1 KiB partial of a 50 MB message never holds more than one chunk in memory.
* ENVELOPE and the top-level HEADER, HEADER.FIELDS[.NOT] and RFC822.HEADER read the
  message only up to the end of its header (Thunderbird and Apple Mail fetch these for
  every message of a folder).
* Every other section, ``BODY``, ``BODYSTRUCTURE`` and BINARY need the MIME structure:
  the whole message (bounded by the host's message size limit) is read once and parsed
  away from the reactor; the last few parsed messages are kept per session, because
  clients ask for BODYSTRUCTURE and then for parts of the same message.
* ``\\Seen`` is set by non-PEEK body fetches on read-write mailboxes before the data
  is sent, and the response then carries the new FLAGS.
* A message expunged by another session but not yet reported with EXPUNGE (RFC 2180
  §4.1) is left out of the responses and the command ends ``NO [EXPUNGEISSUED]``;
  the other messages are answered normally.  Only the UID command forms may report
  the EXPUNGE first (RFC 3501 §7.4.1), and they do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailhost.errors import MessageGone
from mailhost.imap.commands import FetchItem, format_date_time
from mailhost.imap.responses import No
from mailhost.imap.sections import UnknownTransferEncoding, binary_section, partial, section_bytes
from mailhost.imap.view import format_flags
from mailhost.store.api import SEEN, FlagMode, Folder, MessageInfo

if TYPE_CHECKING:
    from mailhost.imap.protocol import IMAPSession

_CACHE_ENTRIES = 8
_CACHE_MAX_SIZE = 4 * 1024 * 1024
_INFO_ITEMS = {b"RFC822.SIZE", b"INTERNALDATE"}
_PARSED_ITEMS = {b"ENVELOPE", b"BODYSTRUCTURE", b"BODY"}
_HEADER_TEXTS = ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT")
_HEADER_CHUNK = 16 * 1024
_HEADER_LIMIT = 256 * 1024
#: Messages whose headers one blocking call reads.
_BATCH = 64


def _expand(items: list[FetchItem]) -> list[FetchItem]:
    """RFC822 forms as the BODY sections they stand for, keeping their names."""
    out = []
    for it in items:
        if it.name == b"RFC822":
            out.append(FetchItem(b"BODY[]", False, label=b"RFC822"))
        elif it.name == b"RFC822.HEADER":
            out.append(FetchItem(b"BODY[]", True, text="HEADER", label=b"RFC822.HEADER"))
        elif it.name == b"RFC822.TEXT":
            out.append(FetchItem(b"BODY[]", False, text="TEXT", label=b"RFC822.TEXT"))
        else:
            out.append(it)
    return out


def _streamable(it: FetchItem) -> bool:
    return it.name == b"BODY[]" and not it.path and it.text is None


def _header_only(it: FetchItem) -> bool:
    """Answerable from the top-level header alone."""
    if it.name == b"ENVELOPE":
        return True
    return it.name == b"BODY[]" and not it.path and it.text in _HEADER_TEXTS


def _needs_parse(it: FetchItem) -> bool:
    return (
        it.name in _PARSED_ITEMS
        or it.name in (b"BINARY[]", b"BINARY.SIZE")
        or (it.name == b"BODY[]" and not _streamable(it))
    )


def read_header(folder: Folder, uid: int, limit: int = _HEADER_LIMIT) -> tuple[bytes, bool]:
    """The message's header block (through its empty line) and whether that is all of it.

    Reads only as far as the header goes; a header over ``limit`` octets (or a
    message without a body) comes back whole.  Blocking.
    """
    with folder.open_message(uid) as f:
        buf = bytearray()
        while True:
            chunk = f.read(_HEADER_CHUNK)
            if not chunk:
                return bytes(buf), True
            buf += chunk
            if buf.startswith(b"\r\n"):
                end = 2
            else:
                end = buf.find(b"\r\n\r\n")
                end = end + 4 if end >= 0 else -1
            if end >= 0:
                rest = f.read(1)
                if not rest and end == len(buf):
                    return bytes(buf), True
                return bytes(buf[:end]), False
            if len(buf) > limit:
                return bytes(buf) + f.read(), True


async def _parsed(s: IMAPSession, uid: int, header_only: bool) -> tuple[bytes, Any]:
    """``(data, part)``: the whole message parsed, or just its header when that is enough."""
    assert s.folder is not None and s.view is not None
    key = (s.view.folder_id, uid)
    hit = s.parsed_cache.pop(key, None)
    if hit is not None and not hit[2] and not header_only:
        hit = None
    if hit is None:
        folder = s.folder

        def load() -> tuple[bytes, Any, bool]:
            from mailhost.mime.structure import parse

            if header_only:
                data, whole = read_header(folder, uid)
                return data, parse(data, headers_only=not whole), whole
            data = folder.read_message(uid)
            return data, parse(data), True

        hit = await s.run(load)
    if len(hit[0]) <= _CACHE_MAX_SIZE:
        s.parsed_cache[key] = hit
        while len(s.parsed_cache) > _CACHE_ENTRIES:
            s.parsed_cache.pop(next(iter(s.parsed_cache)))
    return hit[0], hit[1]


def load_headers(folder: Folder, uids: list[int]) -> dict[int, tuple[bytes, Any]]:
    """Headers of several messages, parsed, in one trip off the reactor; gone ones left out."""
    from mailhost.mime.structure import parse

    out: dict[int, tuple[bytes, Any]] = {}
    for uid in uids:
        try:
            data, whole = read_header(folder, uid)
        except MessageGone:
            continue
        out[uid] = (data, parse(data, headers_only=not whole))
    return out


async def run_fetch(s: IMAPSession, uids: list[int], items: list[FetchItem], uid_cmd: bool) -> bool:
    """Send the FETCH responses; False if some messages could not be answered."""
    view, folder = s.view, s.folder
    assert view is not None and folder is not None
    items = _expand(items)
    if uid_cmd and not any(it.name == b"UID" for it in items):
        items = [FetchItem(b"UID", label=b"UID"), *items]
    wants_flags = any(it.name == b"FLAGS" for it in items)
    complete = True
    live = [u for u in uids if u not in view.gone]
    if len(live) != len(uids):
        complete = False

    # \Seen first (RFC 3501 §6.4.5), so the data and the new FLAGS agree
    seen_now: set[int] = set()
    if not view.read_only and any(it.sets_seen for it in items):
        unseen = [u for u in live if SEEN not in view.peek_flags(u)]
        if unseen:
            changed = await s.run(folder.set_flags, unseen, [SEEN], FlagMode.ADD)
            for info in changed:
                view.record_flags(info.uid, info.flags)
                seen_now.add(info.uid)

    infos: dict[int, MessageInfo] = {}
    if any(it.name in _INFO_ITEMS or _streamable(it) for it in items):
        infos = {m.uid: m for m in await s.run(folder.list_messages)}

    structured = [it for it in items if _needs_parse(it)]
    # headers only (the usual listing of a folder): fetched in batches, not one by one
    batched = bool(structured) and all(_header_only(it) for it in structured)
    headers: dict[int, tuple[bytes, Any]] = {}
    count = 0
    for index, u in enumerate(live):
        seq = view.seq_of(u)
        if seq is None:
            continue
        info = infos.get(u)
        if infos and info is None:
            complete = False
            continue
        if batched and u not in headers:
            headers = await s.run(load_headers, folder, live[index : index + _BATCH])
            if u not in headers:
                complete = False
                continue
        try:
            preloaded = headers.get(u) if batched else None
            ok = await _one(s, seq, u, info, items, wants_flags or u in seen_now, preloaded)
        except MessageGone:
            ok = False
        except UnknownTransferEncoding as e:
            raise No(b"UNKNOWN-CTE", f"Cannot decode content-transfer-encoding {e}") from None
        if not ok:
            complete = False
        count += 1
        if count % 64 == 0:
            await s.drain()
    return complete


async def _one(
    s: IMAPSession,
    seq: int,
    uid: int,
    info: MessageInfo | None,
    items: list[FetchItem],
    flags_item: bool,
    preloaded: tuple[bytes, Any] | None = None,
) -> bool:
    """One ``* n FETCH (...)``; data is gathered before anything is written."""
    view = s.view
    assert view is not None
    parsed: tuple[bytes, Any] | None = preloaded
    structured = [it for it in items if _needs_parse(it)]
    if structured and parsed is None:
        parsed = await _parsed(s, uid, all(_header_only(it) for it in structured))
    # pieces: bytes, or (label, origin, length) to stream from the message file
    pieces: list[bytes | tuple[bytes, int, int]] = []
    done_flags = False
    for it in items:
        name = it.name
        if name == b"FLAGS":
            if done_flags:
                continue
            done_flags = True
            pieces.append(b"FLAGS " + format_flags(view.flags_for_client(uid)))
        elif name == b"UID":
            pieces.append(b"UID %d" % uid)
        elif name == b"RFC822.SIZE":
            assert info is not None
            pieces.append(b"RFC822.SIZE %d" % info.size)
        elif name == b"INTERNALDATE":
            assert info is not None
            pieces.append(b"INTERNALDATE " + format_date_time(info.internaldate))
        elif name == b"ENVELOPE":
            from mailhost.imap.envelope import envelope

            assert parsed is not None
            pieces.append(b"ENVELOPE " + envelope(parsed[1], parsed[0]))
        elif name in (b"BODYSTRUCTURE", b"BODY"):
            from mailhost.imap.bodystructure import bodystructure

            assert parsed is not None
            ext = name == b"BODYSTRUCTURE"
            pieces.append(name + b" " + bodystructure(parsed[1], parsed[0], ext))
        elif name == b"BINARY.SIZE":
            assert parsed is not None
            data = binary_section(parsed[1], parsed[0], it.path)
            pieces.append(it.label + b" %d" % (len(data) if data is not None else 0))
        elif name == b"BINARY[]":
            assert parsed is not None
            data = binary_section(parsed[1], parsed[0], it.path) or b""
            if it.origin is not None:
                data = partial(data, it.origin, it.count)
            # RFC 3516 §4.2: literal8 when the data holds NUL
            prefix = b" ~{%d}\r\n" if b"\0" in data else b" {%d}\r\n"
            pieces.append(it.label + prefix % len(data) + data)
        elif _streamable(it):
            assert info is not None
            start = min(it.origin or 0, info.size)
            length = info.size - start
            if it.count is not None:
                length = min(length, it.count)
            pieces.append((it.label, start, length))
        else:
            assert parsed is not None
            data = section_bytes(parsed[1], parsed[0], it.path, it.text, it.fields)
            if data is None:
                data = b""
            elif it.origin is not None:
                data = partial(data, it.origin, it.count)
            pieces.append(it.label + b" {%d}\r\n" % len(data) + data)
    if flags_item and not done_flags:
        pieces.append(b"FLAGS " + format_flags(view.flags_for_client(uid)))

    stream = None
    if any(isinstance(p, tuple) for p in pieces):
        assert s.folder is not None
        stream = await s.run(s.folder.open_message, uid)
    try:
        s.write(b"* %d FETCH (" % seq)
        for i, p in enumerate(pieces):
            if i:
                s.write(b" ")
            if isinstance(p, bytes):
                s.write(p)
                continue
            label, start, length = p
            s.write(label + b" {%d}\r\n" % length)
            await _stream(s, stream, start, length)
        s.write(b")\r\n")
    finally:
        if stream is not None:
            stream.close()
    return True


async def _stream(s: IMAPSession, stream: Any, start: int, length: int) -> None:
    if length == 0:
        return
    chunk_size = s.config.chunk_size
    if start:
        if stream.seekable():
            await s.run(stream.seek, start)
        else:
            # a converting stream (bare LF to CRLF) cannot seek: read past the origin
            skip = start
            while skip:
                got = await s.run(stream.read, min(chunk_size, skip))
                if not got:
                    break
                skip -= len(got)
    remaining = length
    while remaining:
        chunk = await s.run(stream.read, min(chunk_size, remaining))
        if not chunk:
            # the file is shorter than the store said: keep the literal's promised
            # length so the client's parser stays in step
            chunk = b" " * remaining
        s.write(chunk)
        remaining -= len(chunk)
        await s.drain()
