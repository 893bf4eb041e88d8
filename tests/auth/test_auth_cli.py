"""``mailhost user``, ``2fa`` and ``app-password``, run in-process on a temporary config."""

from __future__ import annotations

import argparse
import io
import re
import time
from pathlib import Path

import pyotp
import pytest

from mailhost.auth import cli, twofactor
from mailhost.auth.passwd import PasswdFile, verify_password
from mailhost.auth.state import StateStore
from mailhost.config import load_config


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "mailhost.toml"
    path.write_text(
        "[server]\n"
        f'data_dir = "{tmp_path / "data"}"\n'
        "[auth]\n"
        'passwd_file = "passwd"\n'
        "argon2_time_cost = 1\nargon2_memory_kib = 64\nargon2_parallelism = 1\n"
    )
    return path


class Run:
    def __init__(self, conf: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
        self.conf = conf
        self.monkeypatch = monkeypatch
        self.capsys = capsys

    def __call__(self, *argv: str, stdin: str | io.TextIOBase = "") -> tuple[int, str, str]:
        parser = argparse.ArgumentParser(prog="mailhost")
        cli.register(parser.add_subparsers(dest="command", required=True), load_config)
        args = parser.parse_args([*argv, "--config", str(self.conf)])
        self.monkeypatch.setattr(
            "sys.stdin", io.StringIO(stdin) if isinstance(stdin, str) else stdin
        )
        code = args.func(args)
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def run(conf: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> Run:  # type: ignore[no-untyped-def]
    return Run(conf, monkeypatch, capsys)


def test_user_add_passwd_list_del(run: Run, conf: Path) -> None:
    passwd = PasswdFile(conf.parent / "passwd")
    assert run("user", "add", "alice", "--password-stdin", stdin="first pass\n")[0] == 0
    assert verify_password(passwd.lookup("alice").password, "first pass")  # type: ignore[union-attr]
    code, _, err = run("user", "add", "alice", "--password-stdin", stdin="again pass\n")
    assert code == 65 and "exists" in err
    assert run("user", "passwd", "alice", "--password-stdin", stdin="second pass\n")[0] == 0
    assert verify_password(passwd.lookup("alice").password, "second pass")  # type: ignore[union-attr]
    code, out, _ = run("user", "list")
    assert code == 0 and out.startswith("alice\tARGON2ID\t2fa=off")
    assert run("user", "del", "alice")[0] == 0
    assert passwd.lookup("alice") is None
    assert run("user", "del", "alice")[0] == 67
    assert run("user", "passwd", "bob", "--password-stdin", stdin="whatever1\n")[0] == 67


def test_bad_input_is_dataerr(run: Run) -> None:
    assert run("user", "add", "alice", "--password-stdin", stdin="short\n")[0] == 65
    assert run("user", "add", "alice", "--password-stdin", stdin="\n")[0] == 65
    assert run("user", "add", "a:b", "--password-stdin", stdin="long enough\n")[0] == 65


def test_password_prompt_asks_twice(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["typed pass", "typed pasS"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert run("user", "add", "alice")[0] == 65
    answers = iter(["typed pass", "typed pass"])
    assert run("user", "add", "alice")[0] == 0


def test_config_error_exits_78(run: Run, conf: Path) -> None:
    conf.write_text("[auth]\nno_such_key = 1\n")
    code, _, err = run("user", "list")
    assert code == 78 and "no_such_key" in err


class CodeFromOutput(io.StringIO):
    """Stdin that answers the code prompt with the current code of the printed secret."""

    def __init__(self, capsys, wrong_first: bool = False) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.capsys = capsys
        self.wrong_first = wrong_first
        self.seen = ""

    def readline(self, size: int = -1) -> str:  # type: ignore[override]
        out, _err = self.capsys.readouterr()
        self.seen += out
        secret = re.search(r"secret=([A-Z2-7]+)", self.seen).group(1)  # type: ignore[union-attr]
        if self.wrong_first:
            self.wrong_first = False
            return "000000\n" if pyotp.TOTP(secret).now() != "000000" else "111111\n"
        return pyotp.TOTP(secret).now() + "\n"


def test_2fa_enable_status_disable(run: Run, conf: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    run("user", "add", "alice", "--password-stdin", stdin="first pass\n")
    stdin = CodeFromOutput(capsys, wrong_first=True)
    code, out, _ = run("2fa", "enable", "alice", stdin=stdin)
    assert code == 0
    full = stdin.seen + out
    assert "otpauth://totp/mailhost:alice?secret=" in full
    assert "█" in full or "▀" in full  # the QR code
    assert "does not match" in full
    recovery = re.findall(r"^  ([a-z2-7]{5}-[a-z2-7]{5})$", out, re.M)
    assert len(recovery) == 10
    state = StateStore(conf.parent / "data" / "auth").load("alice")
    assert state.totp is not None and len(state.recovery) == 10
    assert all(r.digest not in out for r in state.recovery)  # stored hashed
    assert run("2fa", "enable", "alice", stdin="")[0] == 65
    code, out, _ = run("2fa", "status", "alice")
    assert "on since" in out and "recovery codes left: 10" in out
    code, out, _ = run("2fa", "recovery-codes", "alice")
    fresh = re.findall(r"^  ([a-z2-7]{5}-[a-z2-7]{5})$", out, re.M)
    assert code == 0 and len(fresh) == 10 and not set(fresh) & set(recovery)
    digests = {r.digest for r in StateStore(conf.parent / "data" / "auth").load("alice").recovery}
    assert digests == {twofactor.digest(c.replace("-", "")) for c in fresh}
    assert run("2fa", "disable", "alice")[0] == 0
    assert "off" in run("2fa", "status", "alice")[1]
    assert run("2fa", "recovery-codes", "alice")[0] == 65
    assert run("2fa", "status", "nobody")[0] == 67


def test_2fa_enable_without_a_code_stays_off(run: Run, conf: Path) -> None:
    run("user", "add", "alice", "--password-stdin", stdin="first pass\n")
    assert run("2fa", "enable", "alice", "--no-qr", stdin="")[0] == 65
    assert StateStore(conf.parent / "data" / "auth").load("alice").totp is None


def test_app_password_add_list_revoke(run: Run, conf: Path) -> None:
    run("user", "add", "alice", "--password-stdin", stdin="first pass\n")
    code, out, _ = run(
        "app-password", "add", "alice", "--label", "Outlook on laptop",
        "--protocols", "pop3,imap", "--expires", "90d", "--from", "192.0.2.0/24",
    )  # fmt: skip
    assert code == 0
    shown = re.search(r"^    (mh[a-z2-7 ]+)$", out, re.M).group(1)  # type: ignore[union-attr]
    assert len(shown.replace(" ", "")) == 28
    state = StateStore(conf.parent / "data" / "auth").load("alice")
    (ap,) = state.app_passwords
    assert ap.label == "Outlook on laptop" and ap.protocols == ["imap", "pop3"]
    assert ap.networks == ["192.0.2.0/24"]
    assert ap.expires is not None and abs(ap.expires - time.time() - 90 * 86400) < 60
    assert (
        shown.replace(" ", "")[8:] not in conf.parent.joinpath("data/auth/alice.json").read_text()
    )
    code, out, _ = run("app-password", "list", "alice")
    assert ap.id in out and "Outlook on laptop" in out and "never" in out
    assert run("app-password", "add", "alice", "--label", "x", "--protocols", "smtp2")[0] == 65
    assert run("app-password", "add", "alice", "--label", "x", "--expires", "soon")[0] == 65
    assert run("app-password", "add", "alice", "--label", "x", "--from", "nowhere")[0] == 65
    assert run("app-password", "revoke", "alice", "nosuch")[0] == 65
    assert run("app-password", "revoke", "alice", ap.id)[0] == 0
    run("app-password", "add", "alice", "--label", "one")
    run("app-password", "add", "alice", "--label", "two")
    assert "revoked 2" in run("app-password", "revoke", "alice", "--all")[1]
    assert run("app-password", "list", "bob")[0] == 67


def test_password_change_revokes_app_passwords(run: Run, conf: Path) -> None:
    run("user", "add", "alice", "--password-stdin", stdin="first pass\n")
    run("app-password", "add", "alice", "--label", "phone")
    code, out, _ = run("user", "passwd", "alice", "--password-stdin", stdin="second pass\n")
    assert code == 0 and "revoked 1" in out
    assert StateStore(conf.parent / "data" / "auth").load("alice").app_passwords == []


def test_grants_listed_and_revoked(run: Run, conf: Path) -> None:
    from mailhost.auth.state import Grant

    run("user", "add", "alice", "--password-stdin", stdin="first pass\n")
    store = StateStore(conf.parent / "data" / "auth")
    now = time.time()
    store.update(
        "alice",
        lambda s: s.grants.append(Grant("g1", "k", "pop3", "192.0.2.0/24", now, now + 3600)),
    )
    code, out, _ = run("2fa", "grants", "alice")
    assert code == 0 and "g1\tpop3\t192.0.2.0/24" in out
    assert run("2fa", "revoke-grant", "alice", "nope")[0] == 65
    assert run("2fa", "revoke-grant", "alice", "g1")[0] == 0
    assert store.load("alice").grants == []
