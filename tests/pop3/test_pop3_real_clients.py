"""Real clients over loopback sockets: poplib, curl, fetchmail."""

from __future__ import annotations

import poplib
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailhost.auth.static import StaticAuthenticator
from mailhost.blocking import ThreadedBlocking, make_pool
from mailhost.pop3.config import POP3Config
from mailhost.pop3.server import POP3Factory
from mailhost.store.memory import MemoryStore
from mailhost.tls import TLSProvider

from .helpers import MSG1, MSG2

BIG = b"From: big@example.test\r\nSubject: attachment\r\nMIME-Version: 1.0\r\n\r\n" + b"".join(
    (b"." if i % 7 == 0 else b"") + b"%07d " % i + b"x" * 60 + b"\r\n" for i in range(76000)
)
NO_EOL = b"Subject: no newline\r\n\r\nlast line without end"


@pytest.fixture
def blocking(reactor: Any) -> Iterator[ThreadedBlocking]:
    pool = make_pool("pop3-test", 4)
    pool.start()
    yield ThreadedBlocking(reactor.reactor, pool)
    pool.stop()


@pytest.fixture
def store() -> MemoryStore:
    s = MemoryStore()
    inbox = s.account("alice").folder("INBOX")
    for m in (MSG1, MSG2, BIG, NO_EOL):
        inbox.append(m)
    return s


@pytest.fixture
def server(
    listen: Any, reactor: Any, blocking: ThreadedBlocking, store: MemoryStore, tls_files: Any
) -> dict[str, int]:
    cert, key = tls_files
    tls = TLSProvider(cert, key)
    auth = StaticAuthenticator({"alice": "secret"}, store, "loopback")

    def factory(implicit: bool) -> POP3Factory:
        return POP3Factory(
            config=POP3Config(),
            authenticator=auth,
            blocking=blocking,
            hostname="localhost",
            tls=tls,
            implicit_tls=implicit,
            clock=reactor.reactor,
        )

    plain = listen(factory(False))
    implicit = listen(tls.wrap(factory(True)))
    return {"plain": plain, "tls": implicit}


def _context(tls_files: Any) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(tls_files[0]))
    return ctx


def test_poplib_session(server: dict[str, int], store: MemoryStore) -> None:
    p = poplib.POP3("127.0.0.1", server["plain"], timeout=10)
    try:
        caps = p.capa()
        assert "STLS" in caps and "USER" in caps and "PIPELINING" in caps
        p.user("alice")
        p.pass_("secret")
        count, size = p.stat()
        assert count == 4
        sizes = [int(line.split()[1]) for line in p.list()[1]]
        assert size == sum(sizes)
        for n, expected in enumerate((MSG1, MSG2, BIG, NO_EOL), 1):
            _, lines, _octets = p.retr(n)
            body = b"\r\n".join(lines)
            if expected.endswith(b"\r\n"):
                body += b"\r\n"
            assert body == expected
            assert sizes[n - 1] == len(expected)
        assert p.top(1, 0)[1] == [b"From: a@example.test", b"Subject: one", b""]
        uidl = p.uidl()[1]
        assert len(uidl) == 4
        p.dele(1)
        p.quit()
    finally:
        p.close()
    inbox = store.account("alice").folder("INBOX")
    assert [m.size for m in inbox.list_messages()] == [len(MSG2), len(BIG), len(NO_EOL)]
    assert all("\\Seen" in m.flags for m in inbox.list_messages())


def test_poplib_stls_and_utf8(server: dict[str, int], tls_files: Any) -> None:
    p = poplib.POP3("127.0.0.1", server["plain"], timeout=10)
    try:
        p.stls(_context(tls_files))
        caps = p.capa()
        assert "STLS" not in caps and "USER" in caps
        assert p.utf8().startswith(b"+OK")
        p.user("alice")
        p.pass_("secret")
        assert p.stat()[0] == 4
        p.quit()
    finally:
        p.close()


def test_poplib_implicit_tls(server: dict[str, int], tls_files: Any) -> None:
    p = poplib.POP3_SSL("127.0.0.1", server["tls"], context=_context(tls_files), timeout=10)
    try:
        assert "STLS" not in p.capa()
        p.user("alice")
        p.pass_("secret")
        assert p.stat()[0] == 4
        assert b"\r\n".join(p.retr(3)[1]) + b"\r\n" == BIG  # streamed through TLS
        p.quit()
    finally:
        p.close()


def _curl(*args: str) -> bytes:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "20", "-u", "alice:secret", *args],
        check=True,
        capture_output=True,
    ).stdout


needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


