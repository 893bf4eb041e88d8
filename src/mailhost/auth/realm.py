"""The one realm: every protocol gets a :class:`~mailhost.auth.api.MailUser`.

Each protocol asks the Portal for its own avatar interface, so a future protocol (or a
realm that hands out less to some of them) needs no change in the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from twisted.cred.portal import IRealm
from twisted.internet.defer import Deferred, succeed
from zope.interface import Interface, implementer

from mailhost.auth.api import MailUser, ProtocolName
from mailhost.auth.passwd import PasswdFile
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
#: ``(user name) -> settings`` from the user database; blocking (runs in the thread pool).
SettingsLookup = Callable[[str], Mapping[str, str]]


def _no_settings(username: str) -> Mapping[str, str]:
    return {}


def passwd_settings(passwd: PasswdFile) -> SettingsLookup:
    """Settings from the user's passwd-file extra fields (``userdb_`` prefix removed)."""

    def lookup(username: str) -> Mapping[str, str]:
        entry = passwd.lookup(username)
        return entry.settings if entry is not None else {}

    return lookup


@implementer(IRealm)
class MailRealm:
    def __init__(
        self,
        store: Store,
        blocking: Blocking,
        hooks: SessionHooks,
        settings: SettingsLookup = _no_settings,
    ) -> None:
        self.store = store
        self.blocking = blocking
        self.hooks = hooks
        self.settings = settings

    def open_account(self, username: str) -> tuple[Any, Mapping[str, str]]:
        """The store account and the per-user settings (blocking: disk).

        The checker may call it right after the password check, in the same trip to the
        thread pool, and hand the result over on the avatar id (``opened``).
        """
        return self.store.account(username), dict(self.settings(username))

    _open = open_account

    def requestAvatar(
        self, avatarId: Any, mind: object, *interfaces: Any
    ) -> Deferred[tuple[type[Interface], object, Callable[[], None]]]:
        iface = next((i for i in interfaces if i.isOrExtends(IMailAvatar)), None)
        if iface is None:
            raise NotImplementedError("MailRealm serves only IMailAvatar interfaces")
        username = str(avatarId)

        def made(
            opened: tuple[Any, Mapping[str, str]],
        ) -> tuple[type[Interface], object, Callable[[], None]]:
            account, settings = opened
            still_valid, logout = self.hooks(avatarId)
            user = MailUser(
                username, account, still_valid=still_valid, logout=logout, settings=settings
            )
            return iface, user, logout

        opened = getattr(avatarId, "opened", None)
        if opened is not None:
            return succeed(made(opened))
        return self.blocking.run(self._open, username).addCallback(made)
