"""A host for IMAP transcripts: MemoryStore, StaticAuthenticator, InlineBlocking,
a synchronous ChangeHub and sessions over StringTransport."""

from __future__ import annotations

import re

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport

from mailhost.auth.static import StaticAuthenticator
from mailhost.blocking import InlineBlocking
from mailhost.changes import ChangeHub
from mailhost.imap.config import IMAPConfig
from mailhost.imap.server import IMAPFactory, IMAPServerProtocol
from mailhost.store.memory import MemoryStore

MESSAGE = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: Bob <bob@example.org>\r\n"
    b"Subject: Hello\r\n"
    b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
    b"\r\n"
    b"Hello Bob.\r\n"
)


class TLSStringTransport(StringTransport):
    tls_started = False

    def startTLS(self, options: object) -> None:
        self.tls_started = True


class Client:
    """One connection: ``send`` returns what the server wrote in answer."""

    def __init__(self, host: Host, peer: str = "127.0.0.1") -> None:
        self.host = host
        self.transport = TLSStringTransport(peerAddress=IPv4Address("TCP", peer, 40000))
        self.proto: IMAPServerProtocol = host.factory.buildProtocol(None)  # type: ignore[assignment]
        self.proto.makeConnection(self.transport)
        self.greeting = self.take()

    @property
    def session(self):  # type: ignore[no-untyped-def]
        return self.proto.session

    def take(self) -> bytes:
        out = self.transport.value()
        self.transport.clear()
        return out

    def send(self, data: bytes) -> bytes:
        self.proto.dataReceived(data)
        return self.take()

    def cmd(self, line: str) -> bytes:
        return self.send(line.encode() + b"\r\n")

    def login(self, user: str = "alice", password: str = "secret") -> bytes:
        out = self.cmd(f"L1 LOGIN {user} {password}")
        assert b"L1 OK" in out, out
        return out

    def select(self, name: str = "INBOX") -> bytes:
        out = self.cmd(f"S1 SELECT {name}")
        assert b"S1 OK" in out, out
        return out

    @property
    def closed(self) -> bool:
        return self.transport.disconnecting

    def lose(self) -> None:
        self.proto.connectionLost(None)


_hosts: list[Host] = []

SPECIAL = {"\\Sent": "Sent", "\\Trash": "Trash"}


class Host:
    def __init__(
        self,
        config: IMAPConfig | None = None,
        policy: str = "always",
        store: object = None,
        **kw: object,
    ):
        self.store = store or MemoryStore(special_folders=SPECIAL)  # type: ignore[assignment]
        self.hub = ChangeHub()
        self.store.add_listener(self.hub.notify)
        self.clock = MemoryReactorClock()
        self.auth = StaticAuthenticator(
            {"alice": "secret", "bob": "hunter2"},
            self.store,
            policy=policy,  # type: ignore[arg-type]
        )
        self.factory = IMAPFactory(
            config=config or IMAPConfig(),
            authenticator=self.auth,
            blocking=kw.pop("blocking", None) or InlineBlocking(),  # type: ignore[arg-type]
            hostname="mail.example.org",
            tls=kw.pop("tls", None),  # type: ignore[arg-type]
            changes=self.hub,
            clock=self.clock,
            **kw,  # type: ignore[arg-type]
        )
        self.clients: list[Client] = []
        _hosts.append(self)

    def connect(self, peer: str = "127.0.0.1") -> Client:
        c = Client(self, peer)
        self.clients.append(c)
        return c

    def inbox(self, user: str = "alice"):  # type: ignore[no-untyped-def]
        return self.store.account(user).folder("INBOX")

    def deliver(
        self, data: bytes = MESSAGE, user: str = "alice", flags: tuple[str, ...] = ()
    ) -> int:
        return self.inbox(user).append(data, flags).uid


def lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n")[:-1]


def untagged(data: bytes) -> list[bytes]:
    return [ln for ln in lines(data) if ln.startswith(b"* ")]


def strip_numbers(data: bytes) -> bytes:
    return re.sub(rb"UIDVALIDITY \d+", b"UIDVALIDITY N", data)
