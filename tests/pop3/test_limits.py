"""Timers, limits, the maildrop lease, store failures and streaming, on a fake clock."""

from __future__ import annotations

import io

import pytest
from twisted.internet.testing import MemoryReactorClock, StringTransport

from mailhost.errors import TemporaryFailure
from mailhost.pop3.server import POP3Factory
from mailhost.pop3.stuffing import render
from mailhost.store.memory import MemoryFolder

from .helpers import MSG1, MSG2, Conn, make_factory, make_store

OK_LOGIN = b"+OK Send PASS\r\n+OK Logged in, 2 messages (111 octets)\r\n"


def test_idle_timeout_counts_from_last_activity() -> None:
    clock = MemoryReactorClock()
    store = make_store(MSG1, MSG2)
    c = Conn(make_factory(store, clock=clock))
    c.login()
    c.send(b"DELE 1\r\n")
    clock.advance(300)
    assert c.send(b"NOOP\r\n") == b"+OK\r\n"
    clock.advance(599)
    assert not c.closed
    clock.advance(1)
    assert c.take() == b"-ERR Disconnected for inactivity\r\n"
    assert c.closed
    c.proto.connectionLost(None)
    assert len(store.account("alice").folder("INBOX").list_messages()) == 2


def test_lease_renewed_while_session_lives() -> None:
    clock = MemoryReactorClock()
    store = make_store(MSG1, MSG2)
    factory = make_factory(store, clock=clock)
    factory.lease_ttl = 30.0
    c = Conn(factory)
    c.login()
    lease = store.account("alice")._lease
    assert lease is not None
    before = lease.expires
    clock.advance(10)
    assert lease.expires > before
    assert c.send(b"STAT\r\n") == b"+OK 2 111\r\n"


def test_lost_lease_ends_session_without_deletion() -> None:
    clock = MemoryReactorClock()
    store = make_store(MSG1, MSG2)
    factory = make_factory(store, clock=clock)
    c = Conn(factory)
    c.login()
    c.send(b"DELE 1\r\n")
    store.account("alice")._lease = None  # taken over (expired and re-acquired elsewhere)
    clock.advance(factory.lease_ttl / 3)
    assert c.send(b"QUIT\r\n") == b"-ERR [SYS/TEMP] Maildrop lock lost, please log in again\r\n"
    assert c.closed
    assert len(store.account("alice").folder("INBOX").list_messages()) == 2


