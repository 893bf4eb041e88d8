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
    idle_timeout: float = 1800.0
    #: Longest command line, literals excluded, in octets.
    max_line_length: int = 64 * 1024

    def __post_init__(self) -> None:
        from mailhost.config import ConfigValueError

        if self.idle_timeout < 1800:
            raise ConfigValueError("idle_timeout", "RFC 3501 requires at least 1800 seconds")
        if self.max_line_length < 1000:
            raise ConfigValueError("max_line_length", "must be at least 1000")
