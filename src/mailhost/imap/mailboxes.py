"""Mailbox commands of the authenticated state (RFC 3501 §6.3) and their extensions.

LIST follows RFC 5258 (LIST-EXTENDED: selection and return options, several patterns),
RFC 3348 (``\\HasChildren``/``\\HasNoChildren``), RFC 6154 (SPECIAL-USE attributes,
CREATE-SPECIAL-USE) and RFC 5819 (LIST-STATUS).  Patterns are matched against whole
names (``%`` stops at the delimiter), INBOX in any case is INBOX.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mailhost import errors
from mailhost.imap import commands as grammar
from mailhost.imap.args import Args, ParseError
from mailhost.imap.responses import No, to_no
from mailhost.imap.wire import plist, quoted, quoted_utf8
from mailhost.store.api import (
    INBOX,
    SPECIAL_USES,
    Account,
    FolderInfo,
    FolderStatus,
    Quota,
    uid_ranges,
)

if TYPE_CHECKING:
    from mailhost.imap.protocol import IMAPSession


def _account(s: IMAPSession) -> Account:
    assert s.account is not None
    return s.account


def _wire_name(s: IMAPSession, name: str) -> bytes:
    """A name for a response: modified UTF-7, or UTF-8 once the client enabled it."""
    if s.utf8:
        return quoted_utf8(name)
    return quoted(grammar.encode_mailbox(name))


# -- CREATE / DELETE / RENAME / SUBSCRIBE --------------------------------------------------


async def create(s: IMAPSession, args: Args) -> bytes:
    account = _account(s)
    raw = args.astring()
    use: str | None = None
    if args.maybe(b" "):
        # RFC 6154 §3: CREATE name (USE (\Sent))
        args.expect(b"(")
        args.expect(b"USE")
        args.sp()
        args.expect(b"(")
        uses: list[str] = []
        while not args.maybe(b")"):
            if uses:
                args.sp()
            args.expect(b"\\")
            uses.append("\\" + args.atom().decode("ascii").capitalize())
        args.expect(b")")
        if len(uses) > 1 or any(u not in SPECIAL_USES for u in uses):
            raise No(b"USEATTR", "Unsupported special-use attribute")
        use = uses[0] if uses else None
    args.end()
    delim = account.delimiter.encode()
    if raw.endswith(delim):
        raw = raw.rstrip(delim)
    name = grammar.decode_mailbox(raw, args.utf8)
    if name == INBOX:
        raise No(b"ALREADYEXISTS", "INBOX always exists")
    await s.run(account.create_folder, name, use)
    return b"CREATE completed"


async def delete(s: IMAPSession, args: Args) -> bytes:
    account = _account(s)
    name = grammar.mailbox(args)
    args.end()
    if name == INBOX:
        raise No(b"CANNOT", "INBOX cannot be deleted")
    if s.folder is not None and s.folder.name == name:
        s._deselect()
        s._send(b"* OK [CLOSED] Mailbox deleted")
    await s.run(account.delete_folder, name)
    return b"DELETE completed"


async def rename(s: IMAPSession, args: Args) -> bytes:
    account = _account(s)
    old = grammar.mailbox(args)
    args.sp()
    new = grammar.mailbox(args)
    args.end()
    await s.run(account.rename_folder, old, new)
    return b"RENAME completed"


async def subscribe(s: IMAPSession, args: Args, on: bool) -> bytes:
    account = _account(s)
    name = grammar.mailbox(args)
    args.end()
    if on:
        # subscribing to a name that does not exist is refused, as most servers do
        await s.run(account.folder, name)
    await s.run(account.subscribe, name, on)
    return b"SUBSCRIBE completed" if on else b"UNSUBSCRIBE completed"


# -- LIST / LSUB -------------------------------------------------------------------------


def pattern_regex(pattern: str, delimiter: str) -> re.Pattern[str]:
    """``*`` matches anything, ``%`` anything but the delimiter; INBOX case-insensitive."""
    if pattern[:5].upper() == INBOX and (len(pattern) == 5 or pattern[5] == delimiter):
        pattern = INBOX + pattern[5:]
    out = []
    for c in pattern:
        if c == "*":
            out.append(".*")
        elif c == "%":
            out.append(f"[^{re.escape(delimiter)}]*")
        else:
            out.append(re.escape(c))
    return re.compile("".join(out), re.DOTALL)


def _decode_pattern(raw: bytes, utf8: bool) -> str:
    try:
        return raw.decode("utf-8" if utf8 else "imap4-utf-7")
    except (UnicodeDecodeError, ValueError):
        encoding = "UTF-8" if utf8 else "modified UTF-7"
        raise ParseError(f"pattern is not valid {encoding}") from None


_STATUS_ITEMS = (
    b"MESSAGES",
    b"RECENT",
    b"UIDNEXT",
    b"UIDVALIDITY",
    b"UNSEEN",
    b"SIZE",
    b"HIGHESTMODSEQ",
)


def _status_items(s: IMAPSession, args: Args) -> list[bytes]:
    """The parenthesised items; HIGHESTMODSEQ enables CONDSTORE (RFC 7162 §3.1)."""
    args.expect(b"(")
    items = [args.atom().upper()]
    while args.maybe(b" "):
        items.append(args.atom().upper())
    args.expect(b")")
    for it in items:
        if it not in _STATUS_ITEMS:
            raise ParseError(f"unknown status item {it.decode(errors='replace')}")
    if b"HIGHESTMODSEQ" in items:
        s.enable_condstore()
    return items


def _status_line(s: IMAPSession, name: str, st: FolderStatus, items: list[bytes]) -> bytes:
    values = {
        b"MESSAGES": st.messages,
        b"UIDNEXT": st.uidnext,
        b"UIDVALIDITY": st.uidvalidity,
        b"UNSEEN": st.unseen,
        b"SIZE": st.size,
        b"HIGHESTMODSEQ": st.highestmodseq,
        # the selected mailbox's \Recent messages were claimed by this session
        b"RECENT": len(s.view.recent)
        if s.folder is not None and s.folder.name == name and s.view
        else st.recent,
    }
    body = b" ".join(it + b" %d" % values[it] for it in items)
    return b"* STATUS " + _wire_name(s, name) + b" (" + body + b")"


async def list_(s: IMAPSession, args: Args, lsub: bool) -> bytes:
    account = _account(s)
    delim = account.delimiter
    select_opts: set[bytes] = set()
    return_opts: set[bytes] = set()
    status_items: list[bytes] = []
    if not lsub and args.maybe(b"("):
        while not args.maybe(b")"):
            if select_opts:
                args.sp()
            select_opts.add(args.atom().upper())
        args.sp()
        for opt in select_opts:
            if opt not in (b"SUBSCRIBED", b"REMOTE", b"RECURSIVEMATCH", b"SPECIAL-USE"):
                raise ParseError("unknown LIST selection option")
        if select_opts - {b"REMOTE"} == {b"RECURSIVEMATCH"}:
            # RFC 5258 §3: not alone, nor with REMOTE only
            raise ParseError("RECURSIVEMATCH needs another selection option")
    ref = _decode_pattern(args.astring() if args.peek() != b'"' else args.string(), args.utf8)
    args.sp()
    patterns: list[str] = []
    if not lsub and args.maybe(b"("):
        patterns.append(_decode_pattern(args.list_mailbox(), args.utf8))
        while args.maybe(b" "):
            patterns.append(_decode_pattern(args.list_mailbox(), args.utf8))
        args.expect(b")")
    else:
        patterns.append(_decode_pattern(args.list_mailbox(), args.utf8))
    if not lsub and args.maybe(b" RETURN ("):
        first = True
        while not args.maybe(b")"):
            if not first:
                args.sp()
            first = False
            opt = args.atom().upper()
            if opt == b"STATUS":
                args.sp()
                status_items = _status_items(s, args)
            elif opt not in (b"SUBSCRIBED", b"CHILDREN", b"SPECIAL-USE"):
                raise ParseError("unknown LIST return option")
            return_opts.add(opt)
    args.end()
    verb = b"LSUB" if lsub else b"LIST"
    if patterns == [""] and not select_opts:
        # RFC 3501 §6.3.8: the delimiter and the root of the reference
        root = ref.split(delim)[0] + delim if delim in ref else ""
        s._send(b"* " + verb + b" (\\Noselect) " + quoted(delim) + b" " + _wire_name(s, root))
        return verb + b" completed"
    folders: list[FolderInfo] = await s.run(account.list_folders)
    subscribed = set(await s.run(account.subscriptions))
    regexes = [pattern_regex(ref + p, delim) for p in patterns if p]
    by_name = {f.name: f for f in folders}
    only_subscribed = lsub or b"SUBSCRIBED" in select_opts
    names = [f.name for f in folders]
    if only_subscribed:
        names += sorted(n for n in subscribed if n not in by_name)
    # RFC 3501 §6.3.9: "%" that stops above a subscribed name shows its unsubscribed
    # parent, as \Noselect (LSUB) or with CHILDINFO (LIST-EXTENDED RECURSIVEMATCH)
    parents = _unlisted_parents(subscribed, regexes, delim) if only_subscribed else {}
    names += sorted(p for p in parents if p not in by_name and p not in subscribed)
    for name in names:
        if not any(r.fullmatch(name) for r in regexes):
            continue
        info = by_name.get(name)
        if name in parents and name not in subscribed:
            if lsub:
                s._send(b"* LSUB (\\Noselect) " + quoted(delim) + b" " + _wire_name(s, name))
            elif b"RECURSIVEMATCH" in select_opts:
                parent_attrs = _attributes(info, lsub)
                s._send(
                    b"* LIST "
                    + plist(parent_attrs)
                    + b" "
                    + quoted(delim)
                    + b" "
                    + _wire_name(s, name)
                    + b' ("CHILDINFO" ("SUBSCRIBED"))'
                )
            continue
        if only_subscribed and name not in subscribed:
            continue
        if b"SPECIAL-USE" in select_opts and (info is None or not info.special_use):
            continue
        attrs = _attributes(info, lsub)
        wants_subscribed = b"SUBSCRIBED" in select_opts or b"SUBSCRIBED" in return_opts
        if not lsub and wants_subscribed and name in subscribed:
            attrs.append(b"\\Subscribed")
        line = b"* " + verb + b" " + plist(attrs) + b" " + quoted(delim) + b" "
        s._send(line + _wire_name(s, name))
        if status_items and info is not None and info.selectable:
            try:
                st = await s.run(lambda n=name: account.folder(n).status())
            except errors.NoSuchFolder:
                continue
            s._send(_status_line(s, name, st, status_items))
    return verb + b" completed"


def _attributes(info: FolderInfo | None, lsub: bool) -> list[bytes]:
    """A listed name's attributes: whether it exists and can be selected, whether it has
    children (RFC 3348, always sent), its special use (RFC 6154)."""
    if info is None:
        return [b"\\NonExistent" if not lsub else b"\\Noselect"]
    attrs: list[bytes] = []
    if not info.selectable:
        attrs.append(b"\\Noselect")
    attrs.append(b"\\HasChildren" if info.has_children else b"\\HasNoChildren")
    if info.special_use:
        attrs.append(info.special_use.encode())
    return attrs


def _unlisted_parents(
    subscribed: set[str], regexes: list[re.Pattern[str]], delim: str
) -> dict[str, str]:
    """Parents a pattern matches while it does not match their subscribed descendant."""
    out: dict[str, str] = {}
    for name in subscribed:
        if any(r.fullmatch(name) for r in regexes):
            continue
        parts = name.split(delim)
        for i in range(1, len(parts)):
            parent = delim.join(parts[:i])
            if any(r.fullmatch(parent) for r in regexes):
                out.setdefault(parent, name)
    return out


async def status(s: IMAPSession, args: Args) -> bytes:
    account = _account(s)
    name = grammar.mailbox(args)
    args.sp()
    items = _status_items(s, args)
    args.end()
    st = await s.run(lambda: account.folder(name).status())
    s._send(_status_line(s, name, st, items))
    return b"STATUS completed"


# -- QUOTA (RFC 9208) --------------------------------------------------------------------
# One quota root, "", covers the whole account: STORAGE in units of 1024 octets.


def _quota_line(q: Quota) -> bytes:
    used, limit = q.used, q.limit
    resources = []
    if limit is not None:
        resources.append(b"STORAGE %d %d" % ((used + 1023) // 1024, limit // 1024))
    return b'* QUOTA "" ' + plist(resources)


async def getquotaroot(s: IMAPSession, args: Args) -> bytes:
    account = _account(s)
    name = grammar.mailbox(args)
    args.end()
    await s.run(account.folder, name)
    q = await s.run(account.quota)
    if q.limit is None:
        # RFC 9208 §4.3: no quota root applies to an unlimited account
        s._send(b"* QUOTAROOT " + _wire_name(s, name))
    else:
        s._send(b"* QUOTAROOT " + _wire_name(s, name) + b' ""')
        s._send(_quota_line(q))
    return b"GETQUOTAROOT completed"


async def getquota(s: IMAPSession, args: Args) -> bytes:
    account = _account(s)
    root = args.astring()
    args.end()
    if root != b"":
        raise No(b"NONEXISTENT", "No such quota root")
    q = await s.run(account.quota)
    s._send(_quota_line(q))
    return b"GETQUOTA completed"


# -- APPEND (RFC 3501 §6.3.11, RFC 3502 MULTIAPPEND, RFC 4315 APPENDUID) ------------------


async def append(s: IMAPSession, args: Args) -> bytes:
    account = _account(s)
    name = grammar.mailbox(args)
    messages: list[tuple[bytes, list[str], float | None]] = []
    while args.maybe(b" "):
        flags: list[str] = []
        date: float | None = None
        if args.peek() == b"(":
            flags = grammar.flag_list(args)
            args.sp()
        if args.peek() == b'"':
            date = grammar.date_time(args)
            args.sp()
        if args.maybe(b"UTF8 ("):
            # RFC 6855 §4: a message with UTF-8 headers, for a client that enabled them
            if not args.utf8:
                raise ParseError("UTF8 data needs ENABLE UTF8=ACCEPT")
            args.expect(b"~")
            data = args.literal()
            args.expect(b")")
        else:
            args.maybe(b"~")  # literal8 (RFC 3516 §4.4)
            data = args.literal()
        if not data:
            raise No(None, "Empty messages are not stored")
        if len(data) > s.max_message_size:
            raise No(b"TOOBIG", "Message too large")
        messages.append((data, flags, date))
    args.end()
    if not messages:
        raise ParseError("APPEND needs a message")
    try:
        folder = await s.run(account.folder, name)
    except errors.NoSuchFolder as e:
        raise to_no(e, trycreate=True) from None
    s.writable_target(folder)

    def store() -> list[int]:
        uids: list[int] = []
        try:
            for data, flags, date in messages:
                uids.append(folder.append(data, flags, date).uid)
        except BaseException:
            # RFC 3502 §6.3.11: all or nothing
            if uids:
                folder.expunge(uids)
            raise
        return uids

    uids = await s.run(store)
    return b"[APPENDUID %d %s] APPEND completed" % (folder.uidvalidity, uid_ranges(uids).encode())
