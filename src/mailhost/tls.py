"""Certificates and TLS contexts for STARTTLS/STLS and the implicit-TLS listeners.

One :class:`TLSProvider` serves every listener of the host.  Protocols ask it for
:meth:`TLSProvider.options` when a client sends STARTTLS/STLS; the implicit-TLS listeners
wrap their factory with :meth:`TLSProvider.wrap`.  Both read the provider's current
options at handshake time, so :meth:`TLSProvider.reload` (SIGHUP) changes the certificate
for new handshakes without dropping connections.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from twisted.internet import ssl
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator, IProtocolFactory
from twisted.protocols.tls import TLSMemoryBIOFactory
from zope.interface import implementer


class TLSError(Exception):
    """Certificate or key unusable."""


def make_self_signed(cert_path: Path, key_path: Path, hostname: str, days: int = 825) -> None:
    """Write a self-signed ECDSA certificate and key (key mode 0600) for ``hostname``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    sans: list[x509.GeneralName] = [x509.DNSName(hostname)]
    if hostname != "localhost":
        sans.append(x509.DNSName("localhost"))
    sans += [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def load_options(
    cert_path: Path, key_path: Path, min_version: str = "1.2"
) -> ssl.CertificateOptions:
    """CertificateOptions from a PEM chain (leaf first, then intermediates) and a PEM key."""
    try:
        chain_pem = cert_path.read_bytes()
        key_pem = key_path.read_bytes()
    except OSError as e:
        raise TLSError(f"cannot read {e.filename}: {e.strerror}") from None
    try:
        certs = x509.load_pem_x509_certificates(chain_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except ValueError as e:
        raise TLSError(f"cannot load certificate or key: {e}") from None
    leaf, *extra = certs
    if leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise TLSError(f"{key_path} does not match the certificate in {cert_path}")
    from OpenSSL import crypto

    return ssl.CertificateOptions(
        privateKey=crypto.PKey.from_cryptography_key(key),  # type: ignore[arg-type]
        certificate=crypto.X509.from_cryptography(leaf),
        extraCertChain=[crypto.X509.from_cryptography(c) for c in extra],
        raiseMinimumTo=ssl.TLSVersion.TLSv1_3 if min_version == "1.3" else ssl.TLSVersion.TLSv1_2,
    )


@implementer(IOpenSSLServerConnectionCreator)
class TLSProvider:
    """The host's current server TLS settings; reloadable."""

    def __init__(self, cert_path: Path, key_path: Path, min_version: str = "1.2") -> None:
        self.cert_path = cert_path
        self.key_path = key_path
        self.min_version = min_version
        self._options = load_options(cert_path, key_path, min_version)

    @classmethod
    def from_config(cls, tls_config: object, hostname: str) -> TLSProvider:
        cert: Path = tls_config.certificate  # type: ignore[attr-defined]
        key: Path = tls_config.private_key  # type: ignore[attr-defined]
        if tls_config.self_signed and not (cert.exists() and key.exists()):  # type: ignore[attr-defined]
            make_self_signed(cert, key, hostname)
        return cls(cert, key, tls_config.min_version)  # type: ignore[attr-defined]

    def reload(self) -> None:
        """Read the files again; on failure keep the old certificate and raise TLSError."""
        self._options = load_options(self.cert_path, self.key_path, self.min_version)

    def options(self) -> TLSProvider:
        """What to pass to ``transport.startTLS`` (this object, which follows reloads)."""
        return self

    def serverConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:
        return self._options.serverConnectionForTLS(tlsProtocol)  # type: ignore[no-any-return]

    def wrap(self, factory: IProtocolFactory) -> TLSMemoryBIOFactory:
        """A factory that speaks TLS from the first byte (implicit TLS, RFC 8314)."""
        return TLSMemoryBIOFactory(self, False, factory)
