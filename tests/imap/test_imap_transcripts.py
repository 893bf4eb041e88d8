"""Exact-bytes transcripts per command and state over StringTransport."""

from __future__ import annotations

import base64

import pytest
from imapkit import MESSAGE, Host, lines, strip_numbers, untagged

from mailhost.imap.config import IMAPConfig

CAPS_PRE = b"IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE AUTH=PLAIN AUTH=LOGIN"


def test_greeting_and_capability(host: Host) -> None:
    c = host.connect()
    assert c.greeting == b"* OK [CAPABILITY " + CAPS_PRE + b"] mailhost IMAP4rev1 ready\r\n"
    assert (
        c.cmd("a CAPABILITY") == b"* CAPABILITY " + CAPS_PRE + b"\r\na OK CAPABILITY completed\r\n"
    )


def test_logindisabled_without_tls() -> None:
    h = Host(policy="never")
    c = h.connect()
    assert b"LOGINDISABLED" in c.greeting and b"AUTH=" not in c.greeting
    assert c.cmd("a LOGIN alice secret") == (
        b"a NO [PRIVACYREQUIRED] Plaintext login is not allowed without TLS\r\n"
    )
    assert c.cmd("b AUTHENTICATE PLAIN") == (
        b"b NO [PRIVACYREQUIRED] Authentication is not allowed without TLS\r\n"
    )


def test_login_failure_and_success(host: Host) -> None:
    c = host.connect()
    assert c.cmd("a LOGIN alice wrong") == b"a NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
    out = c.cmd('b LOGIN "alice" {6+}\r\nsecret')
    assert out.startswith(b"b OK [CAPABILITY IMAP4rev1 ") and b"APPENDLIMIT=" in out
    assert c.cmd("c LOGIN alice secret") == b"c BAD Already logged in\r\n"


def test_synchronising_literal_gets_continuation(host: Host) -> None:
    c = host.connect()
    assert c.send(b"a LOGIN {5}\r\n") == b"+ Ready for literal data\r\n"
    assert c.send(b"alice secret\r\n").startswith(b"a OK [CAPABILITY")


def test_authenticate_plain_initial_response(host: Host) -> None:
    c = host.connect()
    ir = base64.b64encode(b"\0alice\0secret").decode()
    assert c.cmd(f"a AUTHENTICATE PLAIN {ir}").startswith(b"a OK [CAPABILITY")


def test_authenticate_login_and_cancel(host: Host) -> None:
    c = host.connect()
    assert c.cmd("a AUTHENTICATE LOGIN") == b"+ VXNlcm5hbWU6\r\n"
    assert c.cmd("*") == b"a BAD AUTHENTICATE cancelled\r\n"
    assert c.cmd("b AUTHENTICATE LOGIN") == b"+ VXNlcm5hbWU6\r\n"
    assert c.cmd(base64.b64encode(b"alice").decode()) == b"+ UGFzc3dvcmQ6\r\n"
    assert c.cmd(base64.b64encode(b"secret").decode()).startswith(b"b OK [CAPABILITY")


def test_authenticate_plain_continuation(host: Host) -> None:
    c = host.connect()
    assert c.cmd("a AUTHENTICATE PLAIN") == b"+ \r\n"
    out = c.cmd(base64.b64encode(b"\0alice\0wrong").decode())
    assert out == b"a NO [AUTHENTICATIONFAILED] Authentication failed\r\n"


def test_commands_need_the_right_state(host: Host) -> None:
    c = host.connect()
    assert c.cmd("a SELECT INBOX") == b"a BAD Log in first\r\n"
    c.login()
    assert c.cmd("b FETCH 1 FLAGS") == b"b BAD No mailbox selected\r\n"
    assert c.cmd("c FROB") == b"c BAD Unknown command\r\n"


