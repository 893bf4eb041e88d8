"""APOP (RFC 1939 §7) through the host's authenticator: who can pass, and how it fails."""

from __future__ import annotations

from pathlib import Path

from authkit import PARAMS, START, TLS_POP, Host
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.task import Clock

from mailhost.auth import build_authenticator, manage, twofactor
from mailhost.auth.api import LoginContext, MailUser
from mailhost.auth.apop import check_apop, digest, new_timestamp, valid_timestamp
from mailhost.blocking import InlineBlocking
from mailhost.config import config_from_dict
from mailhost.errors import LoginDelayed
from mailhost.store.memory import MemoryStore

STAMP = "<1896.697170952@dbc.mtview.ca.us>"
PLAIN_POP = LoginContext("pop3", "198.51.100.7", False)


def apop(host: Host, user: str, secret: str, ctx: LoginContext = TLS_POP) -> object:
    return host.outcome(host.auth.login_apop(user, STAMP, digest(STAMP, secret), ctx))


def test_rfc1939_example_digest() -> None:
    # RFC 1939 §7: the example exchange
    assert digest(STAMP, "tanstaaf") == "c4c9334bac560ecc979e58001b3e22fb"


def test_timestamps_are_msg_ids_and_unique() -> None:
    stamps = {new_timestamp(42, START, "mail.test") for _ in range(50)}
    assert len(stamps) == 50
    assert all(valid_timestamp(s) and s.startswith("<42.") for s in stamps)
    assert all(s.endswith(f".{int(START)}@mail.test>") for s in stamps)


def test_plaintext_user_logs_in_even_without_tls(make_host: object) -> None:
    host: Host = make_host(allow_plaintext_auth="never")  # type: ignore[operator]
    host.passwd.add("alice", "{PLAIN}tanstaaf")
    host.passwd.add("carol", "{CLEARTEXT}c pw")
    user = apop(host, "alice", "tanstaaf", PLAIN_POP)
    assert isinstance(user, MailUser) and user.username == "alice"
    assert isinstance(apop(host, "carol", "c pw", PLAIN_POP), MailUser)


def test_everyone_else_fails_like_a_wrong_digest(host: Host) -> None:
    host.passwd.add("alice", "{PLAIN}tanstaaf")
    host.add_user("hashed", "tanstaaf")  # Argon2id
    host.passwd.add("twofa", "{PLAIN}tanstaaf")
    secret = twofactor.new_secret()
    code = twofactor.code_at(secret, int(START // twofactor.STEP))
    assert manage.enable_2fa(host.state, "twofa", secret, code, START) is not None
    _, app_password = manage.add_app_password(host.state, "alice", "phone", START)
    failures = [
        apop(host, "alice", "wrong"),
        apop(host, "alice", app_password),
        apop(host, "hashed", "tanstaaf"),
        apop(host, "twofa", "tanstaaf"),
        apop(host, "twofa", "tanstaaf" + code),
        apop(host, "nobody", "tanstaaf"),
        host.outcome(host.auth.login_apop("alice", STAMP, "not hex", TLS_POP)),
        host.outcome(
            host.auth.login_apop("alice", STAMP, digest(STAMP, "tanstaaf").upper(), TLS_POP)
        ),
    ]
    for f in failures:
        assert f.check(UnauthorizedLogin), f  # type: ignore[attr-defined]
    # the right digest still works afterwards
    assert isinstance(apop(host, "alice", "tanstaaf"), MailUser)


def test_failures_are_delayed_by_the_throttle(host: Host) -> None:
    host.passwd.add("alice", "{PLAIN}tanstaaf")
    answers: list[object] = []
    host.auth.login_apop("alice", STAMP, digest(STAMP, "wrong"), TLS_POP).addBoth(answers.append)
    assert answers == []  # held back by fail_delay (2 s)
    host.clock.advance(2.0)
    assert len(answers) == 1 and answers[0].check(UnauthorizedLogin)  # type: ignore[attr-defined]


def test_apop_and_password_failures_share_one_throttle(make_host: object) -> None:
    host: Host = make_host(max_failures_per_address=3)  # type: ignore[operator]
    host.passwd.add("alice", "{PLAIN}tanstaaf")
    assert host.failure("alice", "wrong 1", TLS_POP).check(UnauthorizedLogin)
    assert apop(host, "alice", "wrong 2").check(UnauthorizedLogin)  # type: ignore[attr-defined]
    assert apop(host, "alice", "wrong 3").check(UnauthorizedLogin)  # type: ignore[attr-defined]
    # the address is now refused, for APOP and for passwords alike
    assert apop(host, "alice", "tanstaaf").check(LoginDelayed)  # type: ignore[attr-defined]
    assert host.failure("alice", "tanstaaf", TLS_POP).check(LoginDelayed)


def test_success_forgives_the_address(make_host: object) -> None:
    host: Host = make_host(max_failures_per_address=3)  # type: ignore[operator]
    host.passwd.add("alice", "{PLAIN}tanstaaf")
    assert apop(host, "alice", "wrong 1").check(UnauthorizedLogin)  # type: ignore[attr-defined]
    assert apop(host, "alice", "wrong 2").check(UnauthorizedLogin)  # type: ignore[attr-defined]
    assert isinstance(apop(host, "alice", "tanstaaf"), MailUser)
    # counted afresh: without the success the fourth attempt would be refused
    assert apop(host, "alice", "wrong 3").check(UnauthorizedLogin)  # type: ignore[attr-defined]
    assert apop(host, "alice", "wrong 4").check(UnauthorizedLogin)  # type: ignore[attr-defined]


def test_check_apop_reads_the_current_file(host: Host) -> None:
    host.passwd.add("alice", "{PLAIN}old")
    assert check_apop(host.passwd, host.state, "alice", STAMP, digest(STAMP, "old")).ok
    manage.set_password(host.passwd, host.state, "alice", "new password", PARAMS)
    # now hashed: APOP can no longer work for alice, with either password
    for pw in ("old", "new password"):
        assert not check_apop(host.passwd, host.state, "alice", STAMP, digest(STAMP, pw)).ok


def test_password_logins_keep_plain_values_while_apop_is_on(tmp_path: Path) -> None:
    """Rehashing a {PLAIN} value to Argon2id would end APOP for that user."""

    def login_then_read(apop_on: bool) -> str:
        data = tmp_path / f"apop-{apop_on}"
        data.mkdir()
        passwd = data / "passwd"
        passwd.write_text("alice:{PLAIN}secret12\n")
        config = config_from_dict(
            {
                "server": {"data_dir": str(data), "hostname": "mail.test"},
                "auth": {
                    "passwd_file": str(passwd),
                    "argon2_memory_kib": 64,
                    "argon2_time_cost": 1,
                    "argon2_parallelism": 1,
                },
                "pop3": {"apop": apop_on},
            }
        )
        auth = build_authenticator(config, MemoryStore(), InlineBlocking(), Clock())
        ctx = LoginContext("imap", "127.0.0.1", True)
        out: list[object] = []
        auth.login("alice", "secret12", ctx).addBoth(out.append)
        assert getattr(out[0], "username", None) == "alice", out
        return passwd.read_text()

    assert login_then_read(True) == "alice:{PLAIN}secret12\n"
    assert login_then_read(False).startswith("alice:{ARGON2ID}")
