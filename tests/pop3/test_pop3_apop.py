"""APOP (RFC 1939 §7) on the wire: the greeting's timestamp, the command, its failures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from twisted.internet.testing import MemoryReactorClock

from mailhost.auth import build_authenticator, manage, twofactor
from mailhost.auth.apop import digest, valid_timestamp
from mailhost.auth.fromconfig import argon2_params, state_store
from mailhost.auth.passwd import PasswdFile, hash_password
from mailhost.blocking import InlineBlocking
from mailhost.config import config_from_dict

from .helpers import HOST, MSG1, MSG2, Conn, make_factory, make_store

OK_LOGIN = b"+OK Logged in, 2 messages (111 octets)\r\n"
AUTH_FAILED = b"-ERR [AUTH] Authentication failed\r\n"
START = 1_700_000_000.0


def timestamp(c: Conn) -> str:
    m = re.fullmatch(rb"\+OK mail\.example\.test POP3 server ready (<[^>]+>)\r\n", c.greeting)
    assert m, c.greeting
    return m.group(1).decode()


def apop_line(c: Conn, user: str, secret: str) -> bytes:
    return f"APOP {user} {digest(timestamp(c), secret)}\r\n".encode()


# -- with APOP off (the default) ------------------------------------------------------


def test_off_no_timestamp_and_command_refused() -> None:
    c = Conn(make_factory())
    assert c.greeting == b"+OK mail.example.test POP3 server ready\r\n"
    assert c.send(b"APOP alice 0123456789abcdef0123456789abcdef\r\n") == (
        b"-ERR APOP is not supported\r\n"
    )
    assert c.send(b"USER alice\r\nPASS secret\r\n") == b"+OK Send PASS\r\n" + OK_LOGIN


# -- with the static authenticator ------------------------------------------------------


def test_greeting_carries_a_unique_timestamp() -> None:
    factory = make_factory(apop=True)
    stamps = [timestamp(Conn(factory)) for _ in range(20)]
    assert len(set(stamps)) == 20
    assert all(valid_timestamp(s) and s.endswith(f"@{HOST}>") for s in stamps)


def test_right_digest_logs_in() -> None:
    c = Conn(make_factory(apop=True))
    assert c.send(apop_line(c, "alice", "secret")) == OK_LOGIN
    assert c.send(b"STAT\r\n") == b"+OK 2 111\r\n"


def test_upper_case_hex_is_accepted() -> None:
    c = Conn(make_factory(apop=True))
    assert c.send(apop_line(c, "alice", "secret").upper().replace(b"ALICE", b"alice")) == OK_LOGIN


def test_digest_of_another_timestamp_fails() -> None:
    factory = make_factory(apop=True)
    first, second = Conn(factory), Conn(factory)
    assert second.send(apop_line(first, "alice", "secret")) == AUTH_FAILED
    assert first.send(apop_line(first, "alice", "secret")) == OK_LOGIN


def test_apop_works_where_plaintext_is_refused() -> None:
    c = Conn(make_factory(apop=True, policy="never"))
    assert c.send(b"CAPA\r\n").count(b"\r\nUSER\r\n") == 0
    assert c.send(b"USER alice\r\n").startswith(b"-ERR [AUTH] Plaintext")
    assert c.send(apop_line(c, "alice", "secret")) == OK_LOGIN


def test_bad_arguments() -> None:
    c = Conn(make_factory(apop=True))
    assert c.send(b"APOP\r\nAPOP alice\r\nAPOP a b c\r\n") == (
        b"-ERR Syntax error in arguments\r\n" * 3
    )
    # a digest that is not 32 hex digits is a failed login, counted as one
    assert c.send(b"APOP alice xyz\r\n") == AUTH_FAILED
    assert not c.closed


def test_too_many_wrong_digests_close_the_connection() -> None:
    c = Conn(make_factory(apop=True, max_auth_failures=3))
    assert c.send(apop_line(c, "alice", "x") + apop_line(c, "alice", "y")) == AUTH_FAILED * 2
    assert not c.closed
    assert c.send(apop_line(c, "alice", "z")) == (
        b"-ERR [AUTH] Too many authentication failures, closing\r\n"
    )
    assert c.closed


def test_apop_after_user_forgets_the_user() -> None:
    c = Conn(make_factory(apop=True))
    assert c.send(b"USER bob\r\n") == b"+OK Send PASS\r\n"
    assert c.send(apop_line(c, "alice", "secret")) == OK_LOGIN
    assert c.send(b"APOP alice 0123456789abcdef0123456789abcdef\r\n") == (
        b"-ERR Command not valid in this state\r\n"
    )


# -- with the host's authenticator --------------------------------------------------------


@pytest.fixture
def real(tmp_path: Path) -> tuple[MemoryReactorClock, object]:
    config = config_from_dict(
        {
            "server": {"data_dir": str(tmp_path / "data"), "hostname": HOST},
            "auth": {
                "passwd_file": str(tmp_path / "passwd"),
                "argon2_time_cost": 1,
                "argon2_memory_kib": 64,
                "argon2_parallelism": 1,
                "fail_delay": 0.0,
                "fail_delay_max": 0.0,
                "max_failures_per_address": 4,
            },
        }
    )
    passwd = PasswdFile(config.auth.passwd_file)
    passwd.add("alice", "{PLAIN}secret")
    passwd.add("hashed", hash_password("secret", argon2_params(config.auth)))
    passwd.add("twofa", "{PLAIN}secret")
    totp = twofactor.new_secret()
    code = twofactor.code_at(totp, int(START // twofactor.STEP))
    assert manage.enable_2fa(state_store(config), "twofa", totp, code, START) is not None
    clock = MemoryReactorClock()
    clock.advance(START)
    store = make_store(MSG1, MSG2)
    return clock, build_authenticator(config, store, InlineBlocking(), clock)


def test_real_authenticator_same_answer_for_every_refusal(
    real: tuple[MemoryReactorClock, object],
) -> None:
    clock, auth = real
    # implicit TLS, so that USER/PASS may be tried too
    factory = make_factory(
        apop=True, authenticator=auth, clock=clock, max_auth_failures=10, implicit_tls=True
    )
    c = Conn(factory)
    answers = [
        c.send(apop_line(c, "alice", "wrong")),
        c.send(apop_line(c, "hashed", "secret")),
        c.send(apop_line(c, "twofa", "secret")),
        c.send(apop_line(c, "nobody", "secret")),
    ]
    assert answers == [AUTH_FAILED] * 4
    # four failures from this address: now refused, like password logins
    assert c.send(apop_line(c, "alice", "secret")) == (
        b"-ERR [LOGIN-DELAY] Too many login attempts, try again later\r\n"
    )
    assert (
        Conn(factory)
        .send(b"USER alice\r\nPASS secret\r\n")
        .endswith(b"-ERR [LOGIN-DELAY] Too many login attempts, try again later\r\n")
    )


def test_real_authenticator_right_digest(real: tuple[MemoryReactorClock, object]) -> None:
    clock, auth = real
    c = Conn(make_factory(apop=True, authenticator=auth, clock=clock))
    # no TLS and a remote client: passwords may not be sent, APOP may
    assert c.send(b"USER alice\r\n").startswith(b"-ERR [AUTH] Plaintext")
    assert c.send(apop_line(c, "alice", "secret")) == OK_LOGIN
    assert (
        c.send(b"QUIT\r\n")
        == b"+OK mail.example.test POP3 server signing off (2 messages left)\r\n"
    )
