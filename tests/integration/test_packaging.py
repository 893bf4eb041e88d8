"""``pip install .`` then ``twistd -n mailhost``: the plugin must ship in the wheel."""

from __future__ import annotations

import imaplib
import os
import socket
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[2]
TWISTD = "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_wheel_ships_the_twistd_plugin_and_twistd_serves(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("mailhost-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "twisted/plugins/mailhost_plugin.py" in names
    assert "twisted/__init__.py" not in names and "twisted/plugins/__init__.py" not in names
    assert not any(n.endswith("dropin.cache") for n in names)

    # A fresh venv with the wheel installed by its own pip; it then borrows the already
    # installed dependencies (not our source tree) through a .pth file.
    venv = tmp_path / "venv"
    python = str(venv / "bin" / "python")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "zz-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = subprocess.run(
        [python, "-c", "import mailhost; print(mailhost.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    assert str(venv) in probe.stdout, probe.stdout

    port = free_port()
    cfg = tmp_path / "etc-test.toml"
    cfg.write_text(
        f"""[server]
data_dir = "data"
hostname = "localhost"
[auth]
passwd_file = "passwd"
[pop3]
listen = []
listen_tls = []
stls = false
[imap]
listen = ["tcp:{port}:interface=127.0.0.1"]
listen_tls = []
starttls = false
"""
    )
    (tmp_path / "passwd").write_text("")
    # the venv borrows Twisted through deps.pth, so it has no twistd script of its own
    # the venv borrows Twisted through the .pth file, so it has no twistd script of its own
    twistd = [python, "-c", TWISTD]
    listing = subprocess.run(
        [*twistd, "--help"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert "mailhost" in listing.stdout, listing.stdout + listing.stderr
    proc = subprocess.Popen(
        [*twistd, "--nodaemon", "--pidfile=", "--logfile=-", "mailhost", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                imap = imaplib.IMAP4("127.0.0.1", port, timeout=5)
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "twistd mailhost did not listen"
                time.sleep(0.2)
        assert "IMAP4REV1" in imap.capabilities
        imap.logout()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
