"""The CAPA list (RFC 2449 §5): exactly what works in this state, on this connection."""

from __future__ import annotations

from dataclasses import dataclass

from mailhost.pop3.config import POP3Config


@dataclass(frozen=True, slots=True)
class Offer:
    """What one connection can do right now."""

    authenticated: bool
    #: TLS can still be started (a provider is set, STLS is enabled, not yet secure).
    stls: bool
    #: USER/PASS and the plaintext SASL mechanisms may be used (RFC 2595 §2.1).
    plaintext: bool
    mechanisms: tuple[str, ...]
    #: After login: the user's EXPIRE value and LOGIN-DELAY seconds (None: the config's).
    expire: str | None = None
    login_delay: int | None = None


def capabilities(config: POP3Config, offer: Offer) -> list[str]:
    """CAPA lines, in a stable order.

    Before login: the authentication and STLS tags; after login only what applies to a
    maildrop (RFC 2449 §5: the list may differ between states).  ``LOGIN-DELAY`` appears
    only when enforced.  With per-user settings, EXPIRE and LOGIN-DELAY carry ``USER``
    before login (RFC 2449 §6.7, §6.8: the value may differ per user, ask again after
    login), and show the user's own values after it.
    """
    caps = ["TOP", "UIDL", "RESP-CODES", "PIPELINING"]
    if offer.authenticated:
        expire = config.expire if offer.expire is None else offer.expire
        delay = config.login_delay if offer.login_delay is None else offer.login_delay
        caps.append(f"EXPIRE {expire}")
        if delay > 0:
            caps.append(f"LOGIN-DELAY {delay}")
    elif config.per_user_settings:
        caps.append(f"EXPIRE {config.expire} USER")
        caps.append(f"LOGIN-DELAY {config.login_delay} USER")
    else:
        caps.append(f"EXPIRE {config.expire}")
        if config.login_delay > 0:
            caps.append(f"LOGIN-DELAY {config.login_delay}")
    if not offer.authenticated:
        caps.append("AUTH-RESP-CODE")
        if offer.plaintext:
            caps.append("USER")
        if offer.mechanisms:
            caps.append("SASL " + " ".join(offer.mechanisms))
        if offer.stls:
            caps.append("STLS")
    if config.utf8:
        # RFC 6856 §2: "USER" says USER/PASS accept UTF-8 arguments; listed in both
        # states (IANA POP3 extension registry), the command is valid before login only.
        caps.append("UTF8 USER")
        caps.append("LANG")
    if config.implementation:
        caps.append(f"IMPLEMENTATION {config.implementation}")
    return caps
