"""Exact-bytes transcripts of every command and state, fed whole and byte by byte."""

from __future__ import annotations

import base64

import pytest
from twisted.cred.error import UnauthorizedLogin

from mailhost.errors import LoginDelayed, TemporaryFailure
from mailhost.store.api import SEEN

from .helpers import HOST, MSG1, MSG2, Conn, conn_with_tls, make_factory, make_store

OK_LOGIN = b"+OK Send PASS\r\n+OK Logged in, 2 messages (111 octets)\r\n"


def transcript(script: bytes, **kw: object) -> bytes:
    """Run ``script`` after login in one burst and byte by byte; both must agree."""
    outs = []
    for bytewise in (False, True):
        c = Conn(make_factory(**kw))  # type: ignore[arg-type]
        assert c.login() == OK_LOGIN
        outs.append(c.send(script, bytewise=bytewise))
    assert outs[0] == outs[1]
    return outs[0]


def uidvalidity(c: Conn) -> int:
    auth = c.factory.authenticator
    return auth.store.account("alice").folder("INBOX").uidvalidity  # type: ignore[attr-defined,no-any-return]


def test_greeting_has_no_apop_timestamp() -> None:
    c = Conn(make_factory())
    assert c.greeting == b"+OK mail.example.test POP3 server ready\r\n"


def test_capa_before_and_after_login() -> None:
    c = Conn(make_factory(login_delay=900, expire="30"))
    assert c.send(b"CAPA\r\n") == (
        b"+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
        b"EXPIRE 30\r\nLOGIN-DELAY 900\r\nAUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN LOGIN\r\n"
        b"UTF8 USER\r\nLANG\r\nIMPLEMENTATION mailhost\r\n.\r\n"
    )
    c.login()
    assert c.send(b"capa\r\n") == (
        b"+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
        b"EXPIRE 30\r\nLOGIN-DELAY 900\r\nUTF8 USER\r\nLANG\r\nIMPLEMENTATION mailhost\r\n.\r\n"
    )


def test_transaction_commands() -> None:
    out = transcript(b"STAT\r\nLIST\r\nLIST 2\r\nNOOP\r\nretr 1\r\nTop 2 1\r\n")
    assert out == (
        b"+OK 2 111\r\n"
        b"+OK 2 messages (111 octets)\r\n1 45\r\n2 66\r\n.\r\n"
        b"+OK 2 66\r\n"
        b"+OK\r\n"
        b"+OK 45 octets\r\n" + MSG1 + b".\r\n"
        b"+OK Top of message follows\r\nFrom: b@example.test\r\nSubject: two\r\n\r\n"
        b"..dot line\r\n.\r\n"
    )


def test_uidl_is_dovecot_format() -> None:
    c = Conn(make_factory())
    c.login()
    v = uidvalidity(c)
    assert c.send(b"UIDL\r\nUIDL 1\r\n") == (
        b"+OK Unique-ID listing follows\r\n"
        + f"1 00000001{v:08x}\r\n2 00000002{v:08x}\r\n".encode()
        + b".\r\n"
        + f"+OK 1 00000001{v:08x}\r\n".encode()
    )


@pytest.mark.parametrize(
    ("fmt", "expected"), [("cyrus", "{v}.1"), ("courier", "{v}-1"), ("uidonly", "1")]
)
def test_uidl_formats(fmt: str, expected: str) -> None:
    c = Conn(make_factory(uidl_format=fmt))
    c.login()
    v = uidvalidity(c)
    assert c.send(b"UIDL 1\r\n") == f"+OK 1 {expected.format(v=v)}\r\n".encode()


def test_dele_hides_message_and_rset_restores() -> None:
    out = transcript(
        b"DELE 1\r\nSTAT\r\nLIST\r\nUIDL 1\r\nLIST 1\r\nRETR 1\r\nDELE 1\r\nTOP 1 0\r\n"
        b"RSET\r\nSTAT\r\n"
    )
    assert out == (
        b"+OK Message 1 deleted\r\n"
        b"+OK 1 66\r\n"
        b"+OK 1 messages (66 octets)\r\n2 66\r\n.\r\n"
        + b"-ERR Message 1 already deleted\r\n"
        * 5
        + b"+OK Maildrop has 2 messages (111 octets)\r\n"
        b"+OK 2 111\r\n"
    )


@pytest.mark.parametrize(
    "command",
    [b"DELE 0", b"DELE 3", b"RETR 0", b"LIST 3", b"TOP 3 0", b"UIDL 0"],
)
def test_out_of_range(command: bytes) -> None:
    assert transcript(command + b"\r\n") == b"-ERR No such message\r\n"


