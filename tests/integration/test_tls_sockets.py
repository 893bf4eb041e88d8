"""Transport security over real sockets: plaintext policy, STARTTLS/STLS, TLS versions, reload.

Clients: ``imaplib``, ``poplib``, raw sockets (for pipelining tricks), ``openssl s_client``
and ``curl``.  The host refuses passwords in the clear (``plaintext_auth="never"``), as a
production host does.
"""

from __future__ import annotations

import imaplib
import poplib
import shutil
import socket
import ssl
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration_support import (
    FETCHMAIL,
    GETMAIL,
    MPOP,
    REAL_MAIL,
    USERS,
    as_getmail_delivers,
    delivered_by_mda,
    delivered_by_mpop,
    fetchmail,
    getmail,
    message,
    mpop,
)
from integration_support import LineClient as Raw

from mailhost.reactor_thread import reactor_thread
from mailhost.testing import MailHost
from mailhost.tls import make_self_signed

TIMEOUT = 10.0
ALICE = USERS["alice"]
OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")


@pytest.fixture
def host(tmp_path: Path) -> Iterator[MailHost]:
    with MailHost(tmp_path / "host", users=USERS, plaintext_auth="never") as h:
        yield h


def peer_certificate(port: int, context: ssl.SSLContext) -> bytes:
    """The DER certificate an implicit-TLS port presents now."""
    plain = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    with context.wrap_socket(plain, server_hostname="localhost") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def pem_to_der(path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text())


# -- plaintext policy ------------------------------------------------------------------


def test_imap_hides_passwords_until_starttls(host: MailHost) -> None:
    raw = Raw(host.imap_port)
    assert raw.line().startswith(b"* OK")
    raw.send(b"a CAPABILITY\r\n")
    (caps_line,), done = raw.tagged(b"a")
    caps = caps_line.split()
    assert done.startswith(b"OK")
    assert b"STARTTLS" in caps and b"LOGINDISABLED" in caps
    assert not [c for c in caps if c.startswith(b"AUTH=")]
    raw.send(b"b LOGIN alice " + ALICE.encode() + b"\r\n")
    assert raw.tagged(b"b")[1].startswith(b"NO [PRIVACYREQUIRED]")
    raw.send(b"c AUTHENTICATE PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA==\r\n")
    assert raw.tagged(b"c")[1].startswith(b"NO")
    raw.close()

    imap = imaplib.IMAP4(host.host, host.imap_port, timeout=TIMEOUT)
    with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
        imap.login("alice", ALICE)
    imap.shutdown()

    imap = imaplib.IMAP4(host.host, host.imap_port, timeout=TIMEOUT)
    assert imap.starttls(ssl_context=host.ssl_context())[0] == "OK"
    assert "LOGINDISABLED" not in imap.capabilities
    assert "STARTTLS" not in imap.capabilities
    assert "AUTH=PLAIN" in imap.capabilities
    assert imap.login("alice", ALICE)[0] == "OK"
    assert imap.select("INBOX")[0] == "OK"
    imap.logout()


def test_pop3_hides_passwords_until_stls(host: MailHost) -> None:
    pop = poplib.POP3(host.host, host.pop3_port, timeout=TIMEOUT)
    caps = pop.capa()
    assert "STLS" in caps and "USER" not in caps
    assert "PLAIN" not in caps.get("SASL", [])
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        pop.user("alice")
    assert pop.stls(context=host.ssl_context()).startswith(b"+OK")
    caps = pop.capa()
    assert "STLS" not in caps and "USER" in caps
    assert "PLAIN" in caps["SASL"]
    pop.user("alice")
    assert pop.pass_(ALICE).startswith(b"+OK")
    pop.quit()

    raw = Raw(host.pop3_port)  # AUTH PLAIN is refused in the clear too
    raw.line()
    raw.send(b"AUTH\r\n")  # the old-style mechanism list (RFC 1734) is empty in the clear
    assert raw.line().startswith(b"+OK")
    assert raw.line() == b"."
    raw.send(b"AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA==\r\n")
    assert raw.line().startswith(b"-ERR [AUTH]")
    raw.send(b"STLS\r\n")
    assert raw.line().startswith(b"+OK")
    raw.start_tls(host.ssl_context())
    raw.send(b"AUTH\r\n")
    assert raw.line().startswith(b"+OK")
    assert raw.line() == b"PLAIN" and raw.line() == b"LOGIN" and raw.line() == b"."
    raw.send(b"AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA==\r\n")
    assert raw.line().startswith(b"+OK")
    raw.close()


