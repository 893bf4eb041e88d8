"""Real clients over real loopback sockets: imaplib, imapclient, imap-tools, curl."""

from __future__ import annotations

import imaplib
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import imapclient
import pytest
from imap_tools import AND, MailBoxUnencrypted, MailMessageFlags
from imapkit import push_default

from mailhost.auth.static import StaticAuthenticator
from mailhost.blocking import ThreadedBlocking
from mailhost.changes import ChangeHub
from mailhost.imap.config import IMAPConfig
from mailhost.imap.server import IMAPFactory
from mailhost.reactor_thread import ReactorThread
from mailhost.store.maildir import MaildirStore
from mailhost.store.memory import MemoryStore
from mailhost.tls import TLSProvider

MULTIPART = (
    b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\n"
    b"To: bob@example.org\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= report\r\n"
    b"Date: Tue, 03 Mar 2026 09:00:00 +0100\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="XyZ"\r\n'
    b"\r\n"
    b"preamble\r\n"
    b"--XyZ\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Sch=C3=B6ne Gr=C3=BC=C3=9Fe aus K=C3=B6ln\r\n"
    b"--XyZ\r\n"
    b'Content-Type: application/pdf; name="Report.PDF"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQK\r\n"
    b"--XyZ--\r\n"
)


@dataclass
class Server:
    port: int
    store: MemoryStore | MaildirStore
    hub: ChangeHub

    def deliver(self, data: bytes, user: str = "alice") -> int:
        return self.store.account(user).folder("INBOX").append(data).uid


def _server(
    reactor: ReactorThread,
    listen: Callable[[object], int],
    blocking: object,
    tls: TLSProvider | None = None,
    implicit: bool = False,
    maildir: Path | None = None,
    config: IMAPConfig | None = None,
    push: bool | None = None,
) -> Server:
    special = {"\\Sent": "Sent", "\\Trash": "Trash"}
    store: MemoryStore | MaildirStore = (
        MemoryStore(special_folders=special)
        if maildir is None
        else MaildirStore(maildir / "%u", fsync=False, special_folders=special)
    )
    if push is None:
        push = push_default()
    if config is None and not push:
        config = IMAPConfig(idle_poll_interval=0.2)
    hub = ChangeHub(reactor.reactor)
    hub.push_enabled = push
    store.add_listener(hub.notify)
    factory = IMAPFactory(
        config=config or IMAPConfig(),
        authenticator=StaticAuthenticator({"alice": "secret"}, store, policy="loopback"),
        blocking=blocking,  # type: ignore[arg-type]
        hostname="localhost",
        tls=tls,
        changes=hub,
        implicit_tls=implicit,
    )
    wrapped = tls.wrap(factory) if implicit and tls else factory
    return Server(listen(wrapped), store, hub)


@pytest.fixture(params=["memory", "maildir"])
def server(
    request: pytest.FixtureRequest,
    reactor: ReactorThread,
    listen: Callable[[object], int],
    pool: ThreadedBlocking,
    tmp_path: Path,
) -> Server:
    """A host on a loopback port, over each store in turn."""
    maildir = tmp_path if request.param == "maildir" else None
    return _server(reactor, listen, pool, maildir=maildir)


def test_imaplib_basic_path(server: Server) -> None:
    server.deliver(MULTIPART)
    m = imaplib.IMAP4("127.0.0.1", server.port, timeout=10)
    assert "IDLE" in m.capabilities
    m.login("alice", "secret")
    assert m.select("INBOX") == ("OK", [b"1"])
    typ, data = m.fetch("1", "(FLAGS UID RFC822.SIZE BODY.PEEK[])")
    assert typ == "OK"
    assert data[0][1] == MULTIPART  # type: ignore[index]
    assert b"RFC822.SIZE %d" % len(MULTIPART) in data[0][0]  # type: ignore[index]
    typ, data = m.uid("FETCH", "1", "(BODY[2])")
    assert data[0][1] == b"JVBERi0xLjQK"  # type: ignore[index]
    assert data[1] == b" FLAGS (\\Recent \\Seen))"
    assert m.noop()[0] == "OK"
    m.select("INBOX", readonly=True)
    assert m.append("INBOX", None, None, b"Subject: x\r\n\r\ny\r\n")[0] == "OK"  # type: ignore[arg-type]
    assert m.logout()[0] == "BYE"


