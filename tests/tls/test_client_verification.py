"""Clients verifying our certificates with service-identity (Twisted's optionsForClientTLS).

In memory: the server side is ``TLSProvider.wrap``, the client side Twisted's TLS client
over ``twisted.test.iosim``, so no reactor or socket is involved.
"""

from __future__ import annotations

from pathlib import Path

from tlskit import intermediate, leaf, root_ca, write
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import Certificate, optionsForClientTLS
from twisted.internet.task import Clock
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from twisted.test.iosim import connectedServerAndClient

from mailhost.tls import TLSProvider


class Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


class Client(Protocol):
    def __init__(self) -> None:
        self.received = b""
        self.lost: Failure | None = None

    def connectionMade(self) -> None:
        self.transport.write(b"hello")

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        self.lost = reason


def _talk(tmp_path: Path, hostname: str, trust_root_pem: bytes | None = None) -> Client:
    root = root_ca()
    inter = intermediate(root)
    cert, key = write(tmp_path, "mail", leaf(inter, "mail.test"), (inter,))
    provider = TLSProvider(cert, key)
    clock = Clock()
    server_factory = provider.wrap(Factory.forProtocol(Echo), clock)
    client = Client()
    trust = Certificate.loadPEM(trust_root_pem or root.pem)
    client_factory = TLSMemoryBIOFactory(
        optionsForClientTLS(hostname, trustRoot=trust),
        True,
        Factory.forProtocol(lambda: client),
        clock=clock,
    )
    _, _, pump = connectedServerAndClient(
        lambda: server_factory.buildProtocol(None),
        lambda: client_factory.buildProtocol(None),
        clock=clock,
    )
    pump.flush()
    return client


def test_client_verifies_name_and_chain(tmp_path: Path) -> None:
    client = _talk(tmp_path, "mail.test")
    assert client.received == b"hello"


def test_client_refuses_a_wrong_name(tmp_path: Path) -> None:
    client = _talk(tmp_path, "other.test")
    assert client.received == b""
    assert client.lost is not None


def test_client_refuses_an_unknown_root(tmp_path: Path) -> None:
    client = _talk(tmp_path, "mail.test", root_ca("Someone Else").pem)
    assert client.received == b""
    assert client.lost is not None
