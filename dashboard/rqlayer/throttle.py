"""Login throttling state in Redis, so every gunicorn worker and console process shares it."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from dashboard.rqlayer import keys


@dataclass(frozen=True)
class ThrottleState:
    failures: int
    retry_after: int

    @property
    def locked(self) -> bool:
        return self.retry_after > 0


class LoginThrottle:
    """Counts failed sign-ins per address and per account inside a sliding lockout window."""

    def __init__(self, connection: redis.Redis, max_failures: int, lockout_seconds: int) -> None:
        self.connection = connection
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds

    def _keys(self, address: str, username: str) -> list[str]:
        return [keys.login_failures("ip", address), keys.login_failures("user", username.lower())]

    def state(self, address: str, username: str) -> ThrottleState:
        """The worst of the address's and the account's counters; a read, never a write."""
        pipe = self.connection.pipeline(transaction=False)
        for key in self._keys(address, username):
            pipe.get(key)
            pipe.ttl(key)
        replies = pipe.execute()
        worst = ThrottleState(0, 0)
        for count, ttl in zip(replies[::2], replies[1::2], strict=True):
            failures = int(count or 0)
            retry_after = max(int(ttl), 1) if failures >= self.max_failures else 0
            if (retry_after, failures) > (worst.retry_after, worst.failures):
                worst = ThrottleState(failures, retry_after)
        return worst

    def record_failure(self, address: str, username: str) -> ThrottleState:
        pipe = self.connection.pipeline(transaction=True)
        for key in self._keys(address, username):
            pipe.incr(key)
            pipe.expire(key, self.lockout_seconds)
        pipe.execute()
        return self.state(address, username)

    def reset_account(self, username: str) -> None:
        # A successful sign-in clears the account's counter, not the address's: one attacker
        # address guessing many accounts stays throttled.
        self.connection.delete(keys.login_failures("user", username.lower()))

    def delay_for(self, failures: int) -> float:
        """Seconds to slow a failed attempt down: grows with the failures, at most 2 s."""
        return min(2.0, 0.25 * max(0, failures - 1))
