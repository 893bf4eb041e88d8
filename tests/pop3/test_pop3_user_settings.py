"""Per-user EXPIRE and LOGIN-DELAY (RFC 2449 §6.7, §6.8) in CAPA and at login."""

from __future__ import annotations

from twisted.internet.testing import MemoryReactorClock

from mailhost.pop3.config import POP3Config
from mailhost.pop3.usersettings import UserPolicy, user_policy

from .helpers import MSG1, MSG2, Conn, make_factory, make_store

OK_LOGIN = b"+OK Send PASS\r\n+OK Logged in, 2 messages (111 octets)\r\n"
SETTINGS = {"alice": {"pop3_login_delay": "600", "pop3_expire": "5"}, "bob": {}}
PER_USER = {"per_user_settings": True, "expire": "30", "login_delay": 300}


def capa_lines(c: Conn) -> list[bytes]:
    return c.send(b"CAPA\r\n").split(b"\r\n")


def test_capa_before_login_tags_user() -> None:
    c = Conn(make_factory(settings=SETTINGS, **PER_USER))
    lines = capa_lines(c)
    assert b"EXPIRE 30 USER" in lines and b"LOGIN-DELAY 300 USER" in lines


def test_capa_before_login_tags_user_even_without_a_global_delay() -> None:
    c = Conn(make_factory(settings=SETTINGS, per_user_settings=True))
    lines = capa_lines(c)
    assert b"EXPIRE NEVER USER" in lines and b"LOGIN-DELAY 0 USER" in lines


def test_capa_after_login_shows_the_users_values() -> None:
    factory = make_factory(settings=SETTINGS, **PER_USER)
    alice = Conn(factory)
    assert alice.login() == OK_LOGIN
    assert alice.send(b"CAPA\r\n") == (
        b"+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
        b"EXPIRE 5\r\nLOGIN-DELAY 600\r\nUTF8 USER\r\nLANG\r\nIMPLEMENTATION mailhost\r\n.\r\n"
    )


def test_user_without_settings_gets_the_global_values() -> None:
    factory = make_factory(make_store(MSG1, MSG2, user="bob"), settings=SETTINGS, **PER_USER)
    bob = Conn(factory)
    assert bob.login("bob", "pw b").startswith(b"+OK Send PASS\r\n+OK Logged in")
    lines = capa_lines(bob)
    assert b"EXPIRE 30" in lines and b"LOGIN-DELAY 300" in lines
    assert not any(line.endswith(b" USER") and b"UTF8" not in line for line in lines)


def test_users_login_delay_is_enforced() -> None:
    clock = MemoryReactorClock()
    factory = make_factory(clock=clock, settings=SETTINGS, **PER_USER)
    c = Conn(factory)
    assert c.login() == OK_LOGIN
    c.send(b"QUIT\r\n")
    c.proto.connectionLost(None)
    clock.advance(400)  # past the global 300, not past alice's 600
    c2 = Conn(factory)
    assert c2.login() == (
        b"+OK Send PASS\r\n-ERR [LOGIN-DELAY] Logins must be at least 600 seconds apart\r\n"
    )
    clock.advance(200)
    assert c2.login() == OK_LOGIN


def test_user_delay_zero_lifts_the_global_delay() -> None:
    clock = MemoryReactorClock()
    settings = {"alice": {"pop3_login_delay": "0"}}
    factory = make_factory(clock=clock, settings=settings, **PER_USER)
    c = Conn(factory)
    assert c.login() == OK_LOGIN
    assert b"LOGIN-DELAY" not in c.send(b"CAPA\r\n")
    c.send(b"QUIT\r\n")
    c.proto.connectionLost(None)
    assert Conn(factory).login() == OK_LOGIN


def test_settings_ignored_unless_enabled() -> None:
    clock = MemoryReactorClock()
    factory = make_factory(clock=clock, settings=SETTINGS, expire="30", login_delay=300)
    c = Conn(factory)
    assert b"EXPIRE 30\r\nLOGIN-DELAY 300\r\n" in c.send(b"CAPA\r\n")
    assert c.login() == OK_LOGIN
    assert b"EXPIRE 30\r\nLOGIN-DELAY 300\r\n" in c.send(b"CAPA\r\n")
    c.send(b"QUIT\r\n")
    c.proto.connectionLost(None)
    clock.advance(301)
    assert Conn(factory).login() == OK_LOGIN


def test_policy_parsing() -> None:
    config = POP3Config(per_user_settings=True, expire="30", login_delay=300)
    assert user_policy(config, {}) == (UserPolicy("30", 300), [])
    assert user_policy(config, {"pop3_expire": "never", "pop3_login_delay": "60"}) == (
        UserPolicy("NEVER", 60),
        [],
    )
    policy, bad = user_policy(config, {"pop3_expire": "soon", "pop3_login_delay": "-1"})
    assert policy == UserPolicy("30", 300)
    assert bad == ["pop3_expire=soon", "pop3_login_delay=-1"]
    assert user_policy(config, {"pop3_login_delay": "604801"})[0].login_delay == 300
    off = POP3Config(expire="30", login_delay=300)
    assert user_policy(off, {"pop3_expire": "5"}) == (UserPolicy("30", 300), [])


def test_bad_user_value_falls_back_to_global() -> None:
    clock = MemoryReactorClock()
    settings = {"alice": {"pop3_login_delay": "ten minutes"}}
    factory = make_factory(clock=clock, settings=settings, **PER_USER)
    c = Conn(factory)
    assert c.login() == OK_LOGIN
    assert b"LOGIN-DELAY 300\r\n" in c.send(b"CAPA\r\n")
