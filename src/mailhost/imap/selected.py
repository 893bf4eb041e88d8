"""The selected state: CHECK, CLOSE, UNSELECT, EXPUNGE, SEARCH, FETCH, STORE, COPY, MOVE.

RFC 3501 §6.4, RFC 4315 (UIDPLUS), RFC 6851 (MOVE), RFC 3691 (UNSELECT).  For messages
another session expunged and this one has not been told of yet (RFC 2180 §4): FETCH
answers what the session still knows of them (UID, FLAGS, a size or date it listed) and
otherwise, like STORE, acts on the others and ends ``NO [EXPUNGEISSUED]``; COPY and MOVE
copy nothing and say the same; SEARCH leaves them out; the UID forms report the EXPUNGE
first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mailhost import errors
from mailhost.imap import commands as grammar
from mailhost.imap.args import Args, ParseError
from mailhost.imap.dispatch import SEL, command
from mailhost.imap.fetch import run_fetch
from mailhost.imap.responses import No, to_no
from mailhost.imap.results import esearch, to_save, with_saved
from mailhost.imap.search import (
    Candidate,
    cheap_matches,
    is_cheap,
    key_kinds,
    needs_listing,
    run_search,
)
from mailhost.imap.sort import CACHE_PREFIX, header_criteria, header_keys, ordered, sort_column
from mailhost.imap.structures import OrderKey, StructureCache, digest_of
from mailhost.imap.thread import CACHE_NAME as THREAD_CACHE_NAME
from mailhost.imap.thread import (
    Keys,
    format_ordered_subject,
    format_references,
    from_cached,
    ordered_subject,
    read_thread_keys,
    references,
    to_cached,
)
from mailhost.imap.view import format_flags
from mailhost.store.api import DELETED, ChangeKind, FlagMode, MessageInfo, uid_ranges

if TYPE_CHECKING:
    from mailhost.imap.parse_helper import ParseHelpers
    from mailhost.imap.protocol import IMAPSession
    from mailhost.store.api import Folder

#: Messages one blocking SEARCH call examines.
_SEARCH_BATCH = 500
#: Messages whose SORT or THREAD keys one blocking call reads when parse helpers share
#: them: each helper then gets a part big enough to be worth its trip.
_SHARED_KEY_BATCH = 2048


def _key_batch(s: IMAPSession) -> int:
    return _SEARCH_BATCH if s.parse_helpers is None else _SHARED_KEY_BATCH


@command("CHECK", SEL)
async def cmd_check(s: IMAPSession, args: Args, uid: bool) -> bytes:
    args.end()
    return b"CHECK completed"


async def _expunge_deleted(s: IMAPSession, only: set[int] | None, report: bool) -> None:
    view, folder = s.view, s.folder
    assert view is not None and folder is not None
    if view.read_only:
        raise No(b"NOPERM", "Mailbox is read-only")

    # only messages the client knows of; the set is taken here, on the reactor thread
    candidates = set(view.uids) if only is None else only & set(view.uids)

    def expunge() -> list[int]:
        wanted = [
            m.uid for m in folder.list_messages() if DELETED in m.flags and m.uid in candidates
        ]
        return folder.expunge(wanted) if wanted else []

    removed = await s.run(expunge)
    pairs = [(seq, u) for u in removed if (seq := view.remove(u)) is not None]
    if report:
        s.expunged(pairs)


@command("CLOSE", SEL)
async def cmd_close(s: IMAPSession, args: Args, uid: bool) -> bytes:
    args.end()
    assert s.view is not None
    if not s.view.read_only:
        await _expunge_deleted(s, None, report=False)
    s._deselect()
    return b"CLOSE completed"


@command("UNSELECT", SEL)
async def cmd_unselect(s: IMAPSession, args: Args, uid: bool) -> bytes:
    args.end()
    s._deselect()
    return b"UNSELECT completed"


@command("EXPUNGE", SEL)
async def cmd_expunge(s: IMAPSession, args: Args, uid: bool) -> bytes:
    only = None
    if uid:
        only = set(s.resolve(grammar.sequence_set(args, saved_ok=True), uid=True))
    args.end()
    assert s.view is not None
    s._flush(allow_expunge=True)
    await _expunge_deleted(s, only, report=True)
    return b"EXPUNGE completed"


def _single_flag(key: grammar.SearchKey) -> tuple[str, bool] | None:
    """(flag, present) when the whole search is one flag key (``UNSEEN``, ``DELETED``)."""
    if key[0] == "AND":
        subs: tuple[grammar.SearchKey, ...] = key[1]  # type: ignore[assignment]
        if len(subs) != 1:
            return None
        key = subs[0]
    if key[0] != "FLAG":
        return None
    return key[1], key[2]  # type: ignore[return-value]


def _number_list(numbers: list[int]) -> bytes:
    """``1 2 3``: the list's own repr (one C loop) is the quickest way to 50,000 numbers."""
    return str(numbers)[1:-1].replace(", ", " ").encode()


