"""Shared data for the integration tests."""

from __future__ import annotations

import imaplib
import mailbox
import os
import poplib
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

USERS = {"alice": "alice-secret", "bob": "bob-secret"}


def message(n: int, body: str = "") -> bytes:
    return (
        f"From: sender{n}@example.org\r\nTo: alice@example.org\r\n"
        f"Subject: message {n}\r\nMessage-ID: <m{n}@example.org>\r\n\r\n"
        f"{body or f'This is message number {n}.'}\r\n"
    ).encode()


# -- helpers for the end-to-end client tests --------------------------------------------


#: Upper bound for anything that should happen "promptly" (IDLE wake-ups, lease release).
PROMPT = 5.0


def pop3_login(host: Any, user: str = "alice") -> poplib.POP3:
    """A poplib session in the TRANSACTION state."""
    pop = poplib.POP3(host.host, host.pop3_port, timeout=10)
    pop.user(user)
    pop.pass_(USERS[user])
    return pop


def imap_login(host: Any, user: str = "alice") -> imaplib.IMAP4:
    """An imaplib session in the authenticated state."""
    imap = imaplib.IMAP4(host.host, host.imap_port, timeout=10)
    imap.login(user, USERS[user])
    return imap


def wait_until(check: Callable[[], Any], timeout: float = PROMPT, step: float = 0.05) -> Any:
    """Poll ``check`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {check}")
        time.sleep(step)


class RawIMAP:
    """A line-level IMAP client on a plain socket: shows every untagged response as sent.

    Literals are folded into their line (``{n}\\r\\n`` followed by the n octets), so each
    item returned is one complete response.
    """

    def __init__(self, host: Any, user: str = "alice", timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host.host, host.imap_port), timeout=timeout)
        self.timeout = timeout
        self.buf = b""
        self.counter = 0
        greeting = self.read_response()
        assert greeting.startswith(b"* OK"), greeting
        if user:
            self.ok(f"LOGIN {user} {USERS[user]}")

    def close(self) -> None:
        self.sock.close()

    def _fill(self, timeout: float) -> bool:
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            return False
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk
        return True

    def read_response(self, timeout: float | None = None) -> bytes:
        """One complete response (literals included), or raise TimeoutError."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        out = b""
        while True:
            while b"\r\n" not in self.buf:
                left = deadline - time.monotonic()
                if left <= 0 or not self._fill(left):
                    self.buf = out + self.buf
                    raise TimeoutError("no complete response")
            line, self.buf = self.buf.split(b"\r\n", 1)
            out += line + b"\r\n"
            m = re.search(rb"\{(\d+)\+?\}$", line)
            if not m:
                return out
            size = int(m.group(1))
            while len(self.buf) < size:
                left = deadline - time.monotonic()
                if left <= 0 or not self._fill(left):
                    raise TimeoutError("literal not complete")
            out += self.buf[:size]
            self.buf = self.buf[size:]

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def command(self, text: str | bytes) -> tuple[bytes, list[bytes]]:
        """Send one command; return (tagged response line, untagged responses before it)."""
        self.counter += 1
        tag = b"r%d" % self.counter
        raw = text.encode() if isinstance(text, str) else text
        self.send(tag + b" " + raw + b"\r\n")
        untagged: list[bytes] = []
        while True:
            resp = self.read_response()
            if resp.startswith(tag + b" "):
                return resp[len(tag) + 1 :].rstrip(b"\r\n"), untagged
            untagged.append(resp)

    def ok(self, text: str | bytes) -> list[bytes]:
        """Run a command that must succeed; return its untagged responses."""
        status, untagged = self.command(text)
        assert status.startswith(b"OK"), (text, status, untagged)
        return untagged

    def wait_for(self, pattern: bytes, timeout: float = PROMPT) -> tuple[bytes, list[bytes]]:
        """Read responses until one matches ``pattern``; return it and all read before."""
        seen: list[bytes] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} within {timeout}s; got {seen!r}")
            try:
                resp = self.read_response(left)
            except TimeoutError:
                raise AssertionError(f"no {pattern!r} within {timeout}s; got {seen!r}") from None
            if re.search(pattern, resp):
                return resp, seen
            seen.append(resp)

    def idle(self) -> None:
        self.counter += 1
        self.idle_tag = b"r%d" % self.counter
        self.send(self.idle_tag + b" IDLE\r\n")
        resp, _ = self.wait_for(rb"^\+ ")
        assert resp.startswith(b"+"), resp

    def done(self) -> list[bytes]:
        self.send(b"DONE\r\n")
        resp, seen = self.wait_for(rb"^" + re.escape(self.idle_tag) + rb" ")
        assert resp.startswith(self.idle_tag + b" OK"), resp
        return seen

    def fetch_uids(self) -> dict[int, int]:
        """Sequence number -> UID for the whole selected mailbox."""
        status, untagged = self.command("FETCH 1:* (UID)")
        found = parse_fetch_uids(untagged)
        # an empty mailbox has no "1:*": servers answer OK, NO or BAD
        assert status.startswith(b"OK") or not found, status
        return found


