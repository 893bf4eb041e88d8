"""``[pop3]``: POP3 listeners, timers and limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailhost.config_checks import endpoint_list


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

    def __post_init__(self) -> None:
        from mailhost.config import ConfigValueError

        if self.idle_timeout < 600:
            raise ConfigValueError("idle_timeout", "RFC 1939 requires at least 600 seconds")
        if self.max_line_length < 255:
            raise ConfigValueError("max_line_length", "RFC 2449 requires at least 255")