@command("SEARCH", SEL)
async def cmd_search(s: IMAPSession, args: Args, uid: bool) -> bytes:
    returns = grammar.search_return(args)
    view = s.view
    assert view is not None
    save = returns is not None and b"SAVE" in returns
    try:
        key, _charset = grammar.search_program(args)
        key = with_saved(key, view.saved)
        by_modseq = "MODSEQ" in key_kinds(key)
        if by_modseq:
            s.enable_condstore()
        uids = view.uids
        single = _single_flag(key)
        if single is not None and uid and not view.changed and not view.gone:
            # UID SEARCH UNSEEN (or DELETED...), what clients poll with: one pass
            flag, flags_of = single[0], view.flags
            if single[1]:
                numbers = [u for u in uids if flag in flags_of[u]]
            else:
                numbers = [u for u in uids if flag not in flags_of[u]]
        else:
            positions = await _found(s, key)
            numbers = [uids[i] for i in positions] if uid else [i + 1 for i in positions]
    except BaseException:
        if save:
            view.saved = []  # RFC 5182 §2.1: a command that fails saves the empty result
        raise
    _answer(s, b"SEARCH", returns, numbers, uid, by_modseq)
    return b"SEARCH completed"


def _answer(
    s: IMAPSession,
    verb: bytes,
    returns: tuple[bytes, ...] | None,
    numbers: list[int],
    uid: bool,
    by_modseq: bool,
) -> None:
    """Send what SEARCH or SORT (``verb``) found: the plain response, or ESEARCH for
    ``RETURN`` (saving the result for ``$`` if asked); with a MODSEQ key, the highest
    MODSEQ of the messages returned (RFC 7162 §3.1.5, ``search-sort-mod-seq``)."""
    view = s.view
    assert view is not None
    modseq_of = (view.modseq_of if uid else lambda q: view.modseqs[q - 1]) if by_modseq else None
    if returns is not None:
        if b"SAVE" in returns:
            view.saved = to_save(returns, numbers if uid else [view.uids[n - 1] for n in numbers])
        line = esearch(s.current_tag, returns, numbers, uid, modseq_of)
        if line is not None:
            s._send(line)
        return
    line = b"* " + verb + (b" " + _number_list(numbers) if numbers else b"")
    if modseq_of is not None and numbers:
        line += b" (MODSEQ %d)" % max(map(modseq_of, numbers))
    s._send(line)


async def _found(s: IMAPSession, key: grammar.SearchKey) -> list[int]:
    """Positions in the session's message list (sequence number - 1) of the messages
    ``key`` matches, ascending; messages expunged elsewhere are left out."""
    view, folder = s.view, s.folder
    assert view is not None and folder is not None
    uids = view.uids
    if is_cheap(key):
        # flags and numbers only: the view answers, on this thread, without a Candidate
        # per message
        if view.changed:
            flags = [view.peek_flags(u) for u in uids]
        else:
            flags = list(map(view.flags.__getitem__, uids))
        positions = cheap_matches(key, uids, flags, view.recent, view.modseqs)
        gone = view.gone
        return [i for i in positions if uids[i] not in gone] if gone else positions
    candidates = [
        Candidate(seq, u, view.peek_flags(u), u in view.recent, view.modseqs[seq - 1])
        for seq, u in enumerate(uids, 1)
        if u not in view.gone
    ]
    max_uid = uids[-1] if uids else 0
    infos: dict[int, MessageInfo] | None = None
    if needs_listing(key):
        infos = await _infos(s)
    found: list[Candidate] = []
    # in batches: the reactor serves other sessions between them
    for i in range(0, len(candidates), _SEARCH_BATCH):
        batch = candidates[i : i + _SEARCH_BATCH]
        found += await s.run(run_search, folder, batch, key, view.exists, max_uid, infos)
    return [c.seq - 1 for c in found]


