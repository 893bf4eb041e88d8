"""Password logins through the one Portal: schemes, cache, rehash, TLS policy."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest
from authkit import PARAMS, START, TLS_IMAP, TLS_POP, Host, make_config
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from zope.interface import Interface

from mailhost.auth import build_authenticator, manage
from mailhost.auth.api import LoginContext
from mailhost.auth.passwd import (
    Argon2Params,
    PasswdError,
    PasswdFile,
    hash_password,
    verify_password,
)
from mailhost.auth.realm import IIMAPAvatar, ILMTPAvatar, IPOP3Avatar, IWebAvatar
from mailhost.auth.state import StateStore
from mailhost.auth.verifier import Verifier, VerifyCache
from mailhost.errors import TemporaryFailure
from mailhost.store.memory import MemoryStore


def test_password_login_gives_the_users_account(host: Host) -> None:
    host.add_user("alice", "correct horse")
    user = host.ok("alice", "correct horse")
    assert user.username == "alice"
    assert user.account is host.store.account("alice")
    assert user.still_valid()
    assert host.ok("alice", "correct horse", TLS_POP).username == "alice"


def test_wrong_password_and_unknown_user_fail_alike_and_late(host: Host) -> None:
    host.add_user("alice", "correct horse")
    for user, secret in (("alice", "wrong horse"), ("nobody", "correct horse")):
        d = host.login(user, secret, LoginContext("imap", f"203.0.113.{len(user)}", True))
        out: list[object] = []
        d.addBoth(out.append)
        assert out == []  # the answer waits for the throttle's delay
        host.clock.advance(2.0)
        assert len(out) == 1
        assert out[0].check(UnauthorizedLogin) is UnauthorizedLogin  # type: ignore[attr-defined]


def test_plaintext_refused_without_tls_except_loopback(host: Host) -> None:
    host.add_user("alice", "correct horse")
    clear = LoginContext("pop3", "198.51.100.7", False)
    assert not host.auth.plaintext_allowed(clear)
    assert host.auth.mechanisms(clear) == []
    host.failure("alice", "correct horse", clear).trap(UnauthorizedLogin)
    loop = LoginContext("pop3", "127.0.0.1", False)
    assert host.auth.mechanisms(loop) == ["PLAIN", "LOGIN"]
    assert host.ok("alice", "correct horse", loop).username == "alice"


def test_plaintext_policy_never(make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(allow_plaintext_auth="never")
    assert not host.auth.plaintext_allowed(LoginContext("imap", "::1", False))
    assert host.auth.plaintext_allowed(LoginContext("imap", "::1", True))


def test_old_scheme_is_rehashed_to_argon2id_on_login(host: Host) -> None:
    old = "{BLF-CRYPT}" + bcrypt.hashpw(b"correct horse", bcrypt.gensalt(4)).decode()
    host.config.auth.passwd_file.write_text(f"# users\nalice:{old}:1000:1000::/home/a::x=1\n")
    host.ok("alice", "correct horse")
    text = host.config.auth.passwd_file.read_text()
    assert text.startswith("# users\nalice:{ARGON2ID}$argon2id$")
    assert text.endswith(":1000:1000::/home/a::x=1\n")
    assert host.ok("alice", "correct horse").username == "alice"


def test_no_rehash_when_off(make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(rehash=False)
    old = "{BLF-CRYPT}" + bcrypt.hashpw(b"correct horse", bcrypt.gensalt(4)).decode()
    host.config.auth.passwd_file.write_text(f"alice:{old}\n")
    host.ok("alice", "correct horse")
    assert host.config.auth.passwd_file.read_text() == f"alice:{old}\n"


def test_clear_text_password_gives_a_startup_warning(tmp_path: Path, make_host) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "passwd").write_text("bob:{PLAIN}secret12\n")
    host = make_host(rehash=False)
    assert any("clear-text" in w and "bob" in w for w in host.auth.warnings())
    assert host.ok("bob", "secret12").username == "bob"


class CountingVerify:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, stored: str, password: str) -> bool:
        self.calls += 1
        return verify_password(stored, password)


def _verifier(tmp_path: Path, ttl: float = 600.0) -> tuple[Verifier, CountingVerify, PasswdFile]:
    passwd = PasswdFile(tmp_path / "passwd")
    manage.add_user(passwd, "alice", "correct horse", PARAMS)
    count = CountingVerify()
    v = Verifier(
        passwd,
        StateStore(tmp_path / "state"),
        params=Argon2Params(1, 64, 1),
        cache=VerifyCache(ttl, 100),
        verify=count,
    )
    return v, count, passwd


def test_cache_hit_avoids_a_second_hash(tmp_path: Path) -> None:
    v, count, _ = _verifier(tmp_path)
    assert v.check("alice", "correct horse", TLS_IMAP, START).ok
    assert v.check("alice", "correct horse", TLS_POP, START + 300).ok
    assert count.calls == 1
    # a wrong password is never served from the cache
    assert not v.check("alice", "correct horsf", TLS_IMAP, START + 301).ok
    assert count.calls == 2
    # after the cache lifetime the hash is computed again
    assert v.check("alice", "correct horse", TLS_IMAP, START + 1000).ok
    assert count.calls == 3


def _old_scheme(passwd: PasswdFile, password: str) -> None:
    old = "{BLF-CRYPT}" + bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    passwd.path.write_text(f"alice:{old}\n")


def test_after_a_rehash_the_next_login_hits_the_cache(tmp_path: Path) -> None:
    v, count, passwd = _verifier(tmp_path)
    _old_scheme(passwd, "correct horse")
    assert v.check("alice", "correct horse", TLS_IMAP, START).ok
    assert "{ARGON2ID}" in passwd.path.read_text()  # rehashed
    assert v.check("alice", "correct horse", TLS_IMAP, START + 1).ok
    assert count.calls == 1


def test_when_the_rehash_cannot_be_written_the_next_login_hits_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v, count, passwd = _verifier(tmp_path)
    _old_scheme(passwd, "correct horse")
    hashed: list[str] = []

    def read_only(*args: object, **kwargs: object) -> None:
        raise PasswdError("Read-only file system")

    def counting_hash(password: str, params: object) -> str:
        hashed.append(password)
        return hash_password(password, PARAMS)

    monkeypatch.setattr(PasswdFile, "change", read_only)
    monkeypatch.setattr("mailhost.auth.verifier.hash_password", counting_hash)
    for i in range(3):
        assert v.check("alice", "correct horse", TLS_IMAP, START + i).ok
    assert count.calls == 1 and len(hashed) == 1  # not an Argon2 hash per login


def test_password_change_drops_the_cache(tmp_path: Path) -> None:
    v, count, passwd = _verifier(tmp_path)
    assert v.check("alice", "correct horse", TLS_IMAP, START).ok
    manage.set_password(passwd, v.state, "alice", "battery staple", PARAMS)
    assert not v.check("alice", "correct horse", TLS_IMAP, START + 1).ok
    assert v.check("alice", "battery staple", TLS_IMAP, START + 2).ok
    assert count.calls == 3


def test_cache_off(tmp_path: Path) -> None:
    v, count, _ = _verifier(tmp_path, ttl=0)
    assert v.check("alice", "correct horse", TLS_IMAP, START).ok
    assert v.check("alice", "correct horse", TLS_IMAP, START).ok
    assert count.calls == 2


def test_unreadable_passwd_file_is_a_temporary_failure(host: Host) -> None:
    host.config.auth.passwd_file.write_bytes(b"alice:\xff\xfe\n")
    host.failure("alice", "anything at all").trap(TemporaryFailure)


def test_hand_written_user_names_work(host: Host) -> None:
    odd = "Jo Doe/ops"
    host.config.auth.passwd_file.write_text(f"{odd}:{hash_password('odd pass 1', PARAMS)}\n")
    assert host.ok(odd, "odd pass 1").username == odd
    assert host.state.path(odd).name == "Jo%20Doe%2Fops.json"


def test_missing_passwd_file_warns(host: Host) -> None:
    assert any("does not exist" in w for w in host.auth.warnings())


def test_hand_written_user_name_is_rehashed(host: Host) -> None:
    old = "{BLF-CRYPT}" + bcrypt.hashpw(b"odd pass 1", bcrypt.gensalt(4)).decode()
    host.config.auth.passwd_file.write_text(f"Jo Doe:{old}\n")
    host.ok("Jo Doe", "odd pass 1")
    assert host.config.auth.passwd_file.read_text().startswith("Jo Doe:{ARGON2ID}")


class QueuedBlocking:
    """Holds every call until the test runs it: shows what would leave the reactor thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, Deferred[object]]] = []

    def run(self, f, *args, **kwargs):  # type: ignore[no-untyped-def]
        d: Deferred[object] = Deferred()
        self.calls.append((lambda: f(*args, **kwargs), d))
        return d

    def drain(self) -> list[str]:
        names = []
        while self.calls:
            call, d = self.calls.pop(0)
            names.append(getattr(call, "__qualname__", "?"))
            d.callback(call())  # type: ignore[operator]
        return names


