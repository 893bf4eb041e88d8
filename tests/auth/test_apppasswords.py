"""App passwords: scope, expiry, revocation ending live sessions, last use."""

from __future__ import annotations

from authkit import PARAMS, START, TLS_IMAP, TLS_POP, Host
from twisted.cred.error import UnauthorizedLogin

from mailhost.auth import apppasswords, manage
from mailhost.auth.api import LoginContext
from mailhost.store.api import INBOX


def test_app_password_without_2fa_and_typed_loosely(host: Host) -> None:
    host.add_user("alice", "correct horse")
    ap_id, shown = manage.add_app_password(host.state, "alice", "Thunderbird", START)
    assert host.ok("alice", shown).username == "alice"
    assert host.ok("alice", shown.replace(" ", "").upper(), TLS_POP).username == "alice"
    assert host.ok("alice", "correct horse").username == "alice"  # no 2FA: password works
    ap = host.state.load("alice").app_password(ap_id)
    assert ap is not None and ap.last_used is not None
    assert (ap.last_used.ip, ap.last_used.protocol) == ("198.51.100.7", "pop3")


def test_app_password_of_another_user_or_wrong_secret_fails(host: Host) -> None:
    host.add_user("alice", "correct horse")
    host.add_user("bob", "battery staple")
    _, shown = manage.add_app_password(host.state, "alice", "phone", START)
    host.failure("bob", shown).trap(UnauthorizedLogin)
    tampered = shown[:-1] + ("a" if shown[-1] != "a" else "b")
    host.failure("alice", tampered).trap(UnauthorizedLogin)
    host.failure("nobody", shown).trap(UnauthorizedLogin)


def test_protocol_scope(host: Host) -> None:
    host.add_user("alice", "correct horse")
    _, shown = manage.add_app_password(host.state, "alice", "pop", START, protocols=["pop3"])
    assert host.ok("alice", shown, TLS_POP).username == "alice"
    host.failure("alice", shown, TLS_IMAP).trap(UnauthorizedLogin)


def test_network_scope(host: Host) -> None:
    host.add_user("alice", "correct horse")
    _, shown = manage.add_app_password(
        host.state, "alice", "office", START, networks=["192.0.2.0/24", "2001:db8::/32"]
    )
    assert host.ok("alice", shown, LoginContext("imap", "192.0.2.44", True)).username
    assert host.ok("alice", shown, LoginContext("imap", "2001:db8::5", True)).username
    host.failure("alice", shown, LoginContext("imap", "198.51.100.7", True)).trap(UnauthorizedLogin)


def test_expiry(host: Host) -> None:
    host.add_user("alice", "correct horse")
    _, shown = manage.add_app_password(host.state, "alice", "short", START, expires_in=3600)
    user = host.ok("alice", shown)
    host.clock.advance(3601)
    assert not user.still_valid()
    host.failure("alice", shown).trap(UnauthorizedLogin)


def test_revocation_ends_a_live_session_at_its_next_command(host: Host) -> None:
    host.add_user("alice", "correct horse")
    ap_id, shown = manage.add_app_password(host.state, "alice", "laptop", START)
    _, keep = manage.add_app_password(host.state, "alice", "phone", START)
    session = host.ok("alice", shown)
    other = host.ok("alice", keep)
    by_password = host.ok("alice", "correct horse")
    assert session.still_valid() and other.still_valid()
    cli_view = type(host.state)(host.state.directory)
    manage.revoke_app_password(cli_view, "alice", ap_id)
    # the service notices at its next periodic check (no disk access in still_valid)
    host.clock.advance(host.config.auth.revocation_check_interval)
    assert not session.still_valid()
    assert other.still_valid() and by_password.still_valid()
    host.failure("alice", shown).trap(UnauthorizedLogin)
    session.logout()
    other.logout()


def test_password_change_revokes_every_app_password(host: Host) -> None:
    host.add_user("alice", "correct horse")
    _, shown = manage.add_app_password(host.state, "alice", "laptop", START)
    session = host.ok("alice", shown)

    manage.set_password(host.passwd, host.state, "alice", "battery staple", PARAMS)
    host.clock.advance(host.config.auth.revocation_check_interval)
    assert not session.still_valid()
    host.failure("alice", shown).trap(UnauthorizedLogin)
    host.failure("alice", "correct horse").trap(UnauthorizedLogin)
    assert host.ok("alice", "battery staple").username == "alice"


def test_first_use_notice(host: Host) -> None:
    host.add_user("alice", "correct horse")
    _, shown = manage.add_app_password(host.state, "alice", "Apple Mail", START)
    host.ok("alice", shown)
    host.clock.advance(120)
    host.ok("alice", shown)
    inbox = host.store.account("alice").folder(INBOX)
    (msg,) = inbox.list_messages()
    assert "'Apple Mail'" in inbox.read_message(msg.uid).decode()


def test_limit_on_app_passwords(host: Host) -> None:
    host.add_user("alice", "correct horse")
    for i in range(3):
        manage.add_app_password(host.state, "alice", f"n{i}", START, limit=3)
    try:
        manage.add_app_password(host.state, "alice", "too many", START, limit=3)
    except manage.InputError:
        pass
    else:
        raise AssertionError("a fourth app password was made")


def test_format() -> None:
    ap_id, secret, shown = apppasswords.generate()
    assert apppasswords.parse(shown) == (ap_id, secret)
    assert apppasswords.parse("mh" + "a" * 25) is None
    assert len(shown.replace(" ", "")) == 28


def test_revocation_checks_run_only_while_such_sessions_are_open(host: Host) -> None:
    host.add_user("alice", "correct horse")
    _, shown = manage.add_app_password(host.state, "alice", "laptop", START)
    assert host.clock.getDelayedCalls() == []
    session = host.ok("alice", shown)
    assert len(host.clock.getDelayedCalls()) == 1
    session.logout()
    session.logout()  # twice is harmless
    assert host.clock.getDelayedCalls() == []
