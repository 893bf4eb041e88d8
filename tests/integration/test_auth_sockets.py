"""Every login path over real sockets: passwords, password+code, app passwords, throttling.

The unit tests in ``tests/auth`` drive the authenticator with an injected clock; here the
real host answers ``imaplib``, ``poplib`` and raw sockets on loopback, so the wire replies
(``NO [AUTHENTICATIONFAILED]``, ``-ERR [AUTH]``, ``[UNAVAILABLE]``, ``[LOGIN-DELAY]``)
and the timing of the throttle are checked end to end.  The running host takes its time
from the real reactor, so time-dependent paths use small configured lifetimes and delays.
"""

from __future__ import annotations

import base64
import imaplib
import io
import json
import poplib
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from integration_support import USERS, message
from integration_support import LineClient as Raw

from mailhost.auth import cli, manage, twofactor
from mailhost.auth.fromconfig import state_store
from mailhost.auth.state import StateStore
from mailhost.testing import MailHost

TIMEOUT = 10.0
ALICE = USERS["alice"]
#: A password that needs quoting in IMAP and has spaces for POP3's PASS.
ODD = 'pa"ss\\wo rd{1}'
AUTH_FAILED_IMAP = b"NO [AUTHENTICATIONFAILED] Authentication failed"
AUTH_FAILED_POP = b"-ERR [AUTH] Authentication failed"


# -- helpers ---------------------------------------------------------------------------


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(value)


def set_keys(text: str, section: str, values: Mapping[str, object]) -> str:
    """``text`` (TOML) with ``values`` set in ``[section]``: replaced or added."""
    lines = text.splitlines()
    start = lines.index(f"[{section}]")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    for key, value in values.items():
        line = f"{key} = {_toml(value)}"
        found = [i for i in range(start + 1, end) if re.match(rf"{key}\s*=", lines[i])]
        if found:
            lines[found[0]] = line
        else:
            lines.insert(start + 1, line)
            end += 1
    return "\n".join(lines) + "\n"


def configured_host(
    directory: Path,
    *,
    plaintext: str = "always",
    users: Mapping[str, str] = USERS,
    **sections: Mapping[str, object],
) -> MailHost:
    """A (not yet started) host: the test kit's configuration with ``sections`` changed.

    The kit writes ``mailhost.toml`` only when it is missing, so the file it wrote is
    edited and a second ``MailHost`` reads it.
    """
    MailHost(directory, users=users, plaintext_auth=plaintext)
    path = directory / "mailhost.toml"
    text = path.read_text(encoding="utf-8")
    for section, values in sections.items():
        text = set_keys(text, section, values)
    path.write_text(text, encoding="utf-8")
    return MailHost(directory, users=users)


def quoted(s: str) -> bytes:
    return b'"' + s.replace("\\", "\\\\").replace('"', '\\"').encode() + b'"'


def imap_login(
    port: int, user: str, secret: str, host: str = "127.0.0.1", source: str | None = None
) -> bytes:
    """The tagged answer to LOGIN on a new connection."""
    raw = Raw(port, host, source)
    try:
        assert raw.line().startswith(b"* OK")
        raw.send(b"a LOGIN " + quoted(user) + b" " + quoted(secret) + b"\r\n")
        return raw.tagged(b"a")[1]
    finally:
        raw.close()


def pop_login(port: int, user: str, secret: str) -> bytes:
    """The answer to PASS on a new connection (USER must be accepted)."""
    raw = Raw(port)
    try:
        assert raw.line().startswith(b"+OK")
        raw.send(f"USER {user}\r\n".encode())
        assert raw.line().startswith(b"+OK")
        raw.send(f"PASS {secret}\r\n".encode())
        return raw.line()
    finally:
        raw.close()


def timed(f: Callable[..., bytes], *args: object) -> tuple[bytes, float]:
    """``f(*args)`` and how many seconds the answer took."""
    start = time.monotonic()
    result = f(*args)
    return result, time.monotonic() - start


def plain(user: str, secret: str) -> bytes:
    return base64.b64encode(b"\0" + user.encode() + b"\0" + secret.encode())


