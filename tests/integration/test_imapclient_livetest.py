"""IMAPClient's own live test suite (``imapclient.livetest``) against a real host.

The suite is what the IMAPClient project runs against real servers (Dovecot, Gmail,
Fastmail...).  Tests for extensions the host does not offer (CONDSTORE, SORT, THREAD,
Gmail's, ACL) skip themselves.  The few left out fail on the client's side whatever the
server answers: :data:`CLIENT_SIDE` says why, one by one.
"""

from __future__ import annotations

import imaplib
import unittest
from pathlib import Path

from integration_support import USERS

from mailhost.testing import MailHost

#: test name -> why it cannot pass against any server here.
CLIENT_SIDE = {
    # imapclient 3 returns ENVELOPE as a dataclass, which the suite's
    # assertSequenceEqual cannot compare (our ENVELOPE equals the expected one:
    # test_envelope_equals_the_suites_expectation below)
    "test_fetch": "the suite compares a dataclass as a sequence",
}
if not hasattr(imaplib.IMAP4, "move"):
    CLIENT_SIDE["test_move"] = "this Python's imaplib cannot send MOVE"


def _suite(host: MailHost, tmp: Path) -> unittest.TestSuite:
    from imapclient import livetest
    from imapclient.config import parse_config_file

    ini = tmp / "livetest.ini"
    ini.write_text(
        "[DEFAULT]\nhost = 127.0.0.1\n"
        f"port = {host.imap_port}\nusername = alice\npassword = {USERS['alice']}\nssl = false\n",
        encoding="utf-8",
    )
    conf = parse_config_file(str(ini))
    conf.namespace = livetest.probe_host(conf)
    livetest.TestGeneral.conf = conf
    # (TestSocketTimeout is left out: it expects a connection to time out, which one
    # to a loopback listener never does)
    classes = [
        livetest.TestGeneral,
        livetest.createUidTestClass(conf, use_uid=True),
        livetest.createUidTestClass(conf, use_uid=False),
    ]
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for cls in classes:
        for name in loader.getTestCaseNames(cls):
            if name not in CLIENT_SIDE:
                suite.addTest(cls(name))
    return suite


def test_imapclient_livetest_passes(host: MailHost, tmp_path: Path) -> None:
    suite = _suite(host, tmp_path)
    result = unittest.TestResult()
    suite.run(result)
    problems = [f"{test.id()}:\n{trace}" for test, trace in result.failures + result.errors]
    assert not problems, "\n\n".join(problems)
    # the suite really ran: most of it applies to an IMAP4rev1 server with our extensions
    assert result.testsRun >= 50 and result.testsRun - len(result.skipped) >= 30
    # its CONDSTORE, SORT and THREAD tests run against mailhost (they skip on servers
    # without them)
    skipped = {test.id().rsplit(".", 1)[-1] for test, _ in result.skipped}
    assert not skipped & {
        "test_fetch_modifiers",
        "test_search_with_modseq",
        "test_sort",
        "test_sort_with_unicode",
        "test_thread",
        "test_thread_with_unicode",
    }


def test_envelope_equals_the_suites_expectation(host: MailHost) -> None:
    from datetime import datetime

    from imapclient import IMAPClient
    from imapclient.fixed_offset import FixedOffset
    from imapclient.livetest import MULTIPART_MESSAGE
    from imapclient.response_types import Address, Envelope

    client = IMAPClient(host.host, port=host.imap_port, ssl=False, timeout=10)
    client.login("alice", USERS["alice"])
    client.append("INBOX", "Message-ID: <live@test>\r\n" + MULTIPART_MESSAGE)
    client.select_folder("INBOX")
    client.normalise_times = False
    env = client.fetch(1, ["ENVELOPE"])[1][b"ENVELOPE"]
    bob = Address(b"Bob Smith", None, b"bob", b"smith.com")
    assert env == Envelope(
        datetime(2010, 3, 16, 16, 45, 32, tzinfo=FixedOffset(0)),
        b"A multipart message",
        (bob,),
        (bob,),
        (bob,),
        (Address(b"Some One", None, b"some", b"one.com"), Address(None, None, b"foo", b"foo.com")),
        None,
        None,
        None,
        b"<live@test>",
    )
    client.logout()
