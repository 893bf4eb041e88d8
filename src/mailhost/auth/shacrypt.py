"""SHA-256-crypt and SHA-512-crypt (``$5$``/``$6$``), as glibc's ``crypt(3)`` makes them.

Written from Ulrich Drepper's specification "Unix crypt using SHA-256 and SHA-512"
(https://www.akkadia.org/drepper/SHA-crypt.txt) so that Dovecot's ``{SHA256-CRYPT}`` and
``{SHA512-CRYPT}`` passwd-file entries can be verified without the deprecated ``crypt``
module (PEP 594).  Only verification matters here: new hashes are Argon2id.
"""

from __future__ import annotations

import hashlib
import hmac

_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ROUNDS_DEFAULT = 5000
_ROUNDS_MIN = 1000
_ROUNDS_MAX = 999_999_999
_SALT_MAX = 16

# The spec's byte transposition before base-64 output (step 22).
_ORDER_512 = [
    (0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26),
    (6, 27, 48), (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32),
    (12, 33, 54), (34, 55, 13), (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38),
    (18, 39, 60), (40, 61, 19), (62, 20, 41),
]  # fmt: skip
_ORDER_256 = [
    (0, 10, 20), (21, 1, 11), (12, 22, 2), (3, 13, 23), (24, 4, 14),
    (15, 25, 5), (6, 16, 26), (27, 7, 17), (18, 28, 8), (9, 19, 29),
]  # fmt: skip


def _b64_24(b2: int, b1: int, b0: int, n: int) -> str:
    w = (b2 << 16) | (b1 << 8) | b0
    out = []
    for _ in range(n):
        out.append(_ALPHABET[w & 0x3F])
        w >>= 6
    return "".join(out)


def _repeat(block: bytes, length: int) -> bytes:
    return (block * (length // len(block) + 1))[:length]


def _digest(name: str, password: bytes, salt: bytes, rounds: int) -> bytes:
    """Steps 1-21 of the specification: the final digest before encoding."""

    def new(data: bytes = b"") -> hashlib._Hash:
        return hashlib.new(name, data)

    b = new(password + salt + password).digest()
    a = new(password + salt)
    a.update(_repeat(b, len(password)))
    i = len(password)
    while i > 0:
        a.update(b if i & 1 else password)
        i >>= 1
    c = a.digest()
    p = _repeat(new(password * len(password)).digest(), len(password))
    s = _repeat(new(salt * (16 + c[0])).digest(), len(salt))
    for r in range(rounds):
        h = new(p if r & 1 else c)
        if r % 3:
            h.update(s)
        if r % 7:
            h.update(p)
        h.update(c if r & 1 else p)
        c = h.digest()
    return c


def sha_crypt(password: str | bytes, setting: str) -> str:
    """Hash ``password`` with the ``$5$``/``$6$`` salt (and optional rounds) in ``setting``.

    ``setting`` may be a whole hash; only its prefix, rounds and salt are used.
    """
    if isinstance(password, str):
        password = password.encode("utf-8")
    if setting.startswith("$5$"):
        name, prefix = "sha256", "$5$"
    elif setting.startswith("$6$"):
        name, prefix = "sha512", "$6$"
    else:
        raise ValueError("not a SHA-crypt setting")
    rest = setting[3:]
    rounds = _ROUNDS_DEFAULT
    custom = False
    if rest.startswith("rounds="):
        value, sep, rest = rest[7:].partition("$")
        if not sep or not value.isdigit():
            raise ValueError("bad rounds= field")
        rounds = min(max(int(value), _ROUNDS_MIN), _ROUNDS_MAX)
        custom = True
    salt = rest.split("$", 1)[0][:_SALT_MAX]
    d = _digest(name, password, salt.encode("ascii"), rounds)
    if name == "sha512":
        enc = "".join(_b64_24(d[x], d[y], d[z], 4) for x, y, z in _ORDER_512)
        enc += _b64_24(0, 0, d[63], 2)
    else:
        enc = "".join(_b64_24(d[x], d[y], d[z], 4) for x, y, z in _ORDER_256)
        enc += _b64_24(0, d[31], d[30], 3)
    head = f"{prefix}rounds={rounds}$" if custom else prefix
    return f"{head}{salt}${enc}"


def verify(password: str | bytes, hashed: str) -> bool:
    """Constant-time check of ``password`` against a ``$5$``/``$6$`` hash."""
    try:
        computed = sha_crypt(password, hashed)
    except (ValueError, UnicodeEncodeError):
        return False
    return hmac.compare_digest(computed.encode(), hashed.encode())
