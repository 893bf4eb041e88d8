"""Slowing down password guessing: per address and per login name, in memory.

Modelled on Dovecot's anvil penalty (failure answers delayed 2 → 4 → 8 → 15 s; the same
wrong password repeated by a misconfigured poller counts once) and Stalwart's fail2ban,
which counts by address *and* by login name.  An address with too many failures in the
window is refused outright for a while (``LoginDelayed``); a login name is only ever
delayed, never locked, so nobody can lock a user out by guessing at their name.  Wrong
second-factor codes have their own, lower cap that turns off only password+code logins.

Counters live in bounded LRU tables; time comes from the caller (``reactor.seconds()``),
so tests drive it with ``twisted.internet.task.Clock``.
"""

from __future__ import annotations

import functools
import ipaddress
from collections import OrderedDict, deque
from dataclasses import dataclass, field

#: Distinct wrong secrets remembered per (address, login) for the "counts once" rule.
_RECENT_SECRETS = 10


@dataclass
class _Counter:
    first: float
    failures: int = 0
    refused_until: float = 0.0


@dataclass
class _Pair:
    secrets: deque[bytes] = field(default_factory=lambda: deque(maxlen=_RECENT_SECRETS))


class _LRU(OrderedDict[str, _Counter]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def touch(self, key: str, now: float, window: float) -> _Counter:
        c = self.get(key)
        if c is None or (now - c.first > window and c.refused_until <= now):
            c = _Counter(first=now)
            self[key] = c
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)
        return c


@functools.lru_cache(maxsize=4096)
def address_key(peer: str) -> str:
    """IPv4 addresses count alone; IPv6 by /64, what one host or home usually gets.

    Memoised: the same few addresses log in again and again, and parsing one costs more
    than the rest of a throttle check."""
    try:
        ip = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return peer
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class Throttle:
    def __init__(
        self,
        *,
        delay: float = 2.0,
        max_delay: float = 15.0,
        window: float = 900.0,
        max_failures_per_address: int = 20,
        lockout_time: float = 900.0,
        max_code_failures: int = 5,
        entries: int = 100000,
        trusted_networks: tuple[str, ...] = (),
    ) -> None:
        self.delay = delay
        self.max_delay = max_delay
        self.window = window
        self.max_failures_per_address = max_failures_per_address
        self.lockout_time = lockout_time
        self.max_code_failures = max_code_failures
        self.trusted = [ipaddress.ip_network(n, strict=False) for n in trusted_networks]
        self._addresses = _LRU(entries)
        self._logins = _LRU(entries)
        self._codes = _LRU(entries)
        self._pairs: OrderedDict[tuple[str, str], _Pair] = OrderedDict()
        self._pair_size = entries

    def _trusted(self, peer: str) -> bool:
        try:
            ip = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return False
        return any(ip in n for n in self.trusted)

    def refused(self, peer: str, now: float) -> bool:
        """Whether logins from ``peer`` are refused without a check (answer LoginDelayed)."""
        c = self._addresses.get(address_key(peer))
        return c is not None and c.refused_until > now

    def code_allowed(self, user: str, now: float) -> bool:
        """Whether password+code logins are open for ``user`` (app passwords always are)."""
        c = self._codes.get(user)
        if c is None or now - c.first > self.window:
            return True
        return c.failures < self.max_code_failures

    def failure(self, peer: str, user: str, fingerprint: bytes, now: float) -> float:
        """Count a failed login; the delay before its answer, in seconds."""
        if self._trusted(peer):
            return 0.0
        akey = address_key(peer)
        pair_key = (akey, user)
        pair = self._pairs.get(pair_key)
        if pair is None:
            pair = self._pairs[pair_key] = _Pair()
        self._pairs.move_to_end(pair_key)
        while len(self._pairs) > self._pair_size:
            self._pairs.popitem(last=False)
        addr = self._addresses.touch(akey, now, self.window)
        login = self._logins.touch(user, now, self.window)
        if fingerprint not in pair.secrets:
            pair.secrets.append(fingerprint)
            addr.failures += 1
            login.failures += 1
            if addr.failures >= self.max_failures_per_address:
                addr.refused_until = now + self.lockout_time
        n = max(addr.failures, login.failures, 1)
        return float(min(self.max_delay, self.delay * 2 ** (n - 1)))

    def code_failure(self, user: str, now: float) -> None:
        """Count a wrong or replayed second-factor code after a right password."""
        self._codes.touch(user, now, self.window).failures += 1

    def success(self, peer: str, user: str, forgive_login: bool, now: float) -> None:
        """A login succeeded: forgive the address; the login name too unless told not to.

        An app password login does not forgive guesses at the account password.
        """
        akey = address_key(peer)
        c = self._addresses.get(akey)
        if c is not None and c.refused_until <= now:
            del self._addresses[akey]
        self._pairs.pop((akey, user), None)
        if forgive_login:
            self._logins.pop(user, None)
