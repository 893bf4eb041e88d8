"""IMAP large-mailbox benchmark: the reference harness's "large" workload against mailhost.

Builds (or hard-links from the harness cache) Maildirs of 100,000 small foreign messages,
starts ``mailhost serve`` pinned to CPU 0, and runs, with a raw-socket client pinned to
CPU 1: cold LOGIN+SELECT, LOGOUT, then warm LOGIN+SELECT and ``UID FETCH 1:* (UID FLAGS
RFC822.SIZE)``, ``FETCH 1:1000 (ENVELOPE BODYSTRUCTURE)``, ``UID SEARCH UNSEEN``,
``SEARCH FROM "alice"``, ``STORE 1:1000 +FLAGS (\\Flagged)`` and the UID FETCH again.

Usage: ``python bench/imap_bench.py [--users 1] [--dir /tmp/imapbench] [--keep]
[--profile OUT.svg]``.  With ``--keep`` and an existing ``--dir`` the Maildirs (and the
store's indexes) are reused, so the "cold" SELECT is warm; without it they are rebuilt.
Not a test: it prints one line per command and the medians over the mailboxes.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path("/tmp/perf-cache/large100k")
EPOCH = 1_700_000_000
WORDS = [
    "lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do",
    "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "enim",
    "ad", "minim", "veniam", "quis", "nostrud", "exercitation", "ullamco", "laboris", "nisi",
    "aliquip", "ex", "ea", "commodo",
]  # fmt: skip
OPS = [
    ("uid_fetch_all", b"UID FETCH 1:* (UID FLAGS RFC822.SIZE)"),
    ("fetch_1000_env_bs", b"FETCH 1:1000 (ENVELOPE BODYSTRUCTURE)"),
    ("uid_search_unseen", b"UID SEARCH UNSEEN"),
    ("search_from", b'SEARCH FROM "alice"'),
    ("store_1000", b"STORE 1:1000 +FLAGS (\\Flagged)"),
    ("uid_fetch_all_again", b"UID FETCH 1:* (UID FLAGS RFC822.SIZE)"),
]
#: Not in the reference workload; for looking at costs (``--ops noop,...``).
EXTRA_OPS = [
    ("noop", b"NOOP"),
    ("fetch_1000_uid", b"FETCH 1:1000 (UID)"),
    ("fetch_1000_envelope", b"FETCH 1:1000 (ENVELOPE)"),
    ("fetch_1000_bodystructure", b"FETCH 1:1000 (BODYSTRUCTURE)"),
    ("unstore_1000", b"STORE 1:1000 -FLAGS (\\Flagged)"),
]
LIT = re.compile(rb"\{(\d+)\+?\}\r\n")


def _message(i: int, rnd: random.Random) -> bytes:
    """One message as the harness's generator writes it (large100k: 300 body octets)."""
    if i % 100 == 0:
        frm = '"Alice Example" <alice@example.org>'
    else:
        k = i % 97
        frm = f'"Sender {k}" <sender{k}@example.com>'
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(EPOCH + i * 60))
    hdr = (
        f"Return-Path: <bounce{i % 97}@example.com>\nFrom: {frm}\n"
        f'To: "Perf User" <user@example.net>\nSubject: Test message {i} about topic {i % 13}\n'
        f"Date: {date}\nMessage-ID: <perf.{i}.300@example.com>\nMIME-Version: 1.0\n"
        f"Content-Type: text/plain; charset=us-ascii\n\n"
    )
    lines: list[str] = []
    n = 0
    while n < 300:
        line = " ".join(rnd.choice(WORDS) for _ in range(11))[:72]
        lines.append(line)
        n += len(line) + 1
    return (hdr + "\n".join(lines) + "\n").encode()


