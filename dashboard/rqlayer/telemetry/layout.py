"""How telemetry is laid out in Redis: series names, name bounds, minutes and histogram buckets.

A *series* is one (queue, function) pair, or a queue's total (function = None). Its per-minute hash
is `keys.metrics_minute(minute, series_id)` where `series_id` is a digest of the series' JSON name, so
no queue or function name, however long or strange, ever becomes part of a key or a field. Fields of
a minute hash (all integers, durations in microseconds):

    f x r s       finished, failed, retried, stopped executions
    rs rm b<i>    run time: sum, max, count in run bucket i   (ended_at - started_at)
    ws wm q<i>    queue wait: sum, max, count in wait bucket i (started_at - enqueued_at)

Bucket i counts observations <= EDGES[i] (and > EDGES[i-1]); the last index counts the rest (+Inf),
compared in whole microseconds (the worker's script compares `micros(seconds)` with EDGES_US).

Monotonic totals (for Prometheus counters) live in ONE hash, `keys.metrics_totals()`, with the minute
hash's fields except the maxima, each prefixed by the series' totals id (`totals_id(member)` + ":",
e.g. `0123456789abcdef:f`); it has no TTL. Its index `keys.metrics_totals_index()` (zset: series
member -> last minute written) keeps at most SERIES_CAP series: when it trims one, the script deletes
that series' fields too, so the hash is bounded by SERIES_CAP x TOTAL_FIELDS fields. The totals id is
a SHA-1 prefix (the one digest Redis' Lua has: the script derives it from the member when it trims).
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left
from datetime import datetime

# Prometheus' default buckets plus 30 s and 60 s (seconds).
RUN_EDGES: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Waiting in a queue can take much longer than running.
WAIT_EDGES: tuple[float, ...] = (*RUN_EDGES, 300.0, 1800.0, 3600.0)

RUN_EDGES_US: tuple[int, ...] = tuple(round(edge * 1_000_000) for edge in RUN_EDGES)
WAIT_EDGES_US: tuple[int, ...] = tuple(round(edge * 1_000_000) for edge in WAIT_EDGES)

OUTCOMES = {"finished": "f", "failed": "x", "retried": "r", "stopped": "s"}
RUN_SUM, RUN_MAX, RUN_BUCKET = "rs", "rm", "b"
WAIT_SUM, WAIT_MAX, WAIT_BUCKET = "ws", "wm", "q"
# Every field a series can have in the totals hash (after its "<totals id>:" prefix).
TOTAL_FIELDS: tuple[str, ...] = (
    *OUTCOMES.values(),
    RUN_SUM,
    WAIT_SUM,
    *(f"{RUN_BUCKET}{i}" for i in range(len(RUN_EDGES) + 1)),
    *(f"{WAIT_BUCKET}{i}" for i in range(len(WAIT_EDGES) + 1)),
)

# Queue and function names are data: longer ones are cut and made unique with a digest of the whole.
NAME_LIMIT = 200
# The series index keeps at most this many series (the most recently written ones).
SERIES_CAP = 5000


def bound(text: str | None, limit: int = NAME_LIMIT) -> str:
    """`text` if it is at most `limit` characters, else a prefix + "~" + 16 hex digits of its digest."""
    text = text or ""
    if len(text) <= limit:
        return text
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
    return text[: limit - 17] + "~" + digest


def series_member(queue: str, function: str | None) -> str:
    """The series' name as stored in the series index: JSON [queue, function or null]."""
    return json.dumps([bound(queue), None if function is None else bound(function)], separators=(",", ":"))


def series_id(member: str) -> str:
    return hashlib.blake2b(member.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def totals_id(member: bytes | str) -> str:
    """The prefix of a series' fields in the totals hash: 16 hex digits of SHA-1 of its index member
    (what the script computes with redis.sha1hex; not a security digest)."""
    raw = member if isinstance(member, bytes) else member.encode("utf-8", "surrogatepass")
    return hashlib.sha1(raw, usedforsecurity=False).hexdigest()[:16]


def parse_member(raw: bytes | str) -> tuple[str, str | None] | None:
    """(queue, function or None) from an index member; None for anything that is not one of ours."""
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)):
        return None
    if value[1] is not None and not isinstance(value[1], str):
        return None
    return value[0], value[1]


def minute_of(epoch_seconds: float) -> int:
    return int(epoch_seconds // 60)


def bucket(seconds: float, edges: tuple[float, ...]) -> int:
    """Index of the bucket that counts `seconds` (len(edges) for the overflow bucket), compared in whole
    microseconds as the worker's script does."""
    return bisect_left([round(edge * 1_000_000) for edge in edges], micros(seconds))


def micros(seconds: float) -> int:
    return max(0, round(seconds * 1_000_000))


def epoch_ms(moment: datetime | None) -> int | None:
    """Epoch milliseconds of an aware datetime: the `attempt` half of an outcome's key (job id, attempt).
    The worker writes `started_at` into its end events with it and the collector's registry sweep reads
    job hashes with it, so one execution seen both ways gets one key: keep it the only formula."""
    if moment is None:
        return None
    return int(moment.timestamp() * 1000)
