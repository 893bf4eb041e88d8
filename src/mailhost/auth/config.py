"""``[auth]``: where users live and how they may log in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class AuthConfig:
    #: Dovecot-format passwd-file (``user:{SCHEME}hash:uid:gid::home::extra``).
    passwd_file: Path = Path("/etc/mailhost/passwd")
    #: Passwords in the clear: "never", only from "loopback", or "always" (RFC 8314 §3).
    #: TLS connections may always send them.
    allow_plaintext_auth: Literal["never", "loopback", "always"] = "loopback"
