"""Random input to a logged-in session: never a crash, and the session stays in step."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imapkit import MESSAGE, Host

from mailhost.imap.config import IMAPConfig

TOKENS = [
    "a",
    "b1",
    "FETCH",
    "UID",
    "1",
    "2:*",
    "*",
    "1,3:4",
    "(",
    ")",
    "FLAGS",
    "BODY[",
    "]",
    "BODY.PEEK[1.MIME]",
    "<0.5>",
    "BODYSTRUCTURE",
    "ENVELOPE",
    "BINARY[1]",
    "RFC822",
    "SEARCH",
    "OR",
    "NOT",
    "SUBJECT",
    "HEADER",
    "SINCE",
    "1-Jan-2020",
    "CHARSET",
    "UTF-8",
    "STORE",
    "+FLAGS",
    "-FLAGS.SILENT",
    "\\Seen",
    "\\Deleted",
    "$kw",
    "COPY",
    "MOVE",
    "Trash",
    "INBOX",
    "APPEND",
    "SELECT",
    "EXAMINE",
    "STATUS",
    "(MESSAGES",
    "LIST",
    "LSUB",
    '""',
    "%",
    "RETURN",
    "EXPUNGE",
    "CLOSE",
    "UNSELECT",
    "NOOP",
    "CHECK",
    "IDLE",
    "DONE",
    "CREATE",
    "RENAME",
    "DELETE",
    "x",
    "ENABLE",
    "ID",
    "NIL",
    "NAMESPACE",
    "GETQUOTAROOT",
    "{3}",
    "{2+}",
    "~{1+}",
    '"q\\"',
    "\x00",
    "é",
    "$",
    "(SAVE",
    "(MIN",
    "SORT",
    "(SUBJECT)",
    "THREAD",
    "REFERENCES",
    "UTF8=ACCEPT",
    "UTF8",
    '"Grüße"',
    "OLDER",
    "YOUNGER",
    "(DISPLAYFROM)",
]
SEPARATORS = [" ", " ", " ", "\r\n", "\n", ""]


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    parts = draw(
        st.lists(
            st.tuples(st.sampled_from(TOKENS), st.sampled_from(SEPARATORS))
            | st.tuples(st.binary(max_size=8).map(lambda b: b.decode("latin-1")), st.just("")),
            max_size=60,
        )
    )
    return "".join(t + s for t, s in parts).encode("utf-8")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.integers(1, 50))
def test_random_commands(data: bytes, chunk: int) -> None:
    host = Host(IMAPConfig(max_bad_commands=0, max_line_length=1000))
    host.deliver(MESSAGE)
    host.deliver(
        b"Subject: two\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\n\r\nx\r\n--b--\r\n"
    )
    c = host.connect()
    c.login()
    c.select()
    for i in range(0, len(data), chunk):
        c.send(data[i : i + chunk])
    assert not c.session.failures
    if c.closed:
        return
    # get out of whatever the junk left open: a literal, IDLE, AUTHENTICATE...
    c.send(b" " * 1100 + b"\r\n")
    if c.session.reader._literal is not None:
        c.send(b" " * c.session.reader._literal_want + b"\r\n")
    c.send(b"DONE\r\n")
    out = c.send(b"zz NOOP\r\n")
    assert not c.session.failures
    assert out.endswith(b"zz OK NOOP completed\r\n") or c.closed
