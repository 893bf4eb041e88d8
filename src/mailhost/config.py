"""Configuration: a TOML file loaded into frozen dataclasses and checked before start.

Each package owns its section (``pop3/config.py`` holds ``[pop3]``, and so on); this
module holds the loader, which walks the dataclasses' type hints, so a new key is one
field with a default.  Any wrong key, type or value raises :class:`ConfigError` naming
the file, the key (with its line where it can be found) and what is wrong; the CLI and
twistd turn that into one line on stderr and exit status 78 (``EX_CONFIG``).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import socket
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mailhost.auth.config import AuthConfig
from mailhost.imap.config import IMAPConfig
from mailhost.pop3.config import POP3Config
from mailhost.store.config import StoreConfig

EX_CONFIG = 78


class ConfigError(Exception):
    """A configuration problem, with everything needed for a one-line message."""

    def __init__(self, message: str, source: str = "", key: str = "", line: int | None = None):
        self.message = message
        self.source = source
        self.key = key
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source or "<config>"
        if self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigValueError(ValueError):
    """Raised by a section's ``__post_init__``: ``key`` is the field at fault."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


def _tls() -> Any:
    import mailhost.tls

    return mailhost.tls


def _default_hostname() -> str:
    return socket.getfqdn() or "localhost"


@dataclass(frozen=True)
class ServerConfig:
    """``[server]``: identity and where state lives."""

    #: Name in greetings and in the self-signed certificate.
    hostname: str = field(default_factory=_default_hostname)
    #: Everything mailhost writes (mail, indexes, certificates made on first start).
    data_dir: Path = Path("/var/lib/mailhost")
    #: Threads for disk I/O and password hashing.
    threads: int = 8
    #: Sessions (IMAP and POP3 together) served at once while they are talking; a
    #: connection that arrives when this many sent a command within the last quarter
    #: second waits for its greeting, first come first served, so a busy host answers
    #: the sessions it has quickly instead of every session slowly.  Sessions in IDLE
    #: or quiet do not count.  One reactor thread serves them all, so a few keep it busy:
    #: more spreads the same throughput over more waiting commands.  0 = greet every
    #: connection at once.
    active_sessions: int = 8
    #: Longest a connection waits for its greeting while the host is busy (seconds).
    greeting_wait_max: float = 0.5
    #: Objects allocated between two young garbage collections in ``mailhost serve`` and
    #: ``twistd mailhost`` (Python's default is 700).  The host keeps large, long-lived
    #: tables (a 100,000-message folder's listing); with the default, the collector walks
    #: them every few thousand allocations and a single FETCH can stall for tens of
    #: milliseconds.  0 keeps Python's default.  Embedders set their own.
    gc_young_threshold: int = 50_000

    def __post_init__(self) -> None:
        if not 1 <= self.threads <= 256:
            raise ConfigValueError("threads", "must be between 1 and 256")
        if self.active_sessions < 0:
            raise ConfigValueError("active_sessions", "must be 0 (no limit) or more")
        if not 0 <= self.greeting_wait_max <= 60:
            raise ConfigValueError("greeting_wait_max", "must be between 0 and 60 seconds")
        if not 0 <= self.gc_young_threshold <= 10_000_000:
            raise ConfigValueError("gc_young_threshold", "must be between 0 and 10000000")


@dataclass(frozen=True)
class TLSConfig:
    """``[tls]``: certificates for STARTTLS/STLS and the implicit-TLS listeners."""

    #: PEM file: the certificate followed by any intermediates.
    certificate: Path = Path("/etc/mailhost/tls/fullchain.pem")
    #: PEM private key.
    private_key: Path = Path("/etc/mailhost/tls/privkey.pem")
    #: Make a self-signed certificate at those paths on first start if they are missing.
    self_signed: bool = False
    #: Oldest TLS version accepted: "1.2" or "1.3".
    min_version: Literal["1.2", "1.3"] = "1.2"
    #: More certificates chosen by the name the client asks for (SNI):
    #: ``{ "mail.example.org" = ["fullchain.pem", "privkey.pem"] }``.
    sni: dict[str, tuple[Path, ...]] = field(
        default_factory=dict, metadata={"check": lambda v: _tls().check_sni(v)}
    )
    #: OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's defaults).
    ciphers: str = field(default_factory=lambda: _tls().MODERN_CIPHERS)


@dataclass(frozen=True)
class Config:
    """The whole configuration."""

    server: ServerConfig = field(default_factory=ServerConfig)
    tls: TLSConfig = field(default_factory=TLSConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    pop3: POP3Config = field(default_factory=POP3Config)
    imap: IMAPConfig = field(default_factory=IMAPConfig)
    #: The file this was loaded from (None for defaults built in code).
    source: Path | None = None

    @property
    def mail_root(self) -> Path:
        return self.server.data_dir / self.store.mail_dir


_ENDPOINT_RE = re.compile(r"^(tcp6?|unix|systemd)(:.*)?$")


def check_endpoint(description: str) -> str | None:
    """Why ``description`` is not a listen string we accept, or None if it is fine.

    Listeners are Twisted endpoint strings (``tcp:143:interface=127.0.0.1``); TLS is
    added by mailhost itself on ``listen_tls`` entries so certificates can be reloaded.
    """
    m = _ENDPOINT_RE.match(description)
    if not m:
        return "must be a Twisted server endpoint string such as 'tcp:143:interface=127.0.0.1'"
    if m.group(1).startswith("tcp"):
        args = [a for a in re.split(r"(?<!\\):", description)[1:] if a]
        positional = [a for a in args if "=" not in a]
        kw = dict(a.split("=", 1) for a in args if "=" in a)
        port = kw.get("port", positional[0] if positional else None)
        if port is None or not port.isdigit() or not 0 <= int(port) <= 65535:
            return f"port must be a number from 0 to 65535, not {port!r}"
    return None


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = [repr(a) for a in typing.get_args(tp)]
        return " or ".join(choices) if len(choices) < 3 else "one of " + ", ".join(choices)
    if origin in (list, tuple):
        return "a list"
    if origin is dict:
        return "a table"
    if tp is Path:
        return "a path string"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        tp, str(tp)
    )


