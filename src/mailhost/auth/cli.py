"""``mailhost user``, ``mailhost 2fa`` and ``mailhost app-password``.

Passwords are read from a prompt (asked twice) or, with ``--password-stdin``, from the
first line of standard input; never from the command line, where ``ps`` would show them.
Exit statuses follow sysexits(3): 65 bad input, 67 unknown user, 73/74 file trouble,
78 configuration error.
"""

from __future__ import annotations

import argparse
import datetime
import getpass
import sys
import time
from collections.abc import Callable
from typing import Any

from mailhost.auth import manage, twofactor
from mailhost.auth.fromconfig import argon2_params, state_store
from mailhost.auth.passwd import NoSuchUser, PasswdError, PasswdFile, UserExists, valid_username
from mailhost.auth.state import StateError, StateStore
from mailhost.config import EX_CONFIG, Config, ConfigError

EX_OK = 0
EX_DATAERR = 65
EX_NOUSER = 67
EX_CANTCREAT = 73
EX_IOERR = 74
DEFAULT_CONFIG = "/etc/mailhost/mailhost.toml"

Handler = Callable[[argparse.Namespace, Config], int]


class _Exit(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _err(message: str) -> None:
    print(f"mailhost: {message}", file=sys.stderr)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise _Exit(EX_DATAERR, "no password on standard input")
        return password
    try:
        first = getpass.getpass("New password: ")
        second = getpass.getpass("Repeat it: ")
    except EOFError:
        raise _Exit(EX_DATAERR, "no password given") from None
    if first != second:
        raise _Exit(EX_DATAERR, "the passwords differ")
    return first


def _existing(passwd: PasswdFile, user: str) -> None:
    if passwd.lookup(user) is None:
        raise _Exit(EX_NOUSER, f"no such user: {user}")


def _files(config: Config) -> tuple[PasswdFile, StateStore]:
    return PasswdFile(config.auth.passwd_file), state_store(config)


# -- user ---------------------------------------------------------------------------------


def _user_add(args: argparse.Namespace, config: Config) -> int:
    passwd, _ = _files(config)
    if not valid_username(args.user):
        raise _Exit(EX_DATAERR, f"invalid user name {args.user!r} (no ':', '/', spaces)")
    if passwd.lookup(args.user) is not None:
        raise _Exit(EX_DATAERR, f"user exists: {args.user}")
    try:
        manage.add_user(passwd, args.user, _read_password(args), argon2_params(config.auth))
    except UserExists:
        raise _Exit(EX_DATAERR, f"user exists: {args.user}") from None
    print(f"added {args.user}")
    return EX_OK


def _user_passwd(args: argparse.Namespace, config: Config) -> int:
    passwd, state = _files(config)
    _existing(passwd, args.user)
    password = _read_password(args)
    n = manage.set_password(passwd, state, args.user, password, argon2_params(config.auth))
    revoked = f"; revoked {n} app passwords/grants" if n else ""
    print(f"password changed for {args.user}{revoked}")
    return EX_OK


def _user_del(args: argparse.Namespace, config: Config) -> int:
    passwd, state = _files(config)
    _existing(passwd, args.user)
    manage.delete_user(passwd, state, args.user)
    print(f"deleted {args.user} (mail is kept)")
    return EX_OK


def _user_list(args: argparse.Namespace, config: Config) -> int:
    passwd, state = _files(config)
    for entry in passwd.entries():
        try:
            s = state.load(entry.user)
        except StateError:
            s = None
        twofa = "on" if s is not None and s.two_factor else "off"
        apps = len(s.app_passwords) if s is not None else 0
        print(f"{entry.user}\t{entry.scheme}\t2fa={twofa}\tapp-passwords={apps}")
    return EX_OK


# -- 2fa ----------------------------------------------------------------------------------


def _2fa_enable(args: argparse.Namespace, config: Config) -> int:
    passwd, state = _files(config)
    _existing(passwd, args.user)
    if state.load(args.user).two_factor:
        raise _Exit(EX_DATAERR, f"two-factor login is already on for {args.user}")
    secret = twofactor.new_secret()
    uri = twofactor.provisioning_uri(secret, args.user, config.auth.totp_issuer)
    out = sys.stdout
    print("Scan this with an authenticator app (or type the key by hand):\n", file=out)
    if not args.no_qr:
        import segno

        segno.make(uri, error="m").terminal(out=out, compact=True)
    print(f"\n{uri}\n\nKey: {secret}\n", file=out)
    for _ in range(3):
        print("Code shown by the app: ", end="", file=out, flush=True)
        line = sys.stdin.readline()
        if not line:
            raise _Exit(EX_DATAERR, "no code given; two-factor login stays off")
        codes = manage.enable_2fa(state, args.user, secret, line.strip(), time.time())
        if codes is not None:
            break
        print("That code does not match; try again.", file=out)
    else:
        raise _Exit(EX_DATAERR, "wrong code three times; two-factor login stays off")
    print(f"\nTwo-factor login is on for {args.user}.", file=out)
    print("Recovery codes (each works once, as password$code; keep them safe):", file=out)
    for c in codes:
        print(f"  {c}", file=out)
    print(
        "\nMail clients now need an app password ('mailhost app-password add') or\n"
        "password followed by the current code (see docs/2fa.md).",
        file=out,
    )
    return EX_OK


def _2fa_recovery(args: argparse.Namespace, config: Config) -> int:
    passwd, state = _files(config)
    _existing(passwd, args.user)
    codes = manage.new_recovery_codes(state, args.user)
    if codes is None:
        raise _Exit(EX_DATAERR, f"two-factor login is off for {args.user}")
    print("New recovery codes (the old ones no longer work):")
    for c in codes:
        print(f"  {c}")
    return EX_OK


def _2fa_disable(args: argparse.Namespace, config: Config) -> int:
    passwd, state = _files(config)
    _existing(passwd, args.user)
    was = manage.disable_2fa(state, args.user)
    print(f"two-factor login {'turned off' if was else 'was already off'} for {args.user}")
    return EX_OK


def _2fa_status(args: argparse.Namespace, config: Config) -> int:
    passwd, state = _files(config)
    _existing(passwd, args.user)
    s = state.load(args.user)
    if s.totp is None:
        print(f"{args.user}: two-factor login off")
    else:
        left = sum(1 for r in s.recovery if r.used_at is None)
        print(f"{args.user}: two-factor login on since {_when(s.totp.enabled_at)}")
        print(f"recovery codes left: {left}")
        print(f"device grants: {len(s.grants)}")
    print(f"app passwords: {len(s.app_passwords)}")
    return EX_OK


def _2fa_grants(args: argparse.Namespace, config: Config) -> int:
    passwd, state = _files(config)
    _existing(passwd, args.user)
    print("ID\tPROTOCOL\tNETWORK\tCREATED\tEXPIRES\tLAST USED")
    for g in state.load(args.user).grants:
        last = g.last_used
        used = f"{_when(last.time)} {last.ip}" if last else "-"
        expires = min(g.expires, g.created + config.auth.grant_max_age)
        print(f"{g.id}\t{g.protocol}\t{g.network}\t{_when(g.created)}\t{_when(expires)}\t{used}")
    return EX_OK


def _2fa_revoke_grant(args: argparse.Namespace, config: Config) -> int:
    passwd, state = _files(config)
    _existing(passwd, args.user)
    if not args.all and not args.id:
        raise _Exit(EX_DATAERR, "give a grant ID or --all")
    n = manage.revoke_grant(state, args.user, None if args.all else args.id)
    if n == 0 and not args.all:
        raise _Exit(EX_DATAERR, f"no grant {args.id} for {args.user}")
    print(f"revoked {n} grant(s)")
    return EX_OK


# -- app-password -------------------------------------------------------------------------


def _ap_add(args: argparse.Namespace, config: Config) -> int:
    passwd, state = _files(config)
    _existing(passwd, args.user)
    protocols = args.protocols.split(",") if args.protocols else []
    networks = [n for item in args.networks for n in item.split(",")]
    try:
        expires = manage.parse_duration(args.expires) if args.expires else None
        ap_id, display = manage.add_app_password(
            state,
            args.user,
            args.label,
            time.time(),
            protocols=protocols,
            expires_in=expires,
            networks=networks,
            limit=config.auth.max_app_passwords,
        )
    except manage.InputError as e:
        raise _Exit(EX_DATAERR, str(e)) from None
    print(f"App password {ap_id} for {args.user} ({args.label}):\n")
    print(f"    {display}\n")
    print("It is shown only now. Spaces are optional when typing it.")
    return EX_OK


def _ap_list(args: argparse.Namespace, config: Config) -> int:
    passwd, state = _files(config)
    _existing(passwd, args.user)
    print("ID\tLABEL\tCREATED\tEXPIRES\tPROTOCOLS\tFROM\tLAST USED")
    for a in state.load(args.user).app_passwords:
        last = a.last_used
        used = f"{_when(last.time)} {last.ip} {last.protocol}" if last else "never"
        print(
            f"{a.id}\t{a.label}\t{_when(a.created)}\t{_when(a.expires)}\t"
            f"{','.join(a.protocols) or 'all'}\t{','.join(a.networks) or 'anywhere'}\t{used}"
        )
    return EX_OK


def _ap_revoke(args: argparse.Namespace, config: Config) -> int:
    passwd, state = _files(config)
    _existing(passwd, args.user)
    if not args.all and not args.id:
        raise _Exit(EX_DATAERR, "give an app password ID or --all")
    n = manage.revoke_app_password(state, args.user, None if args.all else args.id)
    if n == 0 and not args.all:
        raise _Exit(EX_DATAERR, f"no app password {args.id} for {args.user}")
    print(f"revoked {n} app password(s); their open sessions end at their next command")
    return EX_OK


# -- wiring -------------------------------------------------------------------------------


def _runner(handler: Handler, load_config: Callable[[str], Config]) -> Callable[..., int]:
    def run(args: argparse.Namespace) -> int:
        try:
            config = load_config(args.config)
        except ConfigError as e:
            print(str(e), file=sys.stderr)
            return EX_CONFIG
        try:
            return handler(args, config)
        except _Exit as e:
            _err(str(e))
            return e.code
        except NoSuchUser as e:
            _err(f"no such user: {e}")
            return EX_NOUSER
        except manage.InputError as e:
            _err(str(e))
            return EX_DATAERR
        except (PasswdError, StateError) as e:
            _err(str(e))
            return EX_CANTCREAT if "cannot write" in str(e) else EX_IOERR
        except OSError as e:
            _err(f"{e.filename or ''}: {e.strerror}")
            return EX_IOERR

    return run


def register(subparsers: Any, load_config: Callable[[str], Config]) -> None:
    """Add ``user``, ``2fa`` and ``app-password`` to the ``mailhost`` command.

    Each leaf command sets ``func``: ``sys.exit(args.func(args))`` runs it.
    """

    def leaf(parent: Any, name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help, description=help)
        p.add_argument("--config", default=DEFAULT_CONFIG, help="configuration file")
        p.set_defaults(func=_runner(handler, load_config))
        return p

    def group(name: str, help: str) -> Any:
        p = subparsers.add_parser(name, help=help, description=help)
        return p.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")

    user = group("user", "manage users in the passwd-file")
    for name, handler, help in (
        ("add", _user_add, "add a user"),
        ("passwd", _user_passwd, "change a password (revokes app passwords and grants)"),
    ):
        p = leaf(user, name, handler, help)
        p.add_argument("user")
        p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    leaf(user, "del", _user_del, "delete a user (mail is kept)").add_argument("user")
    leaf(user, "list", _user_list, "list users")

    tfa = group("2fa", "two-factor login (TOTP) for a user")
    p = leaf(tfa, "enable", _2fa_enable, "turn on two-factor login")
    p.add_argument("user")
    p.add_argument("--no-qr", action="store_true", help="print the URI and key only")
    leaf(tfa, "disable", _2fa_disable, "turn off two-factor login").add_argument("user")
    leaf(tfa, "recovery-codes", _2fa_recovery, "make new recovery codes").add_argument("user")
    leaf(tfa, "status", _2fa_status, "show two-factor state").add_argument("user")
    leaf(tfa, "grants", _2fa_grants, "list remembered password+code devices").add_argument("user")
    p = leaf(tfa, "revoke-grant", _2fa_revoke_grant, "forget remembered devices")
    p.add_argument("user")
    p.add_argument("id", nargs="?")
    p.add_argument("--all", action="store_true")

    ap = group("app-password", "passwords for single mail clients")
    p = leaf(ap, "add", _ap_add, "make an app password (shown once)")
    p.add_argument("user")
    p.add_argument("--label", required=True, help='what it is for, e.g. "Outlook on laptop"')
    p.add_argument("--protocols", default="", help="comma-separated: pop3,imap (default: all)")
    p.add_argument("--expires", default="", help="lifetime such as 90d, 12h (default: none)")
    p.add_argument(
        "--from",
        dest="networks",
        action="append",
        default=[],
        help="network it may be used from (CIDR; repeatable)",
    )
    leaf(ap, "list", _ap_list, "list app passwords").add_argument("user")
    p = leaf(ap, "revoke", _ap_revoke, "revoke app passwords")
    p.add_argument("user")
    p.add_argument("id", nargs="?")
    p.add_argument("--all", action="store_true")


def main(argv: list[str] | None = None) -> int:
    """``python -m mailhost.auth.cli``: these commands alone."""
    from mailhost.config import load_config

    parser = argparse.ArgumentParser(prog="mailhost")
    register(parser.add_subparsers(dest="command", required=True), load_config)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
