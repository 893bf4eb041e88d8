"""``[imap]``: IMAP4 listeners, timers and limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailhost.config_checks import endpoint_list


@dataclass(frozen=True)
class IMAPConfig:
    #: Plain listeners (STARTTLS offered on them), as Twisted endpoint strings.
    listen: tuple[str, ...] = field(default=("tcp:143",), metadata={"check": endpoint_list})
    #: Implicit-TLS listeners (RFC 8314).
    listen_tls: tuple[str, ...] = field(default=("tcp:993",), metadata={"check": endpoint_list})
    #: Offer STARTTLS on the plain listeners.
    starttls: bool = True
    #: Seconds without a command before autologout (RFC 3501 §5.4: at least 1800).
    #: IDLE re-arms it; a client should re-issue IDLE within 29 minutes (RFC 2177).
    idle_timeout: float = 1800.0
    #: Seconds a connection may stay unauthenticated before it is closed.
    login_timeout: float = 180.0
    #: Longest command line, literals excluded, in octets.  Also the most octets of
    #: literals any command other than APPEND may carry.
    max_line_length: int = 64 * 1024
    #: Seconds between ``* OK Still here`` while a client IDLEs (NAT keep-alive); 0: never.
    idle_keepalive: float = 120.0
    #: Seconds between pulls of the selected mailbox's changes while a client IDLEs; 0:
    #: never.  IDLE sessions are woken by this process's own changes and by the watcher
    #: (inotify, and a rescan every ``store.rescan_interval``); each keep-alive tick pulls
    #: too.  Set this to bound the delay further if wake-ups cannot be relied on.
    idle_poll_interval: float = 0.0
    #: Most simultaneous connections from one IP address (0: no limit).
    max_connections_per_ip: int = 50
    #: Most simultaneous logged-in sessions of one user (0: no limit).
    max_connections_per_user: int = 20
    #: Protocol errors (BAD responses) in a row before the connection is closed.
    max_bad_commands: int = 20
    #: Octets read or written per step when streaming a message body.
    chunk_size: int = 64 * 1024
    #: Megabytes of ENVELOPE, BODYSTRUCTURE and BODY responses (and SORT keys) the host
    #: keeps for every session to reuse, so that a message list fetched or sorted again (a
    #: phone reconnecting, webmail showing the next page) reads and parses no message; a
    #: message takes a few hundred octets, so 64 holds about 150,000.  SORT orders are
    #: kept besides, in at most as much again (a million UIDs for 64).  0: keep none.
    structure_cache_mb: int = 64
    #: Deflate level of COMPRESS=DEFLATE (RFC 4978), which Thunderbird and mobile clients
    #: turn on to save bandwidth: 1 (fastest, the default: the host compresses every
    #: response on its one reactor thread) to 9 (smallest); 0: not offered.
    compress_level: int = 1
    #: Helper processes that build ENVELOPE and BODYSTRUCTURE, and read SORT and THREAD
    #: keys, beside the host's own process, so that a client asking for those of many
    #: messages at once (a folder opened or sorted for the first time) has them parsed on
    #: more than one core.  No more are
    #: started than the cores the host may run on, less one (none on one core, or when
    #: pinned to one), and none without a structure cache, through which their answers
    #: reach the sessions; 0: parse in the host's process only.
    parse_processes: int = 1
    #: Messages one MULTIAPPEND command (RFC 3502) may carry.
    max_append_messages: int = 100
    #: Text of the untagged OK greeting after the capability list.
    greeting: str = "mailhost IMAP4rev1 ready"

    def __post_init__(self) -> None:
        from mailhost.config import ConfigValueError

        if self.idle_timeout < 1800:
            raise ConfigValueError("idle_timeout", "RFC 3501 requires at least 1800 seconds")
        if self.login_timeout <= 0:
            raise ConfigValueError("login_timeout", "must be positive")
        if self.max_line_length < 1000:
            raise ConfigValueError("max_line_length", "must be at least 1000")
        if self.idle_keepalive < 0:
            raise ConfigValueError("idle_keepalive", "must be 0 (off) or positive")
        if self.idle_poll_interval < 0:
            raise ConfigValueError("idle_poll_interval", "must be 0 (off) or positive")
        for key in ("max_connections_per_ip", "max_connections_per_user", "max_bad_commands"):
            if getattr(self, key) < 0:
                raise ConfigValueError(key, "must be 0 (no limit) or positive")
        if self.chunk_size < 1024:
            raise ConfigValueError("chunk_size", "must be at least 1024")
        if not 0 <= self.structure_cache_mb <= 65536:
            raise ConfigValueError("structure_cache_mb", "must be between 0 and 65536")
        if not 0 <= self.compress_level <= 9:
            raise ConfigValueError("compress_level", "must be between 0 (off) and 9")
        if not 0 <= self.parse_processes <= 64:
            raise ConfigValueError("parse_processes", "must be between 0 and 64")
        if self.max_append_messages < 1:
            raise ConfigValueError("max_append_messages", "must be at least 1")
        if any(c in self.greeting for c in "\r\n\0"):
            raise ConfigValueError("greeting", "must be one line")
