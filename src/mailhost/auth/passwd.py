"""Dovecot passwd-files and the password schemes found in them.

A line is ``user:{SCHEME}hash:uid:gid:gecos:home:shell:extra_fields`` (Dovecot's
``passwd-file`` driver); mailhost reads the first two fields and keeps every other field,
comment and blank line as it found them when it rewrites the file.

New hashes are Argon2id (RFC 9106) through argon2-cffi.  Older schemes are verified so
existing Dovecot files work unchanged, and are replaced by Argon2id at the next successful
login when ``auth.rehash`` is on.  SHA-crypt is verified by :mod:`mailhost.auth.shacrypt`.
"""

from __future__ import annotations

import hmac
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import argon2
import bcrypt

from mailhost.auth import shacrypt
from mailhost.auth.files import atomic_write, file_version, locked

#: Schemes that can be verified.  PLAIN/CLEARTEXT are for tests and migrations only.
SCHEMES = (
    "ARGON2ID",
    "ARGON2I",
    "BLF-CRYPT",
    "SHA512-CRYPT",
    "SHA256-CRYPT",
    "CRYPT",
    "PLAIN",
    "CLEARTEXT",
)
_CLEARTEXT = ("PLAIN", "CLEARTEXT")
_USERDB = "userdb_"
_USER_RE = re.compile(r"^[^\s:/\\\x00-\x1f\x7f]{1,255}$")


class PasswdError(Exception):
    """The passwd-file cannot be read or written."""


class UserExists(PasswdError):
    """``add`` of a user who is already in the file."""


class NoSuchUser(PasswdError):
    """The user is not in the file."""


def valid_username(user: str) -> bool:
    """A name that fits a passwd-file line and a state file name (no ``:``, ``/``, space)."""
    return bool(_USER_RE.match(user)) and not user.startswith(".")


@dataclass(frozen=True)
class Argon2Params:
    """Cost of new Argon2id hashes (RFC 9106 §4)."""

    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4

    def hasher(self) -> argon2.PasswordHasher:
        return argon2.PasswordHasher(
            time_cost=self.time_cost,
            memory_cost=self.memory_kib,
            parallelism=self.parallelism,
            type=argon2.Type.ID,
        )


DEFAULT_PARAMS = Argon2Params()


def plaintext_scheme(stored: str) -> bool:
    """Whether a stored value is a password in the clear ({PLAIN}, {CLEARTEXT})."""
    return split_scheme(stored)[0] in _CLEARTEXT


def split_scheme(stored: str) -> tuple[str, str]:
    """``("SHA512-CRYPT", "$6$...")`` from ``{SHA512-CRYPT}$6$...``.

    A value without ``{SCHEME}`` is Dovecot's default, CRYPT.
    """
    if stored.startswith("{"):
        end = stored.find("}")
        if end > 1:
            return stored[1:end].upper(), stored[end + 1 :]
    return "CRYPT", stored


def hash_password(password: str, params: Argon2Params = DEFAULT_PARAMS) -> str:
    """A new ``{ARGON2ID}$argon2id$...`` value for the passwd-file."""
    return "{ARGON2ID}" + params.hasher().hash(password)


def _verify_crypt(hashed: str, password: str) -> bool:
    if hashed.startswith(("$5$", "$6$")):
        return shacrypt.verify(password, hashed)
    if hashed.startswith(("$2a$", "$2b$", "$2y$")):
        try:
            return bcrypt.checkpw(password.encode("utf-8"), hashed.encode("ascii"))
        except ValueError:
            return False
    if hashed.startswith("$argon2"):
        return _verify_argon2(hashed, password)
    return False


