"""Pieces of the service wiring that need no running host."""

from __future__ import annotations


def test_tcp_listeners_get_a_deep_listen_queue() -> None:
    from mailhost.service import with_backlog

    assert with_backlog("tcp:143") == "tcp:143:backlog=1024"
    assert with_backlog("tcp6:143:interface=\\:\\:") == "tcp6:143:interface=\\:\\::backlog=1024"
    assert with_backlog("tcp:143:backlog=10") == "tcp:143:backlog=10"
    assert with_backlog("unix:/run/mailhost.sock") == "unix:/run/mailhost.sock"
