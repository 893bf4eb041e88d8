"""Fixtures: a host's authenticator on a temporary passwd-file and a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from authkit import START, Host, make_config
from twisted.internet.task import Clock

from mailhost.auth import build_authenticator
from mailhost.auth.fromconfig import state_store
from mailhost.auth.passwd import PasswdFile
from mailhost.blocking import InlineBlocking
from mailhost.store.memory import MemoryStore


@pytest.fixture
def make_host(tmp_path: Path) -> Callable[..., Host]:
    def make(**auth: Any) -> Host:
        config = make_config(tmp_path, **auth)
        clock = Clock()
        clock.advance(START)
        store = MemoryStore()
        authenticator = build_authenticator(config, store, InlineBlocking(), clock)
        return Host(
            config,
            clock,
            store,
            authenticator,
            PasswdFile(config.auth.passwd_file),
            state_store(config),
        )

    return make


@pytest.fixture
def host(make_host: Callable[..., Host]) -> Host:
    return make_host()
