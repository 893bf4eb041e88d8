"""curl as a client of both protocols, plain and over TLS (``--ssl-reqd`` = STARTTLS/STLS)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from integration_support import USERS, message

from mailhost.testing import MailHost

CURL = shutil.which("curl")
pytestmark = pytest.mark.skipif(
    CURL is None, reason="curl is not installed (make test installs it)"
)


def curl(*args: str) -> bytes:
    result = subprocess.run(
        [CURL or "curl", "-sS", "--max-time", "20", "-u", f"alice:{USERS['alice']}", *args],
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def test_imap_fetch_body(host: MailHost) -> None:
    host.deliver("alice", message(1))
    out = curl("--url", f"imap://127.0.0.1:{host.imap_port}/INBOX", "-X", "FETCH 1 BODY[]")
    # curl prints the untagged response line; the literal it announces is the message
    assert b"* 1 FETCH (BODY[] {%d}" % len(message(1)) in out


def test_imap_uid_url_over_starttls(host: MailHost) -> None:
    host.deliver("alice", message(1))
    out = curl(
        "--ssl-reqd",
        "--cacert",
        str(host.certificate),
        "--url",
        f"imap://127.0.0.1:{host.imap_port}/INBOX;UID=1",
    )
    assert out == message(1)


def test_imaps_list(host: MailHost) -> None:
    out = curl("--cacert", str(host.certificate), "--url", f"imaps://127.0.0.1:{host.imaps_port}/")
    assert b"INBOX" in out and b"Sent" in out


def test_pop3_list_and_retr(host: MailHost) -> None:
    host.deliver("alice", message(1))
    host.deliver("alice", message(2))
    listing = curl("--url", f"pop3://127.0.0.1:{host.pop3_port}/")
    assert listing.split(b"\r\n")[:2] == [
        b"1 %d" % len(message(1)),
        b"2 %d" % len(message(2)),
    ]
    assert curl("--url", f"pop3://127.0.0.1:{host.pop3_port}/2") == message(2)


def test_pop3s_and_stls(host: MailHost) -> None:
    host.deliver("alice", message(1))
    tls = curl("--cacert", str(host.certificate), "--url", f"pop3s://127.0.0.1:{host.pop3s_port}/1")
    stls = curl(
        "--ssl-reqd",
        "--cacert",
        str(host.certificate),
        "--url",
        f"pop3://127.0.0.1:{host.pop3_port}/1",
    )
    assert tls == stls == message(1)