@pytest.mark.parametrize(
    "command",
    [
        b"DELE",
        b"DELE -1",
        b"DELE +1",
        b"DELE 1 2",
        b"DELE x",
        b"RETR 12345678901",
        b"TOP 1",
        b"TOP 1 -1",
        b"TOP 1 2 3",
        b"LIST 1 2",
        b"STAT 1",
        b"NOOP x",
        b"RSET now",
    ],
)
def test_bad_arguments(command: bytes) -> None:
    assert transcript(command + b"\r\n") == b"-ERR Syntax error in arguments\r\n"


def test_commands_refused_in_wrong_state() -> None:
    c = Conn(make_factory())
    assert c.send(b"STAT\r\nRETR 1\r\nLAST\r\n") == (
        b"-ERR Command not valid in this state\r\n" * 2 + b"-ERR Unknown command\r\n"
    )
    c.login()
    assert c.send(b"USER alice\r\nPASS x\r\nAUTH PLAIN\r\nSTLS\r\nUTF8\r\n") == (
        b"-ERR Command not valid in this state\r\n" * 5
    )


def test_user_pass_wrong_password_then_right() -> None:
    c = Conn(make_factory())
    assert c.send(b"USER alice\r\nPASS nope\r\n") == (
        b"+OK Send PASS\r\n-ERR [AUTH] Authentication failed\r\n"
    )
    assert c.send(b"PASS secret\r\n") == b"-ERR Send USER first\r\n"
    assert c.send(b"USER bob\r\nPASS pw b\r\n") == (
        b"+OK Send PASS\r\n+OK Logged in, 0 messages (0 octets)\r\n"
    )


def test_too_many_auth_failures_close() -> None:
    c = Conn(make_factory(max_auth_failures=2))
    out = c.send(b"USER alice\r\nPASS a\r\nUSER alice\r\nPASS b\r\nNOOP\r\n")
    assert out == (
        b"+OK Send PASS\r\n-ERR [AUTH] Authentication failed\r\n+OK Send PASS\r\n"
        b"-ERR [AUTH] Too many authentication failures, closing\r\n"
    )
    assert c.closed


def test_too_many_bad_commands_close() -> None:
    c = Conn(make_factory(max_bad_commands=3))
    out = c.send(b"A\r\nB\r\nC\r\nD\r\n")
    assert out == b"-ERR Unknown command\r\n" * 2 + b"-ERR Too many bad commands, closing\r\n"
    assert c.closed


def test_auth_list_plain_login_cancel() -> None:
    c = Conn(make_factory())
    plain = base64.b64encode(b"\0alice\0secret")
    assert c.send(b"AUTH\r\n") == b"+OK Methods supported\r\nPLAIN\r\nLOGIN\r\n.\r\n"
    assert c.send(b"AUTH PLAIN\r\n") == b"+ \r\n"
    assert c.send(b"*\r\n") == b"-ERR Authentication cancelled\r\n"
    assert c.send(b"AUTH CRAM-MD5\r\n") == b"-ERR Unsupported authentication mechanism\r\n"
    assert c.send(b"AUTH PLAIN %%%\r\n") == b"-ERR Invalid base64 data\r\n"
    assert c.send(b"AUTH LOGIN\r\n") == b"+ VXNlcm5hbWU6\r\n"
    assert c.send(b"not base64!\r\n") == b"-ERR Invalid base64 data\r\n"
    c = Conn(make_factory())
    assert c.send(b"auth login " + base64.b64encode(b"alice") + b"\r\n") == b"+ UGFzc3dvcmQ6\r\n"
    assert c.send(base64.b64encode(b"secret") + b"\r\n") == (
        b"+OK Logged in, 2 messages (111 octets)\r\n"
    )
    c = Conn(make_factory())
    assert c.send(b"AUTH PLAIN\r\n" + plain + b"\r\n") == (
        b"+ \r\n+OK Logged in, 2 messages (111 octets)\r\n"
    )
    c = Conn(make_factory())
    assert c.send(b"AUTH PLAIN " + plain + b"\r\n") == (
        b"+OK Logged in, 2 messages (111 octets)\r\n"
    )


def test_auth_plain_foreign_authzid_refused() -> None:
    c = Conn(make_factory())
    ir = base64.b64encode(b"bob\0alice\0secret")
    assert c.send(b"AUTH PLAIN " + ir + b"\r\n") == (
        b"-ERR [AUTH] Authorization identity not allowed\r\n"
    )


