"""Dovecot passwd-file lines and every supported password scheme."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import argon2
import bcrypt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailhost.auth import shacrypt
from mailhost.auth.passwd import (
    Argon2Params,
    NoSuchUser,
    PasswdError,
    PasswdFile,
    UserExists,
    hash_password,
    needs_rehash,
    parse_line,
    verify_password,
)

CHEAP = Argon2Params(1, 64, 1)

# Test vectors from "Unix crypt using SHA-256 and SHA-512" (U. Drepper), the spec glibc follows.
SPEC_VECTORS = [
    (
        "$6$saltstring",
        "Hello world!",
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEO"
        "faS35inz1",
    ),
    (
        "$6$rounds=10000$saltstringsaltstring",
        "Hello world!",
        "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vO"
        "uZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
    ),
    (
        "$6$rounds=1400$anotherlongsaltstring",
        "a very much longer text to encrypt.  This one even stretches over morethan one line.",
        "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9"
        "t0oSwbtEW7o7UmJEiDwGqd8p4ur1",
    ),
    ("$5$saltstring", "Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"),
    (
        "$5$rounds=10000$saltstringsaltstring",
        "Hello world!",
        "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA",
    ),
    (
        "$5$rounds=10$roundstoolow",
        "the minimum number is still observed",
        "$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC",
    ),
]


@pytest.mark.parametrize(("setting", "password", "expected"), SPEC_VECTORS)
def test_sha_crypt_spec_vectors(setting: str, password: str, expected: str) -> None:
    assert shacrypt.sha_crypt(password, setting) == expected
    assert shacrypt.verify(password, expected)
    assert not shacrypt.verify(password + "x", expected)


def test_sha_crypt_matches_libc_crypt() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
        except ImportError:
            pytest.skip("the crypt module is not available in this Python")
    for password in ("", "p", "pässwörd", "x" * 80):
        for setting in ("$6$Ab0/salt", "$5$q", "$6$rounds=2000$longersaltthan16chars"):
            expected = crypt.crypt(password, setting)
            if expected is None or not expected.startswith(setting[:3]):
                pytest.skip("libc crypt lacks SHA-crypt")
            assert shacrypt.sha_crypt(password, setting) == expected


def _schemes(password: str) -> dict[str, str]:
    pw = password.encode()
    return {
        "ARGON2ID": "{ARGON2ID}" + CHEAP.hasher().hash(password),
        "ARGON2I": "{ARGON2I}" + argon2.PasswordHasher(1, 64, 1, type=argon2.Type.I).hash(password),
        "BLF-CRYPT": "{BLF-CRYPT}"
        + bcrypt.hashpw(pw, bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$"),
        "SHA512-CRYPT": "{SHA512-CRYPT}" + shacrypt.sha_crypt(password, "$6$rounds=1000$s4lt"),
        "SHA256-CRYPT": "{SHA256-CRYPT}" + shacrypt.sha_crypt(password, "$5$rounds=1000$s4lt"),
        "CRYPT": shacrypt.sha_crypt(password, "$6$rounds=1000$nos"),
        "PLAIN": "{PLAIN}" + password,
        "CLEARTEXT": "{CLEARTEXT}" + password,
    }


@pytest.mark.parametrize("scheme", list(_schemes("x")))
def test_each_scheme_verifies_from_a_passwd_line(tmp_path: Path, scheme: str) -> None:
    stored = _schemes("s3cret pw")[scheme]
    path = tmp_path / "passwd"
    path.write_text(f"user1:{stored}:1000:1000::/home/user1::userdb_quota_rule=*:storage=1G\n")
    entry = PasswdFile(path).lookup("user1")
    assert entry is not None
    assert verify_password(entry.password, "s3cret pw")
    assert not verify_password(entry.password, "s3cret pW")
    assert not verify_password(entry.password, "")
    assert needs_rehash(entry.password, CHEAP) == (scheme != "ARGON2ID")


def test_unknown_or_mismatched_scheme_never_verifies() -> None:
    assert not verify_password("{MD5-CRYPT}$1$abc$def", "x")
    assert not verify_password("{SHA512-CRYPT}$5$rounds=1000$s$abc", "x")
    assert not verify_password("{ARGON2ID}not-a-hash", "x")
    assert not verify_password("", "")
    assert not verify_password("{PLAIN}", "")


def test_hash_password_is_argon2id_with_given_cost() -> None:
    h = hash_password("pw", CHEAP)
    assert h.startswith("{ARGON2ID}$argon2id$v=19$m=64,t=1,p=1$")
    assert verify_password(h, "pw")
    assert needs_rehash(h, Argon2Params(2, 64, 1))


def test_parse_line_keeps_fields() -> None:
    assert parse_line("# comment") is None
    assert parse_line("   ") is None
    e = parse_line("a@b.c:{PLAIN}x:1:2:gecos:/home:/bin/false:extra=1 other=2\n")
    assert e is not None
    assert e.rest == ("1", "2", "gecos", "/home", "/bin/false", "extra=1 other=2")
    assert e.line() == "a@b.c:{PLAIN}x:1:2:gecos:/home:/bin/false:extra=1 other=2"


def test_edit_keeps_comments_and_unknown_fields(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    original = (
        "# managed by hand too\n"
        "alice:{PLAIN}a:1000:1000::/home/alice::userdb_mail=maildir:~/Mail\n"
        "\n"
        "bob:{PLAIN}b\n"
    )
    path.write_text(original)
    os.chmod(path, 0o640)
    pf = PasswdFile(path)
    pf.set_password("alice", "{PLAIN}new")
    pf.add("carol", "{PLAIN}c")
    pf.delete("bob")
    text = path.read_text()
    assert text == (
        "# managed by hand too\n"
        "alice:{PLAIN}new:1000:1000::/home/alice::userdb_mail=maildir:~/Mail\n"
        "\n"
        "carol:{PLAIN}c::::::\n"
    )
    assert os.stat(path).st_mode & 0o777 == 0o640
    with pytest.raises(UserExists):
        pf.add("alice", "{PLAIN}x")
    with pytest.raises(NoSuchUser):
        pf.delete("bob")
    with pytest.raises(PasswdError):
        pf.add("bad:name", "{PLAIN}x")
    # conditional change: left alone when the value moved on meanwhile
    pf.change("alice", "{PLAIN}other", expect="{PLAIN}stale")
    assert pf.lookup("alice").password == "{PLAIN}new"  # type: ignore[union-attr]


def test_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    path.write_text("alice:{PLAIN}a\n")
    pf = PasswdFile(path)
    assert pf.users() == ["alice"]
    path.write_text("alice:{PLAIN}a\nbob:{PLAIN}b\n")
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
    assert pf.refresh()
    assert pf.users() == ["alice", "bob"]
    assert not pf.refresh()


def test_missing_file_means_no_users(tmp_path: Path) -> None:
    assert PasswdFile(tmp_path / "none").users() == []
    assert PasswdFile(tmp_path / "none").get("alice") is None


_field = st.text(
    alphabet=st.characters(blacklist_characters=":\r\n", blacklist_categories=("Cs",)), max_size=20
)


@given(
    user=_field.filter(lambda u: u.strip() != "" and not u.lstrip().startswith("#")),
    password=_field,
    rest=st.lists(_field, max_size=8),
)
def test_line_round_trip(user: str, password: str, rest: list[str]) -> None:
    entry = parse_line(":".join([user, password, *rest]) + "\n")
    assert entry is not None
    assert (entry.user, entry.password, list(entry.rest)) == (user, password, rest)
