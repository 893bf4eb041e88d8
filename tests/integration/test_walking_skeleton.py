"""One host, two protocols, one Maildir: the end-to-end path a new user takes."""

from __future__ import annotations

import imaplib
import poplib
import re
from pathlib import Path

from integration_support import USERS, message

from mailhost.testing import MailHost


def pop3_login(host: MailHost) -> poplib.POP3:
    pop = poplib.POP3(host.host, host.pop3_port, timeout=10)
    pop.user("alice")
    pop.pass_(USERS["alice"])
    return pop


def imap_login(host: MailHost) -> imaplib.IMAP4:
    imap = imaplib.IMAP4(host.host, host.imap_port, timeout=10)
    imap.login("alice", USERS["alice"])
    return imap


def imap_uids(imap: imaplib.IMAP4) -> list[int]:
    typ, data = imap.uid("SEARCH", "ALL")
    assert typ == "OK"
    return [int(x) for x in data[0].split()]


def test_deliver_read_delete_restart(tmp_path: Path) -> None:
    with MailHost(tmp_path / "h", users=USERS) as host:
        for n in (1, 2, 3):
            host.deliver("alice", message(n))

        pop = pop3_login(host)
        count, size = pop.stat()
        assert (count, size) == (3, sum(len(message(n)) for n in (1, 2, 3)))
        listing = [line.split() for line in pop.list()[1]]
        _, lines, _ = pop.retr(2)
        assert b"\r\n".join(lines) + b"\r\n" == message(2)
        assert int(listing[1][1]) == len(message(2))
        uidls_before = [line.split()[1] for line in pop.uidl()[1]]

        imap = imap_login(host)
        typ, data = imap.select("INBOX")
        assert typ == "OK" and data == [b"3"]
        typ, data = imap.fetch("1:3", "(UID RFC822.SIZE BODY.PEEK[])")
        assert typ == "OK"
        bodies = [part[1] for part in data if isinstance(part, tuple)]
        assert bodies == [message(1), message(2), message(3)]
        imap.logout()

        pop.dele(1)
        pop.quit()

        imap = imap_login(host)
        imap.select("INBOX")
        uids = imap_uids(imap)
        assert len(uids) == 2
        typ, data = imap.uid(
            "FETCH", ",".join(map(str, uids)), "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"
        )
        subjects = [part[1].strip() for part in data if isinstance(part, tuple)]
        assert subjects == [b"Subject: message 2", b"Subject: message 3"]
        imap.logout()

        ports = (host.pop3_port, host.pop3s_port, host.imap_port, host.imaps_port)
        host.restart()
        # back where clients were told to connect
        assert (host.pop3_port, host.pop3s_port, host.imap_port, host.imaps_port) == ports

        pop = pop3_login(host)
        uidls_after = [line.split()[1] for line in pop.uidl()[1]]
        assert uidls_after == uidls_before[1:]
        pop.quit()
        imap = imap_login(host)
        imap.select("INBOX")
        assert imap_uids(imap) == uids
        imap.logout()


def test_uidl_is_dovecot_format(host: MailHost) -> None:
    host.deliver("alice", message(1))
    uidvalidity = host.account("alice").folder("INBOX").uidvalidity
    pop = pop3_login(host)
    uidl = pop.uidl(1).split()[2].decode()
    pop.quit()
    assert re.fullmatch(r"[0-9A-Fa-f]{16}", uidl)
    assert int(uidl[:8], 16) == 1
    assert int(uidl[8:], 16) == uidvalidity


def test_files_dropped_into_new_are_served(host: MailHost) -> None:
    """Another program delivers straight into the Maildir (no uidlist, LF line ends)."""
    maildir = host.config.mail_root / "alice"
    host.account("alice")  # created on first use
    (maildir / "new" / "1700000000.M1P1.otherhost").write_bytes(b"Subject: dropped\n\nhi\n")
    pop = pop3_login(host)
    assert pop.stat() == (1, len(b"Subject: dropped\r\n\r\nhi\r\n"))
    _, lines, _ = pop.retr(1)
    assert lines == [b"Subject: dropped", b"", b"hi"]
    pop.quit()


def test_imap_and_pop3_over_implicit_tls(host: MailHost) -> None:
    host.deliver("alice", message(1))
    pop = poplib.POP3_SSL(host.host, host.pop3s_port, context=host.ssl_context(), timeout=10)
    pop.user("alice")
    pop.pass_(USERS["alice"])
    assert pop.stat()[0] == 1
    pop.quit()
    imap = imaplib.IMAP4_SSL(host.host, host.imaps_port, ssl_context=host.ssl_context(), timeout=10)
    imap.login("alice", USERS["alice"])
    assert imap.select("INBOX") == ("OK", [b"1"])
    imap.logout()


def test_wrong_password_is_refused(host: MailHost) -> None:
    imap = imaplib.IMAP4(host.host, host.imap_port, timeout=30)
    try:
        imap.login("alice", "wrong")
    except imaplib.IMAP4.error as e:
        assert "AUTHENTICATIONFAILED" in str(e)
    else:
        raise AssertionError("login with a wrong password succeeded")
    finally:
        imap.shutdown()