def test_password_check_runs_through_blocking(tmp_path: Path) -> None:

    from mailhost.auth import manage

    config = make_config(tmp_path)
    manage.add_user(PasswdFile(config.auth.passwd_file), "alice", "correct horse", PARAMS)
    blocking = QueuedBlocking()
    auth = build_authenticator(config, MemoryStore(), blocking, Clock())
    out: list[object] = []
    auth.login("alice", "correct horse", TLS_IMAP).addBoth(out.append)
    assert out == [] and len(blocking.calls) == 1  # the check waits in the pool's queue
    # one trip: the check, then (in the same call) the store account lookup
    assert len(blocking.drain()) == 1
    assert len(out) == 1 and out[0].username == "alice"  # type: ignore[attr-defined]


def test_failed_check_opens_no_account(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    manage.add_user(PasswdFile(config.auth.passwd_file), "alice", "correct horse", PARAMS)
    opened: list[str] = []

    class Store(MemoryStore):
        def account(self, username: str):  # type: ignore[no-untyped-def]
            opened.append(username)
            return super().account(username)

    blocking = QueuedBlocking()
    clock = Clock()
    auth = build_authenticator(config, Store(), blocking, clock)
    out: list[object] = []
    auth.login("alice", "wrong", TLS_IMAP).addBoth(out.append)
    assert len(blocking.drain()) == 1
    clock.advance(3600)  # the throttle holds the answer back
    assert opened == []
    assert len(out) == 1 and isinstance(out[0], Failure) and out[0].check(UnauthorizedLogin)
    out[0].trap(UnauthorizedLogin)


def test_account_trouble_after_the_check_is_the_realms_to_report(tmp_path: Path) -> None:
    """A store failing to open the account in the checker's trip is tried again by the
    realm on its own, which reports the trouble as it always did."""
    config = make_config(tmp_path)
    manage.add_user(PasswdFile(config.auth.passwd_file), "alice", "correct horse", PARAMS)
    attempts: list[str] = []

    class Store(MemoryStore):
        def account(self, username: str):  # type: ignore[no-untyped-def]
            attempts.append(username)
            if len(attempts) == 1:
                raise TemporaryFailure("disk busy")
            return super().account(username)

    blocking = QueuedBlocking()
    auth = build_authenticator(config, Store(), blocking, Clock())
    out: list[object] = []
    auth.login("alice", "correct horse", TLS_IMAP).addBoth(out.append)
    assert len(blocking.drain()) == 2  # the check (whose lookup failed), the realm's lookup
    assert attempts == ["alice", "alice"]
    assert len(out) == 1 and out[0].username == "alice"  # type: ignore[attr-defined]


def test_realm_serves_each_protocol_interface(host: Host) -> None:
    host.add_user("alice", "correct horse")
    for proto in ("pop3", "imap", "web", "lmtp"):
        ctx = LoginContext(proto, "127.0.0.1", True)  # type: ignore[arg-type]
        assert host.ok("alice", "correct horse", ctx).username == "alice"
    realm = host.auth.portal.realm
    for iface in (IPOP3Avatar, IIMAPAvatar, IWebAvatar, ILMTPAvatar):
        got, user, _ = host.outcome(realm.requestAvatar("alice", None, iface))
        assert got is iface and user.username == "alice"

    class IOther(Interface):
        pass

    with pytest.raises(NotImplementedError):
        realm.requestAvatar("alice", None, IOther)


def test_rehash_failure_does_not_fail_the_login(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = "{BLF-CRYPT}" + bcrypt.hashpw(b"correct horse", bcrypt.gensalt(4)).decode()
    path = host.config.auth.passwd_file
    path.write_text(f"alice:{old}\n")

    def read_only(*args: object, **kwargs: object) -> None:
        raise PasswdError(f"cannot write {path}: Read-only file system")

    monkeypatch.setattr(PasswdFile, "change", read_only)
    assert host.ok("alice", "correct horse").username == "alice"
    assert path.read_text() == f"alice:{old}\n"
