"""A host for IMAP transcripts: MemoryStore, StaticAuthenticator, InlineBlocking,
a synchronous ChangeHub and sessions over StringTransport.

``MAILHOST_TEST_PUSH=off`` switches the hub's wake-ups off in every host that is not
told otherwise: sessions must then converge on the pull alone (``Folder.changes_since``
at each command, and the IDLE poll).
"""

from __future__ import annotations

import os
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


def push_default() -> bool:
    """Wake-ups on unless ``MAILHOST_TEST_PUSH=off``."""
    value = os.environ.get("MAILHOST_TEST_PUSH", "on").lower()
    if value not in ("on", "off"):
        raise ValueError(f"MAILHOST_TEST_PUSH must be 'on' or 'off', not {value!r}")
    return value == "on"


#: The IDLE poll of hosts without wake-ups (when no config is given): short, so a test
#: that advances the clock by it sees the poll without minutes of keep-alives.
PULL_ONLY_POLL = 1.0

SPECIAL = {"\\Sent": "Sent", "\\Trash": "Trash"}


class Host:
    def __init__(
        self,
        config: IMAPConfig | None = None,
        policy: str = "always",
        store: object = None,
        push: bool | None = None,
        **kw: object,
    ):
        self.push = push_default() if push is None else push
        if config is None and not self.push:
            config = IMAPConfig(idle_poll_interval=PULL_ONLY_POLL)
        self.store = store or MemoryStore(special_folders=SPECIAL)  # type: ignore[assignment]
        self.hub = ChangeHub()
        self.hub.push_enabled = self.push
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

    def selected(self, *messages: bytes) -> Client:
        """Deliver ``messages`` to alice's INBOX, then a client logged in with it selected."""
        for m in messages:
            self.deliver(m)
        c = self.connect()
        c.login()
        c.select()
        return c

    def tls_listener(self) -> IMAPFactory:
        """A second factory of this host, as its implicit-TLS listener has."""
        return IMAPFactory(
            config=self.factory.config,
            authenticator=self.auth,
            blocking=self.factory.blocking,
            hostname="x",
            tls=None,
            changes=self.hub,
            implicit_tls=True,
            clock=self.clock,
        )

    def let_idle_see(self) -> None:
        """Give IDLE sessions the time to learn of changes made so far: none with
        wake-ups (they are immediate), one ``idle_poll_interval`` without them."""
        if not self.push:
            self.clock.advance(self.factory.config.idle_poll_interval)

    def inbox(self, user: str = "alice"):  # type: ignore[no-untyped-def]
        return self.store.account(user).folder("INBOX")

    def expunge_elsewhere(self, seq: int) -> None:
        """Message ``seq`` of alice's INBOX expunged by another session."""
        other = self.connect()
        other.login()
        other.select()
        other.cmd(f"x STORE {seq} +FLAGS.SILENT (\\Deleted)")
        other.cmd("y EXPUNGE")

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
