"""Maildir++ layout: where a folder lives on disk and what a directory name means.

INBOX is the Maildir root; folder ``A/B`` (IMAP delimiter ``/``) is the directory
``.A.B`` with each component in modified UTF-7 (RFC 3501 §5.1.3), as Dovecot and Courier
write them.  Because ``.`` is the on-disk separator, a ``.`` inside a name component is
refused when the delimiter is ``/`` (Dovecot's default Maildir++ layout does the same);
with delimiter ``.`` the two hierarchies coincide.  ``/`` can never be part of a
directory name, so with delimiter ``.`` it is refused.
"""

from __future__ import annotations

from pathlib import Path

import twisted.mail.imap4  # noqa: F401  (registers the "imap4-utf-7" codec)

from mailhost.errors import InvalidFolderName
from mailhost.store.api import INBOX
from mailhost.store.names import validate_folder_name

DISK_SEP = "."
CODEC = "imap4-utf-7"

#: Files in a Maildir root that belong to mailhost (others belong to Dovecot or the MDA).
SUBSCRIPTIONS = "subscriptions"
MAILDIRFOLDER = "maildirfolder"
#: Prefix of a folder being deleted (a name no folder can have: empty first component).
TRASH_PREFIX = "..mailhost-deleted."


def expand_root(template: str | Path, username: str) -> Path:
    """``%u`` user name, ``%n`` local part, ``%d`` domain (empty without ``@``), ``%%``."""
    local, _, domain = username.partition("@")
    out = []
    text = str(template)
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%" and i + 1 < len(text):
            code = text[i + 1]
            rep = {"u": username, "n": local, "d": domain, "%": "%"}.get(code)
            if rep is not None:
                out.append(rep)
                i += 2
                continue
        out.append(ch)
        i += 1
    return Path("".join(out))


def check_username(username: str) -> None:
    """A user name becomes a path component: no separators, NUL or dot-only names."""
    if (
        not username
        or "/" in username
        or "\0" in username
        or username in (".", "..")
        or any(ord(c) < 0x20 for c in username)
    ):
        raise ValueError(f"user name cannot name a mail directory: {username!r}")


def canonical(name: str, delimiter: str) -> str:
    """Validate an IMAP folder name and fold any case of INBOX to ``INBOX``."""
    if name.upper() == INBOX:
        return INBOX
    validate_folder_name(name, delimiter)
    parts = name.split(delimiter)
    if parts[0].upper() == INBOX:
        parts[0] = INBOX  # "inbox/x" and "INBOX/x" are the same folder
    for part in parts:
        if delimiter != DISK_SEP and DISK_SEP in part:
            raise InvalidFolderName(
                f"'.' is the on-disk hierarchy separator and cannot be part of a name: {part!r}"
            )
        if "/" in part:
            raise InvalidFolderName(f"'/' cannot be part of a folder name here: {part!r}")
    return delimiter.join(parts)


def dir_name(name: str, delimiter: str) -> str:
    """On-disk directory name of a (canonical, non-INBOX) folder name."""
    parts = name.split(delimiter)
    return DISK_SEP + DISK_SEP.join(p.encode(CODEC).decode("ascii") for p in parts)


def folder_path(root: Path, name: str, delimiter: str) -> Path:
    return root if name == INBOX else root / dir_name(name, delimiter)


def name_of_dir(dirname: str, delimiter: str) -> str | None:
    """The folder name a ``.A.B`` directory holds, or None if it is not a folder."""
    if not dirname.startswith(DISK_SEP) or dirname in (".", ".."):
        return None
    parts = dirname[1:].split(DISK_SEP)
    if any(not p for p in parts):
        return None
    try:
        decoded = [p.encode("ascii").decode(CODEC) for p in parts]
    except (UnicodeError, ValueError):
        decoded = parts  # not modified UTF-7 (written by something else): show as is
    if any(delimiter in p and delimiter != DISK_SEP for p in decoded):
        return None
    if decoded[0].upper() == INBOX:
        decoded[0] = INBOX
    return delimiter.join(decoded)


def is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir()


# -- subscriptions (Dovecot subscription-file.c, version 2) ------------------------------

_V2_HEADER = "V\t2\n\n"


def _tab_escape(s: str) -> str:
    return (
        s.replace("\x01", "\x011")
        .replace("\t", "\x01t")
        .replace("\r", "\x01r")
        .replace("\n", "\x01n")
    )


def _tab_unescape(s: str) -> str:
    out = []
    i = 0
    while i < len(s):
        if s[i] == "\x01" and i + 1 < len(s):
            out.append({"1": "\x01", "t": "\t", "r": "\r", "n": "\n"}.get(s[i + 1], s[i + 1]))
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse_subscriptions(text: str, delimiter: str) -> list[str]:
    """Names from a ``subscriptions`` file; version 2 separates components with TABs,
    version 1 lists names with the Maildir++ ``.`` separator in modified UTF-7."""
    names: list[str] = []
    if text.startswith(_V2_HEADER):
        for line in text[len(_V2_HEADER) :].split("\n"):
            if line:
                names.append(delimiter.join(_tab_unescape(p) for p in line.split("\t")))
        return names
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        parts = line.split(DISK_SEP) if delimiter != DISK_SEP else [line]
        try:
            parts = [p.encode("ascii").decode(CODEC) for p in parts]
        except (UnicodeError, ValueError):
            pass
        names.append(delimiter.join(parts))
    return names


def format_subscriptions(names: list[str], delimiter: str) -> str:
    return _V2_HEADER + "".join(
        "\t".join(_tab_escape(p) for p in n.split(delimiter)) + "\n" for n in names
    )
