"""Store factories: one contract, every backend (and two handles on one Maildir tree)."""

from __future__ import annotations

from pathlib import Path

import pytest
from storekit import Factory, Stores

from mailhost.store.maildir import MaildirStore
from mailhost.store.memory import MemoryStore

SPECIAL = {"\\Sent": "Sent", "\\Trash": "Trash", "\\Drafts": "Drafts"}


@pytest.fixture(params=["memory", "maildir", "maildir-two-handles"])
def make_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    kind = request.param

    def make(
        quota_bytes: int | None = None,
        special_folders: dict[str, str] | None = None,
        max_message_size: int | None = None,
    ) -> Stores:
        special = SPECIAL if special_folders is None else special_folders
        if kind == "memory":
            mem = MemoryStore(special, quota_bytes, max_message_size=max_message_size)
            return Stores(mem, mem, kind)

        def one() -> MaildirStore:
            return MaildirStore(
                tmp_path / "mail" / "%u",
                fsync=False,
                quota_bytes=quota_bytes,
                special_folders=special,
                max_message_size=max_message_size,
            )

        first = one()
        return Stores(first, one() if kind == "maildir-two-handles" else first, kind)

    return make


@pytest.fixture
def stores(make_stores: Factory) -> Stores:
    return make_stores()
