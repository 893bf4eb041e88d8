"""Shared types of the store tests (imported by conftest and the test modules)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailhost.store.api import Store


@dataclass
class Stores:
    """``store`` makes changes; ``peer`` is another handle on the same mail (another
    process or node for the Maildir store; the same object for the memory store)."""

    store: Store
    peer: Store
    kind: str


Factory = Callable[..., Stores]