def b64(s: str) -> bytes:
    return base64.b64encode(s.encode())


def states(host: MailHost) -> StateStore:
    return state_store(host.config)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


HAS_IPV6 = _ipv6_loopback()
IMAP_LISTEN = ["tcp:0:interface=127.0.0.1"] + (["tcp6:0:interface=\\:\\:1"] if HAS_IPV6 else [])


@pytest.fixture
def host(tmp_path: Path) -> Iterator[MailHost]:
    """The test kit's host, with a quick revocation check and an IPv6 IMAP listener.

    No notices in INBOX (they would change message counts; one test turns them on).
    """
    h = configured_host(
        tmp_path / "host",
        users={**USERS, "carol": ODD},
        auth={"revocation_check_interval": 0.2, "notify_new_devices": False},
        imap={"listen": IMAP_LISTEN},
    )
    with h:
        yield h


def imap6_port(host: MailHost) -> int:
    """The IMAP port on ::1: another network than 127.0.0.1 for grants and scopes."""
    if not HAS_IPV6:
        pytest.skip("::1 is not available on this machine")
    assert host.service is not None
    return next(
        lst.port_number
        for lst in host.service.listeners
        if lst.label == "imap" and lst.description.startswith("tcp6")
    )


# -- passwords -------------------------------------------------------------------------


def test_imap_login_and_authenticate_plain(host: MailHost) -> None:
    imap = imaplib.IMAP4(host.host, host.imap_port, timeout=TIMEOUT)
    assert imap.login("alice", ALICE)[0] == "OK"
    imap.logout()

    # AUTHENTICATE PLAIN without an initial response: imaplib waits for "+ "
    imap = imaplib.IMAP4(host.host, host.imap_port, timeout=TIMEOUT)
    typ, _ = imap.authenticate("PLAIN", lambda _: b"\0alice\0" + ALICE.encode())
    assert typ == "OK" and imap.state == "AUTH"
    imap.logout()

    # with SASL-IR (RFC 4959): one line, no continuation
    raw = Raw(host.imap_port)
    assert raw.line().startswith(b"* OK")
    raw.send(b"a CAPABILITY\r\n")
    caps = raw.tagged(b"a")[0][0].split()
    assert b"SASL-IR" in caps and b"AUTH=PLAIN" in caps
    raw.send(b"b AUTHENTICATE PLAIN " + plain("alice", ALICE) + b"\r\n")
    untagged, done = raw.tagged(b"b")
    assert untagged == [] and done.startswith(b"OK")
    raw.send(b"c SELECT INBOX\r\n")
    assert raw.tagged(b"c")[1].startswith(b"OK")
    raw.close()


def test_imap_authenticate_login_authzid_and_cancel(host: MailHost) -> None:
    raw = Raw(host.imap_port)
    raw.line()
    raw.send(b"a AUTHENTICATE LOGIN\r\n")
    assert raw.line() == b"+ " + b64("Username:")
    raw.send(b64("alice") + b"\r\n")
    assert raw.line() == b"+ " + b64("Password:")
    raw.send(b64(ALICE) + b"\r\n")
    assert raw.tagged(b"a")[1].startswith(b"OK")
    raw.close()

    raw = Raw(host.imap_port)
    raw.line()
    raw.send(b"a AUTHENTICATE PLAIN\r\n")  # RFC 3501 §6.2.2: "*" cancels, answered BAD
    assert raw.line() == b"+ "
    raw.send(b"*\r\n")
    assert raw.tagged(b"a")[1].startswith(b"BAD")
    # an authorisation identity equal to the user is fine; another user's is not
    own = base64.b64encode(b"alice\0alice\0" + ALICE.encode())
    other = base64.b64encode(b"bob\0alice\0" + ALICE.encode())
    raw.send(b"b AUTHENTICATE PLAIN " + other + b"\r\n")
    assert raw.tagged(b"b")[1].startswith(b"NO [AUTHORIZATIONFAILED]")
    raw.send(b"c AUTHENTICATE PLAIN " + own + b"\r\n")
    assert raw.tagged(b"c")[1].startswith(b"OK")
    raw.close()


