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
* A FETCH of only UID, FLAGS, RFC822.SIZE and INTERNALDATE (every client's listing of
  a folder) reads no message: it is answered from the session's view, hundreds of
  responses per write.  Sizes and dates come from ``Folder.list_messages`` the first
  time a session needs them and stay in the view (they never change).
* Messages that need parsing are loaded ``_BATCH`` at a time in one blocking call
  (headers only when they are enough, else whole messages up to about
  ``_BATCH_BYTES``), and their responses go out in one write per batch.  ENVELOPE,
  BODYSTRUCTURE and BODY, once built, are kept for every session of the host
  (:mod:`mailhost.imap.structures`): a FETCH of only those reads no message it has
  answered before.
* ``\\Seen`` is set by non-PEEK body fetches on read-write mailboxes before the data
  is sent, and the response then carries the new FLAGS.
* A message expunged by another session but not yet reported with EXPUNGE (RFC 2180
  §4.1) is still answered when the session knows all that is asked (UID and FLAGS, and
  RFC822.SIZE and INTERNALDATE once listed), as Dovecot does.  Otherwise it is left
  out of the responses and the command ends ``NO [EXPUNGEISSUED]``; the other messages
  are answered normally.  Only the UID command forms may report the EXPUNGE first
  (RFC 3501 §7.4.1), and they do.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING, Any

from mailhost.errors import MessageGone
from mailhost.imap.commands import FetchItem, format_date_time
from mailhost.imap.envelope import envelope
from mailhost.imap.parse_helper import ParseHelpers, Share, structure_item
from mailhost.imap.responses import No
from mailhost.imap.sections import UnknownTransferEncoding, binary_section, partial, section_bytes
from mailhost.imap.structures import StructureCache
from mailhost.imap.view import View, format_flags
from mailhost.mime.structure import parse
from mailhost.store.api import SEEN, FlagMode, Folder, MessageInfo

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

    from mailhost.imap.protocol import IMAPSession

_CACHE_ENTRIES = 8
_CACHE_MAX_SIZE = 4 * 1024 * 1024
_INFO_ITEMS = {b"RFC822.SIZE", b"INTERNALDATE"}
_PARSED_ITEMS = {b"ENVELOPE", b"BODYSTRUCTURE", b"BODY"}
_HEADER_TEXTS = ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT")
_HEADER_CHUNK = 16 * 1024
_HEADER_LIMIT = 256 * 1024
#: Messages one blocking call reads and parses.
_BATCH = 256
#: Messages a batch of ENVELOPE and BODYSTRUCTURE takes when helper processes share it:
#: the more each is given at once, the less they wait on each other.
_SHARED_BATCH = 1024
#: Whole messages one blocking call reads stop once this many octets are held.
_BATCH_BYTES = 1024 * 1024
#: FETCH items answered from the listing alone (no message is read).
_LISTING_ITEMS = frozenset({b"UID", b"FLAGS", b"RFC822.SIZE", b"INTERNALDATE", b"MODSEQ"})
#: Responses joined into one transport write by the listing path.
_LINES_PER_WRITE = 512


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


def _bare_header(it: FetchItem) -> bool:
    """``BODY[HEADER]`` (or ``RFC822.HEADER``) of the message itself."""
    return (
        it.name == b"BODY[]"
        and not it.path
        and it.text is not None
        and (it.text.upper() == "HEADER")
    )


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


def _from_cache(s: IMAPSession, uid: int, header_only: bool) -> tuple[bytes, Any] | None:
    """A recently parsed message from the session's cache, if it has what is needed."""
    assert s.view is not None
    hit = s.parsed_cache.get((s.view.folder_id, uid))
    if hit is None or not (hit[2] or header_only):
        return None
    return hit[0], hit[1]


