"""The one realm: every protocol gets a :class:`~mailhost.auth.api.MailUser`.

Each protocol asks the Portal for its own avatar interface, so a future protocol (or a
realm that hands out less to some of them) needs no change in the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.cred.portal import IRealm
from twisted.internet.defer import Deferred
from zope.interface import Interface, implementer

from mailhost.auth.api import MailUser, ProtocolName
from mailhost.blocking import Blocking
from mailhost.store.api import Store


class IMailAvatar(Interface):
    """A logged-in mail user (:class:`~mailhost.auth.api.MailUser`)."""


class IPOP3Avatar(IMailAvatar):
    """What a POP3 session asks the Portal for."""


class IIMAPAvatar(IMailAvatar):
    """What an IMAP4 session asks the Portal for."""


class IWebAvatar(IMailAvatar):
    """What the web pages ask the Portal for."""


class ILMTPAvatar(IMailAvatar):
    """What authenticated LMTP asks the Portal for."""


AVATAR_INTERFACES: dict[ProtocolName, type[Interface]] = {
    "pop3": IPOP3Avatar,
    "imap": IIMAPAvatar,
    "web": IWebAvatar,
    "lmtp": ILMTPAvatar,
}

#: ``(avatar id) -> (still_valid, logout)`` for the session being opened.
SessionHooks = Callable[[Any], tuple[Callable[[], bool], Callable[[], None]]]


@implementer(IRealm)
class MailRealm:
    def __init__(self, store: Store, blocking: Blocking, hooks: SessionHooks) -> None:
        self.store = store
        self.blocking = blocking
        self.hooks = hooks

    def requestAvatar(
        self, avatarId: Any, mind: object, *interfaces: Any
    ) -> Deferred[tuple[type[Interface], object, Callable[[], None]]]:
        iface = next((i for i in interfaces if i.isOrExtends(IMailAvatar)), None)
        if iface is None:
            raise NotImplementedError("MailRealm serves only IMailAvatar interfaces")
        username = str(avatarId)

        def made(account: Any) -> tuple[type[Interface], object, Callable[[], None]]:
            still_valid, logout = self.hooks(avatarId)
            user = MailUser(username, account, still_valid=still_valid, logout=logout)
            return iface, user, logout

        return self.blocking.run(self.store.account, username).addCallback(made)
