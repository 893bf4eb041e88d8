"""Fixtures of the IMAP tests; the helpers they use live in imapkit.py."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from imapkit import Host, _hosts, push_default

from mailhost.blocking import ThreadedBlocking, make_pool
from mailhost.reactor_thread import ReactorThread


@pytest.fixture(autouse=True)
def no_session_failures() -> Iterator[None]:
    """Every session of every test host ends without an unexpected exception."""
    _hosts.clear()
    yield
    for h in _hosts:
        for c in h.clients:
            if c.session is not None:
                assert not c.session.failures, c.session.failures
    _hosts.clear()


@pytest.fixture
def host() -> Host:
    return Host()


def _push_modes() -> list[bool]:
    """Both, unless ``MAILHOST_TEST_PUSH`` names one."""
    if "MAILHOST_TEST_PUSH" in os.environ:
        return [push_default()]
    return [True, False]


@pytest.fixture(params=_push_modes(), ids=lambda on: "push" if on else "pull-only")
def push(request: pytest.FixtureRequest) -> bool:
    """Wake-ups on, then off: a test taking this passes on the pull alone too."""
    return bool(request.param)


@pytest.fixture(scope="session")
def pool(reactor: ReactorThread) -> Iterator[ThreadedBlocking]:
    """Store calls in a real thread pool, as the service runs them."""
    p = make_pool("imap-test", 4)
    p.start()
    yield ThreadedBlocking(reactor.reactor, p)
    p.stop()