def _remember(s: IMAPSession, uid: int, data: bytes, part: Any, whole: bool) -> None:
    """Keep a parsed message in the session's small cache (the newest ``_CACHE_ENTRIES``)."""
    if len(data) > _CACHE_MAX_SIZE:
        return
    assert s.view is not None
    key = (s.view.folder_id, uid)
    s.parsed_cache.pop(key, None)
    s.parsed_cache[key] = (data, part, whole)
    while len(s.parsed_cache) > _CACHE_ENTRIES:
        s.parsed_cache.pop(next(iter(s.parsed_cache)))


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


def load_headers(
    folder: Folder, uids: list[int], *, bare: bool = False
) -> dict[int, tuple[bytes, Any]]:
    """Headers of several messages, parsed, in one trip off the reactor; gone ones left out.

    ``bare``: only ``BODY[HEADER]`` of the message itself is wanted, which is the header
    block as read: such headers come back unparsed (part ``None``).
    """
    out: dict[int, tuple[bytes, Any]] = {}
    for uid in uids:
        try:
            data = folder.read_header(uid)
            if bare and data.endswith(b"\r\n\r\n"):
                out[uid] = (data, None)
                continue
            if data.endswith(b"\r\n\r\n") or data == b"\r\n":
                out[uid] = (data, parse(data, headers_only=True))
                continue
            # no empty line: a message without a body, or a header too large for the
            # store to cut; read it as a whole
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
            s.stale = True
            changed = await s.run(folder.set_flags, unseen, [SEEN], FlagMode.ADD)
            for info in changed:
                view.record_flags(info.uid, info.flags, info.modseq)
                seen_now.add(info.uid)

    infos: dict[int, MessageInfo] = {}
    if any(it.name in _INFO_ITEMS or _streamable(it) for it in items):
        infos = await _listing(s, live)
    if all(it.name in _LISTING_ITEMS for it in items):
        # the listing every client makes of a folder: no message is read, and one that
        # another session expunged is answered from what this session knows of it
        return await _fetch_listing(s, uids, items, infos)

    structured = [it for it in items if _needs_parse(it)]
    # parsed data for many messages is loaded in one trip off the reactor: the headers
    # alone when they are enough (the usual listing of a folder), else whole messages,
    # up to about _BATCH_BYTES of them
    header_only = all(_header_only(it) for it in structured)
    # BODY[HEADER] of the messages themselves (a client's usual header listing) is the
    # header block as read: nothing to parse
    bare = bool(structured) and all(_bare_header(it) for it in structured)
    batched = bool(structured) and not any(_streamable(it) for it in items)
    # ENVELOPE, BODYSTRUCTURE and BODY alone (a client's message list): the host keeps
    # them for every session, so a message asked for again is neither read nor parsed
    cache = s.structures if batched and all(it.name in _PARSED_ITEMS for it in structured) else None
    names = list(dict.fromkeys(it.name for it in structured))
    known: dict[int, dict[bytes, bytes]] = {}
    loaded: dict[int, tuple[bytes, Any]] = {}
    tried: set[int] = set()
    out: list[bytes] = []
    # what helpers build of a batch, on its way to the cache while the rest is answered
    ahead: Deferred[None] | None = None
    # (only whole-message parses for the cache are shared with helpers)
    shared = s.parse_helpers is not None and cache is not None and not header_only
    batch_size = _SHARED_BATCH if shared else _BATCH
    # the sequence number after the last one found: the next asked for, usually
    after = 0
    for index, u in enumerate(live):
        view_uids = view.uids
        if after < len(view_uids) and view_uids[after] == u:
            seq = after + 1
        else:
            found = view.seq_of(u)
            if found is None:
                continue
            seq = found
        after = seq
        info = infos.get(u)
        if infos and info is None:
            complete = False
            continue
        if batched and u not in tried:
            if out:
                s.write(b"".join(out))
                out = []
                await s.drain()
            if ahead is not None:
                await ahead
                ahead = None
            batch = live[index : index + batch_size]
            # a client often asks for BODYSTRUCTURE and then for parts of that message
            loaded = {}
            known = {} if cache is None else _known_structures(cache, view, batch, names)
            for b in batch:
                hit = None if b in known else _from_cache(s, b, header_only)
                if hit is not None:
                    loaded[b] = hit
            need = [b for b in batch if b not in loaded and b not in known]
            tried = set(loaded) | set(known)
            if need and cache is not None:
                # built where the messages are read, off the reactor
                values, done, recent, share = await s.run(
                    load_structures, folder, need, header_only, names, s.parse_helpers
                )
                if share is not None:
                    # what helpers build goes to the cache while this part is answered
                    ahead = _collect(s, cache, share, (view.folder_id, view.uidvalidity))
                for b, kept in values.items():
                    known[b] = kept
                    cache.add((view.folder_id, view.uidvalidity, b), kept)
                tried.update(need[:done])
                for b, data, part in recent:
                    _remember(s, b, data, part, whole=not header_only)
            elif need:
                got, done = await s.run(load_parsed, folder, need, header_only, bare)
                loaded.update(got)
                tried.update(need[:done])
                for b in list(got)[-_CACHE_ENTRIES:]:
                    data, part = got[b]
                    if part is not None:
                        _remember(s, b, data, part, whole=not header_only)
            if u not in loaded and u not in known:
                complete = False
                continue
        try:
            preloaded = loaded.get(u)
            if u in known:
                pieces = _format(view, u, info, items, None, known[u])
            elif preloaded is None:
                pieces = await _pieces(s, uid=u, info=info, items=items, parsed=None)
            elif cache is not None:
                built: dict[bytes, bytes] = {}
                pieces = _format(view, u, info, items, preloaded, built)
                cache.add((view.folder_id, view.uidvalidity, u), built)
            else:
                pieces = _format(view, u, info, items, preloaded)
            if wants_flags or u in seen_now:
                pieces = _with_flags(view, u, pieces, u in seen_now)
            if preloaded is not None or u in known:
                # batched: nothing to stream, so the response joins the batch's write
                out.append(b"* %d FETCH (" % seq + b" ".join(pieces) + b")\r\n")  # type: ignore[arg-type]
                continue
            if out:
                s.write(b"".join(out))
                out = []
            await _send(s, seq, u, pieces)
        except MessageGone:
            complete = False
        except UnknownTransferEncoding as e:
            raise No(b"UNKNOWN-CTE", f"Cannot decode content-transfer-encoding {e}") from None
        await s.drain()
    if out:
        s.write(b"".join(out))
    return complete


