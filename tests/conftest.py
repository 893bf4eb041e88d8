"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailhost.reactor_thread import ReactorThread, reactor_thread
from mailhost.tls import make_self_signed

# INTERNALDATE is shown in the host's time zone: transcripts are written for UTC, whatever
# zone the machine running the tests is set to (and the servers they start inherit it)
os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture(scope="session")
def reactor() -> ReactorThread:
    """The global reactor, running in a background thread for socket tests."""
    return reactor_thread()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key for ``localhost``/127.0.0.1."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    make_self_signed(cert, key, "localhost")
    return cert, key


@pytest.fixture
def listen(reactor: ReactorThread) -> Iterator[object]:
    """``listen(factory) -> port number`` on 127.0.0.1; every port closed after the test."""
    ports = []

    def _listen(factory: object) -> int:
        port = reactor.listen(factory)  # type: ignore[arg-type]
        ports.append(port)
        return int(port.getHost().port)

    yield _listen
    for port in ports:
        reactor.stop_listening(port)
