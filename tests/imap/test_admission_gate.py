"""IMAP greetings held by the admission gate while other sessions talk."""

from __future__ import annotations

from imapkit import Client, Host

from mailhost.admission import QUIET_AFTER, Admission


def _host(limit: int = 1) -> Host:
    host = Host()
    host.factory.admission = Admission(host.clock, limit, 2.0)
    return host


def test_greeting_waits_while_another_session_talks_and_early_commands_keep() -> None:
    host = _host()
    a = host.connect()
    assert a.greeting.startswith(b"* OK")
    b = Client(host)
    assert b.greeting == b""  # accepted, not greeted
    assert b.transport.producerState == "paused"
    # a client that speaks before the greeting is answered after it, in order
    assert b.cmd("B1 NOOP") == b""
    assert b"A1 OK" in a.cmd("A1 NOOP")
    a.cmd("A2 LOGOUT")
    a.lose()
    out = b.take()
    assert out.startswith(b"* OK [CAPABILITY ") and out.endswith(b"B1 OK NOOP completed\r\n"), out
    assert b.transport.producerState == "producing"


def test_a_session_in_idle_makes_room() -> None:
    host = _host()
    a = host.connect()
    a.login()
    a.select()
    b = Client(host)
    assert b.greeting == b""
    assert a.cmd("I1 IDLE").startswith(b"+ ")
    assert b.take().startswith(b"* OK")


def test_a_silent_session_makes_room_after_a_moment() -> None:
    host = _host()
    a = host.connect()
    b = Client(host)
    host.clock.advance(QUIET_AFTER / 2)
    assert b.take() == b""
    host.clock.advance(QUIET_AFTER)
    assert b.take().startswith(b"* OK")
    assert b"A1 OK" in a.cmd("A1 NOOP")


def test_a_connection_that_leaves_while_waiting_is_forgotten() -> None:
    host = _host()
    host.connect()
    b = Client(host)
    c = Client(host)
    b.lose()
    host.clock.advance(QUIET_AFTER * 2)
    assert c.take().startswith(b"* OK")
    assert host.factory.admission.waiting == 0