@needs_curl
def test_curl_list_retr_top_uidl(server: dict[str, int]) -> None:
    base = f"pop3://127.0.0.1:{server['plain']}/"
    assert _curl(base) == b"".join(
        b"%d %d\r\n" % (n, len(m)) for n, m in enumerate((MSG1, MSG2, BIG, NO_EOL), 1)
    )
    assert _curl(base + "2") == MSG2
    assert _curl(base + "3") == BIG
    assert _curl(base + "4") == NO_EOL + b"\r\n"
    assert _curl(base, "-X", "TOP 1 0") == b"From: a@example.test\r\nSubject: one\r\n\r\n"
    uidl = _curl(base, "-X", "UIDL").split(b"\r\n")
    assert [line.split()[0] for line in uidl if line] == [b"1", b"2", b"3", b"4"]


@needs_curl
def test_curl_pop3s_and_stls(server: dict[str, int], tls_files: Any) -> None:
    ca = str(tls_files[0])
    assert _curl("--cacert", ca, f"pop3s://localhost:{server['tls']}/1") == MSG1
    assert _curl("--cacert", ca, "--ssl-reqd", f"pop3://localhost:{server['plain']}/2") == MSG2


FETCHMAIL = shutil.which("fetchmail")


def _fetchmail(tmp: Path, port: int, tls_files: Any, keep: bool) -> list[bytes]:
    out = tmp / "out"
    out.mkdir(exist_ok=True)
    mda = tmp / "mda.sh"
    mda.write_text('#!/bin/sh\ncat > "$1/$(date +%s%N).eml"\n')
    mda.chmod(0o755)
    rc = tmp / "fetchmailrc"
    rc.write_text(
        "set no syslog\nset invisible\n"
        f"poll 127.0.0.1 service {port} protocol POP3 uidl auth password\n"
        '  user "alice" there with password "secret" is "x" here\n'
        f"  options {'keep' if keep else 'nokeep'} sslcommonname localhost"
        f" sslcertfile {tls_files[0]} sslcertck\n"
        f'  mda "{mda} {out}"\n'
    )
    rc.chmod(0o600)
    result = subprocess.run(
        [
            FETCHMAIL or "fetchmail",
            "-f",
            str(rc),
            "--pidfile",
            str(tmp / "pid"),
            "-i",
            str(tmp / "ids"),
        ],
        env={"HOME": str(tmp), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=60,
        check=False,
    )
    # 0: mail fetched, 1: no new mail
    assert result.returncode in (0, 1), result.stderr
    return [p.read_bytes() for p in sorted(out.iterdir())]


def _lf(message: bytes) -> bytes:
    """What an MDA gets from fetchmail: LF line ends, a final newline."""
    text = message.replace(b"\r\n", b"\n")
    return text if text.endswith(b"\n") else text + b"\n"


@pytest.mark.skipif(FETCHMAIL is None, reason="fetchmail is not installed")
def test_fetchmail_keep_then_nothing_new(
    server: dict[str, int], tls_files: Any, tmp_path: Path, store: MemoryStore
) -> None:
    got = _fetchmail(tmp_path, server["plain"], tls_files, keep=True)
    assert got == [_lf(m) for m in (MSG1, MSG2, BIG, NO_EOL)]
    assert _fetchmail(tmp_path, server["plain"], tls_files, keep=True) == got
    assert len(store.account("alice").folder("INBOX").list_messages()) == 4


@pytest.mark.skipif(FETCHMAIL is None, reason="fetchmail is not installed")
def test_fetchmail_deletes_without_keep(
    server: dict[str, int], tls_files: Any, tmp_path: Path, store: MemoryStore
) -> None:
    got = _fetchmail(tmp_path, server["plain"], tls_files, keep=False)
    assert got == [_lf(m) for m in (MSG1, MSG2, BIG, NO_EOL)]
    assert store.account("alice").folder("INBOX").list_messages() == []
    assert _fetchmail(tmp_path, server["plain"], tls_files, keep=False) == got


def test_stls_drops_injected_plaintext(server: dict[str, int], tls_files: Any) -> None:
    """RFC 2595 §4: a command sent with STLS in one packet must not run after TLS starts."""
    with socket.create_connection(("127.0.0.1", server["plain"]), timeout=10) as raw:
        f = raw.makefile("rb")
        assert f.readline().startswith(b"+OK")
        raw.sendall(b"STLS\r\nCAPA\r\n")
        assert f.readline() == b"+OK Begin TLS negotiation now\r\n"
        with _context(tls_files).wrap_socket(raw, server_hostname="localhost") as tls:
            tls.settimeout(0.5)
            with pytest.raises(TimeoutError):
                tls.recv(100)
            tls.settimeout(10)
            tls.sendall(b"QUIT\r\n")
            assert tls.recv(100) == b"+OK localhost POP3 server signing off\r\n"


def test_pipelined_burst_over_socket(server: dict[str, int]) -> None:
    """RFC 2449 PIPELINING: one packet of commands, answers in order, with a thread pool."""
    with socket.create_connection(("127.0.0.1", server["plain"]), timeout=10) as raw:
        f = raw.makefile("rb")
        assert f.readline().startswith(b"+OK")
        raw.sendall(b"USER alice\r\nPASS secret\r\nSTAT\r\nRETR 2\r\nLIST 1\r\nNOOP\r\nQUIT\r\n")
        replies = f.read()
    expected_size = sum(len(m) for m in (MSG1, MSG2, BIG, NO_EOL))
    assert replies == (
        b"+OK Send PASS\r\n+OK Logged in, 4 messages (%d octets)\r\n+OK 4 %d\r\n"
        % (expected_size, expected_size)
        + b"+OK %d octets\r\n" % len(MSG2)
        + MSG2.replace(b"\r\n.", b"\r\n..")
        + b".\r\n+OK 1 %d\r\n+OK\r\n" % len(MSG1)
        + b"+OK localhost POP3 server signing off (4 messages left)\r\n"
    )


def test_each_retr_answer_is_one_write(
    listen: Any, reactor: Any, blocking: ThreadedBlocking
) -> None:
    """The benchmark's shape: sequential RETRs of ~20 KB, each answered in one write.

    A response written in pieces (status line, then body) stalls ~40 ms per RETR on a
    delayed ACK: the test counts the transport writes per answer rather than timing them.
    """
    s = MemoryStore()
    inbox = s.account("alice").folder("INBOX")
    message = b"Subject: x\r\n\r\n" + b"y" * 70 + b"\r\n" * 270
    for _ in range(40):
        inbox.append(message)
    factory = POP3Factory(
        config=POP3Config(),
        authenticator=StaticAuthenticator({"alice": "secret"}, s),
        blocking=blocking,
        hostname="localhost",
        tls=None,
        clock=reactor.reactor,
    )
    writes: list[int] = []
    build = factory.buildProtocol

    def counting(addr: object) -> Any:
        proto = build(addr)
        made = proto.makeConnection

        def make(transport: Any) -> None:
            for name in ("write", "writeSequence"):
                real = getattr(transport, name)

                def wrapped(data: Any, real: Any = real) -> None:
                    writes.append(1)
                    real(data)

                setattr(transport, name, wrapped)
            made(transport)

        proto.makeConnection = make  # type: ignore[method-assign]
        return proto

    factory.buildProtocol = counting  # type: ignore[method-assign]
    p = poplib.POP3("127.0.0.1", listen(factory), timeout=10)
    try:
        p.user("alice")
        p.pass_("secret")
        for n in range(1, 41):
            before = len(writes)
            assert p.retr(n)[1][-1] == b""  # (the body's last line)
            assert len(writes) - before == 1, f"RETR {n} answered in {len(writes) - before} writes"
        p.quit()
    finally:
        p.close()


def test_poplib_on_maildir_store(
    listen: Any, reactor: Any, blocking: ThreadedBlocking, tmp_path: Path
) -> None:
    """LF files on disk: LIST sizes count CRLF, RETR sends exactly that, QUIT expunges."""
    from mailhost.store.maildir.store import MaildirStore

    s = MaildirStore(str(tmp_path / "%u"), fsync=False)
    inbox = s.account("alice").folder("INBOX")
    stored = [b"Subject: lf\n\n.dot\n..two\nbody\n", b"Subject: x\r\n\r\nno eol", BIG]
    for m in stored:
        inbox.append(m)
    factory = POP3Factory(
        config=POP3Config(),
        authenticator=StaticAuthenticator({"alice": "secret"}, s),
        blocking=blocking,
        hostname="localhost",
        tls=None,
        clock=reactor.reactor,
    )
    p = poplib.POP3("127.0.0.1", listen(factory), timeout=10)
    try:
        p.user("alice")
        p.pass_("secret")
        crlf = [m.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for m in stored]
        assert [int(x.split()[1]) for x in p.list()[1]] == [len(m) for m in crlf]
        for n, m in enumerate(crlf, 1):
            lines = p.retr(n)[1]
            assert b"\r\n".join(lines) + (b"\r\n" if m.endswith(b"\r\n") else b"") == m
        p.dele(1)
        p.quit()
    finally:
        p.close()
    assert [i.uid for i in inbox.list_messages()] == [2, 3]
