"""BODY[HEADER] of whole messages is served from the header block as read, unparsed,
with the same octets as the parsed path."""

from __future__ import annotations

from typing import Any

import pytest
from imapkit import Host

from mailhost.imap import fetch as fetch_module

MESSAGES = [
    b"Subject: one\r\nFrom: a@example.org\r\n\r\nbody\r\n",
    b"Subject: folded\r\n continued\r\nX-Empty:\r\n\r\n",
    b"Subject: no body\r\nFrom: b@example.org\r\n",  # no empty line at all
    b"\r\nonly a body\r\n",  # empty header
]
COMMANDS = [
    "FETCH 1:* (BODY.PEEK[HEADER])",
    "FETCH 1:* (RFC822.HEADER)",
    "FETCH 1:* (BODY.PEEK[HEADER]<3.10>)",
    "FETCH 1:* (UID BODY.PEEK[HEADER] FLAGS)",
]


def _responses(host: Host, command: str) -> bytes:
    c = host.connect()
    c.login()
    c.cmd("S1 EXAMINE INBOX")
    return c.cmd("A1 " + command)


@pytest.mark.parametrize("command", COMMANDS)
def test_bare_header_is_not_parsed_and_matches_the_parsed_path(
    monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    host = Host()
    for m in MESSAGES:
        host.deliver(m)
    parses: list[int] = []
    real = fetch_module.parse

    def counting(data: bytes, *args: Any, **kwargs: Any) -> Any:
        parses.append(len(data))
        return real(data, *args, **kwargs)

    monkeypatch.setattr(fetch_module, "parse", counting)
    fast = _responses(host, command)
    # only the two messages whose header block has no closing empty line are parsed
    assert len(parses) == 2
    monkeypatch.setattr(fetch_module, "_bare_header", lambda it: False)
    parses.clear()
    assert _responses(host, command) == fast
    assert len(parses) == len(MESSAGES)
    assert fast.count(b" FETCH (") == len(MESSAGES)
    assert b"A1 OK" in fast


def test_header_fields_are_still_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host()
    host.deliver(MESSAGES[0])
    out = _responses(host, "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[HEADER])")
    assert b"BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: one\r\n\r\n" in out
    assert b"BODY[HEADER] {37}\r\nSubject: one\r\nFrom: a@example.org\r\n\r\n" in out
