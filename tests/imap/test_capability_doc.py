"""The client guide lists the capabilities a logged-in client is offered, in their order."""

from __future__ import annotations

import re
from pathlib import Path

from mailhost.imap.capabilities import capabilities

ROOT = Path(__file__).parents[2]


def test_the_client_guide_lists_what_is_offered() -> None:
    guide = (ROOT / "docs" / "clients.md").read_text()
    found = re.search(r"`CAPABILITY` after login: `(.*?)`\.", guide, re.DOTALL)
    assert found is not None
    offered = capabilities(
        authenticated=True,
        starttls=False,
        plaintext_allowed=True,
        mechanisms=[],
        append_limit=1,
        compress=True,
    )
    written = [
        b"APPENDLIMIT=1" if c.startswith("APPENDLIMIT=") else c.encode()
        for c in found.group(1).split()
    ]
    assert written == offered
