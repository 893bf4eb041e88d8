"""POP3 RETR throughput: the reference harness's pop3 workload against one local mailhost.

Builds (once) a Maildir of 2,000 messages of ~20 KB with LF line endings, written the way a
foreign MDA would (qmail-style names, no size hints, ~10 % left in ``new/``), hard-links it
into a fresh work directory, starts ``mailhost serve`` pinned to CPU 0 and runs a blocking
raw-socket client pinned to CPU 1: ``USER/PASS``, ``STAT``, ``LIST``, ``UIDL``,
``RETR 1..N`` (one command in flight), ``QUIT``; several sessions on one server, the first
being the server's first look at the Maildir.

    .venv/bin/python bench/pop3_bench.py                 # 3 sessions
    .venv/bin/python bench/pop3_bench.py --verify        # also check every octet
    .venv/bin/python bench/pop3_bench.py --profile /tmp/pop3.svg   # py-spy the server
    .venv/bin/python bench/pop3_bench.py --profile /tmp/pop3.txt   # collapsed stacks
    PYTHONPATH=/other/tree/src .venv/bin/python bench/pop3_bench.py   # A/B another tree

The server inherits the environment, so ``PYTHONPATH`` picks the code under test.

Reports per session: RETR-all seconds, MB/s (bytes as the harness counts them: each
response body without its status line and terminator), server CPU per RETR (from
``/proc/PID/stat``) and STAT/LIST/UIDL milliseconds.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
PY_SPY = ROOT / ".venv" / "bin" / "py-spy"
HARNESS_CACHE = Path("/tmp/perf-cache/pop2000x20k")
OWN_CACHE = Path(tempfile.gettempdir()) / "mailhost-pop3-bench-cache"
USER = "user201"
EPOCH = 1_700_000_000
WORDS = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
    "ex",
    "ea",
    "commodo",
]
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- the mail set (the harness's lib/mailgen.py generation, same layout) ------------------


def _message(i: int, body_bytes: int, rnd: random.Random) -> bytes:
    k = i % 97
    sender = '"Alice Example" <alice@example.org>' if i % 100 == 0 else f"<sender{k}@example.com>"
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(EPOCH + i * 60))
    header = (
        f"Return-Path: <bounce{k}@example.com>\n"
        f"From: {sender}\n"
        f'To: "Perf User" <user@example.net>\n'
        f"Subject: Test message {i} about topic {i % 13}\n"
        f"Date: {date}\n"
        f"Message-ID: <perf.{i}.{body_bytes}@example.com>\n"
        f"MIME-Version: 1.0\n"
        f"Content-Type: text/plain; charset=us-ascii\n"
        f"\n"
    )
    lines: list[str] = []
    n = 0
    while n < body_bytes:
        line = " ".join(rnd.choice(WORDS) for _ in range(11))[:72]
        if rnd.random() < 0.01:
            line = "." + line  # some lines need dot-stuffing
        lines.append(line)
        n += len(line) + 1
    return (header + "\n".join(lines) + "\n").encode()


def build_set(path: Path, count: int, body_bytes: int) -> None:
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for d in ("cur", "new", "tmp"):
        (partial / d).mkdir(parents=True)
    rnd = random.Random(1)
    new_from = int(count * 0.9)
    for i in range(1, count + 1):
        base = f"{EPOCH + i}.M{i:06d}P4242Q{i}.perfgen"
        name = partial / "new" / base if i > new_from else partial / "cur" / f"{base}:2,"
        name.write_bytes(_message(i, body_bytes, rnd))
    partial.rename(path)


def mail_set(count: int, body_bytes: int, own: bool) -> Path:
    if not own and count == 2000 and body_bytes == 20 * 1024 and HARNESS_CACHE.is_dir():
        return HARNESS_CACHE
    path = OWN_CACHE / f"pop{count}x{body_bytes}"
    if not path.is_dir():
        OWN_CACHE.mkdir(parents=True, exist_ok=True)
        build_set(path, count, body_bytes)
    return path


def link_tree(src: Path, dest: Path) -> None:
    for d in ("cur", "new", "tmp"):
        (dest / d).mkdir(parents=True, exist_ok=True)
        for name in os.listdir(src / d):
            os.link(src / d / name, dest / d / name)


# -- the server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(work: Path, port: int, threads: int, pin: str) -> subprocess.Popen[bytes]:
    (work / "passwd").write_text(f"{USER}:{{PLAIN}}pass::::::\n")
    (work / "mailhost.toml").write_text(
        f"""[server]
hostname = "localhost"
data_dir = "{work}"
threads = {threads}
[auth]
passwd_file = "{work}/passwd"
allow_plaintext_auth = "always"
[store]
maildir = "mail/%u/Maildir"
[pop3]
listen = ["tcp:{port}:interface=127.0.0.1"]
listen_tls = []
stls = false
[imap]
listen = []
listen_tls = []
starttls = false
"""
    )
    cmd = [str(PYTHON), "-m", "mailhost.cli", "serve", "--config", str(work / "mailhost.toml")]
    if pin:
        cmd = ["taskset", "-c", pin, *cmd]
    log = open(work / "mailhost.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited:\n{(work / 'mailhost.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("server did not start listening")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


# -- the client -----------------------------------------------------------------------------


class Client:
    """Blocking POP3 client: responses found with ``bytes.find`` over big reads."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.line()

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 18)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def line(self) -> bytes:
        while (i := self.buf.find(b"\r\n")) < 0:
            self._fill()
        out = bytes(self.buf[:i])
        del self.buf[: i + 2]
        if not out.startswith(b"+OK"):
            raise RuntimeError(f"POP3 error {out!r}")
        return out

    def single(self, command: bytes) -> bytes:
        self.sock.sendall(command + b"\r\n")
        return self.line()

    def multi(self, command: bytes) -> bytes:
        """The body as the harness counts it: through the last CRLF, before ``.CRLF``."""
        self.sock.sendall(command + b"\r\n")
        self.line()
        self.buf[0:0] = b"\r\n"
        pos = 0
        while (i := self.buf.find(b"\r\n.\r\n", pos)) < 0:
            pos = max(0, len(self.buf) - 4)
            self._fill()
        out = bytes(self.buf[2 : i + 2])
        del self.buf[: i + 5]
        return out