def _collect(
    s: IMAPSession, cache: StructureCache, share: Share, mailbox: tuple[str, int]
) -> Deferred[None]:
    """Gather what helpers built of a batch of ``mailbox`` (folder id, UIDVALIDITY) into
    ``cache``, off the reactor; frees the helpers whatever becomes of the session.

    The batch's loop meets those messages after answering the part built in-process, and
    finds them in the cache.  The Deferred never fails: a message no helper built is read
    when its turn comes, and answered as that read goes."""
    folder_id, uidvalidity = mailbox

    def keep(built: dict[int, dict[bytes, bytes]]) -> None:
        for uid, kept in built.items():
            cache.add((folder_id, uidvalidity, uid), kept)

    d: Deferred[dict[int, dict[bytes, bytes]]] = s.run(share.collect)
    return d.addCallbacks(keep, lambda _failure: None)


def _known_structures(
    cache: StructureCache, view: View, uids: list[int], names: list[bytes]
) -> dict[int, dict[bytes, bytes]]:
    """The messages of ``uids`` whose every item of ``names`` is in ``cache``."""
    out: dict[int, dict[bytes, bytes]] = {}
    folder_id, uidvalidity = view.folder_id, view.uidvalidity
    get = cache.get
    for uid in uids:
        kept = get((folder_id, uidvalidity, uid))
        if kept is not None and all(name in kept for name in names):
            out[uid] = kept
    return out