def test_imap_login_with_quoted_strings_and_literals(host: MailHost) -> None:
    secret = ODD.encode()
    imap = imaplib.IMAP4(host.host, host.imap_port, timeout=TIMEOUT)
    assert imap.login("carol", ODD)[0] == "OK"  # imaplib quotes and escapes
    imap.logout()
    raw = Raw(host.imap_port)
    raw.line()
    # a synchronising literal (RFC 3501 §4.3), as clients send 8-bit passwords
    raw.send(b"a LOGIN carol {%d}\r\n" % len(secret))
    assert raw.line().startswith(b"+")
    raw.send(secret + b"\r\n")
    assert raw.tagged(b"a")[1].startswith(b"OK")
    raw.close()
    raw = Raw(host.imap_port)
    assert b"LITERAL+" in raw.line().split()  # non-synchronising literals (RFC 7888)
    raw.send(b"a LOGIN carol {%d+}\r\n" % len(secret) + secret + b"\r\n")
    assert raw.tagged(b"a")[1].startswith(b"OK")
    raw.close()


def test_pop3_password_with_spaces(host: MailHost) -> None:
    assert pop_login(host.pop3_port, "carol", ODD).startswith(b"+OK")
    raw = Raw(host.pop3_port)
    raw.line()
    raw.send(b"AUTH PLAIN " + plain("carol", ODD) + b"\r\n")
    assert raw.line().startswith(b"+OK")
    raw.close()


def test_imap_wrong_password_and_unknown_user_get_one_answer(host: MailHost) -> None:
    assert imap_login(host.imap_port, "alice", "wrong") == AUTH_FAILED_IMAP
    assert imap_login(host.imap_port, "nobody", "wrong") == AUTH_FAILED_IMAP
    assert imap_login(host.imap_port, "nobody", ALICE) == AUTH_FAILED_IMAP
    raw = Raw(host.imap_port)
    raw.line()
    raw.send(b"a AUTHENTICATE PLAIN " + plain("alice", "wrong") + b"\r\n")
    assert raw.tagged(b"a")[1] == AUTH_FAILED_IMAP
    raw.send(b"b AUTHENTICATE PLAIN " + plain("nobody", "wrong") + b"\r\n")
    assert raw.tagged(b"b")[1] == AUTH_FAILED_IMAP
    raw.close()
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imaplib.IMAP4(host.host, host.imap_port, timeout=TIMEOUT).login("alice", "wrong")


def test_pop3_user_pass_auth_plain_and_auth_login(host: MailHost) -> None:
    host.deliver("alice", message(1))
    pop = poplib.POP3(host.host, host.pop3_port, timeout=TIMEOUT)
    pop.user("alice")
    assert pop.pass_(ALICE).startswith(b"+OK")
    assert pop.stat()[0] == 1
    pop.quit()

    raw = Raw(host.pop3_port)  # AUTH PLAIN with an initial response (RFC 5034 §4)
    raw.line()
    raw.send(b"AUTH PLAIN " + plain("alice", ALICE) + b"\r\n")
    assert raw.line().startswith(b"+OK")
    raw.send(b"QUIT\r\n")
    assert raw.line().startswith(b"+OK")
    raw.close()

    raw = Raw(host.pop3_port)  # AUTH PLAIN with an empty challenge
    raw.line()
    raw.send(b"AUTH PLAIN\r\n")
    assert raw.line() == b"+ "
    raw.send(plain("alice", ALICE) + b"\r\n")
    assert raw.line().startswith(b"+OK")
    raw.send(b"QUIT\r\n")
    assert raw.line().startswith(b"+OK")
    raw.close()

    raw = Raw(host.pop3_port)  # AUTH LOGIN: user name and password challenges
    raw.line()
    raw.send(b"AUTH LOGIN\r\n")
    assert raw.line() == b"+ " + b64("Username:")
    raw.send(b64("alice") + b"\r\n")
    assert raw.line() == b"+ " + b64("Password:")
    raw.send(b64(ALICE) + b"\r\n")
    assert raw.line().startswith(b"+OK")
    raw.send(b"STAT\r\n")
    assert raw.line().startswith(b"+OK 1 ")
    raw.send(b"QUIT\r\n")
    assert raw.line().startswith(b"+OK")
    raw.close()


