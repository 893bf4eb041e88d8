"""``[pop3]``: POP3 listeners, timers, limits and client workarounds."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from mailhost.config_checks import endpoint_list

#: Named UIDL formats (see :mod:`mailhost.pop3.uidl`).
UIDLFormat = Literal["dovecot", "cyrus", "courier", "uidonly"]


@dataclass(frozen=True)
class POP3Config:
    #: Plain listeners (STLS offered on them), as Twisted endpoint strings.
    listen: tuple[str, ...] = field(default=("tcp:110",), metadata={"check": endpoint_list})
    #: Implicit-TLS listeners (RFC 8314).
    listen_tls: tuple[str, ...] = field(default=("tcp:995",), metadata={"check": endpoint_list})
    #: Offer STLS (RFC 2595) on the plain listeners.
    stls: bool = True
    #: Seconds of silence before the session is closed (RFC 1939 §3: at least 600).
    idle_timeout: float = 600.0
    #: Longest command line accepted, in octets (RFC 2449 §4: at least 255).
    max_line_length: int = 1024
    #: Offer APOP (RFC 1939 §7): the greeting carries a timestamp and ``APOP user digest``
    #: logs in without sending the password, even without TLS. It rests on weak MD5 and
    #: needs the password stored in the clear: only users with a {PLAIN} or {CLEARTEXT}
    #: passwd-file value and no two-factor login can use it (``[auth] rehash`` then leaves
    #: such values as they are). Keep it off unless an old client needs it.
    apop: bool = False
    #: UIDL form of (UIDVALIDITY, UID): "dovecot" (Dovecot's default ``%08Xu%08Xv``, lower
    #: case hex), "cyrus" (``UIDVALIDITY.UID``), "courier" (``UIDVALIDITY-UID``), "uidonly".
    #: Changing it on a live server makes every POP client download everything again.
    uidl_format: UIDLFormat = "dovecot"
    #: RFC 2449 EXPIRE: "NEVER" or the number of days the server keeps mail after a client
    #: retrieved it. It advertises the site's policy; POP3 itself never deletes mail unasked.
    expire: str = "NEVER"
    #: RFC 2449 LOGIN-DELAY: minimum seconds between two POP3 logins of one user; 0 turns it
    #: off (not advertised). Enforced per process, in memory.
    login_delay: int = 0
    #: Honour per-user ``pop3_expire`` and ``pop3_login_delay`` (also ``userdb_pop3_...``)
    #: from the passwd-file's extra fields; CAPA before login then tags EXPIRE and
    #: LOGIN-DELAY with USER (RFC 2449 §6.7, §6.8) and shows each user's values after login.
    per_user_settings: bool = False
    #: Failed USER/PASS, APOP or AUTH attempts on one connection before it is closed.
    max_auth_failures: int = 3
    #: Unknown, malformed or refused commands on one connection before it is closed.
    max_bad_commands: int = 20
    #: Commands a pipelining client may queue ahead (RFC 2449 PIPELINING); reading from the
    #: connection pauses beyond this.
    max_pipelined_commands: int = 100
    #: Simultaneous POP3 connections from one IP address (0: unlimited).
    max_connections_per_ip: int = 20
    #: Simultaneous logged-in POP3 sessions of one user (0: unlimited). The maildrop lock
    #: (RFC 1939 §8) already allows only one session that can change the maildrop.
    max_connections_per_user: int = 10
    #: Messages up to this many octets are read in one piece; bigger ones are streamed.
    stream_threshold: int = 256 * 1024
    #: Octets read from the store per step when streaming a big message.
    stream_chunk_size: int = 64 * 1024
    #: Advertise and accept the UTF8 and LANG commands (RFC 6856; replies are in English).
    utf8: bool = True
    #: Text after IMPLEMENTATION in CAPA (RFC 2449 §6.9); empty: not advertised.
    implementation: str = "mailhost"
    #: Send NUL octets as 0x80 (Dovecot's outlook-no-nuls): Outlook and Outlook Express hang
    #: on NULs. Sizes do not change.
    outlook_no_nuls: bool = False
    #: Add an empty end-of-headers line to TOP output of messages that lack one (Dovecot's
    #: oe-ns-eoh): Outlook Express and Netscape Mail expect it.
    oe_ns_eoh: bool = False

    def __post_init__(self) -> None:
        from mailhost.config import ConfigValueError

        if self.idle_timeout < 600:
            raise ConfigValueError("idle_timeout", "RFC 1939 requires at least 600 seconds")
        if self.max_line_length < 255:
            raise ConfigValueError("max_line_length", "RFC 2449 requires at least 255")
        if not re.fullmatch(r"NEVER|[0-9]{1,5}", self.expire):
            raise ConfigValueError("expire", 'must be "NEVER" or a number of days')
        if not 0 <= self.login_delay <= 86400 * 7:
            raise ConfigValueError("login_delay", "must be between 0 and 604800 seconds")
        for key in ("max_auth_failures", "max_bad_commands", "max_pipelined_commands"):
            if getattr(self, key) < 1:
                raise ConfigValueError(key, "must be at least 1")
        for key in ("max_connections_per_ip", "max_connections_per_user"):
            if getattr(self, key) < 0:
                raise ConfigValueError(key, "must be 0 (unlimited) or more")
        if self.stream_threshold < 0:
            raise ConfigValueError("stream_threshold", "must not be negative")
        if not 1024 <= self.stream_chunk_size <= 16 * 1024 * 1024:
            raise ConfigValueError("stream_chunk_size", "must be between 1024 and 16777216")
        if not re.fullmatch(r"[\x21-\x7e][\x20-\x7e]{0,63}|", self.implementation):
            raise ConfigValueError("implementation", "must be printable ASCII, at most 64")
