"""Folder names: what a name may be, before any backend maps it to disk."""

from __future__ import annotations

from mailhost.errors import InvalidFolderName

MAX_NAME_LENGTH = 255


def validate_folder_name(name: str, delimiter: str = "/") -> None:
    """Refuse names no backend should store (RFC 3501 §5.1 leaves the rules to the server).

    Refused: empty names or components, the delimiter at either end, ``.``/``..``
    components, NUL and other control characters, over-long names.
    """
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidFolderName(f"folder name must be 1 to {MAX_NAME_LENGTH} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise InvalidFolderName("folder name contains a control character")
    if name.startswith(delimiter) or name.endswith(delimiter):
        raise InvalidFolderName(f"folder name may not start or end with {delimiter!r}")
    for part in name.split(delimiter):
        if part in ("", ".", ".."):
            raise InvalidFolderName(f"folder name has an empty, '.' or '..' component: {name!r}")
        if delimiter != "." and "." in part and part.startswith("."):
            raise InvalidFolderName(f"folder name component may not start with '.': {part!r}")
