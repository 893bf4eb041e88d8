"""Certificates and TLS contexts for STARTTLS/STLS and the implicit-TLS listeners.

One :class:`TLSProvider` serves every listener of the host.  Protocols ask it for
:meth:`TLSProvider.options` when a client sends STARTTLS/STLS; the implicit-TLS listeners
wrap their factory with :meth:`TLSProvider.wrap`.  Both read the provider's current
options at handshake time, so :meth:`TLSProvider.reload` (SIGHUP, see
:func:`install_sighup_reload`) changes the certificate for new handshakes without dropping
connections.  Further certificates are chosen by the client's server name (SNI, RFC 6066
§3); clients without SNI, or naming an unknown host, get the default certificate.

TLS 1.2 is the oldest version accepted by default (RFC 8996 deprecates 1.0 and 1.1;
RFC 8314 §4.1); TLS 1.2 suites are limited to forward-secret AEAD ones.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from twisted.internet import ssl
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator, IProtocolFactory
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory
from zope.interface import implementer

_log = Logger()

#: TLS 1.2 suites: ECDHE/DHE key exchange with AES-GCM or ChaCha20-Poly1305 only (the
#: "intermediate" profile of Mozilla's server-side TLS guidance).  TLS 1.3 suites are
#: OpenSSL's, all of them modern.
MODERN_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
        "DHE-RSA-CHACHA20-POLY1305",
    )
)


def check_sni(value: Mapping[str, tuple[Path, ...]]) -> str | None:
    """Why an ``sni`` table is wrong, or None (each name needs a certificate and a key)."""
    for name, files in value.items():
        if not name or name != name.strip() or " " in name:
            return f"{name!r} is not a host name"
        if len(files) != 2:
            return f"{name!r}: give [certificate, key], two paths"
    return None


class TLSSection(Protocol):
    """The ``[tls]`` keys :meth:`TLSProvider.from_config` needs (``mailhost.config.TLSConfig``)."""

    @property
    def certificate(self) -> Path: ...
    @property
    def private_key(self) -> Path: ...
    @property
    def self_signed(self) -> bool: ...
    @property
    def min_version(self) -> str: ...


@dataclass(frozen=True)
class TLSExtraConfig:
    """``[tls]`` keys beyond those of ``mailhost.config.TLSConfig`` (to be merged into it)."""

    #: More certificates, chosen by the server name the client asks for (SNI):
    #: ``sni = { "mail.example.org" = ["example.pem", "example.key"] }``; a name may be
    #: a wildcard ``"*.example.org"``.  Clients without SNI get ``certificate``.
    sni: dict[str, tuple[Path, ...]] = field(default_factory=dict, metadata={"check": check_sni})
    #: OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are not affected).
    ciphers: str = MODERN_CIPHERS


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
    cert_path: Path,
    key_path: Path,
    min_version: str = "1.2",
    *,
    ciphers: str = MODERN_CIPHERS,
    context_for_name: Callable[[bytes | None], SSL.Context | None] | None = None,
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
    if not certs:
        raise TLSError(f"no certificate in {cert_path}")
    leaf, *extra = certs
    if leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise TLSError(f"{key_path} does not match the certificate in {cert_path}")
    # An unknown cipher string yields no ciphers: CertificateOptions raises ValueError.
    acceptable = ssl.AcceptableCiphers.fromOpenSSLCipherString(ciphers)

    def build(native: bool) -> ssl.CertificateOptions:
        if native:  # pyOpenSSL >= 24.3 takes cryptography objects; its own are deprecated
            pkey, chain = key, [leaf, *extra]
        else:
            from OpenSSL import crypto

            pkey = crypto.PKey.from_cryptography_key(key)  # type: ignore[arg-type, assignment]
            chain = [crypto.X509.from_cryptography(c) for c in (leaf, *extra)]  # type: ignore[misc]
        options = ssl.CertificateOptions(
            privateKey=pkey,  # type: ignore[arg-type]
            certificate=chain[0],  # type: ignore[arg-type]
            extraCertChain=chain[1:],  # type: ignore[arg-type]
            raiseMinimumTo=(
                ssl.TLSVersion.TLSv1_3 if min_version == "1.3" else ssl.TLSVersion.TLSv1_2
            ),
            acceptableCiphers=acceptable,
            contextForServerName=context_for_name,
        )
        options.getContext()  # build it now: problems show at load time, not at a handshake
        return options

    try:
        try:
            return build(native=True)
        except TypeError:
            return build(native=False)
    except (ValueError, SSL.Error) as e:  # no usable cipher, inconsistent chain
        raise TLSError(f"cannot use {cert_path}: {e}") from None


@dataclass(frozen=True)
class _Loaded:
    default: ssl.CertificateOptions
    by_name: dict[str, ssl.CertificateOptions]


@implementer(IOpenSSLServerConnectionCreator)
class TLSProvider:
    """The host's current server TLS settings; reloadable."""

    def __init__(
        self,
        cert_path: Path,
        key_path: Path,
        min_version: str = "1.2",
        sni: Mapping[str, tuple[Path, Path]] | None = None,
        ciphers: str = MODERN_CIPHERS,
    ) -> None:
        self.cert_path = cert_path
        self.key_path = key_path
        self.min_version = min_version
        self.sni = {name.lower().rstrip("."): files for name, files in (sni or {}).items()}
        self.ciphers = ciphers
        self._loaded = self._load()

    @classmethod
    def from_config(cls, tls_config: TLSSection, hostname: str) -> TLSProvider:
        """From ``[tls]``; ``sni`` and ``ciphers`` are read when the section has them."""
        cert = tls_config.certificate
        key = tls_config.private_key
        if tls_config.self_signed and not (cert.exists() and key.exists()):
            make_self_signed(cert, key, hostname)
        sni: Mapping[str, tuple[Path, ...]] = getattr(tls_config, "sni", {})
        problem = check_sni(sni)
        if problem:
            raise TLSError(f"tls.sni: {problem}")
        return cls(
            cert,
            key,
            tls_config.min_version,
            sni={name: (files[0], files[1]) for name, files in sni.items()},
            ciphers=getattr(tls_config, "ciphers", MODERN_CIPHERS),
        )

    def _load(self) -> _Loaded:
        by_name = {
            name: load_options(c, k, self.min_version, ciphers=self.ciphers)
            for name, (c, k) in self.sni.items()
        }
        default = load_options(
            self.cert_path,
            self.key_path,
            self.min_version,
            ciphers=self.ciphers,
            context_for_name=self._context_for_name,
        )
        return _Loaded(default, by_name)

    def _context_for_name(self, servername: bytes | None) -> SSL.Context | None:
        """The context for the name the client asked for (RFC 6066 §3), None for default."""
        if not servername:
            return None
        try:
            name = servername.decode("ascii").lower().rstrip(".")
        except UnicodeDecodeError:
            return None
        by_name = self._loaded.by_name
        options = by_name.get(name)
        if options is None and "." in name:
            options = by_name.get("*." + name.split(".", 1)[1])
        return options.getContext() if options is not None else None

    def reload(self) -> None:
        """Read the files again; on failure keep the old certificates and raise TLSError."""
        self._loaded = self._load()

    def reload_in(self, run: Callable[..., Deferred[Any]]) -> Deferred[None]:
        """Reload with the file reading done by ``run`` (``blocking.run``), swap on return."""

        def swap(loaded: _Loaded) -> None:
            self._loaded = loaded

        return run(self._load).addCallback(swap)

    def options(self) -> TLSProvider:
        """What to pass to ``transport.startTLS`` (this object, which follows reloads)."""
        return self

    def serverConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        return self._loaded.default.serverConnectionForTLS(tlsProtocol)

    def wrap(self, factory: IProtocolFactory, clock: Any = None) -> TLSMemoryBIOFactory:
        """A factory that speaks TLS from the first byte (implicit TLS, RFC 8314).

        ``clock`` (default: the reactor) schedules the flushing of small writes; tests
        pass a ``task.Clock``.
        """
        return TLSMemoryBIOFactory(self, False, factory, clock=clock)