def test_plaintext_refused_without_tls() -> None:
    c = conn_with_tls(make_factory(policy="never", tls=object()))
    assert c.send(b"CAPA\r\n") == (
        b"+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
        b"EXPIRE NEVER\r\nAUTH-RESP-CODE\r\nSTLS\r\nUTF8 USER\r\nLANG\r\n"
        b"IMPLEMENTATION mailhost\r\n.\r\n"
    )
    refused = b"-ERR [AUTH] Plaintext authentication disallowed on non-secure connections\r\n"
    assert c.send(b"USER alice\r\n") == refused
    assert c.send(b"AUTH PLAIN\r\n") == refused
    assert c.send(b"AUTH\r\n") == b"+OK Methods supported\r\n.\r\n"


def test_stls_discards_pipelined_plaintext_and_changes_capa() -> None:
    class Provider:
        def options(self) -> str:
            return "tls-options"

    c = conn_with_tls(make_factory(policy="never", tls=Provider()))
    # RFC 2595 §4: "USER alice" sent before the handshake must not run inside TLS
    assert c.send(b"STLS\r\nUSER alice\r\nPASS secret\r\n") == (
        b"+OK Begin TLS negotiation now\r\n"
    )
    assert c.transport.tls_options == "tls-options"  # type: ignore[attr-defined]
    assert c.send(b"CAPA\r\n") == (
        b"+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
        b"EXPIRE NEVER\r\nAUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN LOGIN\r\nUTF8 USER\r\nLANG\r\n"
        b"IMPLEMENTATION mailhost\r\n.\r\n"
    )
    assert c.send(b"STLS\r\n") == b"-ERR STLS not available\r\n"
    assert c.login() == OK_LOGIN


def test_stls_not_offered_without_provider_or_on_implicit_tls() -> None:
    c = Conn(make_factory())
    assert c.send(b"STLS\r\n") == b"-ERR STLS not available\r\n"
    c = conn_with_tls(make_factory(policy="never", tls=object(), implicit_tls=True))
    assert c.send(b"STLS\r\n") == b"-ERR STLS not available\r\n"
    assert c.login() == OK_LOGIN  # secure from the start: plaintext allowed


def test_utf8_and_apop() -> None:
    c = Conn(make_factory())
    assert c.send(b"UTF8\r\nAPOP alice 0123456789abcdef0123456789abcdef\r\n") == (
        b"+OK UTF8 enabled\r\n-ERR APOP is not supported\r\n"
    )
    c = Conn(make_factory(utf8=False))
    assert c.send(b"UTF8\r\n") == b"-ERR Unknown command\r\n"


def test_quit_in_authorization() -> None:
    c = Conn(make_factory())
    assert c.send(b"QUIT\r\nNOOP\r\n") == b"+OK mail.example.test POP3 server signing off\r\n"
    assert c.closed


def test_quit_applies_deletions_and_seen() -> None:
    store = make_store(MSG1, MSG2, MSG1)
    c = Conn(make_factory(store))
    c.login()
    out = c.send(b"RETR 1\r\nTOP 2 0\r\nRETR 3\r\nDELE 3\r\nQUIT\r\n")
    assert out.endswith(b"+OK mail.example.test POP3 server signing off (2 messages left)\r\n")
    assert c.closed
    infos = store.account("alice").folder("INBOX").list_messages()
    assert [(i.uid, SEEN in i.flags) for i in infos] == [(1, True), (2, False)]
    # the lease is released: a new session may log in at once
    c2 = Conn(make_factory(store))
    assert c2.login() == b"+OK Send PASS\r\n+OK Logged in, 2 messages (111 octets)\r\n"


def test_quit_empty_maildrop() -> None:
    store = make_store(MSG1)
    c = Conn(make_factory(store))
    c.login()
    assert c.send(b"DELE 1\r\nQUIT\r\n") == (
        b"+OK Message 1 deleted\r\n"
        b"+OK mail.example.test POP3 server signing off (maildrop empty)\r\n"
    )


def test_disconnect_applies_no_deletion() -> None:
    store = make_store(MSG1, MSG2)
    c = Conn(make_factory(store))
    c.login()
    c.send(b"DELE 1\r\nRETR 2\r\n")
    c.proto.connectionLost(None)
    infos = store.account("alice").folder("INBOX").list_messages()
    assert [(i.uid, SEEN in i.flags) for i in infos] == [(1, False), (2, False)]
    c2 = Conn(make_factory(store))
    assert c2.login().endswith(b"+OK Logged in, 2 messages (111 octets)\r\n")


def test_in_use_second_login() -> None:
    store = make_store(MSG1, MSG2)
    factory = make_factory(store)
    first = Conn(factory)
    first.login()
    second = Conn(factory)
    assert second.login() == (
        b"+OK Send PASS\r\n-ERR [IN-USE] Maildrop is locked by another POP3 session\r\n"
    )
    assert not second.closed
    assert factory.per_user == {"alice": 1}
    first.send(b"QUIT\r\n")
    first.proto.connectionLost(None)
    assert second.login() == OK_LOGIN