def test_select_transcript(host: Host) -> None:
    host.deliver()
    host.deliver(flags=("\\Seen", "$Junk"))
    c = host.connect()
    c.login()
    out = strip_numbers(c.cmd("a SELECT inbox"))
    assert out == (
        b"* FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen $Junk)\r\n"
        b"* OK [PERMANENTFLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen $Junk \\*)]"
        b" Flags permitted\r\n"
        b"* 2 EXISTS\r\n"
        b"* 2 RECENT\r\n"
        b"* OK [UNSEEN 1] First unseen\r\n"
        b"* OK [UIDVALIDITY N] UIDs valid\r\n"
        b"* OK [UIDNEXT 3] Predicted next UID\r\n"
        b"* OK [HIGHESTMODSEQ 3] Highest\r\n"
        b"a OK [READ-WRITE] SELECT completed\r\n"
    )
    # \Recent went to the first session only; EXAMINE claims none
    d = host.connect()
    d.login()
    out = d.cmd("b EXAMINE INBOX")
    assert b"* 0 RECENT\r\n" in out and b"[PERMANENTFLAGS ()]" in out
    assert out.endswith(b"b OK [READ-ONLY] EXAMINE completed\r\n")


def test_select_missing(host: Host) -> None:
    c = host.connect()
    c.login()
    assert c.cmd("a SELECT Nope") == b"a NO [NONEXISTENT] No such mailbox\r\n"


def test_fetch_items(host: Host) -> None:
    host.deliver()
    c = host.connect()
    c.login()
    c.select()
    size = len(MESSAGE)
    assert c.cmd("a FETCH 1 (UID RFC822.SIZE FLAGS)") == (
        b"* 1 FETCH (UID 1 RFC822.SIZE %d FLAGS (\\Recent))\r\na OK FETCH completed\r\n" % size
    )
    assert c.cmd("b FETCH 1 BODY.PEEK[]<6.5>") == (
        b"* 1 FETCH (BODY[]<6> {5}\r\nAlice)\r\nb OK FETCH completed\r\n"
    )
    assert c.cmd("c FETCH 1 BODY.PEEK[]<9999.5>") == (
        b"* 1 FETCH (BODY[]<9999> {0}\r\n)\r\nc OK FETCH completed\r\n"
    )
    # a body fetch sets \Seen and says so
    assert c.cmd("d FETCH 1 BODY[]<0.4>") == (
        b"* 1 FETCH (BODY[]<0> {4}\r\nFrom FLAGS (\\Recent \\Seen))\r\nd OK FETCH completed\r\n"
    )
    assert c.cmd("e UID FETCH 1 RFC822") == (
        b"* 1 FETCH (UID 1 RFC822 {%d}\r\n%s)\r\ne OK FETCH completed\r\n" % (size, MESSAGE)
    )
    assert c.cmd("f FETCH 1 INTERNALDATE").startswith(b'* 1 FETCH (INTERNALDATE "')


def test_fetch_sequence_errors(host: Host) -> None:
    host.deliver()
    c = host.connect()
    c.login()
    c.select()
    assert c.cmd("a FETCH 2 FLAGS") == b"a BAD Invalid message sequence number\r\n"
    assert c.cmd("b UID FETCH 2:5 FLAGS") == b"b OK FETCH completed\r\n"
    # RFC 9051 §6.4.9: n:* with n above the last UID still means the last message
    assert c.cmd("c UID FETCH 9:* UID") == b"* 1 FETCH (UID 1)\r\nc OK FETCH completed\r\n"
    assert c.cmd("d FETCH 1 (FLAGS BOGUS)").startswith(b"d BAD unknown fetch attribute")


def test_examine_does_not_set_seen(host: Host) -> None:
    host.deliver()
    c = host.connect()
    c.login()
    c.cmd("a EXAMINE INBOX")
    assert c.cmd("b FETCH 1 BODY[]<0.4>") == (
        b"* 1 FETCH (BODY[]<0> {4}\r\nFrom)\r\nb OK FETCH completed\r\n"
    )
    assert c.cmd("c STORE 1 +FLAGS (\\Seen)") == b"c NO [NOPERM] Mailbox is read-only\r\n"
    assert host.inbox().get(1).flags == frozenset()


def test_store_variants(host: Host) -> None:
    host.deliver()
    c = host.connect()
    c.login()
    c.select()
    # a new keyword: FLAGS and PERMANENTFLAGS again (RFC 3501 §7.2.6), then the FETCH
    assert c.cmd("a STORE 1 +FLAGS (\\Flagged $Work)") == (
        b"* FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen $Work)\r\n"
        b"* OK [PERMANENTFLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen $Work \\*)]"
        b" Flags permitted\r\n"
        b"* 1 FETCH (FLAGS (\\Flagged \\Recent $Work))\r\na OK STORE completed\r\n"
    )
    assert c.cmd("b STORE 1 -FLAGS.SILENT $Work") == b"b OK STORE completed\r\n"
    assert c.cmd("c UID STORE 1 FLAGS (\\Seen)") == (
        b"* 1 FETCH (FLAGS (\\Recent \\Seen) UID 1)\r\nc OK STORE completed\r\n"
    )
    assert c.cmd("d STORE 1 +FLAGS (\\Recent)").startswith(b"d BAD")
    assert c.cmd("e NOOP") == b"e OK NOOP completed\r\n"


