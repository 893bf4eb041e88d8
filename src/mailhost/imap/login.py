"""The not-authenticated state: STARTTLS, LOGIN and AUTHENTICATE (RFC 3501 §6.2, RFC 4959)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailhost.auth import sasl
from mailhost.imap.args import Args
from mailhost.imap.dispatch import PRE, command
from mailhost.imap.responses import Bad, No

if TYPE_CHECKING:
    from mailhost.imap.protocol import IMAPSession


@command("STARTTLS", PRE)
async def cmd_starttls(s: IMAPSession, args: Args, uid: bool) -> bytes:
    args.end()
    if not s.starttls_available:
        raise Bad("STARTTLS not available")
    # RFC 3501 §6.2.1: anything the client pipelined after STARTTLS was sent in the
    # clear and is dropped, never run inside the TLS session.
    s.reader.clear()

    def start() -> None:
        s.conn.start_tls()
        s.secure = True
        s.starttls_available = False

    s.after_response = start
    return b"Begin TLS negotiation now"


@command("LOGIN", PRE)
async def cmd_login(s: IMAPSession, args: Args, uid: bool) -> bytes:
    user = args.astring()
    args.sp()
    password = args.astring()
    args.end()
    if not s.authenticator.plaintext_allowed(s._ctx()):
        raise No(b"PRIVACYREQUIRED", "Plaintext login is not allowed without TLS")
    return await s._login(_utf8(user), _utf8(password))


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Bad("user name and password must be UTF-8") from None


@command("AUTHENTICATE", PRE)
async def cmd_authenticate(s: IMAPSession, args: Args, uid: bool) -> bytes:
    name = args.atom().decode("ascii").upper()
    initial: bytes | None = None
    if args.maybe(b" "):
        raw = args.atom()
        try:
            initial = sasl.decode_response(raw)
        except sasl.SASLError as e:
            raise Bad(str(e)) from None
    args.end()
    ctx = s._ctx()
    if not s.authenticator.plaintext_allowed(ctx):
        raise No(b"PRIVACYREQUIRED", "Authentication is not allowed without TLS")
    if name not in [m.upper() for m in s.authenticator.mechanisms(ctx)]:
        raise No(None, "Unsupported authentication mechanism")
    mech = sasl.mechanism(name)
    if mech is None:
        raise No(None, "Unsupported authentication mechanism")
    try:
        step = mech.start(initial)
        while isinstance(step, sasl.Challenge):
            s._send(b"+ " + step.encoded)
            line = await s.next_line()
            if line.strip() == b"*":
                raise Bad("AUTHENTICATE cancelled")
            if len(line) > s.config.max_line_length:
                raise Bad("response too long")
            step = mech.feed(sasl.decode_response(line))
    except sasl.SASLError as e:
        raise Bad(str(e)) from None
    if step.authzid and step.authzid != step.username:
        raise No(b"AUTHORIZATIONFAILED", "Cannot log in as another user")
    return await s._login(step.username, step.password)
