"""Login throttling state in Redis, so every gunicorn worker and console process shares it.

Two buckets, so that nobody can lock another person out:

- per (account, who): `who` is the browser's device id when it carries a valid device cookie for that
  account (it signed in as that account before), else the client address. After `max_failures` failures
  the pair must wait before its next attempt: 15 s, doubling per further failure, at most
  `lockout_seconds` (a slow-down that makes guessing one account hopeless, not a fixed lock). Only
  this pair waits: the same account from another address, or from a browser that signed in before,
  is untouched.
- per address: after `address_max_failures` failures from one address (any accounts), its *failing*
  attempts answer 429; a correct password whose own pair is clean still succeeds. Behind a proxy the
  console was not told about (TRUSTED_PROXIES), every client shares the proxy's address: the address
  bucket then refuses everyone's wrong passwords, but no correct one, and a returning browser's device
  bucket is its own.

Waiting is told to the client (429 with Retry-After), never done by sleeping in the request: a sleeping
sign-in holds a server thread, and a few parallel guesses would then starve everyone else's requests.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from dashboard.rqlayer import keys

FIRST_WAIT_SECONDS = 15


@dataclass(frozen=True)
class ThrottleState:
    pair_failures: int
    pair_retry_after: int
    address_failures: int
    address_retry_after: int
    address_max_failures: int

    @property
    def pair_waiting(self) -> bool:
        """This (account, who) must wait: refuse without checking the password."""
        return self.pair_retry_after > 0

    @property
    def address_failing(self) -> bool:
        """The address has failed too often: slow every attempt, answer its failures with 429."""
        return self.address_failures >= self.address_max_failures

    @property
    def retry_after(self) -> int:
        return max(self.pair_retry_after, self.address_retry_after if self.address_failing else 0, 1)


class LoginThrottle:
    """Counts failed sign-ins per (account, device or address) and per address."""

    def __init__(
        self, connection: redis.Redis, max_failures: int, lockout_seconds: int, address_max_failures: int
    ) -> None:
        self.connection = connection
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self.address_max_failures = address_max_failures

    @staticmethod
    def _pair_subject(address: str, account: str, device: str | None) -> str:
        who = f"device:{device}" if device else f"ip:{address}"
        return f"{who}|{account.lower()}"

    def _keys(self, address: str, account: str, device: str | None) -> tuple[str, str, str]:
        pair = self._pair_subject(address, account, device)
        return (
            keys.login_failures("pair", pair),
            keys.login_failures("wait", pair),
            keys.login_failures("ip", address),
        )

    def state(self, address: str, account: str, device: str | None = None) -> ThrottleState:
        """Where this attempt stands; one pipelined read, never a write."""
        pair, wait, addr = self._keys(address, account, device)
        pipe = self.connection.pipeline(transaction=False)
        pipe.get(pair)
        pipe.ttl(wait)
        pipe.get(addr)
        pipe.ttl(addr)
        pair_count, wait_ttl, addr_count, addr_ttl = pipe.execute()
        return ThrottleState(
            int(pair_count or 0),
            max(int(wait_ttl), 0),
            int(addr_count or 0),
            max(int(addr_ttl), 0),
            self.address_max_failures,
        )

    def wait_for(self, failures: int) -> int:
        """Seconds the pair waits after its `failures`-th failure: none below the limit, then doubling."""
        if failures < self.max_failures:
            return 0
        exponent = min(failures - self.max_failures, 20)  # 2**20 * 15 s is far beyond any cap
        return min(self.lockout_seconds, FIRST_WAIT_SECONDS * int(2**exponent))

    def record_failure(self, address: str, account: str, device: str | None = None) -> ThrottleState:
        """Count one failure in both buckets; one transaction, plus one SET when the pair must wait.
        Counters are forgotten `lockout_seconds` after their last failure (twice that for a pair, so a
        pair that waited does not start over at once)."""
        pair, wait, addr = self._keys(address, account, device)
        pipe = self.connection.pipeline(transaction=True)
        pipe.incr(pair)
        pipe.expire(pair, 2 * self.lockout_seconds)
        pipe.incr(addr)
        pipe.expire(addr, self.lockout_seconds)
        pair_count, _, _, _ = pipe.execute()
        seconds = self.wait_for(int(pair_count))
        if seconds:
            self.connection.set(wait, 1, ex=seconds)
        return self.state(address, account, device)

    def reset_pair(self, address: str, account: str, device: str | None = None) -> None:
        # A success clears its own pair only: the address's count stays, so one address guessing many
        # accounts stays slowed even if it also owns a real account.
        pair, wait, _ = self._keys(address, account, device)
        self.connection.delete(pair, wait)
