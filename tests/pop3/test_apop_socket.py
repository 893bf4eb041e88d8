"""APOP and per-user LOGIN-DELAY end to end: ``poplib`` against the real service."""

from __future__ import annotations

import poplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailhost.testing import MailHost

TIMEOUT = 10.0
POP3_SETTINGS = 'apop = true\nper_user_settings = true\nexpire = "30"\n'


@pytest.fixture
def host(tmp_path: Path) -> Iterator[MailHost]:
    directory = tmp_path / "host"
    MailHost(directory, users={})  # writes the kit's mailhost.toml
    config = directory / "mailhost.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[pop3]\n", "[pop3]\n" + POP3_SETTINGS), encoding="utf-8")
    (directory / "passwd").write_text(
        "alice:{PLAIN}tanstaaf::::::userdb_pop3_login_delay=600 pop3_expire=5\n"
        "bob:{PLAIN}bob secret::::::\n",
        encoding="utf-8",
    )
    with MailHost(directory, users={}) as h:
        h.deliver("alice", b"Subject: hi\r\n\r\nhello\r\n")
        yield h


def connect(host: MailHost) -> poplib.POP3:
    return poplib.POP3(host.host, host.pop3_port, timeout=TIMEOUT)


def test_poplib_apop(host: MailHost) -> None:
    pop = connect(host)
    assert b"<" in pop.getwelcome() and b"@localhost>" in pop.getwelcome()
    caps = pop.capa()
    assert caps["EXPIRE"] == ["30", "USER"] and caps["LOGIN-DELAY"] == ["0", "USER"]
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\] Authentication failed"):
        pop.apop("alice", "wrong")
    assert pop.apop("alice", "tanstaaf").startswith(b"+OK Logged in, 1 messages")
    caps = pop.capa()
    assert caps["EXPIRE"] == ["5"] and caps["LOGIN-DELAY"] == ["600"]
    assert pop.stat()[0] == 1
    pop.quit()

    # alice's own LOGIN-DELAY (600 s) now applies to her ...
    again = connect(host)
    with pytest.raises(poplib.error_proto, match=r"-ERR \[LOGIN-DELAY\] .* 600 seconds"):
        again.apop("alice", "tanstaaf")
    again.quit()
    # ... and not to bob, who has no delay
    for _ in range(2):
        bob = connect(host)
        assert bob.apop("bob", "bob secret").startswith(b"+OK")
        assert "LOGIN-DELAY" not in bob.capa()
        bob.quit()