def test_pop3_wrong_password_and_unknown_user_get_one_answer(host: MailHost) -> None:
    assert pop_login(host.pop3_port, "alice", "wrong") == AUTH_FAILED_POP
    assert pop_login(host.pop3_port, "nobody", "wrong") == AUTH_FAILED_POP
    raw = Raw(host.pop3_port)
    raw.line()
    raw.send(b"AUTH PLAIN " + plain("nobody", ALICE) + b"\r\n")
    assert raw.line() == AUTH_FAILED_POP
    raw.send(b"AUTH LOGIN\r\n")
    raw.line()
    raw.send(b64("alice") + b"\r\n")
    raw.line()
    raw.send(b64("wrong") + b"\r\n")
    assert raw.line() == AUTH_FAILED_POP
    # pop3.max_auth_failures (3) on one connection: the third failure hangs up
    raw.send(b"USER alice\r\nPASS wrong-again\r\n")
    assert raw.line().startswith(b"+OK")
    assert raw.line() == b"-ERR [AUTH] Too many authentication failures, closing"
    assert raw.until_closed() == b""
    raw.close()
    pop = poplib.POP3(host.host, host.pop3_port, timeout=TIMEOUT)
    pop.user("alice")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        pop.pass_("wrong")
    pop.close()


# -- password + code -------------------------------------------------------------------