def test_line_too_long_keeps_sync() -> None:
    c = Conn(make_factory(max_line_length=300))
    out = c.send(b"NOOP" + b"x" * 400 + b"\r\nCAPA\r\n")
    assert out.startswith(b"-ERR Line too long\r\n+OK Capability list follows\r\n")
    out2 = Conn(make_factory(max_line_length=300)).send(
        b"NOOP" + b"x" * 400 + b"\r\nCAPA\r\n", bytewise=True
    )
    assert out2 == out


def test_pipelined_burst_equals_bytewise() -> None:
    script = b"USER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nRETR 2\r\nDELE 1\r\nUIDL 2\r\nQUIT\r\n"
    outs = []
    for bytewise in (False, True):
        c = Conn(make_factory(uidl_format="uidonly"))
        outs.append(c.send(script, bytewise=bytewise))
    assert outs[0] == outs[1]
    assert outs[0] == (
        OK_LOGIN + b"+OK 2 111\r\n+OK 2 messages (111 octets)\r\n1 45\r\n2 66\r\n.\r\n"
        b"+OK 66 octets\r\n" + MSG2.replace(b"\n.", b"\n..") + b".\r\n"
        b"+OK Message 1 deleted\r\n+OK 2 2\r\n"
        b"+OK mail.example.test POP3 server signing off (1 messages left)\r\n"
    )


def test_revoked_credential_ends_session() -> None:
    store = make_store(MSG1)
    factory = make_factory(store)
    valid = [True]
    auth = factory.authenticator
    original = auth.login

    def login(user: str, secret: str, ctx: object) -> object:
        d = original(user, secret, ctx)  # type: ignore[arg-type]
        d.addCallback(lambda u: (setattr(u, "still_valid", lambda: valid[0]), u)[1])
        return d

    auth.login = login  # type: ignore[method-assign]
    c = Conn(factory)
    c.login()
    assert c.send(b"DELE 1\r\n") == b"+OK Message 1 deleted\r\n"
    valid[0] = False
    assert c.send(b"QUIT\r\n") == b"-ERR [AUTH] Credentials no longer valid, closing\r\n"
    assert c.closed
    c.proto.connectionLost(None)
    assert len(store.account("alice").folder("INBOX").list_messages()) == 1


def test_hostname_in_replies() -> None:
    assert HOST.encode() in Conn(make_factory()).greeting


class FailingAuthenticator:
    """Fails every login with the given error."""

    def __init__(self, error: Exception, mechanisms: list[str]) -> None:
        self.error = error
        self.offered = mechanisms

    def plaintext_allowed(self, ctx: object) -> bool:
        return True

    def mechanisms(self, ctx: object) -> list[str]:
        return self.offered

    def login(self, username: str, secret: str, ctx: object) -> object:
        from twisted.internet.defer import fail

        return fail(self.error)


@pytest.mark.parametrize(
    ("error", "reply"),
    [
        (TemporaryFailure("db down"), b"-ERR [SYS/TEMP] Temporary server failure, try again later"),
        (LoginDelayed("slow down"), b"-ERR [LOGIN-DELAY] Too many login attempts, try again later"),
    ],
)
def test_authenticator_failures_are_mapped(error: Exception, reply: bytes) -> None:
    factory = make_factory()
    factory.authenticator = FailingAuthenticator(error, ["PLAIN"])  # type: ignore[assignment]
    c = Conn(factory)
    # not credential failures: they do not count towards max_auth_failures
    for _ in range(5):
        assert c.login() == b"+OK Send PASS\r\n" + reply + b"\r\n"
    assert not c.closed


def test_unknown_mechanisms_are_not_offered() -> None:
    factory = make_factory()
    factory.authenticator = FailingAuthenticator(UnauthorizedLogin(), ["XOAUTH2", "plain"])  # type: ignore[assignment]
    c = Conn(factory)
    assert b"SASL PLAIN\r\n" in c.send(b"CAPA\r\n")
    assert c.send(b"AUTH XOAUTH2 abc=\r\n") == b"-ERR Unsupported authentication mechanism\r\n"


def test_lang() -> None:
    c = Conn(make_factory())
    assert c.send(b"LANG\r\nLANG *\r\nLANG EN\r\nLANG fr\r\n") == (
        b"+OK Language listing follows\r\nen English\r\n.\r\n+OK en English\r\n"
        b"+OK en English\r\n-ERR Unsupported language\r\n"
    )
    c.login()
    assert c.send(b"LANG en\r\n") == b"+OK en English\r\n"