async def _listing(s: IMAPSession, uids: list[int]) -> dict[int, MessageInfo]:
    """Sizes and internal dates of the messages: the view's, listing the folder only when
    some message's are not known yet (the first such FETCH in a session)."""
    view, folder = s.view, s.folder
    assert view is not None and folder is not None
    infos = view.infos
    if any(u not in infos for u in uids):
        known = view.flags
        for m in await s.run(folder.list_messages):
            if m.uid in known:
                infos[m.uid] = m
    return infos


def load_parsed(
    folder: Folder, uids: list[int], header_only: bool, bare: bool = False
) -> tuple[dict[int, tuple[bytes, Any]], int]:
    """Several messages parsed (or their headers), in one trip off the reactor.

    Returns the parsed messages (those gone are left out) and how many of ``uids`` were
    tried: whole messages are read until about ``_BATCH_BYTES`` are held.  Blocking.
    """
    if header_only:
        return load_headers(folder, uids, bare=bare), len(uids)
    out: dict[int, tuple[bytes, Any]] = {}
    held = 0
    for done, uid in enumerate(uids, 1):
        try:
            data = folder.read_message(uid)
        except MessageGone:
            continue
        out[uid] = (data, parse(data))
        held += len(data)
        if held >= _BATCH_BYTES:
            return out, done
    return out, len(uids)


def load_structures(
    folder: Folder,
    uids: list[int],
    header_only: bool,
    names: list[bytes],
    helpers: ParseHelpers | None = None,
) -> tuple[dict[int, dict[bytes, bytes]], int, list[tuple[int, bytes, Any]], Share | None]:
    """The items of ``names`` (ENVELOPE, BODYSTRUCTURE, BODY) of several messages, built
    in the trip off the reactor that reads them.  Blocking.

    Returns them by UID (gone messages left out), how many of ``uids`` were tried (as
    :func:`load_parsed`), the last few messages parsed, for the session's cache, and the
    share of ``uids`` handed to idle ``helpers``, if any: the messages after those tried,
    still being built, to be collected with :meth:`Share.collect`.
    """
    if header_only:  # ENVELOPE alone
        got = load_headers(folder, uids)
        recent = [(uid, *got[uid]) for uid in list(got)[-_CACHE_ENTRIES:]]
        envelopes = {u: {b"ENVELOPE": envelope(p, d)} for u, (d, p) in got.items()}
        return envelopes, len(uids), recent, None
    own, share = uids, None
    if helpers is not None:
        own, share = helpers.share(folder, uids, names)
    values: dict[int, dict[bytes, bytes]] = {}
    last: dict[int, tuple[bytes, Any]] = {}
    try:
        done = _build_each(folder, own, names, values, last)
    except BaseException:
        if share is not None:
            share.collect()  # (frees the helpers)
        raise
    return values, done, [(uid, *got) for uid, got in last.items()], share


def _build_each(
    folder: Folder,
    uids: list[int],
    names: list[bytes],
    values: dict[int, dict[bytes, bytes]],
    last: dict[int, tuple[bytes, Any]],
) -> int:
    """Read, parse and build ``names`` of each message into ``values``, keeping the last
    few parsed in ``last``; how many were tried (fewer once ``_BATCH_BYTES`` were read)."""
    # (the loop of a client's message list: one pass per message, no call it can spare)
    read = folder.read_message
    held = 0
    done = 0
    for uid in uids:
        done += 1
        try:
            data = read(uid)
        except MessageGone:
            continue
        part = parse(data)
        values[uid] = {name: structure_item(name, part, data) for name in names}
        if len(last) == _CACHE_ENTRIES:
            del last[next(iter(last))]
        last[uid] = (data, part)
        held += len(data)
        if held >= _BATCH_BYTES:
            break
    return done


