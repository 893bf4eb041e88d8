"""APOP (RFC 1939 §7): the POP3 login that proves the password with an MD5 digest.

The client sends ``MD5(timestamp + secret)`` as 32 lower-case hex digits, where the
timestamp is the ``<...>`` string of the greeting.  The server must compute the same
digest, so it needs the password itself: only passwd-file entries whose value is
plaintext-equivalent (``{PLAIN}``, ``{CLEARTEXT}``) can pass.  Hashed passwords, accounts
with two-factor login on and app passwords never pass, and they fail exactly as a wrong
digest does.  MD5 is weak (RFC 6151): APOP is off unless ``[pop3] apop`` is set.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re

from mailhost.auth.passwd import PasswdFile
from mailhost.auth.state import StateStore
from mailhost.auth.verifier import FAILED, CheckResult

#: RFC 1939 §7: the greeting's timestamp is a msg-id, ``<...@...>``.
_TIMESTAMP_RE = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x7e]+>")
_HEX32_RE = re.compile(r"[0-9a-f]{32}")


def new_timestamp(pid: int, clock: float, hostname: str) -> str:
    """``<pid.random.clock@hostname>``: unique per connection, unguessable in advance."""
    return f"<{pid}.{os.urandom(8).hex()}.{int(clock)}@{hostname}>"


def valid_timestamp(timestamp: str) -> bool:
    return bool(_TIMESTAMP_RE.fullmatch(timestamp))


def digest(timestamp: str, secret: str) -> str:
    """The APOP digest of ``secret`` for ``timestamp`` (UTF-8, as sent by clients)."""
    return hashlib.md5((timestamp + secret).encode("utf-8"), usedforsecurity=False).hexdigest()


def check_apop(
    passwd: PasswdFile, state: StateStore, user: str, timestamp: str, answer: str
) -> CheckResult:
    """Whether ``answer`` is the APOP digest of ``user``'s plaintext password.

    Blocking (reads the passwd-file and the 2FA state).  Every refusal is the same
    :data:`~mailhost.auth.verifier.FAILED`, and a digest is always computed and compared
    in constant time, so the answer says nothing of whether the user exists or how the
    password is stored.
    """
    entry = passwd.lookup(user)
    secret: str | None = None
    if entry is not None and entry.plaintext_equivalent and not state.load(user).two_factor:
        secret = entry.password[entry.password.index("}") + 1 :]
    expected = digest(timestamp, secret if secret is not None else os.urandom(16).hex())
    given = answer.encode("utf-8", "replace")
    matches = hmac.compare_digest(expected.encode("ascii"), given)
    if secret is None or not matches or not _HEX32_RE.fullmatch(answer):
        return FAILED
    return CheckResult(True, user, "password")
