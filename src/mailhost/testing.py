"""The test kit: a real mailhost on free loopback ports, driven from blocking test code.

For people who test mail clients against POP3 and IMAP4::

    from mailhost.testing import MailHost

    with MailHost(tmp_path, users={"alice": "secret"}) as host:
        host.deliver("alice", b"Subject: hi\\r\\n\\r\\nhello\\r\\n")
        imap = imaplib.IMAP4(host.host, host.imap_port)
        ...

The host runs in Twisted's reactor, started once per process in a background thread
(:mod:`mailhost.reactor_thread`); every listener binds ``127.0.0.1`` port 0, so tests
can run side by side, and keeps the port it got when the host is restarted.  With pytest,
``-p mailhost.testing`` adds a ``mailhost`` fixture.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from mailhost.config import Config, load_config
from mailhost.reactor_thread import reactor_thread
from mailhost.service import MailHostService, build_service
from mailhost.store.api import Account, MessageInfo

_CONFIG = """\
[server]
hostname = "localhost"
data_dir = "."
threads = 4

[tls]
certificate = "tls/cert.pem"
private_key = "tls/key.pem"
self_signed = true

[auth]
passwd_file = "passwd"
allow_plaintext_auth = "{plaintext}"
# cheap hashes and no failure delays: tests log in often and fail on purpose
argon2_time_cost = 1
argon2_memory_kib = 64
argon2_parallelism = 1
fail_delay = 0.0
fail_delay_max = 0.0
trusted_networks = ["127.0.0.0/8", "::1/128"]

[store]
maildir = "mail/%u"
fsync = "{fsync}"

[pop3]
listen = ["tcp:0:interface=127.0.0.1"]
listen_tls = ["tcp:0:interface=127.0.0.1"]

[imap]
listen = ["tcp:0:interface=127.0.0.1"]
listen_tls = ["tcp:0:interface=127.0.0.1"]
"""


class MailHost:
    """A mailhost whose data lives in ``directory``; start, stop and restart it at will."""

    host = "127.0.0.1"

    def __init__(
        self,
        directory: str | Path,
        users: Mapping[str, str] | None = None,
        *,
        plaintext_auth: str = "always",
        fsync: bool = False,
        extra_config: str = "",
    ) -> None:
        self.directory = Path(directory).resolve()
        self.users = dict(users if users is not None else {"alice": "secret"})
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config_path = self.directory / "mailhost.toml"
        if not self.config_path.exists():
            text = _CONFIG.format(plaintext=plaintext_auth, fsync="always" if fsync else "never")
            self.config_path.write_text(text + extra_config, encoding="utf-8")
        self.config: Config = load_config(self.config_path)
        self._add_users()
        self.service: MailHostService | None = None

    def _add_users(self) -> None:
        from mailhost.auth.fromconfig import argon2_params
        from mailhost.auth.passwd import PasswdFile, hash_password

        users = PasswdFile(self.config.auth.passwd_file)
        params = argon2_params(self.config.auth)
        for name, password in self.users.items():
            if users.get(name) is None:
                users.add(name, hash_password(password, params))

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> MailHost:
        """Build the service and wait until every listener accepts connections."""
        rt = reactor_thread()

        def start() -> Any:
            from twisted.internet.defer import DeferredList

            self.service = build_service(self.config, rt.reactor)
            self.service.startService()
            return DeferredList(
                [lst.listening for lst in self.service.listeners],
                fireOnOneErrback=True,
                consumeErrors=True,
            )

        rt.call(start)
        return self

    def stop(self) -> None:
        """Stop listening, close every session and the thread pool."""
        if self.service is not None:
            service, self.service = self.service, None
            rt = reactor_thread()

            def stop() -> Any:
                return service.stopService()

            rt.call(stop)

    def restart(self) -> MailHost:
        """Stop, then start again on the same ports, as a restarted server comes back:
        clients keep their settings, and those that remember what they have retrieved by
        server and port (getmail, fetchmail) keep that too."""
        if self.service is not None:
            self.config = _on_same_ports(self.config, self.service)
        self.stop()
        return self.start()

    def __enter__(self) -> MailHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- where to connect --------------------------------------------------------------

    def _port(self, label: str) -> int:
        assert self.service is not None, "host not started"
        return self.service.listener(label).port_number

    @property
    def imap_port(self) -> int:
        return self._port("imap")

    @property
    def imaps_port(self) -> int:
        return self._port("imaps")

    @property
    def pop3_port(self) -> int:
        return self._port("pop3")

    @property
    def pop3s_port(self) -> int:
        return self._port("pop3s")

    @property
    def certificate(self) -> Path:
        """The host's self-signed certificate: trust it in your client."""
        return self.config.tls.certificate

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this host's certificate and checks ``localhost``."""
        ctx = ssl.create_default_context(cafile=str(self.certificate))
        ctx.check_hostname = False
        return ctx

    # -- mail --------------------------------------------------------------------------

    def account(self, user: str) -> Account:
        """The user's store account, for setting up and checking mail directly."""
        if self.service is not None:
            return self.service.store.account(user)
        from mailhost.service import build_store

        return build_store(self.config).account(user)

    def deliver(
        self, user: str, message: bytes | str | EmailMessage, folder: str = "INBOX"
    ) -> MessageInfo:
        """Deliver a message as ``mailhost deliver`` would."""
        if isinstance(message, EmailMessage):
            data = bytes(message)
        elif isinstance(message, str):
            data = message.encode("utf-8")
        else:
            data = message
        return self.account(user).folder(folder).append(data)


#: A TCP endpoint that asks for any free port.
_ANY_PORT = re.compile(r"^(tcp6?:)0(?=:|$)")


def _on_same_ports(config: Config, service: MailHostService) -> Config:
    """``config`` with each listener that asked for any free port on the one it got."""
    by_label: dict[str, list[str]] = {}
    for listener in service.listeners:
        description = _ANY_PORT.sub(rf"\g<1>{listener.port_number}", listener.description)
        by_label.setdefault(listener.label, []).append(description)
    imap = replace(
        config.imap,
        listen=tuple(by_label.get("imap", ())),
        listen_tls=tuple(by_label.get("imaps", ())),
    )
    pop3 = replace(
        config.pop3,
        listen=tuple(by_label.get("pop3", ())),
        listen_tls=tuple(by_label.get("pop3s", ())),
    )
    return replace(config, imap=imap, pop3=pop3)


try:  # the pytest plugin (``pytest -p mailhost.testing``)
    import pytest

    @pytest.fixture
    def mailhost(tmp_path: Path) -> Iterator[MailHost]:
        """A started :class:`MailHost` with user ``alice``/``secret``."""
        with MailHost(tmp_path / "mailhost") as host:
            yield host

except ImportError:  # pragma: no cover - pytest is optional for embedders
    pass
