"""Shared set-up for POP3 tests: a memory store, users, and a connected transcript."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport

from mailhost.auth.static import StaticAuthenticator
from mailhost.blocking import InlineBlocking
from mailhost.pop3.config import POP3Config
from mailhost.pop3.server import POP3Factory, POP3ServerProtocol
from mailhost.store.memory import MemoryStore

HOST = "mail.example.test"
MSG1 = b"From: a@example.test\r\nSubject: one\r\n\r\nHello\r\n"
MSG2 = b"From: b@example.test\r\nSubject: two\r\n\r\n.dot line\r\n..two dots\r\nend\r\n"


def make_store(*messages: bytes, user: str = "alice") -> MemoryStore:
    store = MemoryStore()
    inbox = store.account(user).folder("INBOX")
    for m in messages:
        inbox.append(m)
    return store


def make_factory(
    store: MemoryStore | None = None,
    *,
    policy: str = "always",
    tls: Any = None,
    implicit_tls: bool = False,
    clock: MemoryReactorClock | None = None,
    settings: dict[str, dict[str, str]] | None = None,
    authenticator: Any = None,
    **config: Any,
) -> POP3Factory:
    """A factory over ``store``; ``settings``: per-user settings of the static users."""
    if store is None:
        store = make_store(MSG1, MSG2)
    auth = authenticator or StaticAuthenticator(
        {"alice": "secret", "bob": "pw b"},
        store,
        policy,  # type: ignore[arg-type]
        settings=settings,
    )
    return POP3Factory(
        config=replace(POP3Config(), **config),
        authenticator=auth,
        blocking=InlineBlocking(),
        hostname=HOST,
        tls=tls,
        implicit_tls=implicit_tls,
        clock=clock or MemoryReactorClock(),
    )


class Conn:
    """A protocol on a StringTransport; ``send`` returns what the server wrote."""

    def __init__(self, factory: POP3Factory, peer: str = "192.0.2.7") -> None:
        self.factory = factory
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", peer, 40000))
        self.proto: POP3ServerProtocol = factory.buildProtocol(None)
        self.proto.makeConnection(self.transport)
        self.greeting = self.take()

    def take(self) -> bytes:
        out = self.transport.value()
        self.transport.clear()
        return out

    def send(self, data: bytes, bytewise: bool = False) -> bytes:
        if bytewise:
            for i in range(len(data)):
                self.proto.dataReceived(data[i : i + 1])
        else:
            self.proto.dataReceived(data)
        return self.take()

    @property
    def closed(self) -> bool:
        return bool(self.transport.disconnecting)

    def login(self, user: str = "alice", password: str = "secret") -> bytes:
        return self.send(f"USER {user}\r\nPASS {password}\r\n".encode())


class TLSStringTransport(StringTransport):
    """A StringTransport that records ``startTLS`` (the bytes stay readable)."""

    tls_options: object = None

    def startTLS(self, options: object) -> None:
        self.tls_options = options


def conn_with_tls(factory: POP3Factory) -> Conn:
    c = Conn.__new__(Conn)
    c.factory = factory
    c.transport = TLSStringTransport(peerAddress=IPv4Address("TCP", "192.0.2.7", 40000))
    c.proto = factory.buildProtocol(None)
    c.proto.makeConnection(c.transport)
    c.greeting = c.take()
    return c
