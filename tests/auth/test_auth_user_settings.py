"""Per-user settings: the passwd-file's extra fields reach the MailUser avatar."""

from __future__ import annotations

from authkit import TLS_POP, Host

from mailhost.auth.passwd import PasswdEntry, parse_line


def test_extra_fields_are_parsed() -> None:
    entry = parse_line(
        "alice:{PLAIN}pw:1000:1000::/home/alice::userdb_pop3_login_delay=600 "
        "pop3_expire=30 nopassword userdb_quota_rule=*:storage=1G\n"
    )
    assert entry is not None
    assert entry.extra_fields == {
        "userdb_pop3_login_delay": "600",
        "pop3_expire": "30",
        "nopassword": "",
        "userdb_quota_rule": "*:storage=1G",
    }
    assert entry.settings == {
        "pop3_login_delay": "600",
        "pop3_expire": "30",
        "nopassword": "",
        "quota_rule": "*:storage=1G",
    }


def test_prefixed_setting_wins_and_short_lines_have_none() -> None:
    entry = PasswdEntry("a", "{PLAIN}x", ("", "", "", "", "", "x=1 userdb_x=2 x=3"))
    assert entry.settings == {"x": "2"}
    assert PasswdEntry("a", "{PLAIN}x").extra_fields == {}
    assert PasswdEntry("a", "{PLAIN}x", ("1000", "1000")).settings == {}


def test_plaintext_equivalent() -> None:
    assert PasswdEntry("a", "{PLAIN}x").plaintext_equivalent
    assert PasswdEntry("a", "{cleartext}x").plaintext_equivalent
    assert not PasswdEntry("a", "{PLAIN}").plaintext_equivalent
    assert not PasswdEntry("a", "{ARGON2ID}$argon2id$...").plaintext_equivalent
    assert not PasswdEntry("a", "$6$salt$hash").plaintext_equivalent


def test_login_carries_the_users_settings(host: Host) -> None:
    host.add_user("alice", "alice password")
    host.add_user("bob", "bob password")
    line = next(e for e in host.passwd.entries() if e.user == "alice").line()
    text = host.passwd.path.read_text()
    host.passwd.path.write_text(
        text.replace(line, line + "userdb_pop3_login_delay=600 pop3_expire=5")
    )
    alice = host.ok("alice", "alice password", TLS_POP)
    assert dict(alice.settings) == {"pop3_login_delay": "600", "pop3_expire": "5"}
    assert dict(host.ok("bob", "bob password", TLS_POP).settings) == {}
