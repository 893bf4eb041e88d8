"""TLSProvider over real loopback sockets: chains, SNI, reload, versions and ciphers."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tlskit import intermediate, leaf, root_ca, write
from twisted.internet.protocol import Factory, Protocol

from mailhost.tls import TLSError, TLSExtraConfig, TLSProvider, install_sighup_reload


class Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


def echo_factory() -> Factory:
    return Factory.forProtocol(Echo)


def client_context(ca_pem: bytes | None = None) -> ssl.SSLContext:
    if ca_pem is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    return ssl.create_default_context(cadata=ca_pem.decode())


def handshake(
    port: int, ctx: ssl.SSLContext, server_name: str | None = "mail.test"
) -> tuple[x509.Certificate, str]:
    """Connect, echo a line, return the served leaf certificate and the TLS version."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        tls.sendall(b"ping\n")
        assert tls.recv(16) == b"ping\n"
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der), str(tls.version())


def common_name(cert: x509.Certificate) -> str:
    return str(cert.subject.rfc4514_string())


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, object]:
    root = root_ca()
    inter = intermediate(root)
    cert, key = write(tmp_path, "mail", leaf(inter, "mail.test", "127.0.0.1"), (inter,))
    return {"root": root, "inter": inter, "cert": cert, "key": key, "dir": tmp_path}


def test_self_signed_certificate_is_served(
    listen: Callable[..., int], tls_files: tuple[Path, Path]
) -> None:
    provider = TLSProvider(*tls_files)
    port = listen(provider.wrap(echo_factory()))
    cert, version = handshake(port, client_context(tls_files[0].read_bytes()), "localhost")
    assert common_name(cert) == "CN=localhost"
    assert version in ("TLSv1.2", "TLSv1.3")


def test_chain_with_intermediate_is_served(listen: Callable[..., int], pki: dict) -> None:  # type: ignore[type-arg]
    provider = TLSProvider(pki["cert"], pki["key"])
    port = listen(provider.wrap(echo_factory()))
    # the client trusts only the root: verification needs the intermediate from the server
    cert, _ = handshake(port, client_context(pki["root"].pem))
    assert common_name(cert) == "CN=mail.test"


def test_leaf_without_intermediate_fails_verification(
    listen: Callable[..., int],
    pki: dict,  # type: ignore[type-arg]
) -> None:
    bare_cert, bare_key = write(pki["dir"], "bare", leaf(pki["inter"], "mail.test"))
    provider = TLSProvider(bare_cert, bare_key)
    port = listen(provider.wrap(echo_factory()))
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(port, client_context(pki["root"].pem))


def test_sni_picks_the_certificate(listen: Callable[..., int], pki: dict) -> None:  # type: ignore[type-arg]
    other = leaf(pki["inter"], "mail.example.org")
    wild = leaf(pki["inter"], "*.example.net")
    o_cert, o_key = write(pki["dir"], "other", other, (pki["inter"],))
    w_cert, w_key = write(pki["dir"], "wild", wild, (pki["inter"],))
    provider = TLSProvider(
        pki["cert"],
        pki["key"],
        sni={"Mail.Example.org": (o_cert, o_key), "*.example.net": (w_cert, w_key)},
    )
    port = listen(provider.wrap(echo_factory()))
    ctx = client_context(pki["root"].pem)
    assert common_name(handshake(port, ctx, "mail.example.org")[0]) == "CN=mail.example.org"
    assert common_name(handshake(port, ctx, "imap.example.net")[0]) == "CN=*.example.net"
    assert common_name(handshake(port, ctx, "mail.test")[0]) == "CN=mail.test"
    # no SNI at all, and an unknown name: the default certificate
    assert common_name(handshake(port, client_context(), None)[0]) == "CN=mail.test"
    assert common_name(handshake(port, client_context(), "unknown.test")[0]) == "CN=mail.test"


def test_reload_serves_the_new_certificate_without_dropping_connections(
    listen: Callable[..., int],
    pki: dict,  # type: ignore[type-arg]
) -> None:
    provider = TLSProvider(pki["cert"], pki["key"])
    port = listen(provider.wrap(echo_factory()))
    ctx = client_context(pki["root"].pem)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="mail.test") as live,
    ):
        first = live.getpeercert(binary_form=True)
        renewed = leaf(pki["inter"], "mail.test", "renewed.test")
        write(pki["dir"], "mail", renewed, (pki["inter"],))
        provider.reload()
        live.sendall(b"still here\n")
        assert live.recv(32) == b"still here\n"
    cert, _ = handshake(port, ctx)
    assert cert.public_bytes(serialization.Encoding.DER) != first
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "renewed.test" in names.get_values_for_type(x509.DNSName)


