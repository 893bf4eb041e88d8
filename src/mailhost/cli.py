"""The ``mailhost`` command: serve, deliver, check-config, demo, and the account commands.

Exit statuses follow sysexits(3), which MTAs and init systems understand: 0 success,
64 usage, 65 bad data, 67 unknown user, 75 temporary failure, 78 configuration error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mailhost import __version__
from mailhost.config import EX_CONFIG, Config, ConfigError, check_files, load_config
from mailhost.tap import DEFAULT_CONFIG

EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_NOUSER = 67
EX_SOFTWARE = 70
EX_OSERR = 71
EX_TEMPFAIL = 75


def _load(path: str) -> Config:
    try:
        cfg = load_config(path)
    except ConfigError as e:
        print(f"mailhost: {e}", file=sys.stderr)
        raise SystemExit(EX_CONFIG) from None
    return cfg


def _load_checked(path: str) -> Config:
    cfg = _load(path)
    try:
        check_files(cfg)
    except ConfigError as e:
        print(f"mailhost: {e}", file=sys.stderr)
        raise SystemExit(EX_CONFIG) from None
    return cfg


def cmd_serve(args: argparse.Namespace) -> int:
    from mailhost.runner import serve

    return serve(_load_checked(args.config))


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = _load_checked(args.config)
    from mailhost.tls import TLSError, TLSProvider

    if (cfg.pop3.listen_tls or cfg.imap.listen_tls) and not cfg.tls.self_signed:
        try:
            TLSProvider(cfg.tls.certificate, cfg.tls.private_key, cfg.tls.min_version)
        except TLSError as e:
            print(f"mailhost: {cfg.source}: tls: {e}", file=sys.stderr)
            return EX_CONFIG
    print(f"{cfg.source}: ok")
    return EX_OK


def cmd_deliver(args: argparse.Namespace) -> int:
    from mailhost.delivery.local import deliver_from_stdin

    return deliver_from_stdin(_load(args.config), args.user, args.folder)


def cmd_demo(args: argparse.Namespace) -> int:
    from mailhost.demo import run_demo

    return run_demo(Path(args.dir))


def cmd_config_example(args: argparse.Namespace) -> int:
    from mailhost.config_doc import render_example

    print(render_example(), end="")
    return EX_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailhost", description="POP3 and IMAP4 from one Maildir++ store."
    )
    parser.add_argument("--version", action="version", version=f"mailhost {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", "-c", default=DEFAULT_CONFIG, help="configuration file")
        return p

    p = with_config(sub.add_parser("serve", help="run the host in the foreground"))
    p.set_defaults(func=cmd_serve)

    p = with_config(sub.add_parser("check-config", help="check the configuration and exit"))
    p.set_defaults(func=cmd_check_config)

    p = with_config(sub.add_parser("deliver", help="deliver a message from stdin (an MDA)"))
    p.add_argument("user")
    p.add_argument("--folder", "-m", default="INBOX", help="folder to deliver into")
    p.set_defaults(func=cmd_deliver)

    p = sub.add_parser("config-example", help="print a config file with every key and default")
    p.set_defaults(func=cmd_config_example)

    p = sub.add_parser("demo", help="set up and run a demo host on loopback ports")
    p.add_argument("--dir", default="var", help="where the demo keeps its config and mail")
    p.set_defaults(func=cmd_demo)

    from mailhost.auth.cli import register

    register(sub, _load)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