def step_now() -> int:
    return int(time.time() // twofactor.STEP)


def enable_2fa(host: MailHost, user: str = "alice") -> str:
    """Switch TOTP on with a known secret, confirmed with the previous step's code."""
    secret = twofactor.new_secret()
    now = time.time()
    code = twofactor.code_at(secret, int(now // twofactor.STEP) - 1)
    assert manage.enable_2fa(states(host), user, secret, code, now) is not None
    return secret


def test_two_factor_bare_password_refused_code_accepted(host: MailHost) -> None:
    secret = enable_2fa(host)
    assert imap_login(host.imap_port, "alice", ALICE) == AUTH_FAILED_IMAP
    assert pop_login(host.pop3_port, "alice", ALICE) == AUTH_FAILED_POP

    with_code = ALICE + twofactor.code_at(secret, step_now())
    imap = imaplib.IMAP4(host.host, host.imap_port, timeout=TIMEOUT)
    assert imap.login("alice", with_code)[0] == "OK"
    assert imap.select("INBOX")[0] == "OK"
    imap.logout()
    (grant,) = states(host).load("alice").grants
    assert (grant.protocol, grant.network) == ("imap", "127.0.0.0/24")
    # POP3 with the next code, "$"-separated: its own grant
    pop = poplib.POP3(host.host, host.pop3_port, timeout=TIMEOUT)
    pop.user("alice")
    assert pop.pass_(ALICE + "$" + twofactor.code_at(secret, step_now() + 1)).startswith(b"+OK")
    pop.quit()
    assert sorted(g.protocol for g in states(host).load("alice").grants) == ["imap", "pop3"]


def test_two_factor_grant_and_replays(host: MailHost) -> None:
    secret = enable_2fa(host)
    step = step_now()
    with_code = ALICE + twofactor.code_at(secret, step)
    assert imap_login(host.imap_port, "alice", with_code).startswith(b"OK")
    # the same string, same protocol, same /24: the device grant lets the poller in
    assert imap_login(host.imap_port, "alice", with_code).startswith(b"OK")
    # ... also from another address of the same /24
    assert imap_login(host.imap_port, "alice", with_code, source="127.0.0.2").startswith(b"OK")
    assert len(states(host).load("alice").grants) == 1
    # from another IPv4 network there is no grant, and the code was used
    assert imap_login(host.imap_port, "alice", with_code, source="127.0.1.1") == AUTH_FAILED_IMAP
    # the same string from another network (::1): no grant there, and the code is used up
    assert imap_login(imap6_port(host), "alice", with_code, "::1") == AUTH_FAILED_IMAP
    # the same string over another protocol: grants are per protocol
    assert pop_login(host.pop3_port, "alice", with_code) == AUTH_FAILED_POP
    # the same code in another spelling is a new login with a replayed code
    code = twofactor.code_at(secret, step)
    assert imap_login(host.imap_port, "alice", ALICE + "$" + code) == AUTH_FAILED_IMAP
    # a newer code opens a new grant from ::1
    newer = ALICE + twofactor.code_at(secret, step + 1)
    assert imap_login(imap6_port(host), "alice", newer, "::1").startswith(b"OK")
    networks = sorted(g.network for g in states(host).load("alice").grants)
    assert networks == ["127.0.0.0/24", "::/56"]


def test_revoked_grant_ends_imap_session(
    host: MailHost, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = enable_2fa(host)
    with_code = ALICE + twofactor.code_at(secret, step_now())
    raw = Raw(host.imap_port)
    raw.line()
    raw.send(b"a LOGIN alice " + quoted(with_code) + b"\r\n")
    assert raw.tagged(b"a")[1].startswith(b"OK")
    # the poller's second connection rides on the grant
    assert imap_login(host.imap_port, "alice", with_code).startswith(b"OK")
    config = ["--config", str(host.config_path)]
    assert cli.main(["2fa", "revoke-grant", "alice", "--all", *config]) == 0
    time.sleep(1.0)
    raw.send(b"b NOOP\r\n")
    assert raw.line() == b"* BYE Your credentials are no longer valid"
    assert raw.until_closed() == b""
    raw.close()
    # the string is refused now: no grant, and its code was used
    assert imap_login(host.imap_port, "alice", with_code) == AUTH_FAILED_IMAP


def test_one_code_opens_one_of_two_racing_logins(host: MailHost) -> None:
    """Two clients on two networks send the same password+code at once: one gets in."""
    secret = enable_2fa(host)
    with_code = ALICE + twofactor.code_at(secret, step_now())
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda source: imap_login(host.imap_port, "alice", with_code, source=source),
                ["127.0.0.1", "127.0.1.1"],
            )
        )
    assert sorted(a[:2] for a in answers) == [b"NO", b"OK"], answers
    assert len(states(host).load("alice").grants) == 1


def test_wrong_codes_suspend_password_plus_code_not_app_passwords(tmp_path: Path) -> None:
    with configured_host(tmp_path / "h", auth={"max_code_failures": 2}) as host:
        secret = enable_2fa(host)
        _, app = manage.add_app_password(states(host), "alice", "phone", time.time())
        right = twofactor.code_at(secret, step_now())
        wrong = "000000" if right != "000000" else "111111"
        for _ in range(2):
            assert imap_login(host.imap_port, "alice", ALICE + wrong) == AUTH_FAILED_IMAP
        # the right code is refused now, over either protocol
        assert imap_login(host.imap_port, "alice", ALICE + right) == AUTH_FAILED_IMAP
        assert pop_login(host.pop3_port, "alice", ALICE + right) == AUTH_FAILED_POP
        assert imap_login(host.imap_port, "alice", app).startswith(b"OK")


def test_two_factor_grant_lapses(tmp_path: Path) -> None:
    """A grant ends after ``grant_lifetime`` of the real clock (tiny here)."""
    with configured_host(tmp_path / "h", auth={"grant_lifetime": 1.5}) as host:
        secret = enable_2fa(host)
        with_code = ALICE + twofactor.code_at(secret, step_now())
        assert imap_login(host.imap_port, "alice", with_code).startswith(b"OK")
        assert imap_login(host.imap_port, "alice", with_code).startswith(b"OK")
        time.sleep(2.0)
        assert imap_login(host.imap_port, "alice", with_code) == AUTH_FAILED_IMAP


# -- app passwords ---------------------------------------------------------------------


def test_app_password_protocol_scope(host: MailHost) -> None:
    _, app = manage.add_app_password(
        states(host), "alice", "phone", time.time(), protocols=["imap"]
    )
    assert " " in app  # shown grouped by four; the spaces travel in a quoted string
    assert imap_login(host.imap_port, "alice", app).startswith(b"OK")
    assert imap_login(host.imap_port, "alice", app.replace(" ", "").upper()).startswith(b"OK")
    assert pop_login(host.pop3_port, "alice", app) == AUTH_FAILED_POP
    assert imap_login(host.imap_port, "bob", app) == AUTH_FAILED_IMAP


def test_app_password_works_with_two_factor_on(host: MailHost) -> None:
    enable_2fa(host)
    _, app = manage.add_app_password(states(host), "alice", "laptop", time.time())
    pop = poplib.POP3(host.host, host.pop3_port, timeout=TIMEOUT)
    pop.user("alice")
    assert pop.pass_(app).startswith(b"+OK")
    pop.quit()
    assert imap_login(host.imap_port, "alice", app).startswith(b"OK")


def test_first_use_of_app_password_puts_a_notice_in_inbox(tmp_path: Path) -> None:
    with configured_host(tmp_path / "h") as host:
        _, app = manage.add_app_password(states(host), "alice", "Outlook", time.time())
        assert imap_login(host.imap_port, "alice", app).startswith(b"OK")
        inbox = host.account("alice").folder("INBOX")
        deadline = time.monotonic() + TIMEOUT
        while not inbox.list_messages() and time.monotonic() < deadline:
            time.sleep(0.05)
        (notice,) = inbox.list_messages()
        assert b"Outlook" in inbox.read_message(notice.uid)
        assert imap_login(host.imap_port, "alice", app).startswith(b"OK")
        time.sleep(0.3)
        assert len(inbox.list_messages()) == 1  # only the first use is told


def test_app_password_network_scope(host: MailHost) -> None:
    _, outside = manage.add_app_password(
        states(host), "alice", "office", time.time(), networks=["192.0.2.0/24"]
    )
    _, inside = manage.add_app_password(
        states(host), "alice", "here", time.time(), networks=["127.0.0.0/8"]
    )
    _, one_address = manage.add_app_password(
        states(host), "alice", "desk", time.time(), networks=["127.0.0.2/32"]
    )
    _, v6_only = manage.add_app_password(
        states(host), "alice", "v6", time.time(), networks=["::1/128"]
    )
    assert imap_login(host.imap_port, "alice", outside) == AUTH_FAILED_IMAP
    assert pop_login(host.pop3_port, "alice", outside) == AUTH_FAILED_POP
    assert imap_login(host.imap_port, "alice", inside).startswith(b"OK")
    assert pop_login(host.pop3_port, "alice", inside).startswith(b"+OK")
    assert imap_login(host.imap_port, "alice", one_address) == AUTH_FAILED_IMAP
    assert imap_login(host.imap_port, "alice", one_address, source="127.0.0.2").startswith(b"OK")
    assert imap_login(host.imap_port, "alice", v6_only) == AUTH_FAILED_IMAP
    assert imap_login(imap6_port(host), "alice", v6_only, "::1").startswith(b"OK")


def test_revoked_app_password_ends_imap_session(
    host: MailHost, capsys: pytest.CaptureFixture[str]
) -> None:
    """Made and revoked with the ``mailhost app-password`` commands, as an admin would."""
    config = ["--config", str(host.config_path)]
    argv = ["app-password", "add", "alice", "--label", "phone", "--protocols", "imap"]
    assert cli.main([*argv, "--from", "127.0.0.0/8", *config]) == 0
    out = capsys.readouterr().out
    found = re.search(r"App password (\w+) .*\n\n    (mh[a-z2-7 ]+)\n", out)
    assert found, out
    ap_id, app = found.groups()
    raw = Raw(host.imap_port)
    raw.line()
    raw.send(b"a LOGIN alice " + quoted(app) + b"\r\n")
    assert raw.tagged(b"a")[1].startswith(b"OK")
    raw.send(b"b SELECT INBOX\r\n")
    assert raw.tagged(b"b")[1].startswith(b"OK")
    assert cli.main(["app-password", "revoke", "alice", ap_id, *config]) == 0
    time.sleep(1.0)  # revocation_check_interval is 0.2 s
    raw.send(b"c NOOP\r\n")
    assert raw.line() == b"* BYE Your credentials are no longer valid"
    assert raw.until_closed() == b""
    raw.close()
    assert imap_login(host.imap_port, "alice", app) == AUTH_FAILED_IMAP


def test_revoked_app_password_ends_an_idling_imap_session(tmp_path: Path) -> None:
    """IDLE may last hours: the keep-alive tick ends it without waiting for a command."""
    with configured_host(
        tmp_path / "h",
        auth={"revocation_check_interval": 0.2, "notify_new_devices": False},
        imap={"idle_keepalive": 0.5},
    ) as host:
        ap_id, app = manage.add_app_password(states(host), "alice", "phone", time.time())
        raw = Raw(host.imap_port)
        raw.line()
        raw.send(b"a LOGIN alice " + quoted(app) + b"\r\nb SELECT INBOX\r\nc IDLE\r\n")
        assert raw.tagged(b"a")[1].startswith(b"OK")
        assert raw.tagged(b"b")[1].startswith(b"OK")
        assert raw.line().startswith(b"+ ")
        assert manage.revoke_app_password(states(host), "alice", ap_id) == 1
        lines = raw.until_closed().split(b"\r\n")
        raw.close()
        assert b"* BYE Your credentials are no longer valid" in lines, lines


def test_expired_app_password_ends_sessions_and_logins(host: MailHost) -> None:
    _, app = manage.add_app_password(states(host), "alice", "trial", time.time(), expires_in=1.5)
    imap = Raw(host.imap_port)
    imap.line()
    imap.send(b"a LOGIN alice " + quoted(app) + b"\r\n")
    assert imap.tagged(b"a")[1].startswith(b"OK")
    pop = Raw(host.pop3_port)
    pop.line()
    pop.send(b"AUTH PLAIN " + plain("alice", app) + b"\r\n")
    assert pop.line().startswith(b"+OK")
    time.sleep(2.0)
    imap.send(b"b NOOP\r\n")
    assert imap.line() == b"* BYE Your credentials are no longer valid"
    pop.send(b"STAT\r\n")
    assert pop.line() == b"-ERR [AUTH] Credentials no longer valid, closing"
    imap.close()
    pop.close()
    assert imap_login(host.imap_port, "alice", app) == AUTH_FAILED_IMAP
    assert pop_login(host.pop3_port, "alice", app) == AUTH_FAILED_POP


def test_revoked_app_password_ends_pop3_session_without_deleting(host: MailHost) -> None:
    host.deliver("alice", message(1))
    host.deliver("alice", message(2))
    ap_id, app = manage.add_app_password(states(host), "alice", "poller", time.time())
    raw = Raw(host.pop3_port)
    raw.line()
    raw.send(b"USER alice\r\nPASS " + app.encode() + b"\r\n")
    assert raw.line().startswith(b"+OK")
    assert raw.line().startswith(b"+OK Logged in, 2 messages")
    raw.send(b"DELE 1\r\n")
    assert raw.line().startswith(b"+OK")
    assert manage.revoke_app_password(states(host), "alice", ap_id) == 1
    time.sleep(1.0)
    raw.send(b"STAT\r\n")
    assert raw.line() == b"-ERR [AUTH] Credentials no longer valid, closing"
    assert raw.until_closed() == b""
    raw.close()
    assert len(host.account("alice").folder("INBOX").list_messages()) == 2
    pop = poplib.POP3(host.host, host.pop3_port, timeout=TIMEOUT)
    pop.user("alice")
    pop.pass_(ALICE)  # the maildrop lock was released with the session
    assert pop.stat()[0] == 2
    pop.quit()


def test_password_change_ends_app_password_sessions_and_old_password(
    host: MailHost, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, app = manage.add_app_password(states(host), "alice", "phone", time.time())
    assert imap_login(host.imap_port, "alice", ALICE).startswith(b"OK")  # now cached
    raw = Raw(host.imap_port)
    raw.line()
    raw.send(b"a LOGIN alice " + quoted(app) + b"\r\n")
    assert raw.tagged(b"a")[1].startswith(b"OK")
    monkeypatch.setattr("sys.stdin", io.StringIO("a-new-password\n"))
    argv = ["user", "passwd", "alice", "--password-stdin", "--config", str(host.config_path)]
    assert cli.main(argv) == 0
    assert "revoked 1" in capsys.readouterr().out
    assert imap_login(host.imap_port, "alice", ALICE) == AUTH_FAILED_IMAP
    assert pop_login(host.pop3_port, "alice", ALICE) == AUTH_FAILED_POP
    assert imap_login(host.imap_port, "alice", "a-new-password").startswith(b"OK")
    time.sleep(1.0)
    raw.send(b"b NOOP\r\n")
    assert raw.line() == b"* BYE Your credentials are no longer valid"
    raw.close()
    assert imap_login(host.imap_port, "alice", app) == AUTH_FAILED_IMAP


# -- throttling ------------------------------------------------------------------------

THROTTLE = {
    "trusted_networks": [],
    "fail_delay": 0.3,
    "fail_delay_max": 1.2,
    "fail_window": 60.0,
    "max_failures_per_address": 3,
    "lockout_time": 60.0,
}


def test_same_wrong_password_counts_once(tmp_path: Path) -> None:
    with configured_host(tmp_path / "h", auth=THROTTLE) as host:
        for _ in range(4):  # more than max_failures_per_address, but one secret
            answer, took = timed(imap_login, host.imap_port, "alice", "old-password")
            assert answer == AUTH_FAILED_IMAP
            assert 0.25 <= took < 0.55, took  # 0.3 s each time: no doubling
        answer, took = timed(pop_login, host.pop3_port, "alice", "old-password")
        assert answer == AUTH_FAILED_POP and 0.25 <= took < 0.55, took
        # not locked out: the right password still opens the account at once
        assert imap_login(host.imap_port, "alice", ALICE).startswith(b"OK")


def test_failures_grow_the_delay_then_lock_the_address(tmp_path: Path) -> None:
    with configured_host(tmp_path / "h", auth={**THROTTLE, "lockout_time": 3.0}) as host:
        delays = []
        for n in range(3):
            locked_at = time.monotonic()  # the third failure starts the lockout
            answer, took = timed(imap_login, host.imap_port, "alice", f"guess-{n}")
            assert answer == AUTH_FAILED_IMAP
            delays.append(took)
        assert delays[0] >= 0.25 and delays[1] >= 0.55 and delays[2] >= 1.15, delays
        assert delays[0] < delays[1] < delays[2], delays
        # three failures from 127.0.0.1: refused without a check, even the right password
        answer, took = timed(imap_login, host.imap_port, "alice", ALICE)
        assert answer == b"NO [UNAVAILABLE] Login delayed, try again later"
        assert took < 1.0, took  # answered at once, not after the 1.2 s failure delay
        assert imap_login(host.imap_port, "bob", USERS["bob"]).startswith(b"NO [UNAVAILABLE]")
        assert pop_login(host.pop3_port, "alice", ALICE).startswith(b"-ERR [LOGIN-DELAY]")
        # the lockout is per address: another client address logs in
        assert imap_login(host.imap_port, "alice", ALICE, source="127.0.0.9").startswith(b"OK")
        assert imap_login(host.imap_port, "bob", USERS["bob"]).startswith(b"NO [UNAVAILABLE]")
        # after lockout_time the address may try again; a success forgives it
        time.sleep(max(0.0, locked_at + 3.2 - time.monotonic()))
        assert imap_login(host.imap_port, "alice", ALICE).startswith(b"OK")
        answer, took = timed(imap_login, host.imap_port, "alice", "guess-after")
        assert answer == AUTH_FAILED_IMAP and 0.25 <= took < 0.55, took
