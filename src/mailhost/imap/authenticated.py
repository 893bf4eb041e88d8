"""The authenticated state: SELECT/EXAMINE, mailbox commands, APPEND, IDLE (RFC 3501 §6.3),
COMPRESS (RFC 4978).

The mailbox commands themselves are in :mod:`mailhost.imap.mailboxes`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailhost.imap import commands as grammar
from mailhost.imap import mailboxes
from mailhost.imap.args import Args, ParseError
from mailhost.imap.dispatch import AUTH, SELECTED, Closed, command
from mailhost.imap.responses import Bad, No
from mailhost.imap.selected import vanished_since
from mailhost.imap.view import View, format_flags
from mailhost.imap.wire import quoted
from mailhost.store.api import Account, FlagListing, Folder, uid_ranges

if TYPE_CHECKING:
    from mailhost.imap.protocol import IMAPSession


def _open_folder(
    account: Account, name: str, claim: bool
) -> tuple[Folder, FlagListing, frozenset[int]]:
    """The folder, its UIDs and flags, and the messages this session sees as ``\\Recent``.

    Only flags: a folder of files other programs wrote learns its message sizes by
    reading every file, which SELECT does not need (FETCH RFC822.SIZE pays for it).
    """
    folder = account.folder(name)
    listing, recent = folder.select(claim)
    return folder, listing, recent


async def _select(s: IMAPSession, args: Args, read_only: bool) -> bytes:
    name = grammar.mailbox(args)
    condstore = False
    qresync = None
    if args.maybe(b" ("):
        # select-params (RFC 4466): CONDSTORE and QRESYNC (RFC 7162 §3.1.8, §3.2.5)
        while True:
            if args.maybe(b"QRESYNC "):
                qresync = grammar.qresync_params(args)
            else:
                args.expect(b"CONDSTORE")
                condstore = True
            if not args.maybe(b" "):
                break
        args.expect(b")")
    args.end()
    if qresync is not None and not s.qresync:
        raise ParseError("QRESYNC must be enabled first")
    if s.view is not None:
        s._deselect()
        s._send(b"* OK [CLOSED] Previous mailbox closed")
    if condstore:
        s.condstore = True  # (this SELECT announces HIGHESTMODSEQ itself)
    assert s.account is not None
    began = s.clock.seconds()
    folder, listing, recent = await s.run(_open_folder, s.account, name, not read_only)
    if s._closed:
        raise Closed()  # gone meanwhile: subscribing now would leak a listener
    read_only = read_only or folder.read_only
    view = View(
        folder.folder_id,
        listing.uidvalidity,
        listing.uids,
        listing.flags,
        listing.modseqs,
        listing.highestmodseq,
        recent,
        read_only,
    )
    view.condstore = s.condstore
    s.folder, s.view = folder, view
    s.state = SELECTED
    s._unsubscribe = s.changes.subscribe(s.account.username, folder.folder_id, s._wake)
    # the view is as new as the listing: a pull that began with it.  A change between
    # the listing and the subscription woke nobody; a command a second later looks
    s.stale = False
    s._last_pull = began
    s._pulled_generation = s._generation()
    lines = view.flags_lines()
    lines.append(b"* %d EXISTS" % view.exists)
    lines.append(b"* %d RECENT" % len(view.recent))
    unseen = next((i for i, f in enumerate(listing.flags, 1) if "\\Seen" not in f), None)
    if unseen is not None:
        lines.append(b"* OK [UNSEEN %d] First unseen" % unseen)
    lines.append(b"* OK [UIDVALIDITY %d] UIDs valid" % listing.uidvalidity)
    lines.append(b"* OK [UIDNEXT %d] Predicted next UID" % listing.uidnext)
    # (RFC 7162 §3.1.2.1: with every SELECT, whether CONDSTORE is enabled or not)
    lines.append(b"* OK [HIGHESTMODSEQ %d] Highest" % listing.highestmodseq)
    s.told_modseq = listing.highestmodseq
    s.write(b"\r\n".join(lines) + b"\r\n")  # one write for the untagged responses
    view.qresync = s.qresync
    if qresync is not None and qresync.uidvalidity == listing.uidvalidity:
        await _resync(s, qresync)
    mode = b"READ-ONLY" if read_only else b"READ-WRITE"
    return (
        b"["
        + mode
        + b"] "
        + (b"EXAMINE" if args_cmd(s) == b"EXAMINE" else b"SELECT")
        + b" completed"
    )


async def _resync(s: IMAPSession, params: grammar.QresyncParams) -> None:
    """What changed since the client's MODSEQ (RFC 7162 §3.2.5.1): the UIDs expunged
    meanwhile in one ``VANISHED (EARLIER)``, then the flags of each message changed."""
    view, folder = s.view, s.folder
    assert view is not None and folder is not None
    known = params.known
    top = max(view.uidnext_hint - 1, 0)
    vanished = await vanished_since(s, params.modseq, known)
    if vanished:
        s._send(b"* VANISHED (EARLIER) " + uid_ranges(vanished).encode())
    out = []
    for seq, (uid, modseq) in enumerate(zip(view.uids, view.modseqs, strict=True), 1):
        if modseq > params.modseq and (known is None or known.contains(uid, top)):
            flags = format_flags(view.flags_for_client(uid))
            out.append(b"* %d FETCH (UID %d FLAGS %s MODSEQ (%d))\r\n" % (seq, uid, flags, modseq))
    s.write(b"".join(out))


def args_cmd(s: IMAPSession) -> bytes:
    return s._current_name


@command("SELECT", AUTH)
async def cmd_select(s: IMAPSession, args: Args, uid: bool) -> bytes:
    return await _select(s, args, read_only=False)


@command("EXAMINE", AUTH)
async def cmd_examine(s: IMAPSession, args: Args, uid: bool) -> bytes:
    return await _select(s, args, read_only=True)


@command("CREATE", AUTH)
async def cmd_create(s: IMAPSession, args: Args, uid: bool) -> bytes:
    return await mailboxes.create(s, args)


@command("DELETE", AUTH)
async def cmd_delete(s: IMAPSession, args: Args, uid: bool) -> bytes:
    return await mailboxes.delete(s, args)


@command("RENAME", AUTH)
async def cmd_rename(s: IMAPSession, args: Args, uid: bool) -> bytes:
    return await mailboxes.rename(s, args)


@command("SUBSCRIBE", AUTH)
async def cmd_subscribe(s: IMAPSession, args: Args, uid: bool) -> bytes:
    return await mailboxes.subscribe(s, args, True)


@command("UNSUBSCRIBE", AUTH)
async def cmd_unsubscribe(s: IMAPSession, args: Args, uid: bool) -> bytes:
    return await mailboxes.subscribe(s, args, False)


@command("LIST", AUTH)
async def cmd_list(s: IMAPSession, args: Args, uid: bool) -> bytes:
    return await mailboxes.list_(s, args, lsub=False)


@command("LSUB", AUTH)
async def cmd_lsub(s: IMAPSession, args: Args, uid: bool) -> bytes:
    return await mailboxes.list_(s, args, lsub=True)


@command("STATUS", AUTH)
async def cmd_status(s: IMAPSession, args: Args, uid: bool) -> bytes:
    return await mailboxes.status(s, args)


@command("NAMESPACE", AUTH)
async def cmd_namespace(s: IMAPSession, args: Args, uid: bool) -> bytes:
    args.end()
    assert s.account is not None
    s._send(b'* NAMESPACE (("" ' + quoted(s.account.delimiter) + b")) NIL NIL")
    return b"NAMESPACE completed"


@command("GETQUOTAROOT", AUTH)
async def cmd_getquotaroot(s: IMAPSession, args: Args, uid: bool) -> bytes:
    return await mailboxes.getquotaroot(s, args)


@command("GETQUOTA", AUTH)
async def cmd_getquota(s: IMAPSession, args: Args, uid: bool) -> bytes:
    return await mailboxes.getquota(s, args)


@command("SETQUOTA", AUTH)
async def cmd_setquota(s: IMAPSession, args: Args, uid: bool) -> bytes:
    raise No(b"NOPERM", "Quotas are set by the administrator")


@command("APPEND", AUTH)
async def cmd_append(s: IMAPSession, args: Args, uid: bool) -> bytes:
    return await mailboxes.append(s, args)


@command("IDLE", AUTH)
async def cmd_idle(s: IMAPSession, args: Args, uid: bool) -> bytes:
    """RFC 2177: updates are sent as the session learns of them (wake-ups, the IDLE poll,
    keep-alive ticks) until the client says DONE (and only DONE)."""
    args.end()
    s._send(b"+ idling")
    s.begin_idle()
    try:
        if s.view is not None:
            s._flush(allow_expunge=True)
        while True:
            line = await s.next_line()
            s._arm_timer()
            if line.strip().upper() == b"DONE":
                break
            s._bad(b"* BAD Expected DONE")  # counted: a flood of junk lines ends the session
            if s._closed:
                raise Closed()
    finally:
        s.end_idle()
    return b"IDLE terminated"


@command("COMPRESS", AUTH)
async def cmd_compress(s: IMAPSession, args: Args, uid: bool) -> bytes:
    """RFC 4978: deflate both ways from the end of the tagged OK; what the client sent
    after its command line is already compressed."""
    mechanism = args.atom().upper()
    args.end()
    if mechanism != b"DEFLATE" or not s.config.compress_level:
        raise Bad("Unknown compression mechanism")
    if s.compressed:
        raise No(b"COMPRESSIONACTIVE", "DEFLATE active via COMPRESS")
    pending = s.reader.take_buffered()

    def start() -> None:
        s.compressed = True
        s.conn.start_compress(pending)

    s.after_response = start
    return b"DEFLATE active"
