"""``twistd mailhost``: options and service maker (the plugin module only points here)."""

from __future__ import annotations

import sys
from typing import Any

from twisted.application.service import IService
from twisted.python import usage

from mailhost.config import EX_CONFIG, ConfigError, check_files, load_config

DEFAULT_CONFIG = "/etc/mailhost/mailhost.toml"


class Options(usage.Options):
    synopsis = "[--config FILE]"
    longdesc = "Serve POP3 and IMAP4 from one Maildir++ store (see mailhost(1) and docs/)."
    optParameters = [["config", "c", DEFAULT_CONFIG, "Configuration file (TOML)."]]

    def postOptions(self) -> None:
        self["config_obj"] = load_or_exit(self["config"])


def load_or_exit(path: str) -> Any:
    """Load and check the configuration, or print one line and exit with EX_CONFIG (78)."""
    try:
        cfg = load_config(path)
        check_files(cfg)
    except ConfigError as e:
        print(f"mailhost: {e}", file=sys.stderr)
        raise SystemExit(EX_CONFIG) from None
    return cfg


def makeService(options: Options) -> IService:
    from mailhost.service import build_service, tune_process

    tune_process(options["config_obj"])
    return build_service(options["config_obj"])