def test_imaplib_esort_and_a_saved_result(server: Server) -> None:
    """SORT RETURN (RFC 5267) and ``$`` (RFC 5182) as a webmail's client library sends them."""
    for subject in ("d", "b", "e", "f", "a", "c"):
        server.deliver(b"Subject: %s\r\n\r\nx\r\n" % subject.encode())
    m = imaplib.IMAP4("127.0.0.1", server.port, timeout=10)
    m.login("alice", "secret")
    assert {"ESORT", "SEARCHRES"} <= set(m.capability()[1][0].decode().split())  # type: ignore[union-attr]
    m.select("INBOX")
    typ, data = m._simple_command("SORT", "RETURN", "(MIN ALL SAVE)", "(SUBJECT)", "UTF-8", "ALL")
    assert typ == "OK"
    typ, data = m._untagged_response(typ, data, "ESEARCH")
    assert data[0].endswith(b") MIN 5 ALL 5,2,6,1,3:4")  # type: ignore[union-attr]
    m.store("$", "+FLAGS.SILENT", "(\\Flagged)")
    assert m.search(None, "FLAGGED") == ("OK", [b"1 2 3 4 5 6"])
    typ, data = m._simple_command("SEARCH", "RETURN", "(SAVE)", "SUBJECT", "a")
    assert typ == "OK" and "ESEARCH" not in m.untagged_responses
    assert m.fetch("$", "(UID)")[1] == [b"5 (UID 5)"]
    assert m.logout()[0] == "BYE"


def test_imaplib_utf8_accept(server: Server) -> None:
    """RFC 6855 with the standard library's client: ENABLE switches it to UTF-8 names."""
    m = imaplib.IMAP4("127.0.0.1", server.port, timeout=10)
    m.login("alice", "secret")
    assert m.enable("UTF8=ACCEPT")[0] == "OK"
    assert m.utf8_enabled
    assert m.create('"Entwürfe/Grüße"')[0] == "OK"
    typ, data = m.list('""', '"Entw*"')
    assert typ == "OK"
    assert '(\\HasNoChildren) "/" "Entwürfe/Grüße"'.encode() in data
    assert m.select('"Entwürfe/Grüße"') == ("OK", [b"0"])
    assert m.logout()[0] == "BYE"
    # a client that did not enable it sees modified UTF-7
    m = imaplib.IMAP4("127.0.0.1", server.port, timeout=10)
    m.login("alice", "secret")
    assert b'(\\HasNoChildren) "/" "Entw&APw-rfe/Gr&APwA3w-e"' in m.list('""', '"Entw*"')[1]
    m.logout()


def test_imaplib_display_sort_within_and_a_latin1_search(server: Server) -> None:
    """SORT=DISPLAY (RFC 5957), WITHIN (RFC 5032) and SEARCH CHARSET ISO-8859-1, over a
    socket with the standard library's client."""
    inbox = server.store.account("alice").folder("INBOX")
    now = time.time()
    for sender, subject, age in [
        ('"Zoe" <a@x.org>', "Gr=?utf-8?q?=C3=BC=C3=9F?=e", 7200),
        ("b@x.org", "plain", 60),
        ("Adam <z@x.org>", "other", 30),
    ]:
        data = f"From: {sender}\r\nSubject: {subject}\r\n\r\nx\r\n".encode()
        inbox.append(data, (), now - age)
    m = imaplib.IMAP4("127.0.0.1", server.port, timeout=10)
    m.login("alice", "secret")
    m.select("INBOX")
    assert m.sort("(DISPLAYFROM)", "UTF-8", "ALL") == ("OK", [b"3 2 1"])
    assert m.sort("(FROM)", "UTF-8", "ALL") == ("OK", [b"1 2 3"])
    assert m.search(None, "YOUNGER", "3600") == ("OK", [b"2 3"])
    assert m.search(None, "OLDER", "3600") == ("OK", [b"1"])
    m.literal = "grüße".encode("latin-1")
    assert m.search("ISO-8859-1", "SUBJECT") == ("OK", [b"1"])
    assert m.logout()[0] == "BYE"


