"""twistd plugin: ``twistd mailhost --config FILE``. Kept import-light on purpose."""

from twisted.application.service import ServiceMaker

mailhost = ServiceMaker(
    "mailhost", "mailhost.tap", "POP3 and IMAP4 mail host over one Maildir++ store", "mailhost"
)