def test_implicit_tls_ports_accept_logins(host: MailHost) -> None:
    host.deliver("alice", message(1))
    ctx = host.ssl_context()
    imap = imaplib.IMAP4_SSL(host.host, host.imaps_port, ssl_context=ctx, timeout=TIMEOUT)
    assert "AUTH=PLAIN" in imap.capabilities and "STARTTLS" not in imap.capabilities
    assert imap.login("alice", ALICE)[0] == "OK"
    assert imap.select("INBOX") == ("OK", [b"1"])
    imap.logout()
    pop = poplib.POP3_SSL(host.host, host.pop3s_port, context=host.ssl_context(), timeout=TIMEOUT)
    assert "STLS" not in pop.capa()
    pop.user("alice")
    pop.pass_(ALICE)
    assert pop.stat()[0] == 1
    pop.quit()


# -- STARTTLS/STLS command injection (RFC 3501 §6.2.1, RFC 2595 §4, CVE-2011-0411) ------


def test_imap_starttls_drops_pipelined_plaintext(host: MailHost) -> None:
    raw = Raw(host.imap_port)
    raw.line()
    raw.send(b"a STARTTLS\r\nb CAPABILITY\r\n")  # one packet
    assert raw.tagged(b"a") == ([], b"OK Begin TLS negotiation now")
    raw.start_tls(host.ssl_context())
    raw.send(b"c CAPABILITY\r\nd LOGIN alice " + ALICE.encode() + b"\r\ne NOOP\r\n")
    # an answer to the injected "b" would come before the answer to "c"
    untagged, done = raw.tagged(b"e")
    lines = [*untagged, b"e " + done]
    raw.close()
    assert not [line for line in lines if line.startswith(b"b ")]
    assert [line[:12] for line in lines if line.startswith(b"* CAPABILITY")] == [b"* CAPABILITY"]
    assert [line.split(b" ", 2)[:2] for line in lines if line[:2] in (b"c ", b"d ", b"e ")] == [
        [b"c", b"OK"],
        [b"d", b"OK"],
        [b"e", b"OK"],
    ]


def test_starttls_refused_where_it_does_not_apply(tmp_path: Path) -> None:
    """Not on TLS already, not twice, not after login (RFC 3501 §6.2.1, RFC 2595 §4)."""
    with MailHost(tmp_path / "h", users=USERS, plaintext_auth="always") as host:
        ctx = host.ssl_context()
        raw = Raw(host.imaps_port)
        raw.start_tls(ctx)
        raw.line()
        raw.send(b"a STARTTLS\r\nb NOOP\r\n")
        assert raw.tagged(b"a")[1].startswith(b"BAD")
        assert raw.tagged(b"b")[1].startswith(b"OK")
        raw.close()

        raw = Raw(host.imap_port)
        raw.line()
        raw.send(b"a STARTTLS\r\n")
        raw.tagged(b"a")
        raw.start_tls(ctx)
        raw.send(b"b STARTTLS\r\nc NOOP\r\n")
        assert raw.tagged(b"b")[1].startswith(b"BAD")
        assert raw.tagged(b"c")[1].startswith(b"OK")
        raw.close()

        raw = Raw(host.imap_port)
        raw.line()
        raw.send(b"a LOGIN alice " + ALICE.encode() + b"\r\nb STARTTLS\r\nc NOOP\r\n")
        assert raw.tagged(b"a")[1].startswith(b"OK")
        assert raw.tagged(b"b")[1].startswith(b"BAD")
        assert raw.tagged(b"c")[1].startswith(b"OK")
        raw.close()

        raw = Raw(host.pop3s_port)
        raw.start_tls(ctx)
        raw.line()
        raw.send(b"STLS\r\n")
        assert raw.line().startswith(b"-ERR")
        raw.close()

        raw = Raw(host.pop3_port)
        raw.line()
        raw.send(b"USER alice\r\nPASS " + ALICE.encode() + b"\r\nSTLS\r\nSTAT\r\n")
        assert raw.line().startswith(b"+OK")
        assert raw.line().startswith(b"+OK")
        assert raw.line().startswith(b"-ERR")
        assert raw.line().startswith(b"+OK 0 0")
        raw.close()