def test_expunge_and_close(host: Host) -> None:
    for _ in range(4):
        host.deliver()
    c = host.connect()
    c.login()
    c.select()
    c.cmd("a STORE 2:3 +FLAGS.SILENT (\\Deleted)")
    assert c.cmd("b EXPUNGE") == b"* 2 EXPUNGE\r\n* 2 EXPUNGE\r\nb OK EXPUNGE completed\r\n"
    c.cmd("c STORE 1:2 +FLAGS.SILENT (\\Deleted)")
    assert c.cmd("d UID EXPUNGE 4") == b"* 2 EXPUNGE\r\nd OK EXPUNGE completed\r\n"
    assert c.cmd("e CLOSE") == b"e OK CLOSE completed\r\n"
    assert [m.uid for m in host.inbox().list_messages()] == []


def test_search(host: Host) -> None:
    host.deliver()
    host.deliver(flags=("\\Seen",))
    host.deliver(b"Subject: big\r\n\r\n" + b"x" * 500 + b"\r\n", flags=("\\Flagged",))
    c = host.connect()
    c.login()
    c.select()
    assert c.cmd("a SEARCH UNSEEN") == b"* SEARCH 1 3\r\na OK SEARCH completed\r\n"
    assert c.cmd("b UID SEARCH OR SEEN FLAGGED") == b"* SEARCH 2 3\r\nb OK SEARCH completed\r\n"
    assert c.cmd("c SEARCH NOT (SEEN) LARGER 300") == b"* SEARCH 3\r\nc OK SEARCH completed\r\n"
    assert c.cmd("d SEARCH 5:9") == b"* SEARCH\r\nd OK SEARCH completed\r\n"
    assert (
        c.cmd("e SEARCH UID 2:* SINCE 1-Jan-2000") == b"* SEARCH 2 3\r\ne OK SEARCH completed\r\n"
    )
    assert c.cmd("f SEARCH CHARSET X-NOSUCH ALL") == (
        b"f NO [BADCHARSET (UTF-8 US-ASCII)] Charset not supported\r\n"
    )
    assert c.cmd("g SEARCH CHARSET UTF-8 NEW") == b"* SEARCH 1 3\r\ng OK SEARCH completed\r\n"
    assert c.cmd("h SEARCH BEFORE 1-Jan-2000") == b"* SEARCH\r\nh OK SEARCH completed\r\n"


def test_append(host: Host) -> None:
    c = host.connect()
    c.login()
    uv = host.inbox().uidvalidity
    out = c.send(b'a APPEND INBOX (\\Seen) "05-Mar-2026 10:00:00 +0100" {5+}\r\nHello\r\n')
    assert out == b"a OK [APPENDUID %d 1] APPEND completed\r\n" % uv
    m = host.inbox().get(1)
    assert m.flags == {"\\Seen"} and m.internaldate == 1772701200.0
    assert c.send(b"b APPEND Nope {5+}\r\nHello\r\n") == b"b NO [TRYCREATE] No such mailbox\r\n"
    # synchronising: refused before the message is sent, and no "+"
    assert c.send(b"b2 APPEND Nope (\\Seen) {5}\r\n") == b"b2 NO [TRYCREATE] No such mailbox\r\n"
    assert c.send(b"b3 APPEND INBOX {5}\r\n") == b"+ Ready for literal data\r\n"
    assert c.send(b"Hello\r\n").startswith(b"b3 OK [APPENDUID")
    # MULTIAPPEND (RFC 3502)
    out = c.send(b"c APPEND INBOX {1+}\r\nA (\\Draft) {1+}\r\nB\r\n")
    assert out == b"c OK [APPENDUID %d 3:4] APPEND completed\r\n" % uv


