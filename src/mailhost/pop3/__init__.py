"""POP3 (RFC 1939) with CAPA, RESP-CODES and PIPELINING (RFC 2449), STLS (RFC 2595),
AUTH (RFC 5034), AUTH-RESP-CODE (RFC 3206) and UTF8/LANG (RFC 6856).

* :mod:`.protocol` — the session: command parser and state machine, no I/O;
* :mod:`.mailbox` — the login snapshot: numbering, DELE marks, the UPDATE plan;
* :mod:`.stuffing` — dot-stuffing, TOP and NUL filtering, safe at any chunk boundary;
* :mod:`.capabilities` — the CAPA list for a state and a connection;
* :mod:`.responses` — reply texts and the one mapping of errors to ``-ERR [CODE]``;
* :mod:`.uidl` — unique-ids from ``(UIDVALIDITY, UID)``;
* :mod:`.streaming` — the push producer that streams big messages;
* :mod:`.server` — :class:`~.server.POP3Factory` and the Twisted adapter around it.
"""