def test_failed_reload_keeps_the_old_certificate(
    listen: Callable[..., int],
    pki: dict,  # type: ignore[type-arg]
) -> None:
    provider = TLSProvider(pki["cert"], pki["key"])
    port = listen(provider.wrap(echo_factory()))
    pki["key"].write_bytes(b"not a key")
    with pytest.raises(TLSError):
        provider.reload()
    assert common_name(handshake(port, client_context(pki["root"].pem))[0]) == "CN=mail.test"


def test_sighup_reloads(listen: Callable[..., int], pki: dict, reactor) -> None:  # type: ignore[no-untyped-def, type-arg]
    provider = TLSProvider(pki["cert"], pki["key"])
    port = listen(provider.wrap(echo_factory()))
    ctx = client_context(pki["root"].pem)
    uninstall = install_sighup_reload(provider, reactor.reactor)
    try:
        write(
            pki["dir"], "mail", leaf(pki["inter"], "mail.test", "after-hup.test"), (pki["inter"],)
        )
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 5
        while True:
            cert, _ = handshake(port, ctx)
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            if "after-hup.test" in sans.get_values_for_type(x509.DNSName):
                break
            assert time.monotonic() < deadline, "SIGHUP did not reload the certificate"
            time.sleep(0.05)
    finally:
        uninstall()
    assert signal.getsignal(signal.SIGHUP) is not None


def _old_client(max_version: ssl.TLSVersion, ciphers: str | None = None) -> ssl.SSLContext:
    ctx = client_context()
    ctx.set_ciphers((ciphers or "DEFAULT") + ":@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.maximum_version = max_version
    return ctx


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated")
def test_tls_1_1_refused_1_2_accepted(listen: Callable[..., int], pki: dict) -> None:  # type: ignore[type-arg]
    port = listen(TLSProvider(pki["cert"], pki["key"]).wrap(echo_factory()))
    assert handshake(port, _old_client(ssl.TLSVersion.TLSv1_2))[1] == "TLSv1.2"
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake(port, _old_client(ssl.TLSVersion.TLSv1_1))


def test_minimum_1_3_refuses_1_2(listen: Callable[..., int], pki: dict) -> None:  # type: ignore[type-arg]
    port = listen(TLSProvider(pki["cert"], pki["key"], "1.3").wrap(echo_factory()))
    assert handshake(port, client_context())[1] == "TLSv1.3"
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake(port, _old_client(ssl.TLSVersion.TLSv1_2))


def test_cbc_suites_refused_on_tls_1_2(listen: Callable[..., int], pki: dict) -> None:  # type: ignore[type-arg]
    port = listen(TLSProvider(pki["cert"], pki["key"]).wrap(echo_factory()))
    ok = _old_client(ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert handshake(port, ok)[1] == "TLSv1.2"
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake(port, _old_client(ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-SHA"))


def test_from_config_reads_sni_and_ciphers(pki: dict) -> None:  # type: ignore[type-arg]
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Section(TLSExtraConfig):
        certificate: Path = pki["cert"]
        private_key: Path = pki["key"]
        self_signed: bool = False
        min_version: str = "1.2"

    o_cert, o_key = write(pki["dir"], "o", leaf(pki["inter"], "o.test"), (pki["inter"],))
    provider = TLSProvider.from_config(Section(sni={"o.test": (o_cert, o_key)}), "mail.test")
    assert provider.sni == {"o.test": (o_cert, o_key)}
    with pytest.raises(TLSError):
        TLSProvider.from_config(Section(sni={"o.test": (o_cert,)}), "mail.test")
    with pytest.raises(TLSError):
        TLSProvider.from_config(Section(ciphers="NO-SUCH-CIPHER"), "mail.test")


def test_mismatched_key_and_missing_files(pki: dict) -> None:  # type: ignore[type-arg]
    _, other_key = write(pki["dir"], "x", leaf(pki["inter"], "x.test"))
    with pytest.raises(TLSError, match="does not match"):
        TLSProvider(pki["cert"], other_key)
    with pytest.raises(TLSError, match="cannot read"):
        TLSProvider(pki["dir"] / "missing.pem", other_key)
