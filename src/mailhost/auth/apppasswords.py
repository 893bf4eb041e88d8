"""App passwords: server-made, shown once, stored hashed, scoped, self-identifying.

An app password reads ``mhXX XXXX XXXX XXXX XXXX XXXX XXXX`` (28 letters and digits
of RFC 4648 base32, grouped by four for typing): ``mh``, a 6-character id naming the
record, and 100 random bits.  The id lets a check look up one record instead of trying
every hash (the design of Stalwart's app passwords).  Spaces and case are ignored.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import secrets
from collections.abc import Iterable

PREFIX = "mh"
_RE = re.compile(r"^mh([a-z2-7]{6})([a-z2-7]{20})$")


def _b32(n: int) -> str:
    return base64.b32encode(secrets.token_bytes(n)).decode().lower().rstrip("=")


def generate() -> tuple[str, str, str]:
    """``(id, secret part, display form)`` of a new app password."""
    ap_id = _b32(5)[:6]
    secret = _b32(13)[:20]
    whole = PREFIX + ap_id + secret
    display = " ".join(whole[i : i + 4] for i in range(0, len(whole), 4))
    return ap_id, secret, display


def parse(presented: str) -> tuple[str, str] | None:
    """``(id, secret part)`` if ``presented`` has the shape of an app password."""
    compact = presented.replace(" ", "").replace("-", "").lower()
    m = _RE.match(compact)
    return (m.group(1), m.group(2)) if m else None


def in_networks(peer: str, networks: Iterable[str]) -> bool:
    """Whether ``peer`` is in one of ``networks`` (CIDR strings)."""
    try:
        ip = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for net in networks:
        try:
            if ip in ipaddress.ip_network(net, strict=False):
                return True
        except ValueError:
            continue
    return False
