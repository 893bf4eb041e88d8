"""Maildir++ storage compatible with Dovecot and Courier trees.

Layout (per user root)::

    cur/ new/ tmp/                INBOX
    .Sent/ .Lists.Twisted/ ...    folders (names in modified UTF-7, "." on disk)
    dovecot-uidlist               UIDVALIDITY, next UID, folder GUID, UID of each file
    dovecot-keywords              keyword of each lower-case flag letter
    subscriptions                 Dovecot's subscription file (version 2)
    mailhost-index                MODSEQs, sizes, dates, expunge markers, \\Recent floor
    mailhost.lock                 the folder lock (flock)
    mailhost-special-use          a folder's RFC 6154 role, when mailhost gave it one
    mailhost-account.lock, mailhost-pop3.lease   (root only)
"""

from mailhost.store.maildir.store import MaildirStore

__all__ = ["MaildirStore"]