async def _fetch_listing(
    s: IMAPSession, uids: list[int], items: list[FetchItem], infos: dict[int, MessageInfo]
) -> bool:
    """FETCH of UID, FLAGS, RFC822.SIZE and INTERNALDATE only, formatted in bulk.

    The same responses :func:`_format` gives, built ``_LINES_PER_WRITE`` at a time into one
    write each (a client listing 100,000 messages would otherwise cost a coroutine step
    and several transport writes per message).
    """
    view = s.view
    assert view is not None
    templates: list[bytes] = []
    kinds: list[bytes] = []
    for it in items:
        if it.name == b"FLAGS":
            if b"FLAGS" in kinds:
                continue
            templates.append(b"FLAGS %s")
        elif it.name == b"INTERNALDATE":
            templates.append(b"INTERNALDATE %s")
        elif it.name == b"MODSEQ":
            templates.append(b"MODSEQ (%d)")
        else:
            templates.append(it.name + b" %d")
        kinds.append(it.name)
    line = b"* %d FETCH (" + b" ".join(templates) + b")\r\n"
    need_info = any(kind in _INFO_ITEMS for kind in kinds)
    complete = True
    view_uids = view.uids
    for start in range(0, len(uids), _LINES_PER_WRITE):
        chunk = uids[start : start + _LINES_PER_WRITE]
        first = bisect_left(view_uids, chunk[0])
        if view_uids[first : first + len(chunk)] == chunk:
            seqs: list[int] | range = range(first + 1, first + len(chunk) + 1)
        else:
            # not a run of consecutive messages: look each one up
            found = [(bisect_left(view_uids, u), u) for u in chunk]
            chunk = [u for i, u in found if i < len(view_uids) and view_uids[i] == u]
            seqs = [i + 1 for i, u in found if i < len(view_uids) and view_uids[i] == u]
        if need_info:
            known = [u in infos for u in chunk]
            if not all(known):
                complete = False
                seqs = [q for q, k in zip(seqs, known, strict=True) if k]
                chunk = [u for u, k in zip(chunk, known, strict=True) if k]
        columns: list[list[int] | range | list[bytes]] = [seqs]
        for kind in kinds:
            if kind == b"UID":
                columns.append(chunk)
            elif kind == b"FLAGS":
                columns.append(view.formatted_flags(chunk))
            elif kind == b"RFC822.SIZE":
                columns.append([infos[u].size for u in chunk])
            elif kind == b"MODSEQ":
                modseqs = view.modseqs
                columns.append([modseqs[q - 1] for q in seqs])
            else:
                columns.append([format_date_time(infos[u].internaldate) for u in chunk])
        s.write(b"".join([line % row for row in zip(*columns, strict=True)]))
        await s.drain()
    return complete


Piece = bytes | tuple[bytes, int, int]


def _binary(parsed: tuple[bytes, Any], it: FetchItem) -> bytes | None:
    """``BINARY[...]``: a part's body with its transfer encoding undone, or for a HEADER,
    TEXT or MIME section the octets of the BODY section (None: no such part)."""
    data, part = parsed
    if it.text is None:
        return binary_section(part, data, it.path)
    return section_bytes(part, data, it.path, it.text, it.fields)


async def _pieces(
    s: IMAPSession, uid: int, info: MessageInfo | None, items: list[FetchItem], parsed: Any
) -> list[Piece]:
    """The data items of one message, parsing it (through the session cache) if needed."""
    view = s.view
    assert view is not None
    structured = [it for it in items if _needs_parse(it)]
    if structured and parsed is None:
        parsed = await _parsed(s, uid, all(_header_only(it) for it in structured))
    return _format(view, uid, info, items, parsed)