def _convert(value: Any, tp: Any, key: str, base: Path) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it; raise ValueError."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(value, args[0], key, base)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ValueError(f"must be {_type_name(tp)}, not {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ValueError(f"must be a list, not {value!r}")
        (item,) = typing.get_args(tp)[:1]
        return tuple(_convert(v, item, key, base) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"must be a table, not {value!r}")
        _, vt = typing.get_args(tp)
        return {str(k): _convert(v, vt, key, base) for k, v in value.items()}
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise ValueError(f"must be a path string, not {value!r}")
        p = Path(os.path.expanduser(value))
        return p if p.is_absolute() else (base / p)
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, not {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, not {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number, not {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"must be a string, not {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        raise ValueError(f"must be a table [{key}], not {value!r}")
    raise TypeError(f"unsupported config type {tp!r}")  # a bug in a section dataclass


class _Loader:
    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.lines = text.splitlines()

    def line_of(self, dotted: str) -> int | None:
        """Best-effort line number of ``section.key`` for the error message."""
        *sections, key = dotted.split(".")
        section = ".".join(sections)
        in_section = not section
        header = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
        keyre = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for n, line in enumerate(self.lines, 1):
            m = header.match(line)
            if m:
                in_section = m.group(1) == section
                if in_section and not key:
                    return n
                continue
            if in_section and keyre.match(line):
                return n
        if section:
            for n, line in enumerate(self.lines, 1):
                m = header.match(line)
                if m and m.group(1) == section:
                    return n
        return None

    def error(self, dotted: str, message: str) -> ConfigError:
        return ConfigError(message, self.source, dotted, self.line_of(dotted))

    def build(self, cls: Any, table: dict[str, Any], prefix: str, base: Path) -> Any:
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name != "source"}
        kwargs: dict[str, Any] = {}
        for key, value in table.items():
            dotted = f"{prefix}{key}"
            if key not in fields:
                close = difflib.get_close_matches(key, list(fields), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                known = "" if hint else f"; known keys: {', '.join(sorted(fields))}"
                raise self.error(dotted, f"unknown key{hint}{known}")
            tp = hints[key]
            if dataclasses.is_dataclass(tp) and isinstance(tp, type):
                if not isinstance(value, dict):
                    raise self.error(dotted, f"must be a table [{dotted}]")
                kwargs[key] = self.build(tp, value, f"{dotted}.", base)
                continue
            try:
                kwargs[key] = _convert(value, tp, dotted, base)
            except ValueError as e:
                raise self.error(dotted, str(e)) from None
            check = fields[key].metadata.get("check")
            if check is not None:
                problem = check(kwargs[key])
                if problem:
                    raise self.error(dotted, problem)
        try:
            return cls(**kwargs)
        except ConfigValueError as e:
            raise self.error(f"{prefix}{e.key}", str(e)) from None


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and check a config file; relative paths in it are relative to its folder."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read config file: {e.strerror}", str(p)) from None
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError("config file is not UTF-8", str(p)) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"not valid TOML: {e}", str(p)) from None
    return config_from_dict(data, source=str(p), text=text, base=p.resolve().parent)


def config_from_dict(
    data: dict[str, Any], source: str = "<config>", text: str = "", base: Path | None = None
) -> Config:
    """Build a :class:`Config` from parsed TOML (or from a dict made in code)."""
    loader = _Loader(source, text)
    cfg: Config = loader.build(Config, data, "", base or Path.cwd())
    src = Path(source) if source and not source.startswith("<") else None
    return dataclasses.replace(cfg, source=src)


def check_files(cfg: Config) -> None:
    """Checks that need the file system: run at start and by ``mailhost check-config``."""
    src = str(cfg.source) if cfg.source else "<config>"
    tls_used = any((cfg.pop3.listen_tls, cfg.imap.listen_tls)) or cfg.pop3.stls or cfg.imap.starttls
    if tls_used and not cfg.tls.self_signed:
        for key in ("certificate", "private_key"):
            path: Path = getattr(cfg.tls, key)
            try:
                with path.open("rb") as fh:
                    head = fh.read(64 * 1024)
            except OSError as e:
                raise ConfigError(f"cannot read {path}: {e.strerror}", src, f"tls.{key}") from None
            if b"-----BEGIN" not in head:
                raise ConfigError(f"{path} is not a PEM file", src, f"tls.{key}")
    if not cfg.auth.passwd_file.parent.exists():
        raise ConfigError(
            f"folder {cfg.auth.passwd_file.parent} does not exist", src, "auth.passwd_file"
        )
