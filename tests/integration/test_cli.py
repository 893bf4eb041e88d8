"""The ``mailhost`` command and ``twistd mailhost``: configuration errors, delivery."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mailhost.testing import MailHost

BIN = Path(sys.executable).parent

GOOD = """\
[server]
data_dir = "."
hostname = "localhost"
[auth]
passwd_file = "passwd"
[tls]
self_signed = true
certificate = "cert.pem"
private_key = "key.pem"
[pop3]
listen = ["tcp:0:interface=127.0.0.1"]
listen_tls = []
[imap]
listen = ["tcp:0:interface=127.0.0.1"]
listen_tls = []
"""


def run(
    *args: str, stdin: bytes = b"", cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]], input=stdin, capture_output=True, timeout=60, cwd=cwd
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailhost.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace("hostname", "hostnmae"),
            r"server.hostnmae: unknown key (did you mean 'hostname'?)",
        ),
        (
            GOOD.replace(
                '["tcp:0:interface=127.0.0.1"]\nlisten_tls = []\n[imap]',
                '["tcp:70000"]\nlisten_tls = []\n[imap]',
            ),
            "pop3.listen: 'tcp:70000': port must be a number from 0 to 65535",
        ),
        (
            GOOD.replace("self_signed = true", "self_signed = false").replace(
                'certificate = "cert.pem"', 'certificate = "missing.pem"'
            ),
            "tls.certificate: cannot read",
        ),
        (
            GOOD + "[store]\nfsync = 3\n",
            "store.fsync: must be one of 'always', 'optimized', 'never', not 3",
        ),
        ("[server\n", "not valid TOML"),
    ],
    ids=["typo", "bad-port", "unreadable-certificate", "bad-type", "bad-toml"],
)
@pytest.mark.parametrize("command", ["check-config", "serve"])
def test_config_errors_give_one_line_and_exit_78(
    tmp_path: Path, text: str, expected: str, command: str
) -> None:
    path = write(tmp_path, text)
    result = run("mailhost", command, "--config", str(path))
    assert result.returncode == 78
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert str(path) in lines[0]
    assert expected in lines[0]


def test_twistd_config_error_exits_78(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("hostname", "hostnmae"))
    result = run(
        "twistd", "--nodaemon", "--pidfile=", "mailhost", "--config", str(path), cwd=tmp_path
    )
    assert result.returncode == 78
    assert b"unknown key" in result.stderr
    assert b"Traceback" not in result.stderr + result.stdout


def test_check_config_accepts_the_production_example(tmp_path: Path) -> None:
    example = Path(__file__).parents[2] / "etc" / "mailhost.toml"
    from mailhost.config import load_config

    cfg = load_config(example)
    assert cfg.pop3.listen == ("tcp:110",) and cfg.imap.listen_tls == ("tcp:993",)


def test_deliver_exit_codes(tmp_path: Path) -> None:
    host = MailHost(tmp_path / "h", users={"alice": "pw"})
    cfg = str(host.config_path)
    ok = run("mailhost", "deliver", "alice", "--config", cfg, stdin=b"Subject: x\n\nbody\n")
    assert ok.returncode == 0, ok.stderr
    unknown = run("mailhost", "deliver", "nobody", "--config", cfg, stdin=b"Subject: x\n\nbody\n")
    assert unknown.returncode == 67
    assert b"unknown user" in unknown.stderr
    folder = run(
        "mailhost",
        "deliver",
        "alice",
        "--folder",
        "Lists/Python",
        "--config",
        cfg,
        stdin=b"From sender@example.org Thu Nov 26 00:00:00 2026\nSubject: y\n\nbody\n",
    )
    assert folder.returncode == 0, folder.stderr
    inbox = host.account("alice").folder("INBOX")
    assert [inbox.read_message(m.uid) for m in inbox.list_messages()] == [
        b"Subject: x\r\n\r\nbody\r\n"
    ]
    lists = host.account("alice").folder("Lists/Python")
    assert [lists.read_message(m.uid) for m in lists.list_messages()] == [
        b"Subject: y\r\n\r\nbody\r\n"
    ]
    bad = run("mailhost", "deliver", "alice", "--folder", "a/../b", "--config", cfg, stdin=b"x\n")
    assert bad.returncode == 65


def test_deliver_temporary_failure_is_75(tmp_path: Path) -> None:
    host = MailHost(tmp_path / "h", users={"alice": "pw"})
    maildir = host.config.mail_root
    maildir.parent.mkdir(parents=True, exist_ok=True)
    maildir.write_text("not a directory")  # the store cannot create mail/alice
    result = run("mailhost", "deliver", "alice", "--config", str(host.config_path), stdin=b"x\n")
    assert result.returncode == 75, result.stderr