async def _found_with_listing(
    s: IMAPSession, key: grammar.SearchKey
) -> tuple[list[tuple[int, int]], dict[int, MessageInfo]]:
    """``(sequence number, UID)`` of what ``key`` finds, and the listing (SORT and THREAD
    need dates and sizes); a MODSEQ key enables CONDSTORE, as in SEARCH."""
    if "MODSEQ" in key_kinds(key):
        s.enable_condstore()
    positions = await _found(s, key)
    assert s.view is not None
    uids = s.view.uids
    return [(p + 1, uids[p]) for p in positions], await _infos(s)


async def _infos(s: IMAPSession) -> dict[int, MessageInfo]:
    """Sizes and internal dates of the session's messages (listing the folder once)."""
    view, folder = s.view, s.folder
    assert view is not None and folder is not None
    infos = view.infos
    if any(u not in infos for u in view.uids):
        # kept in the view, as FETCH keeps them: sizes and dates never change
        known = view.flags
        for m in await s.run(folder.list_messages):
            if m.uid in known:
                infos[m.uid] = m
    return infos


async def vanished_since(s: IMAPSession, modseq: int, within: grammar.SeqSet | None) -> list[int]:
    """UIDs of ``within`` (all when None) expunged since ``modseq`` that the session's
    view does not hold, ascending: from the store's expunge history, or, where that no
    longer reaches back so far, every such UID below UIDNEXT the mailbox does not hold.

    ``*`` stands for the highest UID there can be, not the highest one left: the message
    expunged is often the newest (``UID FETCH 1:* (UID) (CHANGEDSINCE n VANISHED)``)."""
    view, folder = s.view, s.folder
    assert view is not None and folder is not None
    held = view.flags
    changes = await s.run(folder.changes_since, modseq)
    if not changes.reset:
        return sorted(
            c.uid
            for c in changes.changes
            if c.kind is ChangeKind.EXPUNGE
            and c.uid not in held
            and (within is None or within.contains(c.uid, _ANY_UID))
        )
    top = (await s.run(folder.list_flags)).uidnext - 1
    bounds = [(1, top)] if within is None else within.bounds(top)
    out: set[int] = set()
    for lo, hi in bounds:
        out.update(u for u in range(max(lo, 1), min(hi, top) + 1) if u not in held)
    return sorted(out)


#: The highest UID there can be (RFC 3501 ``nz-number``).
_ANY_UID = 0xFFFFFFFF


@command("SORT", SEL)
async def cmd_sort(s: IMAPSession, args: Args, uid: bool) -> bytes:
    """RFC 5256: what SEARCH finds, in the criteria's order (keys in :mod:`sort`).

    Values read from headers are kept in the host's structure cache with the message's
    ENVELOPE and BODYSTRUCTURE: webmail sorts a folder again at every page it shows.  The
    lookups, the keys and the ordering run off the reactor: on a big folder they take a
    good part of a second, which other sessions need not wait for.
    """
    returns = grammar.search_return(args)
    view, folder = s.view, s.folder
    assert view is not None and folder is not None
    save = returns is not None and b"SAVE" in returns
    try:
        criteria, key = grammar.sort_program(args)
        key = with_saved(key, view.saved)
        numbers = await _sorted(s, criteria, key, uid)
    except BaseException:
        if save:
            view.saved = []  # RFC 5182 §2.1: a command that fails saves the empty result
        raise
    # (ESORT, RFC 5267 §3: RETURN answers in the sort order)
    _answer(s, b"SORT", returns, numbers, uid, "MODSEQ" in key_kinds(key))
    return b"SORT completed"


