"""The foreground log format: Twisted's classic lines, timestamps formatted once a second."""

from __future__ import annotations

import io

from twisted.logger import LogLevel, formatEvent, textFileLogObserver

from mailhost.runner import classic_formatter


def _event(when: float, text: str) -> dict[str, object]:
    return {
        "log_time": when,
        "log_format": "{what} login of {user}",
        "what": "imap",
        "user": text,
        "log_level": LogLevel.info,
        "log_namespace": "mailhost.auth",
        "log_system": "-",
    }


def test_lines_are_those_twisted_writes() -> None:
    ours = classic_formatter()
    events = [
        _event(t, u)
        for t, u in [
            (1_790_000_000.1, "a"),
            (1_790_000_000.9, "b"),
            (1_790_000_001.0, "c"),
            (1_790_000_003.5, "d"),
        ]
    ]
    out = io.StringIO()
    theirs = textFileLogObserver(out)
    for event in events:
        theirs(event)
    assert "".join(ours(e) or "" for e in events) == out.getvalue()
    assert formatEvent(events[0]) in out.getvalue()
    # an event without a time still gets a line
    assert ours({"log_format": "x", "log_system": "-"}) == "- [-] x\n"
