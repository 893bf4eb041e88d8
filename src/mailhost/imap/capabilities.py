"""The CAPABILITY list for each state of a connection (RFC 3501 §6.1.1, §7.2.1)."""

from __future__ import annotations

#: Offered in every state.
BASE = (b"IMAP4rev1", b"SASL-IR", b"LITERAL+", b"ID", b"ENABLE", b"IDLE")

#: Added once logged in.
AUTHENTICATED = (
    b"NAMESPACE",
    b"UNSELECT",
    b"UIDPLUS",
    b"MOVE",
    b"CONDSTORE",
    b"QRESYNC",
    b"ESEARCH",
    b"SEARCHRES",
    b"SORT",
    b"ESORT",
    b"SORT=DISPLAY",
    b"THREAD=ORDEREDSUBJECT",
    b"THREAD=REFERENCES",
    b"CHILDREN",
    b"SPECIAL-USE",
    b"CREATE-SPECIAL-USE",
    b"LIST-EXTENDED",
    b"LIST-STATUS",
    b"STATUS=SIZE",
    b"MULTIAPPEND",
    b"BINARY",
    b"QUOTA",
    b"QUOTA=RES-STORAGE",
    b"UTF8=ACCEPT",
    b"WITHIN",
)


def capabilities(
    *,
    authenticated: bool,
    starttls: bool,
    plaintext_allowed: bool,
    mechanisms: list[str],
    append_limit: int,
    compress: bool = False,
) -> list[bytes]:
    """The capabilities to announce now.

    Before login: ``STARTTLS`` where it can still be used, ``LOGINDISABLED`` where
    passwords may not be sent in the clear (RFC 3501 §6.2.3, RFC 8314), and the SASL
    mechanisms the authenticator offers on this connection.  After login the mailbox
    extensions, and no more ``AUTH=`` (RFC 3501 §7.2.1 allows either).
    """
    caps = list(BASE)
    if authenticated:
        caps += AUTHENTICATED
        caps.append(b"APPENDLIMIT=%d" % append_limit)
        if compress:
            caps.append(b"COMPRESS=DEFLATE")
        return caps
    if starttls:
        caps.append(b"STARTTLS")
    if not plaintext_allowed:
        caps.append(b"LOGINDISABLED")
    caps += [b"AUTH=" + m.upper().encode("ascii") for m in mechanisms]
    return caps
