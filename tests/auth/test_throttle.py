"""Failure delays, lock-outs and their bounds, with an injected clock."""

from __future__ import annotations

from authkit import Host
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred

from mailhost.auth.api import LoginContext
from mailhost.auth.throttle import Throttle, address_key
from mailhost.errors import LoginDelayed


def answer_delay(host: Host, d: Deferred[object]) -> float:
    """Seconds of fake time until ``d`` fires."""
    out: list[object] = []
    d.addBoth(out.append)
    waited = 0.0
    while not out:
        host.clock.advance(0.25)
        waited += 0.25
        assert waited < 100
    return waited


def test_failure_delays_grow_to_the_cap(host: Host) -> None:
    host.add_user("alice", "correct horse")
    ctx = LoginContext("imap", "203.0.113.5", True)
    delays = [answer_delay(host, host.login("alice", f"guess {i}", ctx)) for i in range(6)]
    assert delays == [2.0, 4.0, 8.0, 15.0, 15.0, 15.0]


def test_same_wrong_password_counts_once(host: Host) -> None:
    host.add_user("alice", "correct horse")
    ctx = LoginContext("pop3", "203.0.113.5", True)
    delays = [answer_delay(host, host.login("alice", "old password", ctx)) for _ in range(5)]
    assert delays == [2.0] * 5


def test_login_name_is_slowed_from_any_address(host: Host) -> None:
    host.add_user("alice", "correct horse")
    delays = [
        answer_delay(
            host, host.login("alice", f"g{i}", LoginContext("imap", f"203.0.113.{i}", True))
        )
        for i in range(4)
    ]
    assert delays == [2.0, 4.0, 8.0, 15.0]
    # another name from a fresh address is not slowed by alice's failures
    fresh = LoginContext("imap", "192.0.2.1", True)
    assert answer_delay(host, host.login("bob", "x", fresh)) == 2.0


def test_success_forgives_the_address_and_login(host: Host) -> None:
    host.add_user("alice", "correct horse")
    ctx = LoginContext("imap", "203.0.113.5", True)
    for i in range(3):
        answer_delay(host, host.login("alice", f"g{i}", ctx))
    host.ok("alice", "correct horse", ctx)
    assert answer_delay(host, host.login("alice", "again wrong", ctx)) == 2.0


def test_address_locked_out_after_too_many_failures(make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(max_failures_per_address=4, lockout_time=600.0, fail_delay_max=2.0)
    host.add_user("alice", "correct horse")
    ctx = LoginContext("imap", "203.0.113.5", True)
    for i in range(4):
        host.failure(f"user{i}", "x", ctx).trap(UnauthorizedLogin)
    # refused at once, even with the right password, without a check
    host.failure("alice", "correct horse", ctx).trap(LoginDelayed)
    # other addresses are unaffected
    assert host.ok("alice", "correct horse", LoginContext("imap", "192.0.2.1", True))
    host.clock.advance(600)
    assert host.ok("alice", "correct horse", ctx).username == "alice"


def test_trusted_network_is_never_delayed(make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(trusted_networks=["10.0.0.0/8"])
    host.add_user("alice", "correct horse")
    d = host.login("alice", "wrong", LoginContext("imap", "10.1.2.3", True))
    out: list[object] = []
    d.addBoth(out.append)
    assert len(out) == 1 and out[0].check(UnauthorizedLogin)  # type: ignore[attr-defined]


def test_counters_are_bounded_and_windowed() -> None:
    t = Throttle(entries=100, window=60.0)
    for i in range(1000):
        t.failure(f"198.51.{i // 256}.{i % 256}", f"u{i}", b"x", 0.0)
    assert len(t._addresses) == 100 and len(t._logins) == 100 and len(t._pairs) == 100
    assert t.failure("192.0.2.1", "a", b"1", 0.0) == 2.0
    assert t.failure("192.0.2.1", "a", b"2", 1.0) == 4.0
    assert t.failure("192.0.2.1", "a", b"3", 100.0) == 2.0  # window over: counting anew


def test_ipv6_counts_by_64() -> None:
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
