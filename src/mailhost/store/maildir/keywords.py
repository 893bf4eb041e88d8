"""``dovecot-keywords``: which keyword each lower-case Maildir flag letter stands for.

One line per keyword, ``<index> <name>``, index 0 being ``a`` (Dovecot
``maildir-keywords.c``).  A letter, once given, keeps its keyword: files already carry it.
Only 26 letters exist; a 27th keyword in one folder is refused (see :class:`TooManyKeywords`).
"""

from __future__ import annotations

from mailhost.errors import TooManyKeywords

MAX_KEYWORDS = 26


def parse_keywords(text: str) -> dict[int, str]:
    """Index to keyword name; malformed lines are skipped (as Dovecot does)."""
    out: dict[int, str] = {}
    for line in text.splitlines():
        idx, sep, name = line.partition(" ")
        if not sep or not idx.isdigit() or not name:
            continue
        i = int(idx)
        if i < MAX_KEYWORDS and name not in out.values():
            out[i] = name
    return out


def format_keywords(keywords: dict[int, str]) -> str:
    return "".join(f"{i} {name}\n" for i, name in sorted(keywords.items()))


class KeywordMap:
    """Both directions of a folder's keyword letters."""

    def __init__(self, keywords: dict[int, str] | None = None) -> None:
        self.by_index: dict[int, str] = dict(keywords or {})
        self._by_name = {v.lower(): k for k, v in self.by_index.items()}

    def index_of(self, name: str) -> int | None:
        # keywords compare case-insensitively (RFC 3501 §2.3.2 leaves it open; Dovecot folds)
        return self._by_name.get(name.lower())

    def add(self, name: str) -> int:
        """Give ``name`` the first free letter (caller persists the file)."""
        known = self.index_of(name)
        if known is not None:
            return known
        for i in range(MAX_KEYWORDS):
            if i not in self.by_index:
                self.by_index[i] = name
                self._by_name[name.lower()] = i
                return i
        raise TooManyKeywords(f"no keyword letter left for {name!r}")

    def names(self, indexes: tuple[int, ...]) -> frozenset[str]:
        return frozenset(self.by_index[i] for i in indexes if i in self.by_index)
