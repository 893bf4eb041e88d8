"""``build_service(config, reactor)``: the one service twistd, ``mailhost serve``, the
test kit and embedding applications all run.

It wires one store, one change hub, one authenticator (one Portal) and one TLS provider
to the POP3 and IMAP4 factories, and listens on every configured endpoint.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.application.service import IServiceCollection, MultiService, Service
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort, IProtocolFactory
from twisted.logger import Logger

from mailhost.admission import Admission
from mailhost.blocking import ThreadedBlocking, make_pool
from mailhost.changes import ChangeHub
from mailhost.config import Config
from mailhost.store.api import Store

log = Logger(namespace="mailhost")


class PartService(Service):
    """Starts a part of the host that has ``start()`` and ``stop()`` (the thread pool, the
    parse helpers) with the application, and stops it with it."""

    def __init__(self, part: Any) -> None:
        self.part = part

    def startService(self) -> None:
        super().startService()
        self.part.start()

    def stopService(self) -> None:
        super().stopService()
        self.part.stop()


#: Listen queue for TCP endpoints that name none: Twisted's default of 50 drops SYNs when a
#: few hundred clients connect at once (they then retry after 1 s, 3 s, ...).
DEFAULT_BACKLOG = 1024


def with_backlog(description: str) -> str:
    """``description`` with ``backlog=DEFAULT_BACKLOG`` added to a TCP endpoint lacking one."""
    kind = description.split(":", 1)[0]
    if kind in ("tcp", "tcp6") and "backlog=" not in description:
        return f"{description}:backlog={DEFAULT_BACKLOG}"
    return description


class ListenerService(Service):
    """Listens on one endpoint string; remembers the port so callers can ask which."""

    def __init__(
        self, reactor: Any, description: str, factory: IProtocolFactory, label: str
    ) -> None:
        self.reactor = reactor
        self.description = description
        self.factory = factory
        self.label = label
        self.port: IListeningPort | None = None
        #: Fires with the listening port, or fails if the endpoint could not listen.
        self.listening: Deferred[IListeningPort] = Deferred()

    def startService(self) -> None:
        super().startService()
        d = serverFromString(self.reactor, with_backlog(self.description)).listen(self.factory)

        def listening(port: IListeningPort) -> IListeningPort:
            self.port = port
            host = port.getHost()
            address = getattr(host, "host", "")
            log.info(
                "{label} listening on {address}:{port}",
                label=self.label,
                address=address,
                port=getattr(host, "port", self.description),
            )
            self.listening.callback(port)
            return port

        def failed(failure: Any) -> None:
            log.failure(
                "{label} cannot listen on {desc}", failure, label=self.label, desc=self.description
            )
            self.listening.errback(failure)

        d.addCallbacks(listening, failed)

    def stopService(self) -> Deferred[None] | None:
        """Stop listening and close the sessions this listener accepted.

        A POP3 session closed this way applies no deletions (RFC 1939 §6).
        """
        super().stopService()
        inner = getattr(self.factory, "wrappedFactory", self.factory)
        for proto in list(getattr(inner, "connections", ())):
            transport = getattr(proto, "transport", None)
            if transport is not None:
                transport.loseConnection()
        if self.port is not None:
            port, self.port = self.port, None
            return port.stopListening()
        return None

    @property
    def port_number(self) -> int:
        assert self.port is not None, "not listening"
        return int(self.port.getHost().port)  # type: ignore[attr-defined]


@dataclass
class MailHostService(MultiService):
    """The host: a MultiService that also exposes its parts to embedders and tests."""

    config: Config
    store: Store
    changes: ChangeHub
    authenticator: Any
    #: The TLS provider (None without TLS listeners); ``reload()`` re-reads certificates.
    tls: Any = None
    #: Where disk work runs (the service's thread pool).
    blocking: Any = None
    #: The IMAP parse helper processes (None when ``imap.parse_processes`` is 0).
    parse_helpers: Any = None
    listeners: list[ListenerService] = field(default_factory=list)
    _on_stop: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        MultiService.__init__(self)

    def __hash__(self) -> int:
        return id(self)

    def listener(self, label: str) -> ListenerService:
        """The listener called ``label``: "imap", "imaps", "pop3" or "pop3s" (first of each)."""
        for listener in self.listeners:
            if listener.label == label:
                return listener
        raise KeyError(label)

    def stopService(self) -> Deferred[None] | None:
        for cb in self._on_stop:
            cb()
        return MultiService.stopService(self)  # type: ignore[no-any-return]


def tune_process(config: Config) -> None:
    """Process-wide settings for a process that runs only the host (``mailhost serve``,
    ``twistd mailhost``): the young-generation threshold of the garbage collector."""
    threshold = config.server.gc_young_threshold
    if threshold:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(threshold, middle, old)


def build_store(config: Config) -> Store:
    """The store the configuration names (Maildir++ under ``server.data_dir``)."""
    from mailhost.store.maildir import MaildirStore

    return MaildirStore.from_config(config.store, config.server.data_dir)


def build_service(
    config: Config,
    reactor: Any = None,
    *,
    store: Store | None = None,
    authenticator: Any = None,
) -> MailHostService:
    """Everything the host runs, as one service to start under any Twisted application.

    ``store`` and ``authenticator`` may be given to embed the host over another store
    (the memory store) or user database; by default both come from ``config``.
    """
    if reactor is None:
        from twisted.internet import reactor as default_reactor

        reactor = default_reactor

    from mailhost.imap.server import IMAPFactory
    from mailhost.pop3.server import POP3Factory

    pool = make_pool("mailhost-io", config.server.threads)
    blocking = ThreadedBlocking(reactor, pool)
    if store is None:
        store = build_store(config)
    changes = ChangeHub(reactor)
    store.add_listener(changes.notify)
    if authenticator is None:
        from mailhost.auth import build_authenticator

        authenticator = build_authenticator(config, store, blocking, reactor)
        for warning in authenticator.warnings():
            log.warn("{warning}", warning=warning)

    host = MailHostService(config=config, store=store, changes=changes, authenticator=authenticator)
    host.blocking = blocking
    admission = Admission(reactor, config.server.active_sessions, config.server.greeting_wait_max)
    host._on_stop.append(admission.stop)
    stop_auth = getattr(authenticator, "stop", None)
    if stop_auth is not None:
        host._on_stop.append(stop_auth)  # the revocation check's timer
    PartService(pool).setServiceParent(host)

    watcher = _start_watcher(config, store, changes, reactor, blocking)
    if watcher is not None:
        watcher.setServiceParent(host)

    parse_helpers = None
    if config.imap.listen or config.imap.listen_tls:
        from mailhost.imap.parse_helper import ParseHelpers, helpers_wanted

        # (their answers reach the sessions through the structure cache)
        wanted = (
            helpers_wanted(config.imap.parse_processes) if config.imap.structure_cache_mb else 0
        )
        if wanted:
            parse_helpers = ParseHelpers(wanted)
            PartService(parse_helpers).setServiceParent(host)
            host.parse_helpers = parse_helpers

    tls = None
    uses_tls = (
        config.pop3.listen_tls or config.imap.listen_tls or config.pop3.stls or config.imap.starttls
    )
    if uses_tls:
        from mailhost.tls import TLSProvider

        tls = TLSProvider.from_config(config.tls, config.server.hostname)
        host.tls = tls

    def pop3(implicit: bool) -> IProtocolFactory:
        return POP3Factory(
            config=config.pop3,
            authenticator=authenticator,
            blocking=blocking,
            hostname=config.server.hostname,
            tls=tls if (implicit or config.pop3.stls) else None,
            implicit_tls=implicit,
            clock=reactor,
            admission=admission,
        )

    def imap(implicit: bool) -> IProtocolFactory:
        return IMAPFactory(
            config=config.imap,
            authenticator=authenticator,
            blocking=blocking,
            hostname=config.server.hostname,
            tls=tls if (implicit or config.imap.starttls) else None,
            changes=changes,
            implicit_tls=implicit,
            clock=reactor,
            max_message_size=config.store.max_message_size,
            admission=admission,
            parse_helpers=parse_helpers,
        )

    plan: list[tuple[str, tuple[str, ...], Callable[[bool], IProtocolFactory], bool]] = [
        ("imap", config.imap.listen, imap, False),
        ("imaps", config.imap.listen_tls, imap, True),
        ("pop3", config.pop3.listen, pop3, False),
        ("pop3s", config.pop3.listen_tls, pop3, True),
    ]
    for label, descriptions, make, implicit in plan:
        for description in descriptions:
            factory = make(implicit)
            factory.noisy = False  # type: ignore[attr-defined]
            if implicit:
                assert tls is not None
                factory = tls.wrap(factory)
                factory.noisy = False
            listener = ListenerService(reactor, description, factory, label)
            listener.setServiceParent(host)
            host.listeners.append(listener)
    return host


def _start_watcher(
    config: Config, store: Store, changes: ChangeHub, reactor: Any, blocking: Any
) -> Any:
    """The inotify/rescan watcher for changes other programs make, if the store has one."""
    try:
        from mailhost.watcher import watcher_service
    except ImportError:
        return None
    return watcher_service(config, store, changes, reactor, blocking)


def add_to(parent: IServiceCollection, config: Config, reactor: Any = None) -> MailHostService:
    """Build the host and attach it to an existing application's service collection."""
    host = build_service(config, reactor)
    host.setServiceParent(parent)
    return host
