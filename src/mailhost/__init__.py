"""mailhost: one Twisted process serving POP3 and IMAP4 from one shared Maildir++ store."""

__version__ = "0.1.0"
