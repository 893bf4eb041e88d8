"""Two-factor accounts: password+code, replays, device grants, recovery codes."""

from __future__ import annotations

import pyotp
from authkit import START, TLS_POP, Host
from twisted.cred.error import UnauthorizedLogin

from mailhost.auth import manage, twofactor
from mailhost.auth.api import LoginContext
from mailhost.store.api import INBOX

SECRET = pyotp.random_base32()


def code(host: Host, offset: int = 0) -> str:
    return pyotp.TOTP(SECRET).at(host.clock.seconds() + offset * 30)


def two_factor_host(host: Host) -> list[str]:
    host.add_user("alice", "correct horse")
    # enabled half a minute earlier: that step is used up
    recovery = manage.enable_2fa(host.state, "alice", SECRET, code(host, -1), START - 30)
    assert recovery is not None
    return recovery


def test_bare_password_no_longer_opens_pop_or_imap(host: Host) -> None:
    two_factor_host(host)
    host.failure("alice", "correct horse").trap(UnauthorizedLogin)
    host.failure("alice", "correct horse", TLS_POP).trap(UnauthorizedLogin)


def test_password_plus_code_with_and_without_separator(host: Host) -> None:
    two_factor_host(host)
    assert host.ok("alice", "correct horse" + code(host)).username == "alice"
    host.clock.advance(30)
    assert host.ok("alice", "correct horse$" + code(host), TLS_POP).username == "alice"


def test_password_ending_in_dollar_still_works(host: Host) -> None:
    host.add_user("bob", "dollar pass$")
    assert manage.enable_2fa(host.state, "bob", SECRET, code(host, -1), START - 30)
    assert host.ok("bob", "dollar pass$" + "$" + code(host)).username == "bob"


def test_wrong_password_with_right_code_fails(host: Host) -> None:
    two_factor_host(host)
    host.failure("alice", "wrong horse" + code(host)).trap(UnauthorizedLogin)


def test_one_step_of_clock_skew_accepted_two_refused(host: Host) -> None:
    two_factor_host(host)
    host.failure("alice", "correct horse" + code(host, 2)).trap(UnauthorizedLogin)
    assert host.ok("alice", "correct horse" + code(host, 1)).username == "alice"


def test_replayed_code_is_refused_from_elsewhere(host: Host) -> None:
    two_factor_host(host)
    secret = "correct horse" + code(host)
    host.ok("alice", secret)
    # the same string from another network is not covered by the grant: full check, replay
    other = LoginContext("imap", "203.0.113.9", True)
    host.failure("alice", secret, other).trap(UnauthorizedLogin)
    # an older code than the last accepted one is refused as well
    host.failure("alice", "correct horse" + code(host, -1), other).trap(UnauthorizedLogin)
    assert host.state.load("alice").totp.last_step == int(host.clock.seconds() // 30)  # type: ignore[union-attr]


def test_grant_lets_the_poller_in_then_expires(host: Host) -> None:
    two_factor_host(host)
    secret = "correct horse" + code(host)
    host.ok("alice", secret)
    (grant,) = host.state.load("alice").grants
    assert grant.protocol == "imap" and grant.network == "198.51.100.0/24"
    # the same client keeps polling with the now-stale code from the same /24
    for _ in range(3):
        host.clock.advance(600)
        assert host.ok("alice", secret, LoginContext("imap", "198.51.100.99", True)).username
    # not for another protocol
    host.failure("alice", secret, TLS_POP).trap(UnauthorizedLogin)
    # the window slides: 11 h after the last poll still fine, 12 h + after it not
    host.clock.advance(11 * 3600)
    assert host.ok("alice", secret).username == "alice"
    host.clock.advance(12 * 3600 + 60)
    host.failure("alice", secret).trap(UnauthorizedLogin)


def test_grant_hard_cap(make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(grant_lifetime=3600.0, grant_max_age=4 * 3600.0)
    two_factor_host(host)
    secret = "correct horse" + code(host)
    host.ok("alice", secret)
    for _ in range(4):
        host.clock.advance(3000)
        host.ok("alice", secret)
    host.clock.advance(3000)  # 4 h 10 min after the grant was made, 50 min after last use
    host.failure("alice", secret).trap(UnauthorizedLogin)


def test_revoked_grant_ends_session_and_login(host: Host) -> None:
    two_factor_host(host)
    secret = "correct horse" + code(host)
    user = host.ok("alice", secret)
    assert user.still_valid()
    (grant,) = host.state.load("alice").grants
    other = type(host.state)(host.state.directory)  # the CLI's own view of the files
    manage.revoke_grant(other, "alice", grant.id)
    host.clock.advance(host.config.auth.revocation_check_interval)
    assert not user.still_valid()
    host.failure("alice", secret).trap(UnauthorizedLogin)


def test_new_grant_is_logged_and_notified(host: Host) -> None:
    two_factor_host(host)
    host.ok("alice", "correct horse" + code(host))
    inbox = host.store.account("alice").folder(INBOX)
    (msg,) = inbox.list_messages()
    text = inbox.read_message(msg.uid).decode()
    assert "Subject: New mail client signed in" in text
    assert "198.51.100.7" in text and "\r\n" in text


def test_no_notice_when_turned_off(make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(notify_new_devices=False)
    two_factor_host(host)
    host.ok("alice", "correct horse" + code(host))
    assert host.store.account("alice").folder(INBOX).list_messages() == []


def test_recovery_code_works_once(host: Host) -> None:
    recovery = two_factor_host(host)
    assert host.ok("alice", f"correct horse${recovery[0]}").username == "alice"
    host.failure("alice", f"correct horse${recovery[0]}").trap(UnauthorizedLogin)
    assert host.ok("alice", f"correct horse${recovery[1].upper()}").username == "alice"
    host.failure("alice", f"wrong horse${recovery[2]}").trap(UnauthorizedLogin)


def test_wrong_codes_disable_only_password_plus_code(host: Host) -> None:
    two_factor_host(host)
    _, app = manage.add_app_password(host.state, "alice", "phone", START)
    wrong = "999999" if code(host) != "999999" else "888888"
    for i in range(host.config.auth.max_code_failures):
        ctx = LoginContext("imap", f"203.0.113.{i}", True)
        host.failure("alice", "correct horse" + wrong, ctx).trap(UnauthorizedLogin)
    host.clock.advance(30)
    host.failure("alice", "correct horse" + code(host)).trap(UnauthorizedLogin)
    assert host.ok("alice", app).username == "alice"
    # after the window password+code is open again
    host.clock.advance(host.config.auth.fail_window + 30)
    assert host.ok("alice", "correct horse" + code(host)).username == "alice"


def test_split_code_readings() -> None:
    assert twofactor.split_code("pw123456") == [("pw", "123456")]
    assert twofactor.split_code("pw$123456") == [("pw", "123456"), ("pw$", "123456")]
    assert twofactor.split_code("123456") == []
    assert twofactor.split_code("pw12345") == []
    assert twofactor.client_network("2001:db8:1:2:3::4") == "2001:db8:1::/56"
    assert twofactor.client_network("::ffff:192.0.2.77") == "192.0.2.0/24"
