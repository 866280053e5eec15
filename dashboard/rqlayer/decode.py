"""Tolerant decoding of the text fields RQ writes into Redis hashes.

Every field may be missing, empty or written by another RQ version; none of these helpers raises.
Nothing here deserializes job payloads (see payloads.py for that).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from dashboard.rqlayer.vocabulary import RQ_TIME_FORMATS as _TIME_FORMATS


def text(value: bytes | str | None, default: str = "") -> str:
    """Bytes from Redis as text; undecodable bytes become U+FFFD instead of an error."""
    if value is None:
        return default
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def timestamp(value: bytes | str | None) -> datetime | None:
    """An RQ ISO-Z timestamp as an aware UTC datetime, or None when absent or malformed."""
    raw = text(value).strip()
    if not raw:
        return None
    try:
        # C-fast path: Python 3.11 reads RQ's "...T..:..:..[.ffffff]Z" directly.
        parsed = datetime.fromisoformat(raw)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        pass
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(raw, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def epoch(value: float | str | bytes | None) -> datetime | None:
    """A Unix time (a zset score, a JSON number, Redis bytes) as an aware UTC datetime; None when absent
    or not a time (an error reply included)."""
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def integer(value: bytes | str | None, default: int | None = None) -> int | None:
    if value is None:  # an absent field, the common case: no exception to raise and catch
        return default
    try:
        return int(float(text(value)))
    except (TypeError, ValueError, OverflowError):
        return default


def number(value: bytes | str | None, default: float | None = None) -> float | None:
    """A finite float, else `default`: "nan", "inf" and "1e400" in a hash are not numbers anyone wrote on
    purpose, and every reader (durations, sums, sorting) would fail or mislead on them."""
    try:
        parsed = float(text(value))
    except (TypeError, ValueError):
        return default
    return parsed if math.isfinite(parsed) else default


def csv_names(value: bytes | str | None) -> tuple[str, ...]:
    return tuple(part for part in text(value).split(",") if part)
