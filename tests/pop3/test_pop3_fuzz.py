"""Random command streams: the session never crashes and answers every command in order."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from .helpers import MSG1, MSG2, Conn, make_factory, make_store

PLAIN_IR = b"AUTH PLAIN " + base64.b64encode(b"\0alice\0secret")

number = st.one_of(st.integers(-2, 5), st.just(4294967296), st.just(99999999999)).map(
    lambda n: str(n).encode()
)
command = st.one_of(
    st.sampled_from(
        [
            b"STAT",
            b"LIST",
            b"UIDL",
            b"NOOP",
            b"RSET",
            b"CAPA",
            b"USER alice",
            b"PASS secret",
            b"PASS wrong",
            b"UTF8",
            b"STLS",
            b"AUTH",
            PLAIN_IR,
            b"AUTH PLAIN ###",
            b"APOP a b",
            b"XYZZY",
            b"",
            b"list 1 2",
            b"stat x",
            b"QUIT",
        ]
    ),
    st.builds(
        lambda c, n: c + b" " + n, st.sampled_from([b"LIST", b"RETR", b"DELE", b"UIDL"]), number
    ),
    st.builds(lambda n, m: b"TOP " + n + b" " + m, number, number),
    st.binary(max_size=40).filter(lambda b: b"\n" not in b and not b.strip().startswith(b"AUTH")),
)

MULTI_ALWAYS = {b"CAPA", b"RETR", b"TOP"}


def parse_replies(out: bytes, commands: list[bytes]) -> int:
    """Consume one reply per command; return how many replies were found."""
    lines = out.split(b"\r\n")
    assert lines[-1] == b""
    lines.pop()
    pos = 0
    count = 0
    for cmd in commands:
        if pos >= len(lines):
            break
        status = lines[pos]
        pos += 1
        assert status.startswith((b"+OK", b"-ERR")), (status, cmd)
        count += 1
        words = cmd.split()
        name = words[0].upper() if words and words[0].isascii() else b""
        multi = status.startswith(b"+OK") and (
            name in MULTI_ALWAYS or (name in (b"LIST", b"UIDL", b"AUTH") and len(words) == 1)
        )
        if multi:
            while lines[pos] != b".":
                pos += 1
            pos += 1
    assert pos == len(lines), "output after the last expected reply"
    return count


@settings(max_examples=150, deadline=None)
@given(
    st.booleans(),
    st.lists(command, max_size=25),
    st.lists(st.integers(1, 50), min_size=1, max_size=10),
)
def test_random_commands_stay_in_sync(login: bool, commands: list[bytes], sizes: list[int]) -> None:
    outputs = []
    for chunking in (None, sizes):
        store = make_store(MSG1, MSG2, b"no header no eol")
        c = Conn(make_factory(store, uidl_format="uidonly"))
        sent = [b"USER alice", b"PASS secret"] if login else []
        sent += commands
        data = b"".join(s + b"\r\n" for s in sent)
        if chunking is None:
            out = c.send(data)
        else:
            out, pos, i = b"", 0, 0
            while pos < len(data):
                step = chunking[i % len(chunking)]
                out += c.send(data[pos : pos + step])
                pos += step
                i += 1
        answered = parse_replies(out, sent)
        if answered < len(sent):
            assert c.closed  # only a closed session leaves commands unanswered
        outputs.append(out)
        c.proto.connectionLost(None)
        assert store.account("alice")._lease is None
    assert outputs[0] == outputs[1]
