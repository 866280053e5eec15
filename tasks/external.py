"""A simulated, unreliable external service: currency exchange rates.

Nothing here touches the network. The "remote service" fails at a chosen rate
so operators can watch RQ retry a job with back-off and, if every attempt
fails, see it land in the failed registry.
"""

from __future__ import annotations

import hashlib
import math
import random
import re

from .registry import task

_CODE = re.compile(r"^[A-Z]{3}$")
SIMULATED_TIMEOUT_SECONDS = 5.0

# Units of each currency per 1 USD. Fixed reference figures so the demo looks
# plausible; unknown codes get a stable made-up value derived from the code.
_REFERENCE_PER_USD = {
    "USD": 1.0,
    "EUR": 0.92,
    "GBP": 0.79,
    "JPY": 151.0,
    "CHF": 0.88,
    "CAD": 1.36,
    "AUD": 1.52,
    "SEK": 10.4,
    "NOK": 10.6,
    "DKK": 6.87,
    "PLN": 3.98,
    "CNY": 7.2,
    "INR": 83.3,
}


def _per_usd(code: str) -> float:
    if code in _REFERENCE_PER_USD:
        return _REFERENCE_PER_USD[code]
    fraction = int.from_bytes(hashlib.sha256(code.encode()).digest()[:4], "big") / 0xFFFFFFFF
    return round(0.2 + fraction * 99.8, 4)


def _check_code(value: str, field: str) -> str:
    if not isinstance(value, str) or not _CODE.match(value):
        raise ValueError(f"{field} must be a 3-letter upper-case currency code such as EUR, got {value!r}")
    return value


@task(queue="default", timeout=60, retry_max=3, retry_intervals=(5, 15, 60))
def fetch_exchange_rate(
    base: str = "EUR", quote: str = "USD", failure_rate: float = 0.3, seed: int | None = None
) -> float:
    """Look up the exchange rate between two currencies from a (simulated) rate service.

    The service is deliberately unreliable: each attempt fails with a
    connection timeout with probability failure_rate. Failed attempts are
    retried automatically up to 3 times, after 5, 15 and 60 seconds.

    - base: currency converted from, e.g. EUR
    - quote: currency converted to, e.g. USD
    - failure_rate: chance of a simulated timeout per attempt (0 = never, 1 = always)
    - seed: makes the outcome repeatable; note that every retry of a seeded
      call then behaves the same. Leave empty for realistic behaviour.

    Returns the rate as a number: how many units of quote one unit of base buys.
    """
    _check_code(base, "base")
    _check_code(quote, "quote")
    if isinstance(failure_rate, bool) or not isinstance(failure_rate, (int, float)):
        raise ValueError(f"failure_rate must be a number from 0 to 1, got {failure_rate!r}")
    if not math.isfinite(failure_rate) or not 0 <= failure_rate <= 1:
        raise ValueError(f"failure_rate must be from 0 to 1, got {failure_rate!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed must be a whole number or empty, got {seed!r}")

    rng = random.Random(seed) if seed is not None else random.Random()
    # Strict "<": failure_rate=0 can never fail, failure_rate=1 always does.
    if rng.random() < failure_rate:
        raise ConnectionError(
            f"upstream timed out after {SIMULATED_TIMEOUT_SECONDS:g}s fetching {base}/{quote} (simulated)"
        )

    if base == quote:
        return 1.0
    return round(_per_usd(quote) / _per_usd(base), 6)