def _verify_argon2(hashed: str, password: str) -> bool:
    try:
        return bool(argon2.PasswordHasher().verify(hashed, password))
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches a passwd-file value (any scheme in :data:`SCHEMES`)."""
    scheme, hashed = split_scheme(stored)
    if not hashed:
        return False
    if scheme in ("ARGON2ID", "ARGON2I"):
        return hashed.startswith("$argon2") and _verify_argon2(hashed, password)
    if scheme == "BLF-CRYPT":
        return hashed.startswith("$2") and _verify_crypt(hashed, password)
    if scheme == "SHA512-CRYPT":
        return hashed.startswith("$6$") and _verify_crypt(hashed, password)
    if scheme == "SHA256-CRYPT":
        return hashed.startswith("$5$") and _verify_crypt(hashed, password)
    if scheme == "CRYPT":
        return _verify_crypt(hashed, password)
    if scheme in _CLEARTEXT:
        return hmac.compare_digest(hashed.encode("utf-8"), password.encode("utf-8"))
    return False


def needs_rehash(stored: str, params: Argon2Params = DEFAULT_PARAMS) -> bool:
    """Whether a verified value should be replaced by a fresh Argon2id hash."""
    scheme, hashed = split_scheme(stored)
    if scheme != "ARGON2ID" or not hashed.startswith("$argon2id$"):
        return True
    try:
        return bool(params.hasher().check_needs_rehash(hashed))
    except argon2.exceptions.InvalidHashError:
        return True


_DUMMY_LOCK = threading.Lock()
_DUMMY: dict[Argon2Params, str] = {}


def dummy_verify(password: str, params: Argon2Params = DEFAULT_PARAMS) -> None:
    """Spend what a real check costs, so an unknown user answers as slowly as a known one."""
    with _DUMMY_LOCK:
        hashed = _DUMMY.get(params)
        if hashed is None:
            hashed = _DUMMY[params] = params.hasher().hash(os.urandom(16).hex())
    _verify_argon2(hashed, password)


@dataclass(frozen=True, slots=True)
class PasswdEntry:
    """One user line."""

    user: str
    password: str
    #: Every field after the password (uid, gid, gecos, home, shell, extra fields), kept.
    rest: tuple[str, ...] = ()

    @property
    def scheme(self) -> str:
        return split_scheme(self.password)[0]

    def line(self) -> str:
        return ":".join((self.user, self.password, *self.rest))

    @property
    def plaintext_equivalent(self) -> bool:
        """The stored value is the password itself ({PLAIN}/{CLEARTEXT}): what APOP needs."""
        return self.scheme in _CLEARTEXT and bool(split_scheme(self.password)[1])

    @property
    def extra_fields(self) -> dict[str, str]:
        """The eighth column, Dovecot's space-separated ``key=value`` extra fields.

        A key without ``=`` maps to ``""``; a repeated key keeps its last value.  The
        column may itself contain ``:`` (Dovecot joins everything after the seventh).
        """
        fields: dict[str, str] = {}
        for item in ":".join(self.rest[5:]).split():
            key, _, value = item.partition("=")
            if key:
                fields[key] = value
        return fields

    @property
    def settings(self) -> dict[str, str]:
        """:attr:`extra_fields` with Dovecot's ``userdb_`` prefix removed.

        ``userdb_x=1`` and ``x=1`` name the same setting; the prefixed one wins.
        """
        plain: dict[str, str] = {}
        prefixed: dict[str, str] = {}
        for key, value in self.extra_fields.items():
            if key.startswith(_USERDB) and len(key) > len(_USERDB):
                prefixed[key[len(_USERDB) :]] = value
            else:
                plain[key] = value
        return plain | prefixed


def parse_line(line: str) -> PasswdEntry | None:
    """The entry on ``line``, or None for a comment, blank or malformed line."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#") or ":" not in stripped:
        return None
    user, password, *rest = line.rstrip("\r\n").split(":")
    if not user:
        return None
    return PasswdEntry(user, password, tuple(rest))


def scheme_warnings(entries: list[PasswdEntry], source: str) -> list[str]:
    """Warnings the service logs at start: clear-text and unknown schemes."""
    out = []
    for e in entries:
        if e.scheme in _CLEARTEXT:
            out.append(
                f"{source}: user {e.user!r} has a clear-text {{{e.scheme}}} password "
                "(for tests only; set a real one with 'mailhost user passwd')"
            )
        elif e.scheme not in SCHEMES:
            out.append(f"{source}: user {e.user!r} has unsupported scheme {{{e.scheme}}}")
    return out


