"""Authentication: one ``twisted.cred`` Portal for every protocol.

:func:`build_authenticator` puts together the passwd-file, the per-user 2FA state, the
checker, the realm and the throttle, and returns the
:class:`~mailhost.auth.api.Authenticator` the protocols hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailhost.auth.authenticator import PortalAuthenticator
    from mailhost.blocking import Blocking
    from mailhost.config import Config
    from mailhost.store.api import Store


def build_authenticator(
    config: Config, store: Store, blocking: Blocking, reactor: Any
) -> PortalAuthenticator:
    """The host's Authenticator: Portal(MailRealm, [MailChecker]) behind the throttle.

    Reads the passwd-file once (in the calling thread) to collect start-up warnings,
    available from ``authenticator.warnings()``.
    """
    from twisted.cred.portal import Portal

    from mailhost.auth.authenticator import PortalAuthenticator
    from mailhost.auth.checkers import MailChecker
    from mailhost.auth.fromconfig import argon2_params, make_throttle, state_store
    from mailhost.auth.passwd import PasswdError, PasswdFile
    from mailhost.auth.realm import MailRealm, passwd_settings
    from mailhost.auth.sessions import SessionWatch
    from mailhost.auth.verifier import Verifier, VerifyCache

    auth = config.auth
    passwd = PasswdFile(auth.passwd_file)
    try:
        warnings = passwd.warnings()
    except PasswdError as e:
        warnings = [str(e)]
    state = state_store(config)
    verifier = Verifier(
        passwd,
        state,
        params=argon2_params(auth),
        cache=VerifyCache(auth.cache_ttl, auth.cache_size),
        rehash=auth.rehash,
        keep_plaintext=config.pop3.apop,
        grant_lifetime=auth.grant_lifetime,
        grant_max_age=auth.grant_max_age,
    )
    sessions = SessionWatch(state, blocking, reactor, auth.revocation_check_interval)
    realm = MailRealm(store, blocking, sessions.hooks, passwd_settings(passwd))
    portal = Portal(realm, [MailChecker(verifier, blocking, prepare=realm.open_account)])
    return PortalAuthenticator(
        portal,
        reactor,
        make_throttle(auth),
        sessions,
        policy=auth.allow_plaintext_auth,
        store=store,
        blocking=blocking,
        hostname=config.server.hostname,
        notify=auth.notify_new_devices,
        warnings=warnings,
    )


__all__ = ["build_authenticator"]