def test_append_too_big_stays_in_sync() -> None:
    h = Host(max_message_size=10)
    c = h.connect()
    c.login()
    # synchronising: no "+", so the client never sends the data
    assert c.send(b"a APPEND INBOX {11}\r\n") == b"a NO [TOOBIG] Message too large\r\n"
    # non-synchronising: read and dropped, the next command still works
    out = c.send(b"b APPEND INBOX {11+}\r\nb NOOP\r\n123\r\nc NOOP\r\n")
    assert out == b"b NO [TOOBIG] Message too large\r\nc OK NOOP completed\r\n"


def test_long_line_is_bad_not_a_disconnect() -> None:
    h = Host(IMAPConfig(max_line_length=1000))
    c = h.connect()
    out = c.send(b"a NOOP " + b"x" * 2000 + b"\r\nb NOOP\r\n")
    assert out == b"a BAD Command line too long\r\nb OK NOOP completed\r\n"
    assert not c.closed


def test_pipelined_commands_in_order(host: Host) -> None:
    host.deliver()
    c = host.connect()
    out = c.send(b"a LOGIN alice secret\r\nb SELECT INBOX\r\nc FETCH 1 UID\r\nd LOGOUT\r\n")
    tags = [ln.split(b" ")[0] for ln in lines(out) if not ln.startswith(b"* ")]
    assert tags == [b"a", b"b", b"c", b"d"]
    assert c.closed


def test_starttls_discards_pipelined_plaintext() -> None:
    from pathlib import Path

    class FakeTLS:
        def options(self) -> object:
            return self

    h = Host(tls=FakeTLS())
    c = h.connect()
    assert b"STARTTLS" in c.greeting
    out = c.send(b"a STARTTLS\r\nb LOGIN alice secret\r\n")
    assert out == b"a OK Begin TLS negotiation now\r\n"
    assert c.transport.tls_started
    assert c.session.user is None
    assert b"STARTTLS" not in c.cmd("c CAPABILITY")
    _ = Path


def test_bad_command_limit() -> None:
    h = Host(IMAPConfig(max_bad_commands=3))
    c = h.connect()
    out = c.send(b"a FROB\r\nb FROB\r\nc FROB\r\nd NOOP\r\n")
    assert out.endswith(b"c BAD Unknown command\r\n* BYE Too many invalid commands\r\n")
    assert c.closed


def test_autologout(host: Host) -> None:
    c = host.connect()
    c.login()
    host.clock.advance(1799)
    assert not c.closed
    c.cmd("a NOOP")
    host.clock.advance(1799)
    assert not c.closed
    host.clock.advance(2)
    assert c.take() == b"* BYE Autologout; idle for too long\r\n"
    assert c.closed


def test_login_timeout(host: Host) -> None:
    c = host.connect()
    host.clock.advance(181)
    assert c.closed


def test_connection_limit_per_ip() -> None:
    h = Host(IMAPConfig(max_connections_per_ip=2))
    a, b = h.connect(), h.connect()
    third = h.connect()
    assert third.greeting == b"* BYE Too many connections from your address\r\n"
    assert third.closed
    a.lose()
    assert h.connect().greeting.startswith(b"* OK")
    assert b.greeting.startswith(b"* OK")


def test_connection_limit_per_user() -> None:
    h = Host(IMAPConfig(max_connections_per_user=1))
    a = h.connect()
    a.login()
    b = h.connect()
    assert b.cmd("x LOGIN alice secret") == b"x NO [LIMIT] Too many sessions for this user\r\n"
    a.cmd("y LOGOUT")
    a.lose()
    assert b.cmd("z LOGIN alice secret").startswith(b"z OK")


def test_revoked_credential_ends_session(host: Host) -> None:
    c = host.connect()
    c.login()
    valid = [True]
    c.session.user.still_valid = lambda: valid[0]
    assert c.cmd("a NOOP") == b"a OK NOOP completed\r\n"
    valid[0] = False
    assert c.cmd("b NOOP") == b"* BYE Your credentials are no longer valid\r\n"
    assert c.closed