async def _sorted(
    s: IMAPSession, criteria: list[tuple[bytes, bool]], key: grammar.SearchKey, uid: bool
) -> list[int]:
    """The sequence numbers (UIDs if ``uid``) of what ``key`` finds, in SORT order."""
    view, folder = s.view, s.folder
    assert view is not None and folder is not None
    found, infos = await _found_with_listing(s, key)
    cache = s.structures
    order_key = (view.folder_id, view.uidvalidity, tuple(criteria))
    if cache is not None:
        numbers: list[int] | None = await s.run(_kept_order, cache, order_key, found, uid)
        if numbers is not None:
            return numbers
    from_header = header_criteria(criteria)
    kept: dict[int, dict[bytes, bytes]] = {}
    if from_header:
        folder_id, uidvalidity = view.folder_id, view.uidvalidity
        wanted = [CACHE_PREFIX + k for k in from_header]
        kept, need = await s.run(
            _cached_sort_keys, cache, (folder_id, uidvalidity), [u for _, u in found], wanted
        )
        helpers, size = s.parse_helpers, _key_batch(s)
        for i in range(0, len(need), size):
            batch = need[i : i + size]
            kept.update(
                await s.run(
                    _read_sort_keys, folder, batch, from_header, cache, view.uidvalidity, helpers
                )
            )
    pairs = await s.run(_sort_pairs, found, criteria, kept, infos, bool(from_header))
    if cache is not None:
        await s.run(cache.keep_order, order_key, [u for _, u in pairs])
    return [u for _, u in pairs] if uid else [seq for seq, _ in pairs]


def _kept_order(
    cache: StructureCache, key: OrderKey, found: list[tuple[int, int]], uid: bool
) -> list[int] | None:
    """The numbers SORT answers with, from an order kept of a set holding all of ``found``
    ``(seq, uid)`` pairs (None: none is kept).  Blocking."""
    seqs = dict((u, seq) for seq, u in found)
    order = cache.order(key, seqs.keys())
    if order is None:
        return None
    return order if uid else list(map(seqs.__getitem__, order))


def _read_sort_keys(
    folder: Folder,
    uids: list[int],
    keys: list[bytes],
    cache: StructureCache | None,
    uidvalidity: int,
    helpers: ParseHelpers | None,
) -> dict[int, dict[bytes, bytes]]:
    """:func:`header_keys`, shared with idle parse helpers and kept in the structure
    cache.  Blocking."""
    names = [CACHE_PREFIX + key for key in keys]
    got = _shared(folder, uids, names, helpers, lambda part: header_keys(folder, part, keys))
    if cache is not None:
        cache.add_many(folder.folder_id, uidvalidity, got)
    return got


def _read_thread_keys(
    folder: Folder,
    found: list[tuple[int, int]],
    infos: dict[int, MessageInfo],
    cache: StructureCache | None,
    uidvalidity: int,
    helpers: ParseHelpers | None,
) -> list[Keys]:
    """:func:`read_thread_keys`, shared with idle parse helpers and kept in the structure
    cache.  Blocking."""
    if helpers is None:
        keys = read_thread_keys(folder, found, infos)
        cached = {k.uid: {THREAD_CACHE_NAME: to_cached(k)} for k in keys}
    else:
        seq_of = {uid: seq for seq, uid in found}

        def here(uids: list[int]) -> dict[int, dict[bytes, bytes]]:
            part = [(seq_of[uid], uid) for uid in uids]
            return {
                k.uid: {THREAD_CACHE_NAME: to_cached(k)}
                for k in read_thread_keys(folder, part, infos)
            }

        cached = _shared(folder, list(seq_of), [THREAD_CACHE_NAME], helpers, here)
        keys = [from_cached(seq_of[u], u, v[THREAD_CACHE_NAME]) for u, v in cached.items()]
    if cache is not None:
        cache.add_many(folder.folder_id, uidvalidity, cached)
    return keys