def parse_fetch_uids(untagged: list[bytes]) -> dict[int, int]:
    out: dict[int, int] = {}
    for resp in untagged:
        m = re.match(rb"\* (\d+) FETCH \(.*\bUID (\d+)", resp)
        if m:
            out[int(m.group(1))] = int(m.group(2))
    return out


def fetch_flags(untagged: list[bytes]) -> dict[int, set[bytes]]:
    """Sequence number -> flags from ``* n FETCH (... FLAGS (...) ...)`` responses."""
    out: dict[int, set[bytes]] = {}
    for resp in untagged:
        m = re.match(rb"\* (\d+) FETCH \(.*\bFLAGS \(([^)]*)\)", resp)
        if m:
            out[int(m.group(1))] = set(m.group(2).split())
    return out


def untagged_numbers(untagged: list[bytes], kind: bytes) -> list[int]:
    """The numbers of ``* n KIND`` responses, in order (EXPUNGE, EXISTS, RECENT)."""
    out = []
    for resp in untagged:
        m = re.match(rb"\* (\d+) " + kind + rb"\r\n$", resp)
        if m:
            out.append(int(m.group(1)))
    return out


def multipart(attachment: bytes = b"0123456789" * 10, subject: str = "with attachment") -> bytes:
    """A multipart/mixed message built by hand, so every part's bytes are known."""
    import base64

    encoded = base64.encodebytes(attachment).replace(b"\n", b"\r\n")
    return (
        b"From: Carol Example <carol@example.org>\r\n"
        b"To: alice@example.org\r\n"
        b"Subject: " + subject.encode() + b"\r\n"
        b"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n"
        b"Message-ID: <mp@example.org>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="BOUNDARY"\r\n'
        b"\r\n"
        b"preamble\r\n"
        b"--BOUNDARY\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n"
        b"\r\n"
        b"Hello Alice, the report is attached.\r\n"
        b"--BOUNDARY\r\n"
        b'Content-Type: application/octet-stream; name="report.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="report.bin"\r\n'
        b"\r\n" + encoded + b"--BOUNDARY--\r\n"
    )


#: What ``BODY[2]`` of :func:`multipart` is: the encoded attachment without its CRLF
#: before the boundary (RFC 2046 §5.1.1: that CRLF belongs to the boundary).
def multipart_part2(attachment: bytes = b"0123456789" * 10) -> bytes:
    import base64

    return base64.encodebytes(attachment).replace(b"\n", b"\r\n")[:-2]


class TrackedIMAP(RawIMAP):
    """A session that keeps its own sequence-number -> UID map from what the server says.

    EXPUNGE removes a number (RFC 3501 §7.4.1), EXISTS grows the map and the new UIDs are
    fetched; :meth:`check` compares the map with ``UID SEARCH ALL`` (RFC 3501 §6.4.8 UIDs
    are ascending in sequence order).
    """

    def __init__(self, host: Any, folder: str = "INBOX") -> None:
        super().__init__(host)
        self.uids: list[int] = []
        self.take(self.ok(f"SELECT {folder}"))

    def take(self, untagged: list[bytes]) -> None:
        """Apply EXISTS/EXPUNGE in the order sent, then fetch the UIDs of new numbers."""
        uids: list[int | None] = list(self.uids)
        for resp in untagged:
            m = re.match(rb"\* (\d+) (EXPUNGE|EXISTS)\r\n$", resp)
            if not m:
                continue
            n = int(m.group(1))
            if m.group(2) == b"EXPUNGE":
                assert 1 <= n <= len(uids), (resp, uids)
                del uids[n - 1]
            else:
                assert n >= len(uids), (resp, uids)
                uids += [None] * (n - len(uids))
        new = [seq for seq, uid in enumerate(uids, 1) if uid is None]
        if new:
            status, fetched = self.command(f"FETCH {','.join(map(str, new))} (UID)")
            assert status.startswith(b"OK"), status
            got = parse_fetch_uids(fetched)
            uids = [got[seq] if uid is None else uid for seq, uid in enumerate(uids, 1)]
            assert not [r for r in fetched if re.match(rb"\* \d+ EXPUNGE", r)], fetched
        self.uids = [uid for uid in uids if uid is not None]
        self.take_more([r for r in (fetched if new else []) if b" FETCH " not in r])

    def take_more(self, untagged: list[bytes]) -> None:
        if any(re.match(rb"\* \d+ EXISTS", r) for r in untagged):
            self.take(untagged)

    def run(self, text: str) -> list[bytes]:
        """A command that must succeed, with its EXPUNGE/EXISTS responses taken in."""
        untagged = self.ok(text)
        self.take(untagged)
        return untagged

    def check(self) -> None:
        self.run("NOOP")
        status, found = self.command("UID SEARCH ALL")
        assert status.startswith(b"OK"), status
        self.take(found)
        (line,) = [r for r in found if r.startswith(b"* SEARCH")]
        server = [int(x) for x in line.split()[2:]]
        assert self.uids == server, (self.uids, server)
        assert self.fetch_uids() == dict(enumerate(self.uids, 1))