@pytest.mark.parametrize(
    "line,expected",
    [
        ('a LIST "" ""', b'* LIST (\\Noselect) "/" ""\r\na OK LIST completed\r\n'),
        (
            'b LIST "" INBOX',
            b'* LIST (\\HasNoChildren) "/" "INBOX"\r\nb OK LIST completed\r\n',
        ),
        (
            'c LSUB "" *',
            b'* LSUB (\\HasNoChildren) "/" "INBOX"\r\n'
            b'* LSUB (\\HasNoChildren \\Sent) "/" "Sent"\r\n'
            b'* LSUB (\\HasNoChildren \\Trash) "/" "Trash"\r\n'
            b"c OK LSUB completed\r\n",
        ),
        (
            'd LIST (SPECIAL-USE) "" *',
            b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"\r\n'
            b'* LIST (\\HasNoChildren \\Trash) "/" "Trash"\r\nd OK LIST completed\r\n',
        ),
    ],
)
def test_list(host: Host, line: str, expected: bytes) -> None:
    c = host.connect()
    c.login()
    assert c.cmd(line) == expected


def test_mailbox_management(host: Host) -> None:
    c = host.connect()
    c.login()
    assert c.cmd('a CREATE "Entw&APw-rfe/"') == b"a OK CREATE completed\r\n"
    assert host.store.account("alice").folder("Entwürfe").name == "Entwürfe"
    assert c.cmd("b CREATE Entw&APw-rfe") == b"b NO [ALREADYEXISTS] Mailbox already exists\r\n"
    assert c.cmd("c CREATE &AGE-") == (
        b"c NO [CANNOT] Mailbox name is not canonical modified UTF-7\r\n"
    )
    assert c.cmd("d RENAME Entw&APw-rfe Drafts") == b"d OK RENAME completed\r\n"
    assert c.cmd('e LIST "" D%') == (
        b'* LIST (\\HasNoChildren) "/" "Drafts"\r\ne OK LIST completed\r\n'
    )
    assert c.cmd("f SUBSCRIBE Drafts") == b"f OK SUBSCRIBE completed\r\n"
    assert c.cmd("g DELETE Drafts") == b"g OK DELETE completed\r\n"
    assert c.cmd("h DELETE INBOX") == b"h NO [CANNOT] INBOX cannot be deleted\r\n"
    assert c.cmd("i CREATE J (USE (\\Junk))") == b"i OK CREATE completed\r\n"
    assert c.cmd("j CREATE K (USE (\\Bogus))") == (
        b"j NO [USEATTR] Unsupported special-use attribute\r\n"
    )
    assert c.cmd("k STATUS J (MESSAGES UIDNEXT UNSEEN)") == (
        b'* STATUS "J" (MESSAGES 0 UIDNEXT 1 UNSEEN 0)\r\nk OK STATUS completed\r\n'
    )


def test_copy_move_uidplus(host: Host) -> None:
    host.deliver()
    host.deliver()
    c = host.connect()
    c.login()
    c.select()
    trash = host.store.account("alice").folder("Trash").uidvalidity
    assert c.cmd("a COPY 1:2 Trash") == (b"a OK [COPYUID %d 1:2 1:2] COPY completed\r\n" % trash)
    assert c.cmd("b COPY 1 Nope") == b"b NO [TRYCREATE] No such mailbox\r\n"
    assert c.cmd("c UID MOVE 2 Trash") == (
        b"* OK [COPYUID %d 2 3] Moved\r\n* 2 EXPUNGE\r\nc OK MOVE completed\r\n" % trash
    )


def test_idle_done_only(push: bool) -> None:
    host = Host(push=push)
    c = host.connect()
    c.login()
    c.select()
    assert c.cmd("a IDLE") == b"+ idling\r\n"
    assert c.cmd("FOO") == b"* BAD Expected DONE\r\n"
    host.deliver()
    host.let_idle_see()
    assert c.take() == b"* 1 EXISTS\r\n* 1 RECENT\r\n"
    host.clock.advance(120 - host.clock.seconds())  # the keep-alive is due at 120 s
    assert c.take() == b"* OK Still here\r\n"
    assert c.cmd("DONE") == b"a OK IDLE terminated\r\n"


def test_quota_namespace_id_enable_unselect(host: Host) -> None:
    c = host.connect()
    assert c.cmd('a ID ("name" "test")') == b'* ID ("name" "mailhost")\r\na OK ID completed\r\n'
    c.login()
    assert c.cmd("b NAMESPACE") == b'* NAMESPACE (("" "/")) NIL NIL\r\nb OK NAMESPACE completed\r\n'
    assert c.cmd('c GETQUOTA ""') == b'* QUOTA "" ()\r\nc OK GETQUOTA completed\r\n'
    assert c.cmd("d ENABLE X-UNKNOWN") == b"* ENABLED\r\nd OK ENABLE completed\r\n"
    c.select()
    assert c.cmd("e UNSELECT") == b"e OK UNSELECT completed\r\n"
    assert c.cmd("f FETCH 1 FLAGS") == b"f BAD No mailbox selected\r\n"