class PasswdFile:
    """A passwd-file, re-read whenever it changes on disk; edits rewrite it atomically.

    Thread-safe: the service looks users up from its thread pool.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._version: tuple[int, int, int] | None = None
        self._loaded = False
        self._entries: dict[str, PasswdEntry] = {}

    # -- reading -------------------------------------------------------------------

    def _read_lines(self) -> list[str]:
        try:
            return self.path.read_text("utf-8").splitlines(keepends=True)
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as e:
            raise PasswdError(f"cannot read {self.path}: {e}") from None

    def refresh(self) -> bool:
        """Re-read the file if it changed; True if it did (or was read for the first time)."""
        version = file_version(self.path)
        with self._lock:
            if self._loaded and version == self._version:
                return False
            entries: dict[str, PasswdEntry] = {}
            for line in self._read_lines():
                entry = parse_line(line)
                if entry is not None and entry.user not in entries:
                    entries[entry.user] = entry
            self._entries = entries
            self._version = version
            self._loaded = True
            return True

    @property
    def version(self) -> tuple[int, int, int] | None:
        """The file version last read (changes with every rewrite)."""
        return self._version

    def lookup(self, user: str) -> PasswdEntry | None:
        """The user's entry (the file is re-read first if it changed), or None."""
        self.refresh()
        return self._entries.get(user)

    get = lookup

    def users(self) -> list[str]:
        self.refresh()
        return list(self._entries)

    def entries(self) -> list[PasswdEntry]:
        self.refresh()
        return list(self._entries.values())

    def warnings(self) -> list[str]:
        """What the service should log at start about this file."""
        if not self.path.exists():
            return [f"{self.path} does not exist: nobody can log in"]
        return scheme_warnings(self.entries(), str(self.path))

    # -- writing -------------------------------------------------------------------

    def _edit(self, user: str, password: str | None, *, create: bool, expect: str | None) -> None:
        """Set (``password``) or delete (None) ``user``'s line under the lock."""
        if not valid_username(user) if create else (":" in user or "\n" in user):
            raise PasswdError(f"invalid user name {user!r}")
        if password is not None and ("\n" in password or ":" in password):
            raise PasswdError("password value may not contain ':' or a newline")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with locked(self.path):
            lines = self._read_lines()
            found = False
            out: list[str] = []
            for line in lines:
                entry = parse_line(line)
                if entry is None or entry.user != user or found:
                    out.append(line)
                    continue
                found = True
                if create:
                    raise UserExists(user)
                if expect is not None and entry.password != expect:
                    return  # changed meanwhile (e.g. by the CLI): leave it alone
                if password is not None:
                    nl = line[len(line.rstrip("\r\n")) :] or "\n"
                    out.append(PasswdEntry(user, password, entry.rest).line() + nl)
            if not found:
                if not create:
                    raise NoSuchUser(user)
                if out and not out[-1].endswith("\n"):
                    out[-1] += "\n"
                out.append(PasswdEntry(user, password or "", ("", "", "", "", "", "")).line())
                out[-1] += "\n"
            try:
                atomic_write(self.path, "".join(out).encode("utf-8"), 0o600)
            except OSError as e:
                raise PasswdError(f"cannot write {self.path}: {e.strerror}") from None
        self.refresh()

    def add(self, user: str, hashed: str) -> None:
        """Add a user line; raises :class:`UserExists`."""
        self._edit(user, hashed, create=True, expect=None)

    def change(self, user: str, hashed: str, expect: str | None = None) -> None:
        """Replace a user's password value; with ``expect``, only if it is still that."""
        self._edit(user, hashed, create=False, expect=expect)

    set_password = change

    def delete(self, user: str) -> None:
        """Remove a user's line; raises :class:`NoSuchUser`."""
        self._edit(user, None, create=False, expect=None)