def _with_flags(view: View, uid: int, pieces: list[Piece], changed: bool) -> list[Piece]:
    """FLAGS added when it was not asked for but changed (``\\Seen`` set by the fetch),
    and for a change under CONDSTORE the UID and MODSEQ too (RFC 7162 §3.1)."""

    def asked(label: bytes) -> bool:
        return any(isinstance(p, bytes) and p.startswith(label) for p in pieces)

    out = list(pieces)
    if not asked(b"FLAGS "):
        out.append(b"FLAGS " + format_flags(view.flags_for_client(uid)))
    if changed and view.condstore:
        if not asked(b"UID "):
            out.append(b"UID %d" % uid)
        if not asked(b"MODSEQ "):
            out.append(b"MODSEQ (%d)" % view.modseq_of(uid))
    return out


def _format(
    view: View,
    uid: int,
    info: MessageInfo | None,
    items: list[FetchItem],
    parsed: tuple[bytes, Any] | None,
    structures: dict[bytes, bytes] | None = None,
) -> list[Piece]:
    """One message's ``msg-att`` items: bytes, or (label, origin, length) to stream.

    ``structures`` holds ENVELOPE, BODYSTRUCTURE or BODY values already known; those it
    lacks are built from ``parsed`` and added to it.
    """
    pieces: list[Piece] = []
    done_flags = False
    for it in items:
        name = it.name
        # (the items of a folder listing first: each is asked for every message)
        if name in _PARSED_ITEMS:
            value = None if structures is None else structures.get(name)
            if value is None:
                assert parsed is not None
                value = structure_item(name, parsed[1], parsed[0])
                if structures is not None:
                    structures[name] = value
            pieces.append(name + b" " + value)
        elif name == b"FLAGS":
            if done_flags:
                continue
            done_flags = True
            pieces.append(b"FLAGS " + format_flags(view.flags_for_client(uid)))
        elif name == b"UID":
            pieces.append(b"UID %d" % uid)
        elif name == b"MODSEQ":
            pieces.append(b"MODSEQ (%d)" % view.modseq_of(uid))
        elif name == b"RFC822.SIZE":
            assert info is not None
            pieces.append(b"RFC822.SIZE %d" % info.size)
        elif name == b"INTERNALDATE":
            assert info is not None
            pieces.append(b"INTERNALDATE " + format_date_time(info.internaldate))
        elif name == b"BINARY.SIZE":
            assert parsed is not None
            data = _binary(parsed, it)
            pieces.append(it.label + b" %d" % (len(data) if data is not None else 0))
        elif name == b"BINARY[]":
            assert parsed is not None
            data = _binary(parsed, it) or b""
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
            if parsed[1] is None:
                data = parsed[0]  # a bare header block (see load_headers)
            else:
                data = section_bytes(parsed[1], parsed[0], it.path, it.text, it.fields)
            if data is None:
                data = b""
            elif it.origin is not None:
                data = partial(data, it.origin, it.count)
            pieces.append(it.label + b" {%d}\r\n" % len(data) + data)
    return pieces


async def _send(s: IMAPSession, seq: int, uid: int, pieces: list[Piece]) -> None:
    """Write one ``* n FETCH (...)``, streaming the pieces that come from the file.

    Each streamed piece reads its own stream: two items of one FETCH (``BODY[]<0.10>
    BODY[]<100.20>``, ``RFC822 BODY.PEEK[]``) must not share a read position.  All are
    opened before the first byte is written, so a message expunged meanwhile fails the
    whole response, never half of it.
    """
    streams: list[Any] = []
    try:
        for p in pieces:
            if isinstance(p, tuple):
                assert s.folder is not None
                streams.append(await s.run(s.folder.open_message, uid))
        opened = iter(streams)
        s.write(b"* %d FETCH (" % seq)
        for i, p in enumerate(pieces):
            if i:
                s.write(b" ")
            if isinstance(p, bytes):
                s.write(p)
                continue
            label, start, length = p
            s.write(label + b" {%d}\r\n" % length)
            await _stream(s, next(opened), start, length)
        s.write(b")\r\n")
    finally:
        for stream in streams:
            stream.close()


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
