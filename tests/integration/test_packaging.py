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

    # A fresh venv that sees the already installed dependencies but not our source tree.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--prefix",
            str(venv),
            str(wheel),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import mailhost, sys; print(mailhost.__file__)"],
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
    twistd = [str(venv / "bin" / "python"), "-m", "twisted", "--help"]
    listing = subprocess.run(twistd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert "mailhost" in listing.stdout, listing.stdout + listing.stderr
    proc = subprocess.Popen(
        [
            str(venv / "bin" / "python"),
            "-m",
            "twisted",
            "--nodaemon",
            "--pidfile=",
            "--logfile=-",
            "mailhost",
            "--config",
            str(cfg),
        ],
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