def _shared(
    folder: Folder,
    uids: list[int],
    names: list[bytes],
    helpers: ParseHelpers | None,
    here: Callable[[list[int]], dict[int, dict[bytes, bytes]]],
) -> dict[int, dict[bytes, bytes]]:
    """The items ``names`` of ``uids``: parts handed to idle parse helpers, if any, and the
    rest (with whatever a helper did not build) by ``here``.  Blocking."""
    out: dict[int, dict[bytes, bytes]] = {}
    rest = uids
    while rest:
        own, share = (rest, None) if helpers is None else helpers.share(folder, rest, names)
        try:
            out.update(here(own))
        finally:
            built = share.collect() if share is not None else {}
        out.update(built)
        handed = share.uids if share is not None else []
        missed = [uid for uid in handed if uid not in built]
        if missed:
            out.update(here(missed))
        done = {*own, *handed}
        rest = [uid for uid in rest if uid not in done]
    return out


def _cached_sort_keys(
    cache: StructureCache | None, mailbox: tuple[str, int], uids: list[int], wanted: list[bytes]
) -> tuple[dict[int, dict[bytes, bytes]], list[int]]:
    """The cached entries that hold every key of ``wanted``, by UID, and the UIDs that
    must be read.  Blocking (a worker thread's work)."""
    if cache is None:
        return {}, list(uids)
    kept: dict[int, dict[bytes, bytes]] = {}
    need: list[int] = []
    for u, known in zip(uids, cache.get_many(*mailbox, uids), strict=True):
        if known is not None and all(w in known for w in wanted):
            kept[u] = known
        else:
            need.append(u)
    return kept, need


def _sort_pairs(
    found: list[tuple[int, int]],
    criteria: list[tuple[bytes, bool]],
    kept: dict[int, dict[bytes, bytes]],
    infos: dict[int, MessageInfo],
    from_header: bool,
) -> list[tuple[int, int]]:
    """``found`` ``(seq, uid)`` pairs in SORT order (without those whose headers could not
    be read).  Blocking."""
    if from_header:
        found = [(seq, u) for seq, u in found if u in kept]
    uids = [u for _, u in found]
    return ordered(found, [sort_column(k, uids, kept, infos) for k, _ in criteria], criteria)


@command("THREAD", SEL)
async def cmd_thread(s: IMAPSession, args: Args, uid: bool) -> bytes:
    """RFC 5256: what SEARCH finds, as threads (algorithms in :mod:`thread`); like SORT,
    the threading runs off the reactor."""
    algorithm, key = grammar.thread_program(args)
    view, folder = s.view, s.folder
    assert view is not None and folder is not None
    key = with_saved(key, view.saved)
    found, infos = await _found_with_listing(s, key)
    # what was read of each message before is in the host's structure cache
    cache = s.structures
    folder_id, uidvalidity = view.folder_id, view.uidvalidity
    asked = (folder_id, uidvalidity, b"THREAD " + algorithm + (b" UID" if uid else b""))
    digest = b""
    if cache is not None:
        # webmail threads the same messages again at every page it shows
        digest = await s.run(digest_of, found)
        body = cache.answer(asked, digest)
        if body is not None:
            s._send(b"* THREAD" + (b" " + body if body else b""))
            return b"THREAD completed"
    keys, need = await s.run(_cached_thread_keys, cache, (folder_id, uidvalidity), found)
    helpers, size = s.parse_helpers, _key_batch(s)
    for i in range(0, len(need), size):
        batch = need[i : i + size]
        keys += await s.run(_read_thread_keys, folder, batch, infos, cache, uidvalidity, helpers)
    body = await s.run(_threads, algorithm, keys, uid)
    if cache is not None:
        cache.keep_answer(asked, digest, body)
    s._send(b"* THREAD" + (b" " + body if body else b""))
    return b"THREAD completed"