def test_update_failure_is_sys_temp(monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(MSG1, MSG2)
    c = Conn(make_factory(store))
    c.login()

    def broken(self: MemoryFolder, uids: object) -> list[int]:
        raise TemporaryFailure("disk full")

    monkeypatch.setattr(MemoryFolder, "expunge", broken)
    assert c.send(b"DELE 1\r\nQUIT\r\n") == (
        b"+OK Message 1 deleted\r\n"
        b"-ERR [SYS/TEMP] Some deleted messages not removed, try again later\r\n"
    )
    assert c.closed
    # the lease was released: the user can log in again
    assert Conn(make_factory(store)).login() == OK_LOGIN


def test_message_expunged_by_another_session() -> None:
    store = make_store(MSG1, MSG2)
    c = Conn(make_factory(store))
    c.login()
    store.account("alice").folder("INBOX").expunge([1])  # an IMAP client
    assert c.send(b"RETR 1\r\nRETR 2\r\n") == (
        b"-ERR Message was deleted by another session\r\n+OK 66 octets\r\n"
        + MSG2.replace(b"\n.", b"\n..")
        + b".\r\n"
    )
    assert c.send(b"QUIT\r\n").startswith(b"+OK")


def test_login_delay_enforced() -> None:
    clock = MemoryReactorClock()
    store = make_store(MSG1, MSG2)
    factory = make_factory(store, clock=clock, login_delay=300)
    c = Conn(factory)
    c.login()
    c.send(b"QUIT\r\n")
    c.proto.connectionLost(None)
    clock.advance(100)
    c2 = Conn(factory)
    assert c2.login() == (
        b"+OK Send PASS\r\n-ERR [LOGIN-DELAY] Logins must be at least 300 seconds apart\r\n"
    )
    # nothing stays held: after the delay the login works
    clock.advance(200)
    assert c2.login() == OK_LOGIN


def test_connections_per_ip() -> None:
    factory = make_factory(max_connections_per_ip=2)
    a, b = Conn(factory), Conn(factory)
    c = Conn(factory)
    assert c.greeting == b"-ERR [SYS/TEMP] Too many connections from your address\r\n"
    assert c.closed
    assert Conn(factory, peer="192.0.2.8").greeting.startswith(b"+OK")
    a.proto.connectionLost(None)
    assert Conn(factory).greeting.startswith(b"+OK")
    assert not b.closed


def test_connections_per_user() -> None:
    store = make_store()
    factory = make_factory(store, max_connections_per_user=1)
    factory.per_user["alice"] = 1  # a session that holds the slot
    c = Conn(factory)
    assert c.login() == (b"+OK Send PASS\r\n-ERR [SYS/TEMP] Too many connections for this user\r\n")
    assert store.account("alice")._lease is None


BIG = b"Subject: big\r\n\r\n" + b"".join(
    (b"." if i % 3 == 0 else b"") + b"line %06d\r\n" % i for i in range(40000)
)


class PausingTransport(StringTransport):
    """Pauses its producer once, as a full socket buffer would."""

    paused_once = False

    def write(self, data: bytes) -> None:
        super().write(data)
        if self.producer is not None and not self.paused_once and len(self.value()) > 50_000:
            self.paused_once = True
            self.producer.pauseProducing()


def test_big_message_streams_with_producer() -> None:
    store = make_store(BIG)
    c = Conn(make_factory(store, stream_threshold=1024, stream_chunk_size=4096))
    c.login()
    c.transport = PausingTransport()
    c.proto.transport = c.transport
    c.proto.dataReceived(b"RETR 1\r\nNOOP\r\n")
    producer = c.transport.producer
    assert producer is not None and c.transport.streaming
    so_far = c.take()
    status = b"+OK %d octets\r\n" % len(BIG)
    assert so_far.startswith(status) and 50_000 < len(so_far) < 60_000
    assert not so_far.endswith(b"+OK\r\n")  # NOOP waits for the message
    producer.resumeProducing()
    rest = c.take()
    assert so_far + rest == status + render([BIG], []) + b"+OK\r\n"
    assert c.transport.producer is None


def test_top_of_big_message_reads_only_what_it_needs() -> None:
    store = make_store(BIG)
    c = Conn(make_factory(store, stream_threshold=1024, stream_chunk_size=4096))
    c.login()
    assert c.send(b"TOP 1 2\r\n") == (
        b"+OK Top of message follows\r\nSubject: big\r\n\r\n..line 000000\r\nline 000001\r\n.\r\n"
    )


def test_outlook_no_nuls() -> None:
    store = make_store(b"Subject: n\r\n\r\na\0b\r\n")
    c = Conn(make_factory(store, outlook_no_nuls=True))
    c.login()
    assert c.send(b"LIST 1\r\nRETR 1\r\n") == (
        b"+OK 1 19\r\n+OK 19 octets\r\nSubject: n\r\n\r\na\x80b\r\n.\r\n"
    )


def test_lf_and_no_newline_sizes_match_bytes_sent() -> None:
    lf = b"Subject: lf\n\nline\n.dot\n"
    no_eol = b"Subject: x\r\n\r\nno newline"
    store = make_store(lf, no_eol)
    c = Conn(make_factory(store))
    c.login()
    listing = c.send(b"LIST\r\n")
    crlf = b"Subject: lf\r\n\r\nline\r\n.dot\r\n"
    assert (len(crlf), len(no_eol)) == (27, 24)
    assert listing == b"+OK 2 messages (51 octets)\r\n1 27\r\n2 24\r\n.\r\n"
    out = c.send(b"RETR 1\r\n")
    assert out == b"+OK 27 octets\r\nSubject: lf\r\n\r\nline\r\n..dot\r\n.\r\n"
    # the CRLF before "." terminates; the message itself is 24 octets (RFC 1939 §3)
    out = c.send(b"RETR 2\r\n")
    assert out == b"+OK 24 octets\r\nSubject: x\r\n\r\nno newline\r\n.\r\n"


class NoDelayTransport(StringTransport):
    nodelay: bool | None = None

    def setTcpNoDelay(self, enabled: bool) -> None:
        self.nodelay = enabled


def test_tcp_nodelay_set_on_connect() -> None:
    factory = make_factory()
    transport = NoDelayTransport()
    factory.buildProtocol(None).makeConnection(transport)
    assert transport.nodelay is True
    assert transport.value().startswith(b"+OK")


def test_implicit_tls_context_is_secure() -> None:
    factory = make_factory(policy="never", implicit_tls=True)
    c = Conn(factory)
    assert c.proto.ctx is not None and c.proto.ctx.secure
    assert b"USER\r\n" in c.send(b"CAPA\r\n")


class BreakingStream(io.BytesIO):
    """Fails on the second read, as a disk error in the middle of a message would."""

    reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        if self.reads > 1:
            raise TemporaryFailure("I/O error")
        return super().read(size)


def test_read_error_before_status_line(monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(MSG1, MSG2)
    c = Conn(make_factory(store))
    c.login()

    def broken(self: MemoryFolder, uid: int) -> bytes:
        raise TemporaryFailure("I/O error")

    monkeypatch.setattr(MemoryFolder, "read_message", broken)
    assert c.send(b"RETR 1\r\nNOOP\r\n") == (
        b"-ERR [SYS/TEMP] Temporary server failure, try again later\r\n+OK\r\n"
    )


def test_read_error_mid_stream_closes_without_terminator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = make_store(BIG)
    c = Conn(make_factory(store, stream_threshold=1024, stream_chunk_size=4096))
    c.login()
    monkeypatch.setattr(MemoryFolder, "open_message", lambda self, uid: BreakingStream(BIG))
    out = c.send(b"RETR 1\r\nNOOP\r\n")
    assert out.startswith(b"+OK %d octets\r\n" % len(BIG))
    assert len(out) < len(BIG) and not out.endswith(b".\r\n")
    assert c.closed  # the client must not take a truncated message for a whole one


def test_line_too_long_during_sasl() -> None:
    c = Conn(make_factory(max_line_length=300))
    assert c.send(b"AUTH PLAIN\r\n" + b"A" * 400 + b"\r\nCAPA\r\n").startswith(
        b"+ \r\n-ERR Invalid base64 data\r\n+OK Capability list follows\r\n"
    )


def test_limits_shared_between_listeners_of_one_host() -> None:
    clock = MemoryReactorClock()
    plain = make_factory(make_store(MSG1), clock=clock, login_delay=300)
    implicit = POP3Factory(
        config=plain.config,
        authenticator=plain.authenticator,
        blocking=plain.blocking,
        hostname=plain.hostname,
        tls=None,
        implicit_tls=True,
        clock=clock,
    )
    c = Conn(plain)
    c.login()
    c.send(b"QUIT\r\n")
    c.proto.connectionLost(None)
    assert (
        Conn(implicit)
        .login()
        .endswith(b"-ERR [LOGIN-DELAY] Logins must be at least 300 seconds apart\r\n")
    )


def test_greeting_held_while_the_host_is_busy_then_early_commands_answered() -> None:
    from mailhost.admission import QUIET_AFTER, Admission

    clock = MemoryReactorClock()
    factory = make_factory(clock=clock)
    factory.admission = Admission(clock, 1, 2.0)
    a = Conn(factory)
    assert a.greeting.startswith(b"+OK")
    b = Conn(factory)
    assert b.greeting == b"" and b.transport.producerState == "paused"
    assert b.send(b"CAPA\r\n") == b""  # kept until after the greeting
    assert a.login() == OK_LOGIN
    clock.advance(QUIET_AFTER / 2)
    assert b.take() == b""
    a.send(b"QUIT\r\n")
    a.proto.connectionLost(None)
    out = b.take()
    assert out.startswith(b"+OK ") and b"\r\n+OK Capability list follows\r\n" in out, out
    assert b.transport.producerState == "producing"
