"""The foreground log format: Twisted's classic lines, timestamps formatted once a second."""

from __future__ import annotations

import io

import pytest
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


class _Odd:
    def __repr__(self) -> str:
        return "<odd>"

    def __str__(self) -> str:
        raise ValueError("no text")


@pytest.mark.parametrize(
    "event",
    [
        {
            "log_format": "{protocol} login of {user} from {peer} via {via}",
            "protocol": "imap",
            "user": "ann",
            "peer": "127.0.0.1",
            "via": "password",
        },
        {
            "log_format": "failed login for {user!r} (answer in {delay:.0f} s)",
            "user": "b'x\n",
            "delay": 2.4,
        },
        {"log_format": "two\nlines {x}", "x": 1},
        {"log_format": "missing {nothere}"},
        {"log_format": "a call {f()}", "f": lambda: "made"},
        {"log_format": "{o}", "o": _Odd()},
        {"log_format": "{o!r}", "o": _Odd()},
        {"log_format": "item {d[k]} attr {d.__class__.__name__}", "d": {"k": "v"}},
        {"log_format": ""},
        {"log_format": "no namespace"},
        {"log_format": "{{braces}}"},
        {"log_format": "bad {", "x": 1},
        {"log_format": b"bytes {x}", "x": 1},
        {"message": ("legacy",), "log_format": None},
    ],
)
def test_fast_lines_match_twisted(event: dict[str, object]) -> None:
    """The str.format_map path writes exactly what Twisted's formatter writes."""
    full: dict[str, object] = {
        "log_time": 1_790_000_000.5,
        "log_level": LogLevel.warn,
        "log_namespace": "mailhost.test",
        **event,
    }
    out = io.StringIO()
    textFileLogObserver(out)(full)
    assert (classic_formatter()(full) or "") == out.getvalue()
    no_ns = {k: v for k, v in full.items() if k not in ("log_namespace", "log_level")}
    out = io.StringIO()
    textFileLogObserver(out)(no_ns)
    assert (classic_formatter()(no_ns) or "") == out.getvalue()