def _cached_thread_keys(
    cache: StructureCache | None, mailbox: tuple[str, int], found: list[tuple[int, int]]
) -> tuple[list[Keys], list[tuple[int, int]]]:
    """The threading keys kept of ``found`` ``(seq, uid)`` pairs, and the pairs whose keys
    must be read.  Blocking."""
    if cache is None:
        return [], list(found)
    keys: list[Keys] = []
    need: list[tuple[int, int]] = []
    for (seq, u), kept in zip(found, cache.get_many(*mailbox, [u for _, u in found]), strict=True):
        raw = kept.get(THREAD_CACHE_NAME) if kept is not None else None
        if raw is None:
            need.append((seq, u))
        else:
            keys.append(from_cached(seq, u, raw))
    return keys, need


def _threads(algorithm: bytes, keys: list[Keys], uid: bool) -> bytes:
    """The THREAD answer's body.  Blocking."""
    if algorithm == b"ORDEREDSUBJECT":
        return format_ordered_subject(ordered_subject(keys), uid)
    return format_references(references(keys), uid)


@command("FETCH", SEL)
async def cmd_fetch(s: IMAPSession, args: Args, uid: bool) -> bytes:
    seqset = grammar.sequence_set(args, saved_ok=True)
    args.sp()
    items = grammar.fetch_items(args)
    changed_since = None
    vanished = False
    if args.maybe(b" ("):
        # fetch-modifiers (RFC 4466): CHANGEDSINCE (RFC 7162 §3.1.4), VANISHED (§3.2.6)
        while True:
            if args.maybe(b"CHANGEDSINCE "):
                changed_since = args.mod_sequence()
            else:
                args.expect(b"VANISHED")
                vanished = True
            if not args.maybe(b" "):
                break
        args.expect(b")")
    args.end()
    if vanished and not (uid and s.qresync and changed_since is not None):
        raise ParseError("VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC enabled")
    uids = s.resolve(seqset, uid)
    if changed_since is not None or any(it.name == b"MODSEQ" for it in items):
        s.enable_condstore()
    if vanished:
        assert changed_since is not None
        gone = await vanished_since(s, changed_since, seqset)
        if gone:
            s._send(b"* VANISHED (EARLIER) " + uid_ranges(gone).encode())
    if changed_since is not None:
        view = s.view
        assert view is not None
        uids = view.changed_since(uids, changed_since)
        if not any(it.name == b"MODSEQ" for it in items):
            items = [*items, grammar.FetchItem(b"MODSEQ", label=b"MODSEQ")]
    complete = await run_fetch(s, uids, items, uid)
    if not complete:
        raise No(b"EXPUNGEISSUED", "Some of the requested messages no longer exist")
    return b"FETCH completed"


@command("STORE", SEL)
async def cmd_store(s: IMAPSession, args: Args, uid: bool) -> bytes:
    seqset = grammar.sequence_set(args, saved_ok=True)
    unchanged_since = None
    if args.maybe(b" ("):
        # store-modifier (RFC 4466); UNCHANGEDSINCE is RFC 7162 §3.1.3
        args.expect(b"UNCHANGEDSINCE ")
        unchanged_since = args.mod_sequence()
        args.expect(b")")
    args.sp()
    mode = FlagMode.REPLACE
    if args.maybe(b"+"):
        mode = FlagMode.ADD
    elif args.maybe(b"-"):
        mode = FlagMode.REMOVE
    args.expect(b"FLAGS")
    silent = args.maybe(b".SILENT")
    args.sp()
    flags = grammar.flag_list(args, parens_optional=True)
    args.end()
    view, folder = s.view, s.folder
    assert view is not None and folder is not None
    uids = s.resolve(seqset, uid)
    if view.read_only:
        raise No(b"NOPERM", "Mailbox is read-only")
    if unchanged_since is not None:
        s.enable_condstore()
    gone = [u for u in uids if u in view.gone]
    live = [u for u in uids if u not in view.gone]
    modified: list[int] = []
    if not live:
        changed: list[MessageInfo] = []
    elif unchanged_since is None:
        changed = await s.run(folder.set_flags, live, flags, mode)
    else:
        changed, modified = await s.run(
            folder.set_flags_unchanged_since, live, flags, mode, unchanged_since
        )
    for line in view.keyword_lines(info.flags for info in changed):
        s._send(line)
    view.record_stored(changed)
    if changed and all(info.modseq == view.modseq + 1 for info in changed):
        # (Folder.set_flags: that MODSEQ is this change's alone) the view was current
        # and has just taken the change in: the pull after the command starts from here
        view.modseq += 1
    _store_responses(s, live, changed, modified, silent, uid)
    if modified:
        # (RFC 7162 §3.1.3: the messages that had changed since, left as they are)
        numbers = modified if uid else [q for q in map(view.seq_of, modified) if q is not None]
        return b"[MODIFIED %s] Conditional STORE failed" % uid_ranges(numbers).encode()
    if gone:
        raise No(b"EXPUNGEISSUED", "Some of the requested messages no longer exist")
    return b"STORE completed"