def test_imapclient_folders_flags_search(server: Server) -> None:
    server.deliver(MULTIPART)
    server.deliver(b"Subject: plain\r\nFrom: carol@example.org\r\n\r\nnothing here\r\n")
    with imapclient.IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=10) as c:
        c.login("alice", "secret")
        c.create_folder("Archiv/2026/Entwürfe")
        names = [f[2] for f in c.list_folders()]
        assert "Archiv/2026/Entwürfe" in names and "INBOX" in names
        assert tuple(f for f in c.list_folders("", "Sent")[0][0] if f == b"\\Sent") == (b"\\Sent",)
        assert c.find_special_folder(imapclient.imapclient.SENT) == "Sent"
        c.select_folder("INBOX")
        assert c.search(["SUBJECT", "grüße"], charset="UTF-8") == [1]
        assert c.search(["BODY", "köln"], charset="UTF-8") == [1]
        assert c.search(["TEXT", "carol"]) == [2]
        assert c.search(["FROM", "jürgen"], charset="UTF-8") == [1]
        assert c.search(["SENTBEFORE", "4-Mar-2026"]) == [1]
        c.add_flags([1], [imapclient.FLAGGED, b"$Work"])
        assert set(c.get_flags([1])[1]) == {b"\\Flagged", b"\\Recent", b"$Work"}
        assert c.search(["KEYWORD", "$Work"]) == [1]
        assert c.search(["UNKEYWORD", "$Work"]) == [2]
        resp = c.fetch([1], ["BODYSTRUCTURE", "ENVELOPE", "BODY.PEEK[1]<0.6>"])[1]
        env = resp[b"ENVELOPE"]
        assert env.subject == b"=?utf-8?q?Gr=C3=BC=C3=9Fe?= report"
        bs = resp[b"BODYSTRUCTURE"]
        assert bs.is_multipart
        assert bs[0][0][:2] == (b"text", b"plain")
        assert tuple(bs[0][1][2]) == (b"name", b"Report.PDF")
        assert resp[b"BODY[1]<0>"] == b"Sch=C3"
        c.copy([1, 2], "Archiv/2026/Entwürfe")
        c.move([2], "Trash")
        assert c.folder_status("Archiv/2026/Entwürfe", ["MESSAGES"])[b"MESSAGES"] == 2
        c.delete_messages([1])
        c.expunge()
        assert c.search() == []
        assert c.get_quota_root("INBOX")[0].quota_roots == []
        assert c.namespace().personal[0][0] == ""


def test_imapclient_idle_sees_append_from_another_session(server: Server) -> None:
    server.deliver(b"Subject: one\r\n\r\n1\r\n")
    with imapclient.IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=10) as a:
        a.login("alice", "secret")
        a.select_folder("INBOX")
        a.idle()
        with imapclient.IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=10) as b:
            b.login("alice", "secret")
            b.append("INBOX", b"Subject: two\r\n\r\n2\r\n")
        # pushed at once: the IDLE poll is off and the first keep-alive is minutes away
        responses = a.idle_check(timeout=5)
        assert (2, b"EXISTS") in responses
        a.idle_done()


@pytest.mark.parametrize("store", ["memory", "maildir"])
def test_idle_without_push_hears_of_new_mail_at_the_poll(
    store: str,
    reactor: ReactorThread,
    listen: Callable[[object], int],
    pool: ThreadedBlocking,
    tmp_path: Path,
) -> None:
    """Wake-ups off on the host's real ChangeHub: the IDLE poll alone reports the mail."""
    maildir = tmp_path if store == "maildir" else None
    config = IMAPConfig(idle_poll_interval=0.2)
    server = _server(reactor, listen, pool, maildir=maildir, config=config, push=False)
    server.deliver(b"Subject: one\r\n\r\n1\r\n")
    with imapclient.IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=10) as a:
        a.login("alice", "secret")
        a.select_folder("INBOX")
        a.idle()
        time.sleep(0.3)  # past the first poll: the next one must find the mail
        server.deliver(b"Subject: two\r\n\r\n2\r\n")
        start = time.monotonic()
        responses = a.idle_check(timeout=5)
        elapsed = time.monotonic() - start
        assert (2, b"EXISTS") in responses
        # one poll interval, plus slack for a busy machine
        assert elapsed < config.idle_poll_interval + 1.0, elapsed
        a.idle_done()