def test_disconnect_leaves_no_listener(host: Host) -> None:
    for _ in range(3):
        c = host.connect()
        c.login()
        c.select()
        c.lose()
    assert host.hub.subscriber_count() == 0
    c = host.connect()
    c.login()
    c.select()
    c.cmd("a SELECT Trash")
    assert host.hub.subscriber_count() == 1
    c.cmd("b LOGOUT")
    assert host.hub.subscriber_count() == 0


def test_untagged_is_a_list(host: Host) -> None:
    assert untagged(b"* A\r\nx OK\r\n") == [b"* A"]


def test_quota_and_overquota() -> None:
    from mailhost.store.memory import MemoryStore

    h = Host(store=MemoryStore(quota_bytes=10 * 1024))
    h.deliver(b"Subject: x\r\n\r\n" + b"y" * 3000)
    c = h.connect()
    c.login()
    assert c.cmd("a GETQUOTAROOT INBOX") == (
        b'* QUOTAROOT "INBOX" ""\r\n* QUOTA "" (STORAGE 3 10)\r\na OK GETQUOTAROOT completed\r\n'
    )
    assert c.cmd('b GETQUOTA ""') == b'* QUOTA "" (STORAGE 3 10)\r\nb OK GETQUOTA completed\r\n'
    assert c.cmd("c GETQUOTA other") == b"c NO [NONEXISTENT] No such quota root\r\n"
    assert c.send(b"d APPEND INBOX {8000+}\r\n" + b"z" * 8000 + b"\r\n") == (
        b"d NO [OVERQUOTA] Quota exceeded\r\n"
    )
    assert (
        c.cmd('e SETQUOTA "" (STORAGE 1)')
        == b"e NO [NOPERM] Quotas are set by the administrator\r\n"
    )


def test_reselect_and_status_of_selected(host: Host) -> None:
    host.deliver()
    c = host.connect()
    c.login()
    c.select()
    out = c.cmd("a SELECT Trash")
    assert out.startswith(b"* OK [CLOSED] Previous mailbox closed\r\n* FLAGS")
    c.select()
    assert c.cmd("b STATUS INBOX (RECENT MESSAGES)") == (
        b'* STATUS "INBOX" (RECENT 0 MESSAGES 1)\r\nb OK STATUS completed\r\n'
    )
    # a failed SELECT leaves no mailbox selected (RFC 3501 §6.3.1)
    assert (
        c.cmd("c SELECT Nope")
        == b"* OK [CLOSED] Previous mailbox closed\r\nc NO [NONEXISTENT] No such mailbox\r\n"
    )
    assert c.cmd("d FETCH 1 FLAGS") == b"d BAD No mailbox selected\r\n"


def test_read_only_refusals(host: Host) -> None:
    host.deliver()
    c = host.connect()
    c.login()
    c.cmd("a EXAMINE INBOX")
    assert c.cmd("b MOVE 1 Trash") == b"b NO [NOPERM] Mailbox is read-only\r\n"
    assert c.cmd("c EXPUNGE") == b"c NO [NOPERM] Mailbox is read-only\r\n"
    assert c.cmd("d COPY 1 Trash").startswith(b"d OK [COPYUID ")
    assert c.cmd("e CLOSE") == b"e OK CLOSE completed\r\n"