@pytest.mark.parametrize("implicit", [True, False], ids=["imaps", "starttls"])
def test_imap_logout_closes_tls_connection(host: MailHost, implicit: bool) -> None:
    if implicit:
        raw = Raw(host.imaps_port)
        raw.start_tls(host.ssl_context())
        raw.line()
    else:
        raw = Raw(host.imap_port)
        raw.line()
        raw.send(b"a STARTTLS\r\n")
        raw.tagged(b"a")
        raw.start_tls(host.ssl_context())
    raw.send(b"z LOGOUT\r\n")
    raw.sock.settimeout(3.0)
    assert raw.until_closed() == b"* BYE Logging out\r\nz OK LOGOUT completed\r\n"
    raw.close()


def test_pop3_stls_drops_pipelined_plaintext(host: MailHost) -> None:
    raw = Raw(host.pop3_port)
    raw.line()
    raw.send(b"STLS\r\nCAPA\r\n")  # one packet
    assert raw.line() == b"+OK Begin TLS negotiation now"
    raw.start_tls(host.ssl_context())
    raw.send(b"CAPA\r\nUSER alice\r\nPASS " + ALICE.encode() + b"\r\nSTAT\r\nQUIT\r\n")
    lines = raw.until_closed().split(b"\r\n")
    raw.close()
    assert lines.count(b".") == 1, lines  # one CAPA answer: ours, after the handshake
    replies = [line for line in lines if line.startswith((b"+OK", b"-ERR"))]
    assert len(replies) == 5 and all(r.startswith(b"+OK") for r in replies), lines
    assert replies[3] == b"+OK 0 0"


# -- openssl s_client ------------------------------------------------------------------


