"""COMPRESS=DEFLATE (RFC 4978): offered after login, answered uncompressed, then deflate
both ways (input the client pipelined after the command included); a second COMPRESS,
bad mechanisms, corrupt streams and inflation bombs."""

from __future__ import annotations

import zlib

import pytest
from imapkit import MESSAGE, Client, Host

from mailhost.imap.config import IMAPConfig


class Deflated:
    """Both ends of a compressed connection, as a client keeps them."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.out = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.inp = zlib.decompressobj(-15)

    def pack(self, line: str) -> bytes:
        return self.out.compress(line.encode() + b"\r\n") + self.out.flush(zlib.Z_SYNC_FLUSH)

    def unpack(self, raw: bytes) -> bytes:
        return self.inp.decompress(raw)

    def cmd(self, line: str) -> bytes:
        return self.unpack(self.client.send(self.pack(line)))


def _compressed(host: Host) -> Deflated:
    c = host.selected(MESSAGE)
    assert c.cmd("z COMPRESS DEFLATE") == b"z OK DEFLATE active\r\n"
    return Deflated(c)


def test_offered_after_login_only() -> None:
    host = Host()
    c = host.connect()
    assert b"COMPRESS" not in c.greeting
    assert c.cmd("a COMPRESS DEFLATE").startswith(b"a BAD")
    c.login()
    assert b" COMPRESS=DEFLATE" in c.cmd("b CAPABILITY")
    off = Host(config=IMAPConfig(compress_level=0))
    c = off.connect()
    c.login()
    assert b"COMPRESS" not in c.cmd("c CAPABILITY")
    assert c.cmd("d COMPRESS DEFLATE").startswith(b"d BAD")


def test_everything_after_the_ok_is_deflated_both_ways() -> None:
    host = Host()
    d = _compressed(host)
    assert d.cmd("a NOOP") == b"a OK NOOP completed\r\n"
    fetched = d.cmd("b FETCH 1 (BODY.PEEK[])")
    assert fetched.startswith(b"* 1 FETCH (BODY[] {%d}\r\n" % len(MESSAGE))
    assert MESSAGE in fetched and fetched.endswith(b"b OK FETCH completed\r\n")
    # untagged responses a session is sent on its own are deflated too
    assert d.cmd("c IDLE") == b"+ idling\r\n"
    host.deliver()
    host.let_idle_see()
    assert d.unpack(d.client.take()) == b"* 2 EXISTS\r\n* 2 RECENT\r\n"
    assert d.cmd("DONE") == b"c OK IDLE terminated\r\n"


def test_a_command_pipelined_after_compress_is_read_inflated() -> None:
    host = Host()
    c = host.selected(MESSAGE)
    d = Deflated(c)
    raw = c.send(b"z COMPRESS DEFLATE\r\n" + d.pack("a NOOP"))
    assert raw == b"z OK DEFLATE active\r\n"
    host.clock.advance(0)
    assert d.unpack(c.take()) == b"a OK NOOP completed\r\n"


def test_a_second_compress_is_no_compressionactive() -> None:
    d = _compressed(Host())
    assert d.cmd("a COMPRESS DEFLATE") == (
        b"a NO [COMPRESSIONACTIVE] DEFLATE active via COMPRESS\r\n"
    )
    assert d.cmd("b NOOP") == b"b OK NOOP completed\r\n"


@pytest.mark.parametrize("line", ["a COMPRESS", "a COMPRESS GZIP", "a COMPRESS DEFLATE X"])
def test_bad_arguments_leave_the_connection_plain(line: str) -> None:
    c = Host().selected(MESSAGE)
    assert c.cmd(line).startswith(b"a BAD")
    assert c.cmd("b NOOP") == b"b OK NOOP completed\r\n"


def test_a_corrupt_stream_closes_the_connection() -> None:
    d = _compressed(Host())
    d.client.send(b"\xff\xff\xff\xff not deflate")
    assert d.client.closed


def test_an_inflation_bomb_is_read_a_step_at_a_time() -> None:
    """Forty megabytes in a few kilobytes: the line limit answers, nothing is held whole."""
    host = Host()
    d = _compressed(host)
    bomb = d.out.compress(b"a NOOP" + b"x" * (40 << 20) + b"\r\n") + d.out.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < 100_000
    answer = d.unpack(d.client.send(bomb))
    assert answer.startswith(b"* BAD") or answer.startswith(b"a BAD"), answer[:200]
    assert d.client.session.reader.buffered <= 2 * 64 * 1024
    assert d.cmd("b NOOP") == b"b OK NOOP completed\r\n"
