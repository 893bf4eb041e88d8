"""TOTP (RFC 6238) for password+code logins, recovery codes and device-grant keys.

POP3 and IMAP have no second-factor round trip, so the code rides in the password field:
``<password><code>`` or ``<password>$<code>`` (six digits).  A successful password+code
login leaves a device grant so that a client polling with the same string keeps working
for a while (see docs/2fa.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets

import pyotp

STEP = 30
DIGITS = 6
_CODE_RE = re.compile(r"^(.*?)(\$?)(\d{6})$", re.DOTALL)
_RECOVERY_RE = re.compile(r"^(.*)\$([a-z2-7]{5}-?[a-z2-7]{5})$", re.DOTALL | re.IGNORECASE)


def new_secret() -> str:
    """A fresh 160-bit base32 TOTP seed (RFC 4226 §4 R6 recommends 160 bits)."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, user: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI authenticator apps scan."""
    return pyotp.TOTP(secret).provisioning_uri(name=user, issuer_name=issuer)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).at(step * STEP)


def matched_step(secret: str, code: str, now: float, skew: int = 1) -> int | None:
    """The time step ``code`` belongs to, within ``skew`` steps of ``now``, or None.

    Every candidate is compared (constant time) so the answer time does not depend on
    which step matched.
    """
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int(now // STEP)
    found = None
    for step in range(current - skew, current + skew + 1):
        if hmac.compare_digest(totp.at(step * STEP).encode(), code.encode()) and found is None:
            found = step
    return found


def split_code(secret: str) -> list[tuple[str, str]]:
    """Ways to read ``secret`` as password plus six-digit code, most likely first.

    ``pass$123456`` is read as ``pass`` + code and, failing that, ``pass$`` + code (a
    password may itself end in ``$``); ``pass123456`` as ``pass`` + code.
    """
    m = _CODE_RE.match(secret)
    if not m or not (m.group(1) or m.group(2)):
        return []
    password, sep, code = m.groups()
    out = [(password, code)]
    if sep:
        out.append((password + sep, code))
    return out


def split_recovery(secret: str) -> tuple[str, str] | None:
    """``password$abcde-fghij`` → password and normalised recovery code."""
    m = _RECOVERY_RE.match(secret)
    if not m:
        return None
    return m.group(1), normalise_recovery(m.group(2))


def normalise_recovery(code: str) -> str:
    return code.replace("-", "").replace(" ", "").lower()


def new_recovery_codes(n: int = 10) -> list[str]:
    """``n`` one-time codes, ``abcde-fghij`` (50 random bits each), shown once."""
    out = []
    for _ in range(n):
        raw = base64.b32encode(secrets.token_bytes(7)).decode().lower()[:10]
        out.append(f"{raw[:5]}-{raw[5:]}")
    return out


def digest(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret (recovery codes, app passwords)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def grant_key(server_key: bytes, user: str, submitted: str) -> str:
    """Key of a device grant: HMAC of the user and the exact string the client sent."""
    msg = user.encode("utf-8") + b"\0" + submitted.encode("utf-8")
    return hmac.new(server_key, msg, hashlib.sha256).hexdigest()


def client_network(peer: str) -> str:
    """The network a device grant is bound to: the /24 (IPv4) or /56 (IPv6) of ``peer``."""
    try:
        ip = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return peer
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 56
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
