"""Pieces of the service wiring that need no running host."""

from __future__ import annotations


def test_tcp_listeners_get_a_deep_listen_queue() -> None:
    from mailhost.service import with_backlog

    assert with_backlog("tcp:143") == "tcp:143:backlog=1024"
    assert with_backlog("tcp6:143:interface=\\:\\:") == "tcp6:143:interface=\\:\\::backlog=1024"
    assert with_backlog("tcp:143:backlog=10") == "tcp:143:backlog=10"
    assert with_backlog("unix:/run/mailhost.sock") == "unix:/run/mailhost.sock"


def test_tune_process_raises_the_young_gc_threshold_and_zero_keeps_it() -> None:
    import gc

    from mailhost.config import Config, ServerConfig
    from mailhost.service import tune_process

    before = gc.get_threshold()
    try:
        tune_process(Config(server=ServerConfig(gc_young_threshold=0)))
        assert gc.get_threshold() == before
        tune_process(Config(server=ServerConfig(gc_young_threshold=12_345)))
        assert gc.get_threshold() == (12_345, before[1], before[2])
    finally:
        gc.set_threshold(*before)
