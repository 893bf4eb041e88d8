"""Running the host in the foreground (``mailhost serve``, ``mailhost demo``)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from string import Formatter
from typing import Any

from twisted.internet.defer import DeferredList
from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    LogEvent,
    LogLevel,
    LogLevelFilterPredicate,
    formatEventAsClassicLogText,
    formatTime,
    globalLogBeginner,
)

from mailhost.config import Config
from mailhost.service import MailHostService, build_service, tune_process

EX_OSERR = 71


def start_logging(level: LogLevel = LogLevel.info) -> None:
    """Log to stdout as twistd -n would."""
    predicate = LogLevelFilterPredicate(defaultLogLevel=level)
    observer = FileLogObserver(sys.stdout, classic_formatter())
    globalLogBeginner.beginLoggingTo(
        [FilteringLogObserver(observer, [predicate])],
        redirectStandardIO=False,
    )


def classic_formatter() -> Callable[[LogEvent], str | None]:
    """Twisted's classic text lines (as ``textFileLogObserver`` writes them), with the
    timestamp formatted once per second: the format has no finer unit, and formatting
    it for every line was a noticeable share of what a login costs."""
    cache: dict[int, str] = {}

    def format_time(when: float | None) -> str:
        if when is None:
            return formatTime(when)
        second = int(when)
        text = cache.get(second)
        if text is None:
            cache.clear()
            text = cache[second] = formatTime(second)
        return text

    def format_event(event: LogEvent) -> str | None:
        fmt = event.get("log_format")
        # Fields that name a key only are formatted by str.format_map: Twisted's own
        # formatter (calls, wrapped attribute access) is pure Python and costs more
        # than the login it reports.
        if (
            type(fmt) is str
            and "log_failure" not in event
            and "log_flattened" not in event
            and _plain_fields(fmt)
        ):
            try:
                text = fmt.format_map(event)
            except Exception:
                pass
            else:
                if not text:
                    return None
                system = event.get("log_system")
                if system is None:
                    level = event.get("log_level")
                    namespace = event.get("log_namespace", "-")
                    system = f"{namespace}#{'-' if level is None else level.name}"
                when = format_time(event.get("log_time"))
                text = text.replace("\n", "\n\t")
                return f"{when} [{system}] {text}\n"
        return formatEventAsClassicLogText(event, formatTime=format_time)

    return format_event


_PLAIN: dict[str, bool] = {}


def _plain_fields(fmt: str) -> bool:
    """Whether every field of ``fmt`` is a bare key (no call, attribute or index)."""
    plain = _PLAIN.get(fmt)
    if plain is None:
        try:
            plain = all(
                name is None or name.isidentifier() for _, name, _, _ in Formatter().parse(fmt)
            )
        except ValueError:
            plain = False
        if len(_PLAIN) >= 512:
            _PLAIN.clear()
        _PLAIN[fmt] = plain
    return plain


def serve(
    cfg: Config,
    on_listening: Callable[[MailHostService], None] | None = None,
    reactor: Any = None,
) -> int:
    """Start the host, run the reactor until a signal stops it; return an exit status."""
    if reactor is None:
        from twisted.internet import reactor as default_reactor

        reactor = default_reactor
    start_logging()
    tune_process(cfg)
    host = build_service(cfg, reactor)
    status = {"code": 0}

    def started() -> None:
        host.startService()
        d = DeferredList(
            [lst.listening for lst in host.listeners], fireOnOneErrback=True, consumeErrors=True
        )

        def ok(_: object) -> None:
            if on_listening is not None:
                on_listening(host)

        def failed(failure: Any) -> None:
            err = (
                failure.value.subFailure.value if hasattr(failure.value, "subFailure") else failure
            )
            print(f"mailhost: cannot listen: {err}", file=sys.stderr)
            status["code"] = EX_OSERR
            reactor.stop()

        d.addCallbacks(ok, failed)

    reactor.callWhenRunning(started)
    reactor.addSystemEventTrigger("before", "shutdown", host.stopService)
    _install_sighup(host, reactor)
    reactor.run()
    return status["code"]


def _install_sighup(host: MailHostService, reactor: Any) -> None:
    """SIGHUP re-reads the TLS certificate without dropping connections."""
    try:
        from mailhost.tls import install_sighup_reload
    except ImportError:
        return
    tls = host.tls
    if tls is not None and hasattr(signal, "SIGHUP"):
        # the certificate files are read in the thread pool, not on the reactor
        install_sighup_reload(tls, reactor, run=host.blocking.run)