def test_list_extended(host: Host) -> None:
    acct = host.store.account("alice")
    acct.create_folder("A/B")
    acct.subscribe("A/B")
    acct.subscribe("Gone")
    c = host.connect()
    c.login()
    assert c.cmd('a LIST "" (INBOX A/%) RETURN (CHILDREN SUBSCRIBED)') == (
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "INBOX"\r\n'
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "A/B"\r\n'
        b"a OK LIST completed\r\n"
    )
    assert c.cmd('b LIST (SUBSCRIBED) "" "*"') == (
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "INBOX"\r\n'
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "A/B"\r\n'
        b'* LIST (\\HasNoChildren \\Sent \\Subscribed) "/" "Sent"\r\n'
        b'* LIST (\\HasNoChildren \\Trash \\Subscribed) "/" "Trash"\r\n'
        b'* LIST (\\NonExistent \\Subscribed) "/" "Gone"\r\n'
        b"b OK LIST completed\r\n"
    )
    assert c.cmd('c LIST "A/" %') == (
        b'* LIST (\\HasNoChildren) "/" "A/B"\r\nc OK LIST completed\r\n'
    )
    assert c.cmd('d LIST "" A RETURN (STATUS (MESSAGES UIDNEXT))') == (
        b'* LIST (\\HasChildren) "/" "A"\r\n* STATUS "A" (MESSAGES 0 UIDNEXT 1)\r\n'
        b"d OK LIST completed\r\n"
    )
    assert (
        c.cmd('e LIST "" inbox')
        == b'* LIST (\\HasNoChildren) "/" "INBOX"\r\ne OK LIST completed\r\n'
    )
    assert c.cmd('f LIST (BOGUS) "" *').startswith(b"f BAD")


def test_revoked_credential_ends_an_idle(push: bool) -> None:
    host = Host(push=push)
    c = host.connect()
    c.login()
    valid = [True]
    c.session.user.still_valid = lambda: valid[0]
    assert c.cmd("a IDLE") == b"+ idling\r\n"
    valid[0] = False
    host.clock.advance(120)
    assert c.take() == b"* BYE Your credentials are no longer valid\r\n"
    assert c.closed


def test_lsub_and_recursivematch_show_unsubscribed_parents(host: Host) -> None:
    acct = host.store.account("alice")
    acct.create_folder("P/Q")
    acct.subscribe("P/Q")
    c = host.connect()
    c.login()
    assert c.cmd('a LSUB "" P%') == b'* LSUB (\\Noselect) "/" "P"\r\na OK LSUB completed\r\n'
    assert c.cmd('b LSUB "" P*') == b'* LSUB (\\HasNoChildren) "/" "P/Q"\r\nb OK LSUB completed\r\n'
    # P's own attributes as any LIST shows them (RFC 5258 §4 CHILDREN, RFC 3348)
    assert c.cmd('c LIST (SUBSCRIBED RECURSIVEMATCH) "" P% RETURN (CHILDREN)') == (
        b'* LIST (\\HasChildren) "/" "P" ("CHILDINFO" ("SUBSCRIBED"))\r\nc OK LIST completed\r\n'
    )
    assert c.cmd('d LIST (SUBSCRIBED RECURSIVEMATCH) "" Nothing%') == b"d OK LIST completed\r\n"
    # RFC 5258 §3: RECURSIVEMATCH alone, or with REMOTE only, is an error
    assert c.cmd('e LIST (RECURSIVEMATCH) "" *').startswith(b"e BAD ")
    assert c.cmd('f LIST (RECURSIVEMATCH REMOTE) "" ""').startswith(b"f BAD ")
    assert c.cmd('g LIST (REMOTE RECURSIVEMATCH SUBSCRIBED) "" P%').startswith(b"* LIST (")


def test_limits_are_shared_by_the_listeners_of_one_host() -> None:
    h = Host(IMAPConfig(max_connections_per_ip=1))
    tls_factory = h.tls_listener()
    assert tls_factory.limits is h.factory.limits
    h.connect()
    assert h.connect().greeting.startswith(b"* BYE")


def test_store_trouble_is_a_no_not_a_crash(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    from mailhost.errors import TemporaryFailure

    host.deliver()
    c = host.connect()
    c.login()
    c.select()
    acct = host.store.account("alice")

    def broken(*args: object) -> None:
        raise TemporaryFailure("disk on fire")

    monkeypatch.setattr(acct, "list_folders", broken)
    assert c.cmd('a LIST "" *') == b"a NO [UNAVAILABLE] Temporary failure, try again later\r\n"
    folder = c.session.folder
    monkeypatch.setattr(folder, "changes_since", broken)
    host.deliver()  # something to look at: NOOP must pull
    assert c.cmd("b NOOP") == b"b NO [UNAVAILABLE] Temporary failure, try again later\r\n"
    monkeypatch.undo()
    # nothing was learnt, so the next command looks again
    assert c.cmd("c NOOP") == b"* 2 EXISTS\r\n* 2 RECENT\r\nc OK NOOP completed\r\n"