def install_sighup_reload(
    provider: TLSProvider,
    reactor: Any,
    run: Callable[..., Deferred[Any]] | None = None,
) -> Callable[[], None]:
    """Reload ``provider`` on SIGHUP; returns a function that puts the old handler back.

    The signal handler only schedules the work with ``reactor.callFromThread`` (safe from
    a signal handler); the reload runs on the reactor, or through ``run`` (the service's
    ``blocking.run``) so the files are read off the reactor thread.  Open connections keep
    their session; new handshakes get the new certificate.  A failed reload is logged and
    the old certificate stays.  Must be called from the main thread.
    """

    def done(_: object) -> None:
        _log.info("TLS certificates reloaded from {path}", path=str(provider.cert_path))

    def failed(f: Any) -> None:
        if f.check(TLSError):
            _log.error("TLS reload failed, keeping the old certificate: {error}", error=f.value)
        else:
            _log.failure("TLS reload failed, keeping the old certificate", f)

    def reload() -> None:
        if run is None:
            d: Deferred[None] = Deferred()
            try:
                provider.reload()
            except TLSError as e:
                d.errback(e)
            else:
                d.callback(None)
        else:
            d = provider.reload_in(run)
        d.addCallbacks(done, failed)

    previous = signal.getsignal(signal.SIGHUP)

    def handler(signum: int, frame: FrameType | None) -> None:
        reactor.callFromThread(reload)
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGHUP, handler)

    def uninstall() -> None:
        signal.signal(signal.SIGHUP, previous)

    return uninstall