def test_idle_without_push_or_poll_hears_nothing(
    reactor: ReactorThread,
    listen: Callable[[object], int],
    pool: ThreadedBlocking,
) -> None:
    """The contrast to the test above: there, the poll is what reports the mail."""
    config = IMAPConfig(idle_poll_interval=0)
    server = _server(reactor, listen, pool, config=config, push=False)
    with imapclient.IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=10) as a:
        a.login("alice", "secret")
        a.select_folder("INBOX")
        a.idle()
        server.deliver(b"Subject: one\r\n\r\n1\r\n")
        assert a.idle_check(timeout=1.0) == []
        # the end of the IDLE command pulls, as every command does
        assert (1, b"EXISTS") in a.idle_done()[1]


def test_imap_tools(server: Server) -> None:
    server.deliver(MULTIPART)
    with MailBoxUnencrypted("127.0.0.1", port=server.port).login("alice", "secret") as mb:
        msgs = list(mb.fetch(AND(all=True), mark_seen=False))
        assert len(msgs) == 1
        assert msgs[0].subject == "Grüße report"
        assert msgs[0].attachments[0].filename == "Report.PDF"
        assert msgs[0].attachments[0].payload == b"%PDF-1.4\n"
        mb.flag([msgs[0].uid], MailMessageFlags.SEEN, True)
        assert [m.uid for m in mb.fetch(AND(seen=True), headers_only=True)] == [msgs[0].uid]
        mb.folder.create("Work")
        mb.move([msgs[0].uid], "Work")
        assert mb.folder.status("Work")["MESSAGES"] == 1


def test_partial_fetch_of_a_large_message(server: Server) -> None:
    body = b"".join(b"line %07d\r\n" % i for i in range(500_000))  # ~7 MB
    big = b"Subject: big\r\n\r\n" + body
    server.deliver(big)
    m = imaplib.IMAP4("127.0.0.1", server.port, timeout=30)
    m.login("alice", "secret")
    m.select("INBOX")
    _, data = m.fetch("1", "(BODY.PEEK[]<1000000.14>)")
    assert data[0][1] == big[1000000:1000014]  # type: ignore[index]
    _, data = m.fetch("1", "(BODY.PEEK[])")
    assert data[0][1] == big  # type: ignore[index]
    m.logout()


def test_starttls_and_implicit_tls(
    reactor: ReactorThread,
    listen: Callable[[object], int],
    pool: ThreadedBlocking,
    tls_files: tuple[Path, Path],
) -> None:
    import ssl

    tls = TLSProvider(*tls_files)
    ctx = ssl.create_default_context(cafile=str(tls_files[0]))
    plain = _server(reactor, listen, pool, tls)
    m = imaplib.IMAP4("localhost", plain.port, timeout=10)
    assert "STARTTLS" in m.capabilities
    m.starttls(ctx)
    assert "STARTTLS" not in m.capabilities
    m.login("alice", "secret")
    assert m.select("INBOX")[0] == "OK"
    m.logout()
    implicit = _server(reactor, listen, pool, tls, implicit=True)
    s = imaplib.IMAP4_SSL("localhost", implicit.port, ssl_context=ctx, timeout=10)
    assert "STARTTLS" not in s.capabilities
    s.login("alice", "secret")
    s.logout()


def _curl(*args: str) -> str:
    out = subprocess.run(
        ["curl", "-s", "--max-time", "10", "-u", "alice:secret", *args],
        capture_output=True,
        check=True,
    )
    return out.stdout.decode("utf-8", errors="replace")


def test_curl(server: Server) -> None:
    server.deliver(MULTIPART)
    base = f"imap://127.0.0.1:{server.port}"
    listing = _curl(base + "/")
    assert '"/" "INBOX"' in listing and "\\Trash" in listing
    assert _curl(base + "/INBOX;UID=1;SECTION=2").strip() == "JVBERi0xLjQK"
    assert _curl(base + "/INBOX;UID=1").replace("\r\n", "\n") == MULTIPART.decode().replace(
        "\r\n", "\n"
    )
    assert "* SEARCH 1" in _curl(base + "/INBOX?SUBJECT%20report")


def test_many_sessions_in_threads(server: Server) -> None:
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            m = imaplib.IMAP4("127.0.0.1", server.port, timeout=10)
            m.login("alice", "secret")
            m.append("INBOX", None, None, b"Subject: %d\r\n\r\nx\r\n" % i)  # type: ignore[arg-type]
            m.select("INBOX")
            m.logout()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(server.store.account("alice").folder("INBOX").list_messages()) == 8