#: A message as mail arrives: folded header, a MIME header block, lines that need
#: dot-stuffing (RFC 1939 §3), an empty last line and a long line.
REAL_MAIL = (
    b"Return-Path: <list-bounces@lists.example.org>\r\n"
    b"Received: from mx.example.org (mx.example.org [192.0.2.1])\r\n"
    b"\tby mail.example.org with ESMTPS id 4AbCdE\r\n"
    b"\tfor <alice@example.org>; Wed, 25 Nov 2026 09:00:00 +0000\r\n"
    b"From: Dave <dave@example.org>\r\n"
    b"To: alice@example.org\r\n"
    b"Subject: =?utf-8?q?Caf=C3=A9_notes?=\r\n"
    b"Date: Wed, 25 Nov 2026 09:00:00 +0000\r\n"
    b"Message-ID: <real@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"First line.\r\n"
    b".\r\n"
    b"..two dots\r\n"
    b".leading dot\r\n"
    b"caf\xc3\xa9 " + b"x" * 900 + b"\r\n"
    b"\r\n"
)
HEADER, _, BODY = REAL_MAIL.partition(b"\r\n\r\n")


class LineClient:
    """A line-oriented client on a plain socket that can switch to TLS in place; every
    read is under a timeout."""

    def __init__(
        self, port: int, host: str = "127.0.0.1", source: str | None = None, timeout: float = 10.0
    ) -> None:
        """``source``: the client address (any 127.x.y.z works on loopback)."""
        bind = (source, 0) if source else None
        self.sock: socket.socket = socket.create_connection(
            (host, port), timeout=timeout, source_address=bind
        )
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed; unread: {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def tagged(self, tag: bytes) -> tuple[list[bytes], bytes]:
        """Untagged lines, then the tagged completion of ``tag`` (without the tag)."""
        untagged: list[bytes] = []
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                return untagged, line[len(tag) + 1 :]
            untagged.append(line)

    def until_closed(self) -> bytes:
        data, self.buf = self.buf, b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ssl.SSLZeroReturnError:
                break
            if not chunk:
                break
            data += chunk
        return data

    def start_tls(self, context: ssl.SSLContext) -> None:
        assert self.buf == b"", f"the server sent more before the handshake: {self.buf!r}"
        self.sock = context.wrap_socket(self.sock, server_hostname="localhost")

    def close(self) -> None:
        self.sock.close()


FETCHMAIL = shutil.which("fetchmail")

#: fetchmail's MDA in the tests: each message it hands over becomes a numbered file.
MDA = """\
import os, sys
out = sys.argv[1]
name = os.path.join(out, "%04d" % (len(os.listdir(out)) + 1))
with open(name, "wb") as f:
    f.write(sys.stdin.buffer.read())
"""


def fetchmail(
    host: Any,
    tmp: Path,
    *options: str,
    protocol: str = "pop3",
    port: int = 0,
    tls: str = "sslproto ''",
) -> subprocess.CompletedProcess[str]:
    """One fetchmail run for alice (``protocol`` pop3 with UIDL, or imap), delivering to
    ``tmp/out`` through :data:`MDA` (both made here on first use)."""
    (tmp / "out").mkdir(exist_ok=True)
    (tmp / "mda.py").write_text(MDA)
    if not port:
        port = host.pop3_port if protocol == "pop3" else host.imap_port
    rc = tmp / "fetchmailrc"
    rc.write_text(
        f"set no syslog\n"
        f"poll 127.0.0.1 protocol {protocol} port {port}"
        f"{' uidl' if protocol == 'pop3' else ''}\n"
        f'  user alice password "{USERS["alice"]}" is alice here\n'
        f"  {tls}\n"
        f'  mda "{sys.executable} {tmp / "mda.py"} {tmp / "out"}"\n'
    )
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=str(tmp), FETCHMAILHOME=str(tmp))
    return subprocess.run(
        [
            FETCHMAIL or "fetchmail",
            *("-f", str(rc), "-i", str(tmp / "ids"), "--nodetach", "--invisible"),
            # as root fetchmail locks /var/run/fetchmail.pid: keep parallel runs apart
            *("--pidfile", str(tmp / "fetchmail.pid")),
            *options,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


GETMAIL = shutil.which("getmail")


def getmail(
    tmp: Path, retriever: str, port: int, *settings: str
) -> subprocess.CompletedProcess[str]:
    """One getmail run for alice with ``retriever`` (getmail's class, such as
    SimplePOP3Retriever or SimpleIMAPSSLRetriever) on ``port``, delivering to ``tmp/out``
    through :data:`MDA`.  ``settings`` are ``name = value`` lines: those getmail knows as
    options go to ``[options]``, the rest to ``[retriever]``.  getmail remembers what it
    has retrieved (by UIDL, or by UIDVALIDITY and UID) under ``tmp``."""
    (tmp / "out").mkdir(exist_ok=True)
    (tmp / "mda.py").write_text(MDA)
    options = {"read_all": "false", "delete": "false", "delivered_to": "false", "received": "false"}
    # (getmail's IMAP retrievers add a header naming the folder unless told not to)
    extra = ["record_mailbox = false"] if "IMAP" in retriever else []
    for line in settings:
        name, _, value = (x.strip() for x in line.partition("="))
        if name in options:
            options[name] = value
        else:
            extra.append(line)
    rc = tmp / "getmailrc"
    rc.write_text(
        "[retriever]\n"
        f"type = {retriever}\nserver = 127.0.0.1\nport = {port}\n"
        f"username = alice\npassword = {USERS['alice']}\n"
        + "".join(f"{line}\n" for line in extra)
        + "[destination]\ntype = MDA_external\n"
        f"path = {sys.executable}\n"
        f'arguments = ("{tmp / "mda.py"}", "{tmp / "out"}")\n'
        # (the tests run as root in CI; the MDA only writes under tmp)
        "allow_root_commands = true\n"
        "[options]\nverbose = 2\n" + "".join(f"{k} = {v}\n" for k, v in options.items())
    )
    return subprocess.run(
        [GETMAIL or "getmail", f"--getmaildir={tmp}", f"--rcfile={rc}"],
        capture_output=True,
        text=True,
        timeout=60,
    )


MPOP = shutil.which("mpop")


def mpop(tmp: Path, port: int, *settings: str) -> subprocess.CompletedProcess[str]:
    """One mpop run for alice on ``port`` (USER/PASS, no TLS unless ``settings`` say
    otherwise), delivering to the mbox ``tmp/mbox``; what it has retrieved is remembered by
    UIDL in ``tmp/uidls``.  Its protocol exchange is on stdout (``--debug``)."""
    rc = tmp / "mpoprc"
    rc.write_text(
        f"defaults\nuidls_file {tmp / 'uidls'}\n"
        f"account alice\nhost 127.0.0.1\nport {port}\nuser alice\n"
        f"password {USERS['alice']}\ndelivery mbox {tmp / 'mbox'}\nreceived_header off\n"
        + "".join(f"{line}\n" for line in settings)
    )
    os.chmod(rc, 0o600)
    return subprocess.run(
        [MPOP or "mpop", "-C", str(rc), "--debug", "alice"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def delivered_by_mpop(tmp: Path) -> list[bytes]:
    """The messages mpop put in its mbox, in order, without their ``From`` lines."""
    if not (tmp / "mbox").exists():
        return []
    box = mailbox.mbox(str(tmp / "mbox"))
    try:
        return [box.get_bytes(key) for key in box.iterkeys()]
    finally:
        box.close()


def delivered_by_mda(tmp: Path) -> list[bytes]:
    """What fetchmail's or getmail's MDA received, in order."""
    return [p.read_bytes() for p in sorted((tmp / "out").iterdir())]


def as_getmail_delivers(data: bytes) -> bytes:
    """``data`` (a message without a Return-Path) as getmail hands it to an MDA: LF line
    ends, and a Return-Path for the envelope sender it could not find."""
    return b"Return-Path: <unknown>\n" + data.replace(b"\r\n", b"\n")


def noop_reports_all_expunged(imap: RawIMAP, known: int) -> None:
    """A NOOP on ``imap`` reports every message it knew expunged (``known``, or one more
    if a new one was announced first), and none is left."""
    untagged = imap.ok("NOOP")
    expunged = untagged_numbers(untagged, b"EXPUNGE")
    existed = known + sum(1 for n in untagged_numbers(untagged, b"EXISTS") if n == known + 1)
    assert len(expunged) == existed, untagged
    assert imap.fetch_uids() == {}
