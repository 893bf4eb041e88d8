"""``[store]``: where and how mail is kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mailhost.store.api import SPECIAL_USES


def _default_special_folders() -> dict[str, str]:
    return {
        "\\Drafts": "Drafts",
        "\\Sent": "Sent",
        "\\Trash": "Trash",
        "\\Junk": "Junk",
        "\\Archive": "Archive",
    }


@dataclass(frozen=True)
class StoreConfig:
    #: Each user's Maildir++ root; ``%u`` is the user name, ``%d``/``%n`` its domain and
    #: local part.  Relative to ``server.data_dir`` unless absolute.
    maildir: str = "mail/%u"
    #: IMAP hierarchy delimiter shown to clients (on disk, Maildir++ always uses ".").
    hierarchy_delimiter: Literal["/", "."] = "/"
    #: When to fsync: "always" (every change before success is reported), "optimized"
    #: (the same, except that a flag change does not wait for its renames to reach the
    #: disk: a power cut may undo the last flag changes, reported again with a higher
    #: MODSEQ), or "never" (faster; a power cut may lose the last changes, never old mail).
    fsync: Literal["always", "optimized", "never"] = "optimized"
    #: Per-user storage limit in bytes; 0 means unlimited.
    quota_bytes: int = 0
    #: Largest message accepted by APPEND and delivery, in bytes.
    max_message_size: int = 64 * 1024 * 1024
    #: Folders made on first login for every user, by RFC 6154 role.
    special_folders: dict[str, str] = field(default_factory=_default_special_folders)
    #: Seconds between rescans of folders watched for changes by other programs (the
    #: safety net under inotify): each stats ``new/`` and ``cur/`` of the open folders
    #: and looks closer only at those that changed.
    rescan_interval: float = 30.0
    #: Watch open folders with inotify (Linux) so changes by other programs (an MDA, a
    #: script) reach IMAP sessions at once; without it only the rescan finds them.
    inotify: bool = True

    @property
    def mail_dir(self) -> Path:
        """The fixed leading part of ``maildir`` (``mail`` for ``mail/%u``): the directory
        holding every user's mail, relative to ``server.data_dir`` unless absolute."""
        fixed = []
        for part in Path(self.maildir).parts:
            if "%" in part:
                break
            fixed.append(part)
        return Path(*fixed) if fixed else Path()

    def __post_init__(self) -> None:
        from mailhost.config import ConfigValueError

        if "%u" not in self.maildir and "%n" not in self.maildir:
            raise ConfigValueError("maildir", "must contain %u (or %n) so users get their own")
        if self.quota_bytes < 0:
            raise ConfigValueError("quota_bytes", "must be 0 (unlimited) or more")
        if self.max_message_size < 1024:
            raise ConfigValueError("max_message_size", "must be at least 1024 bytes")
        for role in self.special_folders:
            if role not in SPECIAL_USES:
                raise ConfigValueError(
                    "special_folders", f"{role!r} is not one of {', '.join(sorted(SPECIAL_USES))}"
                )
        if self.rescan_interval <= 0:
            raise ConfigValueError("rescan_interval", "must be more than 0 seconds")