def _build(dest: Path, count: int) -> None:
    for d in ("cur", "new", "tmp"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    rnd = random.Random(1)
    for i in range(1, count + 1):
        base = f"{EPOCH + i}.M{i:06d}P4242Q{i}.perfgen"
        if i > int(count * 0.9):
            path = dest / "new" / base
        else:
            path = dest / "cur" / f"{base}:2,{'S' if i <= count // 2 else ''}"
        path.write_bytes(_message(i, rnd))


def _install(dest: Path, count: int) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    if count == 100_000 and CACHE.is_dir():
        for d in ("cur", "new", "tmp"):
            (dest / d).mkdir(parents=True)
            for name in os.listdir(CACHE / d):
                os.link(CACHE / d / name, dest / d / name)
    else:
        _build(dest, count)


def _config(work: Path, port: int) -> Path:
    (work / "log").mkdir(parents=True, exist_ok=True)
    cfg = work / "mailhost.toml"
    cfg.write_text(
        f'[server]\nhostname = "localhost"\ndata_dir = "{work}"\n'
        f'[auth]\npasswd_file = "{work}/passwd"\nallow_plaintext_auth = "always"\n'
        f'[store]\nmaildir = "mail/%u/Maildir"\n'
        f"[pop3]\nlisten = []\nlisten_tls = []\nstls = false\n"
        f'[imap]\nlisten = ["tcp:{port}:interface=127.0.0.1"]\nlisten_tls = []\n'
        f"starttls = false\n"
    )
    (work / "passwd").write_text("".join(f"user{i}:{{PLAIN}}pass::::::\n" for i in range(1, 10)))
    return cfg


class Client:
    """A blocking raw-socket IMAP client that reads up to the tagged response."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.n = 0
        self._until(b"\r\n")

    def _until(self, marker: bytes) -> bytes:
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out, self.buf = self.buf[: i + len(marker)], self.buf[i + len(marker) :]
                return out
            chunk = self.sock.recv(262144)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk

    def cmd(self, text: bytes) -> bytes:
        self.n += 1
        tag = b"T%d" % self.n
        self.sock.sendall(tag + b" " + text + b"\r\n")
        acc = bytearray(self.buf)
        self.buf = b""
        want = b"\r\n" + tag + b" "
        pos = 0
        while True:
            # literals in these responses never hold the tag: a plain scan is enough
            if pos == 0 and acc.startswith(tag + b" "):
                i = -2
            else:
                i = acc.find(want, max(0, pos - len(want)))
            if i != -1:
                start = 0 if i == -2 else i + 2
                end = acc.find(b"\r\n", start)
                if end >= 0:
                    self.buf = bytes(acc[end + 2 :])
                    line = bytes(acc[start:end])
                    if not line.startswith(tag + b" OK"):
                        raise RuntimeError(line.decode(errors="replace"))
                    return bytes(acc[: end + 2])
            pos = len(acc)
            chunk = self.sock.recv(262144)
            if not chunk:
                raise ConnectionError("closed")
            acc += chunk

    def close(self) -> None:
        self.sock.close()


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("server exited") from None
            time.sleep(0.1)
    raise SystemExit("server did not start")


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        st = f.read()
    fields = st[st.rindex(")") + 2 :].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=1)
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--dir", default="/tmp/imapbench")
    ap.add_argument("--keep", action="store_true", help="reuse Maildirs and indexes")
    ap.add_argument("--port", type=int, default=20943)
    ap.add_argument("--profile", help="py-spy record the server into this file")
    ap.add_argument("--repeat", type=int, default=1, help="run each command this often")
    ap.add_argument("--ops", help="comma-separated subset of: " + ",".join(n for n, _ in OPS))
    a = ap.parse_args()
    work = Path(a.dir)
    users = [f"user{i}" for i in range(1, a.users + 1)]
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    for u in users:
        md = work / "mail" / u / "Maildir"
        if not md.is_dir():
            _install(md, a.count)
    cfg = _config(work, a.port)
    py = str(ROOT / ".venv" / "bin" / "python")
    cmd = ["taskset", "-c", "0", py, "-m", "mailhost.cli", "serve", "--config", str(cfg)]
    log = open(work / "log" / "bench.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    spy = None
    try:
        _wait_port(a.port, proc)
        if a.profile:
            spy = subprocess.Popen(
                [
                    str(ROOT / ".venv" / "bin" / "py-spy"),
                    "record",
                    "-p",
                    str(proc.pid),
                    "-o",
                    a.profile,
                    "-r",
                    os.environ.get("SPY_RATE", "200"),
                    "--nonblocking",
                ]
                + (["-f", "speedscope"] if a.profile.endswith(".json") else [])
                + (["-f", "raw"] if a.profile.endswith(".txt") else []),
                stdout=subprocess.DEVNULL,
            )
            time.sleep(1)
        os.sched_setaffinity(0, {1})
        with open("/proc/loadavg") as f:
            print("loadavg", f.read().strip())
        ops = OPS if not a.ops else [o for o in OPS + EXTRA_OPS if o[0] in a.ops.split(",")]
        ops = [op for op in ops for _ in range(a.repeat)]
        results: dict[str, list[float]] = {}
        for u in users:
            row: dict[str, float] = {}
            t = time.perf_counter()
            c = Client(a.port)
            c.cmd(b"LOGIN " + u.encode() + b" pass")
            c.cmd(b"SELECT INBOX")
            row["select_cold"] = time.perf_counter() - t
            c.cmd(b"LOGOUT")
            c.close()
            t = time.perf_counter()
            c = Client(a.port)
            c.cmd(b"LOGIN " + u.encode() + b" pass")
            c.cmd(b"SELECT INBOX")
            row["select_warm"] = time.perf_counter() - t
            for name, text in ops:
                cpu0 = _cpu(proc.pid)
                t = time.perf_counter()
                out = c.cmd(text)
                row[name] = time.perf_counter() - t
                if b"SEARCH" in text:
                    line = out.split(b"* SEARCH", 1)[1].split(b"\r\n", 1)[0]
                    info = f"hits={len(line.split())}"
                else:
                    info = f"fetches={out.count(b' FETCH (')} bytes={len(out)}"
                print(f"{u} {name:22s} {row[name]:8.3f}s cpu={_cpu(proc.pid) - cpu0:.2f}s {info}")
            c.cmd(b"LOGOUT")
            c.close()
            print(f"{u} select cold {row['select_cold']:.3f}s warm {row['select_warm']:.3f}s")
            for k, v in row.items():
                results.setdefault(k, []).append(v)
        print("median:", " ".join(f"{k}={statistics.median(v):.3f}" for k, v in results.items()))
    finally:
        if spy is not None:
            spy.send_signal(2)
            spy.wait(30)
        proc.terminate()
        proc.wait(30)
        log.close()


if __name__ == "__main__":
    sys.exit(main())
