"""POP3 (RFC 1939, RFC 2449) with real clients: poplib, a pipelining raw client, fetchmail,
getmail, mpop."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest
from integration_support import (
    FETCHMAIL,
    GETMAIL,
    HEADER,
    MPOP,
    REAL_MAIL,
    USERS,
    RawIMAP,
    as_getmail_delivers,
    delivered_by_mda,
    delivered_by_mpop,
    fetchmail,
    getmail,
    message,
    mpop,
    noop_reports_all_expunged,
    pop3_login,
)

from mailhost.testing import MailHost


def test_top_zero_and_top_n(host: MailHost) -> None:
    """RFC 1939 §7 TOP: the header, the blank line, then n body lines, dot-stuffed."""
    host.deliver("alice", REAL_MAIL)
    pop = pop3_login(host)
    _, lines, _ = pop.top(1, 0)
    assert lines == [*HEADER.split(b"\r\n"), b""]
    _, lines, _ = pop.top(1, 3)
    assert lines == [*HEADER.split(b"\r\n"), b"", b"First line.", b".", b"..two dots"]
    _, lines, _ = pop.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == REAL_MAIL
    pop.quit()


class Wire:
    """A raw POP3 connection with a receive buffer."""

    def __init__(self, host: MailHost) -> None:
        self.sock = socket.create_connection((host.host, host.pop3_port), timeout=10)
        self.buf = b""

    def read_until(self, marker: bytes, limit: float = 10.0) -> bytes:
        """Everything up to and including ``marker``."""
        deadline = time.monotonic() + limit
        while marker not in self.buf:
            assert time.monotonic() < deadline, self.buf[-500:]
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            assert chunk, ("connection closed", self.buf[-500:])
            self.buf += chunk
        end = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def login(self) -> None:
        assert self.read_until(b"\r\n").startswith(b"+OK")
        self.sock.sendall(f"USER alice\r\nPASS {USERS['alice']}\r\n".encode())
        assert self.read_until(b"\r\n").startswith(b"+OK")
        assert self.read_until(b"\r\n").startswith(b"+OK")


def test_retr_is_dot_stuffed_on_the_wire(host: MailHost) -> None:
    """RFC 1939 §3: lines starting with "." get one more; the answer ends with CRLF.CRLF."""
    host.deliver("alice", REAL_MAIL)
    wire = Wire(host)
    wire.login()
    wire.sock.sendall(b"RETR 1\r\n")
    assert wire.read_until(b"\r\n").startswith(b"+OK")
    data = wire.read_until(b"\r\n.\r\n")
    wire.sock.close()
    assert data == re.sub(rb"(?m)^\.", b"..", REAL_MAIL) + b".\r\n"


def test_fifty_pipelined_list_commands(host: MailHost) -> None:
    """RFC 2449 §6.6 PIPELINING: fifty commands in one send, fifty answers in order."""
    sizes = [host.deliver("alice", message(n, body="x" * n)).size for n in range(1, 51)]
    wire = Wire(host)
    wire.login()
    wire.sock.sendall(b"CAPA\r\n")
    assert b"\r\nPIPELINING\r\n" in wire.read_until(b"\r\n.\r\n")
    wire.sock.sendall(b"".join(b"LIST %d\r\n" % n for n in range(1, 51)) + b"QUIT\r\n")
    answers = [wire.read_until(b"\r\n") for _ in range(51)]
    wire.sock.close()
    assert answers[:50] == [b"+OK %d %d\r\n" % (n, sizes[n - 1]) for n in range(1, 51)]
    assert answers[50].startswith(b"+OK")


@pytest.mark.skipif(FETCHMAIL is None, reason="fetchmail is not installed")
def test_fetchmail_keep_then_flush(host: MailHost, tmp_path: Path) -> None:
    """fetchmail hands its MDA the message with LF line ends (and, being ``invisible``,
    adds no Received header): byte-identical to what was delivered, modulo CRLF."""
    mails = [REAL_MAIL, message(2), message(3)]
    for m in mails:
        host.deliver("alice", m)

    first = fetchmail(host, tmp_path, "--keep")
    assert first.returncode == 0, first.stdout + first.stderr  # 0: mail was fetched
    assert delivered_by_mda(tmp_path) == [m.replace(b"\r\n", b"\n") for m in mails]

    again = fetchmail(host, tmp_path, "--keep")
    assert again.returncode == 1, again.stdout + again.stderr  # 1: no new mail
    assert len(delivered_by_mda(tmp_path)) == 3

    imap = RawIMAP(host)
    imap.ok("SELECT INBOX")
    host.deliver("alice", message(4))
    # without --keep: --flush deletes the three already fetched, the new one is fetched
    # and deleted too
    last = fetchmail(host, tmp_path, "--flush")
    assert last.returncode == 0, last.stdout + last.stderr
    assert delivered_by_mda(tmp_path)[3:] == [message(4).replace(b"\r\n", b"\n")]
    pop = pop3_login(host)
    assert pop.stat() == (0, 0)
    pop.quit()
    noop_reports_all_expunged(imap, 3)
    imap.close()


#: mpop over plain TCP with USER/PASS (by default it will not send a password in clear)
PLAIN = ("tls off", "auth user")


@pytest.mark.skipif(MPOP is None, reason="mpop is not installed")
def test_mpop_pipelines_and_keeps_mail_until_told(host: MailHost, tmp_path: Path) -> None:
    """mpop sends its RETRs together when CAPA offers PIPELINING (RFC 2449 §6.6), keeps
    what it took (``keep on``) and takes only new messages by UIDL, across a restart;
    ``keep off`` with ``only_new off`` takes everything again and deletes it."""
    mails = [message(n) for n in (1, 2, 3)]
    for m in mails:
        host.deliver("alice", m)
    first = mpop(tmp_path, host.pop3_port, *PLAIN, "keep on")
    assert first.returncode == 0, first.stdout + first.stderr
    assert delivered_by_mpop(tmp_path) == [m.replace(b"\r\n", b"\n") for m in mails]
    sent = [line for line in first.stdout.splitlines() if line.startswith(("--> ", "<-- +OK 129"))]
    assert sent[sent.index("--> RETR 1") : sent.index("--> RETR 1") + 3] == [
        "--> RETR 1",
        "--> RETR 2",
        "--> RETR 3",
    ], first.stdout

    host.restart()
    host.deliver("alice", message(4))
    again = mpop(tmp_path, host.pop3_port, *PLAIN, "keep on")
    assert again.returncode == 0, again.stdout + again.stderr
    assert delivered_by_mpop(tmp_path)[3:] == [message(4).replace(b"\r\n", b"\n")]

    last = mpop(tmp_path, host.pop3_port, *PLAIN, "keep off", "only_new off")
    assert last.returncode == 0, last.stdout + last.stderr
    assert len(delivered_by_mpop(tmp_path)) == 8
    client = pop3_login(host)
    assert client.stat() == (0, 0)
    client.quit()


@pytest.mark.skipif(GETMAIL is None, reason="getmail is not installed")
def test_getmail_leaves_mail_on_the_server_across_a_restart(host: MailHost, tmp_path: Path) -> None:
    """getmail's "leave on server" (``delete = false``): it remembers each message by its
    UIDL, so after a restart of the host its next poll takes nothing (UIDLs are stable,
    RFC 1939 §7), and then only the one new message; ``delete`` removes them all."""
    mails = [message(n) for n in (1, 2, 3)]
    for m in mails:
        host.deliver("alice", m)
    first = getmail(tmp_path, "SimplePOP3Retriever", host.pop3_port)
    assert first.returncode == 0, first.stdout + first.stderr
    assert delivered_by_mda(tmp_path) == [as_getmail_delivers(m) for m in mails]

    host.restart()
    again = getmail(tmp_path, "SimplePOP3Retriever", host.pop3_port)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(delivered_by_mda(tmp_path)) == 3, again.stdout

    host.deliver("alice", message(4))
    third = getmail(tmp_path, "SimplePOP3Retriever", host.pop3_port)
    assert third.returncode == 0, third.stdout + third.stderr
    assert delivered_by_mda(tmp_path)[3:] == [as_getmail_delivers(message(4))]

    last = getmail(
        tmp_path, "SimplePOP3Retriever", host.pop3_port, "read_all = true", "delete = true"
    )
    assert last.returncode == 0, last.stdout + last.stderr
    assert len(delivered_by_mda(tmp_path)) == 8
    client = pop3_login(host)
    assert client.stat() == (0, 0)
    client.quit()


def test_poplib_stls_when_plaintext_is_refused(tmp_path: Path) -> None:
    """RFC 2595 §4: STLS first; USER/PASS in the clear are refused (RFC 2449 [AUTH]...)."""
    import poplib

    with MailHost(tmp_path / "h", users=USERS, plaintext_auth="never") as host:
        host.deliver("alice", REAL_MAIL)
        pop = poplib.POP3(host.host, host.pop3_port, timeout=10)
        assert "STLS" in pop.capa()
        with pytest.raises(poplib.error_proto):
            pop.user("alice")
            pop.pass_(USERS["alice"])
        pop.close()
        pop = poplib.POP3(host.host, host.pop3_port, timeout=10)
        pop.stls(host.ssl_context())
        pop.user("alice")
        pop.pass_(USERS["alice"])
        assert pop.stat() == (1, len(REAL_MAIL))
        assert pop.uidl(1).split()[1] == b"1"
        pop.quit()


def test_pipelined_retr_of_large_messages_stay_in_order(host: MailHost) -> None:
    """RFC 2449 §6.6: streamed multi-line answers and one-line answers of pipelined
    commands never interleave."""
    mails = [
        message(n, body="\r\n".join(f".{n} line {i} " + "p" * 70 for i in range(3000)))
        for n in range(1, 6)
    ]
    for m in mails:
        host.deliver("alice", m)
    wire = Wire(host)
    wire.login()
    commands = b"".join(b"RETR %d\r\nLIST %d\r\nTOP %d 1\r\n" % (n, n, n) for n in range(1, 6))
    wire.sock.sendall(commands + b"QUIT\r\n")
    for n, m in enumerate(mails, 1):
        assert wire.read_until(b"\r\n").startswith(b"+OK")
        assert wire.read_until(b"\r\n.\r\n") == re.sub(rb"(?m)^\.", b"..", m) + b".\r\n"
        assert wire.read_until(b"\r\n") == b"+OK %d %d\r\n" % (n, len(m))
        assert wire.read_until(b"\r\n").startswith(b"+OK")
        header, _, body = m.partition(b"\r\n\r\n")
        first_line = body.split(b"\r\n")[0]
        assert wire.read_until(b"\r\n.\r\n") == header + b"\r\n\r\n." + first_line + b"\r\n.\r\n"
    assert wire.read_until(b"\r\n").startswith(b"+OK")
    wire.sock.close()


def test_client_vanishing_mid_retr_releases_the_maildrop(host: MailHost) -> None:
    """A client that closes while a big RETR streams: the lease is let go promptly and
    nothing is deleted (RFC 1939 §6: no QUIT, no UPDATE)."""
    import poplib

    from integration_support import wait_until

    data = message(1, body="\r\n".join("q" * 76 for _ in range(60000)))
    host.deliver("alice", data)
    host.deliver("alice", message(2))
    wire = Wire(host)
    wire.login()
    wire.sock.sendall(b"DELE 2\r\nRETR 1\r\n")
    assert wire.read_until(b"\r\n").startswith(b"+OK")
    assert wire.read_until(b"\r\n").startswith(b"+OK")
    wire.read_until(b"q" * 76)  # the message is streaming
    wire.sock.close()

    def login() -> poplib.POP3 | None:
        try:
            return pop3_login(host)
        except poplib.error_proto:
            return None

    pop = wait_until(login)
    assert pop.stat() == (2, len(data) + len(message(2)))
    pop.quit()