def s_client(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Handshake, check and hang up (standard input is empty)."""
    return subprocess.run(
        [OPENSSL or "openssl", "s_client", "-crlf", *args],
        input=b"",
        capture_output=True,
        timeout=20,
    )


def verified(host: MailHost, port: int, *extra: str) -> list[str]:
    return [
        "-connect",
        f"127.0.0.1:{port}",
        "-CAfile",
        str(host.certificate),
        "-verify_return_error",
        "-verify_hostname",
        "localhost",
        "-servername",
        "localhost",
        *extra,
    ]


@needs_openssl
@pytest.mark.parametrize("kind", ["imap", "pop3", "imaps", "pop3s"])
def test_openssl_handshake_verifies(host: MailHost, kind: str) -> None:
    """``-starttls imap|pop3`` on the plain ports, implicit TLS on the others."""
    port = getattr(host, f"{kind}_port")
    starttls = [] if kind.endswith("s") else ["-starttls", kind]
    done = s_client(*verified(host, port, *starttls))
    assert done.returncode == 0, done.stderr.decode()
    assert b"Verify return code: 0 (ok)" in done.stdout
    assert b"Verification: OK" in done.stdout or b"verify return:1" in done.stderr


@needs_openssl
def test_openssl_refuses_wrong_name_and_wrong_ca(host: MailHost, tmp_path: Path) -> None:
    """The checks above can fail: another CA or another name is refused."""
    other_cert, other_key = tmp_path / "other.pem", tmp_path / "other.key"
    make_self_signed(other_cert, other_key, "localhost")
    args = verified(host, host.imaps_port)
    args[args.index("-CAfile") + 1] = str(other_cert)
    assert s_client(*args).returncode != 0
    args = verified(host, host.imaps_port)
    args[args.index("-verify_hostname") + 1] = "mail.example.org"
    assert s_client(*args).returncode != 0


@needs_openssl
@pytest.mark.parametrize("kind", ["imaps", "pop3s", "imap", "pop3"])
def test_tls_1_1_refused_1_2_and_1_3_accepted(host: MailHost, kind: str) -> None:
    port = getattr(host, f"{kind}_port")
    starttls = [] if kind.endswith("s") else ["-starttls", kind]
    # SECLEVEL=0 lets this client offer TLS 1.1 at all: the refusal must be the server's
    old = s_client(
        *verified(host, port, *starttls, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"),
    )
    assert old.returncode != 0
    err = old.stderr.decode()
    assert "no protocols available" not in err, err
    assert "alert protocol version" in err or "unsupported protocol" in err, err
    for version in ("1.2", "1.3"):
        done = s_client(*verified(host, port, *starttls, "-tls" + version.replace(".", "_")))
        assert done.returncode == 0, done.stderr.decode()
        assert f"New, TLSv{version},".encode() in done.stdout, done.stdout.decode()


@needs_openssl
def test_tls_1_2_without_forward_secrecy_refused(host: MailHost) -> None:
    static_rsa_or_cbc = s_client(
        *verified(host, host.imaps_port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:AES128-SHA")
    )
    assert static_rsa_or_cbc.returncode != 0
    assert "handshake failure" in static_rsa_or_cbc.stderr.decode()
    aead = s_client(
        *verified(host, host.imaps_port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    )
    assert aead.returncode == 0, aead.stderr.decode()


def test_implicit_tls_port_does_not_answer_plaintext(host: MailHost) -> None:
    raw = Raw(host.imaps_port)
    raw.sock.settimeout(2.0)
    raw.send(b"a CAPABILITY\r\n")
    try:
        data = raw.until_closed()
    except TimeoutError:
        data = b""
    raw.close()
    assert b"CAPABILITY" not in data and b"* OK" not in data


# -- curl ------------------------------------------------------------------------------


def curl(*args: str, password: str = ALICE) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [CURL or "curl", "-sS", "--max-time", "20", "-u", f"alice:{password}", *args],
        capture_output=True,
        timeout=30,
    )


@needs_curl
def test_curl_needs_tls_to_log_in(host: MailHost) -> None:
    host.deliver("alice", message(1))
    imap_url = f"imap://127.0.0.1:{host.imap_port}/INBOX;UID=1"
    pop_url = f"pop3://127.0.0.1:{host.pop3_port}/1"
    tls = ["--ssl-reqd", "--cacert", str(host.certificate)]
    # in the clear the password is never accepted (curl: 67 login denied)
    assert curl("--url", imap_url).returncode == 67
    assert curl("--url", pop_url).returncode == 67
    for url in (imap_url, pop_url):
        ok = curl(*tls, "--url", url)
        assert ok.returncode == 0, ok.stderr.decode()
        assert ok.stdout == message(1)
        assert curl(*tls, "--url", url, password="wrong").returncode == 67
    # without the host's certificate the handshake is not trusted (60: peer certificate)
    assert curl("--ssl-reqd", "--url", imap_url).returncode == 60


# -- certificate reload ----------------------------------------------------------------


def test_certificate_reload_keeps_open_sessions(host: MailHost, tmp_path: Path) -> None:
    host.deliver("alice", message(1))
    old_der = pem_to_der(host.certificate)
    old_context = host.ssl_context()
    assert peer_certificate(host.imaps_port, old_context) == old_der
    imap = imaplib.IMAP4_SSL(host.host, host.imaps_port, ssl_context=old_context, timeout=TIMEOUT)
    imap.login("alice", ALICE)
    imap.select("INBOX")
    pop = poplib.POP3(host.host, host.pop3_port, timeout=TIMEOUT)
    pop.stls(context=old_context)
    pop.user("alice")
    pop.pass_(ALICE)

    make_self_signed(host.certificate, host.config.tls.private_key, "localhost")
    new_der = pem_to_der(host.certificate)
    assert new_der != old_der
    assert host.service is not None
    reactor_thread().call(host.service.tls.reload)

    new_context = host.ssl_context()  # trusts the new file only
    assert peer_certificate(host.imaps_port, new_context) == new_der
    assert peer_certificate(host.pop3s_port, new_context) == new_der
    with pytest.raises(ssl.SSLCertVerificationError):
        peer_certificate(host.imaps_port, old_context)
    starttls = imaplib.IMAP4(host.host, host.imap_port, timeout=TIMEOUT)
    starttls.starttls(ssl_context=new_context)
    assert isinstance(starttls.sock, ssl.SSLSocket)
    assert starttls.sock.getpeercert(binary_form=True) == new_der
    starttls.logout()

    # the sessions opened before the reload go on with the old certificate
    assert isinstance(imap.sock, ssl.SSLSocket)
    assert imap.sock.getpeercert(binary_form=True) == old_der
    typ, data = imap.fetch("1", "(BODY.PEEK[])")
    assert typ == "OK" and data[0][1] == message(1)  # type: ignore[index]
    imap.logout()
    assert pop.stat()[0] == 1
    pop.quit()


def test_broken_certificate_reload_keeps_the_old_one(host: MailHost) -> None:
    from mailhost.tls import TLSError

    old_der = pem_to_der(host.certificate)
    good = host.certificate.read_bytes()
    host.certificate.write_bytes(b"not a certificate\n")
    assert host.service is not None
    with pytest.raises(TLSError):
        reactor_thread().call(host.service.tls.reload)
    host.certificate.write_bytes(good)
    assert peer_certificate(host.imaps_port, host.ssl_context()) == old_der


# -- fetchmail ---------------------------------------------------------------------------


@pytest.mark.skipif(FETCHMAIL is None, reason="fetchmail is not installed")
@pytest.mark.parametrize("protocol", ["pop3", "imap"])
@pytest.mark.parametrize("implicit", [False, True], ids=["upgrade", "implicit"])
def test_fetchmail_checks_the_certificate(
    host: MailHost, tmp_path: Path, protocol: str, implicit: bool
) -> None:
    """fetchmail with its certificate check on, where plaintext logins are refused: STLS
    (RFC 2595 §4) or STARTTLS (RFC 3501 §6.2.1), and POP3S or IMAPS (RFC 8314)."""
    host.deliver("alice", REAL_MAIL)
    trust = f"sslcertck sslcertfile {host.certificate} sslcommonname localhost"
    if implicit:
        port = host.pop3s_port if protocol == "pop3" else host.imaps_port
        result = fetchmail(
            host, tmp_path, "--keep", protocol=protocol, port=port, tls=f"ssl {trust}"
        )
    else:
        result = fetchmail(
            host, tmp_path, "--keep", "-v", protocol=protocol, tls=f"sslproto TLS1.2+ {trust}"
        )
        upgrade = "STLS" if protocol == "pop3" else "STARTTLS"
        assert upgrade in result.stdout, result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    assert delivered_by_mda(tmp_path) == [REAL_MAIL.replace(b"\r\n", b"\n")]


@pytest.mark.skipif(GETMAIL is None, reason="getmail is not installed")
@pytest.mark.parametrize("retriever", ["SimplePOP3SSLRetriever", "SimpleIMAPSSLRetriever"])
def test_getmail_checks_the_certificate(host: MailHost, tmp_path: Path, retriever: str) -> None:
    """getmail over POP3S and IMAPS (RFC 8314) with the host's certificate as its only
    trusted one and the name checked; another certificate makes it fail to connect."""
    host.deliver("alice", message(1))
    port = host.pop3s_port if "POP3" in retriever else host.imaps_port
    trust = (f"ca_certs = {host.certificate}", "ssl_cert_hostname = localhost")
    if "IMAP" in retriever:
        trust += ('mailboxes = ("INBOX",)',)
    other_cert, other_key = tmp_path / "other.pem", tmp_path / "other.key"
    make_self_signed(other_cert, other_key, "localhost")
    refused = getmail(tmp_path, retriever, port, f"ca_certs = {other_cert}", *trust[1:])
    assert refused.returncode != 0, refused.stdout
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stdout + refused.stderr
    assert delivered_by_mda(tmp_path) == []

    result = getmail(tmp_path, retriever, port, *trust)
    assert result.returncode == 0, result.stdout + result.stderr
    assert delivered_by_mda(tmp_path) == [as_getmail_delivers(message(1))]


@pytest.mark.skipif(MPOP is None, reason="mpop is not installed")
@pytest.mark.parametrize("implicit", [False, True], ids=["stls", "implicit"])
def test_mpop_checks_the_certificate(host: MailHost, tmp_path: Path, implicit: bool) -> None:
    """mpop with STLS (RFC 2595) or POP3S (RFC 8314), SASL PLAIN (RFC 5034) and the
    host's certificate as its only trusted one; another certificate is refused."""
    host.deliver("alice", message(1))
    port = host.pop3s_port if implicit else host.pop3_port
    tls = ("tls on", f"tls_starttls {'off' if implicit else 'on'}", "tls_host_override localhost")
    other_cert, other_key = tmp_path / "other.pem", tmp_path / "other.key"
    make_self_signed(other_cert, other_key, "localhost")
    refused = mpop(tmp_path, port, *tls, f"tls_trust_file {other_cert}", "auth plain")
    assert refused.returncode != 0, refused.stdout
    assert delivered_by_mpop(tmp_path) == []

    result = mpop(tmp_path, port, *tls, f"tls_trust_file {host.certificate}", "auth plain")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("--> STLS" in result.stdout) is not implicit
    assert "--> AUTH PLAIN" in result.stdout
    assert delivered_by_mpop(tmp_path) == [message(1).replace(b"\r\n", b"\n")]


# -- COMPRESS=DEFLATE (RFC 4978) inside TLS ------------------------------------------------


def test_compress_inside_implicit_tls(host: MailHost) -> None:
    """A large FETCH (streamed in chunks, each deflated) and an IDLE wake-up, through TLS
    then DEFLATE, as a phone on a metered link uses them."""
    body = b"".join(b"line %07d of a long message body\r\n" % n for n in range(40_000))
    big = message(1, "") + body
    host.deliver("alice", big)
    tls = host.ssl_context().wrap_socket(
        socket.create_connection((host.host, host.imaps_port), timeout=TIMEOUT),
        server_hostname="localhost",
    )
    buf = b""

    def until(marker: bytes, inflate: Any = None) -> bytes:
        nonlocal buf
        while marker not in buf:
            chunk = tls.recv(65536)
            assert chunk, buf[-200:]
            buf += inflate.decompress(chunk) if inflate else chunk
        out, buf = buf, b""
        return out

    until(b"\r\n")
    tls.sendall(b"a LOGIN alice " + ALICE.encode() + b"\r\nb COMPRESS DEFLATE\r\n")
    assert until(b"b OK").endswith(b"b OK DEFLATE active\r\n")
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    inflate = zlib.decompressobj(-15)

    def send(line: bytes) -> None:
        tls.sendall(deflate.compress(line + b"\r\n") + deflate.flush(zlib.Z_SYNC_FLUSH))

    send(b"c SELECT INBOX")
    assert b"c OK [READ-WRITE]" in until(b"c OK", inflate)
    raw_total = 0
    send(b"d FETCH 1 (BODY.PEEK[])")
    while b"d OK FETCH completed\r\n" not in buf:
        chunk = tls.recv(65536)
        assert chunk
        raw_total += len(chunk)
        buf += inflate.decompress(chunk)
    fetched, buf = buf, b""
    assert fetched.startswith(b"* 1 FETCH (BODY[] {%d}\r\n" % len(big))
    assert big in fetched
    assert raw_total < len(big) // 4, raw_total  # repetitive text: deflate pays
    send(b"e IDLE")
    until(b"+ ", inflate)
    host.deliver("alice", message(2))
    assert b"* 2 EXISTS" in until(b"EXISTS", inflate)
    send(b"DONE")
    until(b"e OK", inflate)
    send(b"f LOGOUT")
    assert b"* BYE" in until(b"f OK", inflate)
    tls.close()