def _store_responses(
    s: IMAPSession,
    live: list[int],
    changed: list[MessageInfo],
    modified: list[int],
    silent: bool,
    uid: bool,
) -> None:
    """The untagged FETCH responses of a STORE, in one write.

    Without ``.SILENT``, the new flags of every message stored to.  Under CONDSTORE
    (RFC 7162 §3.1.3) each also carries MODSEQ, and with ``.SILENT`` the messages that
    changed still get one with their new MODSEQ.
    """
    view = s.view
    assert view is not None
    condstore = view.condstore
    if silent and not condstore:
        return
    left = set(modified)
    targets = live if not silent else [info.uid for info in changed]
    modseqs = view.modseqs
    out = []
    for u, seq in zip(targets, view.seqs_of(targets), strict=True):
        if seq is None or u in left:
            continue
        items = [] if silent else [b"FLAGS " + format_flags(view.flags_for_client(u))]
        if uid or condstore:  # (RFC 7162 §3.1: UID and MODSEQ once CONDSTORE is on)
            items.append(b"UID %d" % u)
        if condstore:
            items.append(b"MODSEQ (%d)" % modseqs[seq - 1])
        out.append(b"* %d FETCH (" % seq + b" ".join(items) + b")\r\n")
    s.write(b"".join(out))


async def _copy(s: IMAPSession, args: Args, uid: bool, move: bool) -> bytes:
    seqset = grammar.sequence_set(args, saved_ok=True)
    args.sp()
    name = grammar.mailbox(args)
    args.end()
    view, folder, account = s.view, s.folder, s.account
    assert view is not None and folder is not None and account is not None
    uids = s.resolve(seqset, uid)
    if any(u in view.gone for u in uids):
        raise No(b"EXPUNGEISSUED", "Some of the requested messages no longer exist")
    if move and view.read_only:
        raise No(b"NOPERM", "Mailbox is read-only")
    try:
        dest = await s.run(account.folder, name)
    except errors.NoSuchFolder as e:
        raise to_no(e, trycreate=True) from None
    s.writable_target(dest)
    verb = b"MOVE" if move else b"COPY"
    if not uids:
        return verb + b" completed (no messages)"
    pairs = await s.run(folder.move_to if move else folder.copy_to, uids, dest)
    pairs.sort()
    code = b""
    if pairs:
        code = b"[COPYUID %d %s %s] " % (
            dest.uidvalidity,
            uid_ranges([a for a, _ in pairs]).encode(),
            uid_ranges([b for _, b in pairs]).encode(),
        )
    if move:
        if code:
            s._send(b"* OK " + code + b"Moved")
        s.expunged([(seq, src) for src, _ in pairs if (seq := view.remove(src)) is not None])
        return verb + b" completed"
    return code + verb + b" completed"


@command("COPY", SEL)
async def cmd_copy(s: IMAPSession, args: Args, uid: bool) -> bytes:
    return await _copy(s, args, uid, move=False)


@command("MOVE", SEL)
async def cmd_move(s: IMAPSession, args: Args, uid: bool) -> bytes:
    return await _copy(s, args, uid, move=True)


@command("UID", SEL)
async def cmd_uid(s: IMAPSession, args: Args, uid: bool) -> bytes:
    """Never called: ``UID <command>`` is dispatched to that command's handler."""
    raise AssertionError("UID is dispatched in IMAPSession._run")
