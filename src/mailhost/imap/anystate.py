"""CAPABILITY, NOOP, LOGOUT and ID (RFC 2971) in any state; ENABLE (RFC 5161) once logged in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailhost.imap.args import Args, ParseError
from mailhost.imap.dispatch import ANY, AUTH, LOGOUT, command
from mailhost.imap.responses import Bad

if TYPE_CHECKING:
    from mailhost.imap.protocol import IMAPSession


@command("CAPABILITY", ANY)
async def cmd_capability(s: IMAPSession, args: Args, uid: bool) -> bytes:
    args.end()
    s._send(b"* CAPABILITY " + b" ".join(s._capabilities()))
    return b"CAPABILITY completed"


@command("NOOP", ANY)
async def cmd_noop(s: IMAPSession, args: Args, uid: bool) -> bytes:
    args.end()
    return b"NOOP completed"


@command("LOGOUT", ANY)
async def cmd_logout(s: IMAPSession, args: Args, uid: bool) -> bytes:
    args.end()
    s.hold(b"* BYE Logging out\r\n")
    s._deselect()
    s.state = LOGOUT
    return b"LOGOUT completed"


@command("ID", ANY)
async def cmd_id(s: IMAPSession, args: Args, uid: bool) -> bytes:
    """RFC 2971: the client's list is read and ignored; we say only our name."""
    if args.maybe(b"NIL"):
        pass
    else:
        args.expect(b"(")
        count = 0
        while not args.maybe(b")"):
            if count:
                args.sp()
            args.string()
            args.sp()
            if not args.maybe(b"NIL"):
                args.string()
            count += 1
            if count > 30:
                raise ParseError("too many ID fields")
    args.end()
    s._send(b'* ID ("name" "mailhost")')
    return b"ID completed"


@command("ENABLE", AUTH)
async def cmd_enable(s: IMAPSession, args: Args, uid: bool) -> bytes:
    """RFC 5161: CONDSTORE, QRESYNC and UTF8=ACCEPT are the extensions here that can be
    enabled; the others asked for are left out of the ENABLED response."""
    names = [args.atom().upper()]
    while args.maybe(b" "):
        names.append(args.atom().upper())
    args.end()
    if b"UTF8=ACCEPT" in names and s.view is not None:
        # RFC 6855 §3: only in the authenticated state, before the names a session holds
        raise Bad("UTF8=ACCEPT must be enabled before a mailbox is selected")
    enabled = [name for name in (b"CONDSTORE", b"QRESYNC", b"UTF8=ACCEPT") if name in names]
    s._send(b" ".join([b"* ENABLED", *enabled]))
    if b"QRESYNC" in enabled:
        s.enable_qresync()  # (CONDSTORE too, RFC 7162 §3.2.3)
    elif b"CONDSTORE" in enabled:
        s.enable_condstore()
    if b"UTF8=ACCEPT" in enabled:
        s.utf8 = True
    return b"ENABLE completed"