def expected(path: Path) -> bytes:
    """What RETR must send for a file: CRLF, dot-stuffed, before the terminator."""
    data = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    data = data.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


def session(port: int, pid: int, maildir: Path | None) -> dict[str, float]:
    t0 = time.perf_counter()
    c = Client(port)
    c.single(b"USER " + USER.encode())
    c.single(b"PASS pass")
    t1 = time.perf_counter()
    stat = c.single(b"STAT")
    t2 = time.perf_counter()
    c.multi(b"LIST")
    t3 = time.perf_counter()
    uidl = c.multi(b"UIDL")
    t4 = time.perf_counter()
    count = int(stat.split()[1])
    total = 0
    bodies: list[bytes] = []
    cpu0 = cpu_seconds(pid)
    t5 = time.perf_counter()
    for i in range(1, count + 1):
        body = c.multi(b"RETR %d" % i)
        total += len(body)
        if maildir is not None:
            bodies.append(body)
    t6 = time.perf_counter()
    cpu1 = cpu_seconds(pid)
    c.single(b"QUIT")
    c.sock.close()
    if maildir is not None:
        files = sorted(
            (p for d in ("cur", "new") for p in (maildir / d).iterdir()),
            key=lambda p: p.name.split(":")[0],
        )
        wanted = {p.name.split(":")[0]: p for p in files}
        assert len(uidl.splitlines()) == count == len(bodies)
        by_content = {expected(p): p for p in wanted.values()}
        missing = [i + 1 for i, b in enumerate(bodies) if b not in by_content]
        if missing:
            raise SystemExit(f"VERIFY FAILED for messages {missing[:10]}")
    retr = t6 - t5
    return {
        "login_ms": (t1 - t0) * 1e3,
        "stat_ms": (t2 - t1) * 1e3,
        "list_ms": (t3 - t2) * 1e3,
        "uidl_ms": (t4 - t3) * 1e3,
        "retr_s": retr,
        "mbps": total / 1e6 / retr,
        "cpu_us_per_retr": (cpu1 - cpu0) / count * 1e6,
        "server_cpu_pct": (cpu1 - cpu0) / retr * 100,
        "bytes": total,
        "count": count,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--body", type=int, default=20 * 1024, help="body octets per message")
    ap.add_argument("--sessions", type=int, default=3)
    ap.add_argument("--threads", type=int, default=8, help="[server] threads")
    ap.add_argument("--server-cpu", default="0", help="taskset CPU list ('' = no pinning)")
    ap.add_argument("--client-cpu", type=int, default=1, help="-1 = no pinning")
    ap.add_argument("--own-set", action="store_true", help="never use the harness's cache")
    ap.add_argument("--verify", action="store_true", help="check every RETR's octets")
    ap.add_argument("--profile", metavar="SVG", help="py-spy record the server into SVG")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    if args.client_cpu >= 0:
        os.sched_setaffinity(0, {args.client_cpu})
    src = mail_set(args.messages, args.body, args.own_set)
    work = Path(tempfile.mkdtemp(prefix="mailhost-pop3-bench-"))
    maildir = work / "mail" / USER / "Maildir"
    link_tree(src, maildir)
    print(f"loadavg {Path('/proc/loadavg').read_text().strip()}; set {src}; work {work}")
    port = free_port()
    proc = start_server(work, port, args.threads, args.server_cpu)
    spy: subprocess.Popen[bytes] | None = None
    try:
        runs = []
        for n in range(args.sessions):
            if args.profile and n == args.sessions - 1:
                spy = subprocess.Popen(
                    [
                        str(PY_SPY),
                        "record",
                        "-r",
                        "500",
                        *(["--format", "raw"] if not args.profile.endswith(".svg") else []),
                        "--threads",
                        "-o",
                        args.profile,
                        "--pid",
                        str(proc.pid),
                    ]
                )
                time.sleep(1.0)
            verify_dir = maildir if args.verify else None
            r = session(port, proc.pid, verify_dir)
            runs.append(r)
            print(
                f"session {n + 1}: RETR {r['count']} in {r['retr_s']:.3f} s "
                f"= {r['mbps']:.1f} MB/s, "
                f"server CPU {r['cpu_us_per_retr']:.0f} us/RETR ({r['server_cpu_pct']:.0f} %); "
                f"login {r['login_ms']:.1f} STAT {r['stat_ms']:.2f} LIST {r['list_ms']:.2f} "
                f"UIDL {r['uidl_ms']:.2f} ms"
            )
        rest = sorted(runs[1:] or runs, key=lambda r: r["retr_s"])
        mid = rest[len(rest) // 2]
        print(
            f"median warm: RETR all {mid['retr_s']:.3f} s, {mid['mbps']:.1f} MB/s, "
            f"{mid['cpu_us_per_retr']:.0f} us server CPU per RETR"
        )
        if args.verify:
            print("verify: every RETR matched its file (CRLF, dot-stuffed)")
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"loadavg {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
