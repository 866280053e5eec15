"""Charts' data: a series of buckets over a window, from Redis' per-minute metrics and the SQL rollups.

    read_timeline(redis, sql, queue=None, function=None, window="1h") -> Timeline

Which series: a queue's total (`queue`), one (queue, function) pair, a function across queues (`function`),
or every queue's total summed (neither). Windows and their sources:

    1h   60 one-minute buckets: Redis minutes (the worker extension), filled with SQL minutes Redis lacks
    24h  144 ten-minute buckets: SQL minutes, plus Redis for the minutes newer than the newest SQL minute
    7d   168 one-hour buckets: SQL hours, plus SQL minutes for the hours not rolled up yet
    30d  720 one-hour buckets: the same

A bucket with no observation is zeros, not a gap, once the series has data; buckets before its first data
point are gaps (`has_data=False`: "no data" in the table, nothing drawn). Percentiles come from the merged
histograms of a bucket's minutes (series.Histogram.quantile).

Cost, bounded by the number of buckets: at most MAX_SERIES series; Redis one pipeline of at most
MAX_SERIES x min(window, retention) HGETALLs (plus one ZREVRANGE of the series index for discovery and one
EXISTS); SQL one or two indexed range reads of at most (window minutes or hours) x series rows, plus one
MAX(bucket) lookup, and one LIMIT 1 probe of whether the collector writes at all. Python work is linear in
the rows read (timeline_items.py folds them). Measured (2-core machine, SQLite, 50 queues x 3 functions
with every minute written): the overview's 1 h read of every queue ~110 ms, one queue's 1 h ~2 ms, a
function across the 50 queues ~70 ms, every queue's 24 h (72,000 minute rows) ~0.55 s.
Flask-free: takes the redis.Redis client (or the front door) and a SQLAlchemy Connection.

    read_queue_timelines(redis, sql) -> (every queue's total, {queue: its own})   the same one read
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from redis import Redis

from dashboard.history.models import metric_rollups
from dashboard.history.timeline_items import COLUMNS, Bucket, Item, TimelinePoint, redis_item, row_item
from dashboard.rqlayer.telemetry import layout, series
from dashboard.settings import TelemetrySettings

# name -> (seconds, step seconds, SQL resolution)
WINDOWS: dict[str, tuple[int, int, str]] = {
    "1h": (3600, 60, "m"),
    "24h": (86400, 600, "m"),
    "7d": (7 * 86400, 3600, "h"),
    "30d": (30 * 86400, 3600, "h"),
}
MAX_SERIES = 200
EXTENSION_HINT = "start workers with -w dashboard.rqlayer.telemetry.worker.ConsoleWorker"
COLLECTOR_HINT = "run the history collector (python -m dashboard.history run) for windows beyond 2 h"
_MINUTE_FALLBACK_SECONDS = 48 * 3600  # SQL keeps minutes this long (HISTORY_MINUTES_RETENTION default)


@dataclass(frozen=True)
class Timeline:
    window: str
    step_seconds: int
    points: tuple[TimelinePoint, ...]
    source: str  # "extension" | "registry" | "none"
    missing: str | None  # what the operator should run, when nothing writes this data

    @property
    def has_data(self) -> bool:
        return any(p.has_data for p in self.points)

    def totals(self) -> dict[str, int]:
        names = ("finished", "failed", "retried", "stopped")
        return {n: sum(getattr(p, n) for p in self.points) for n in names}

    def failure_rate(self) -> float | None:
        """Executions that raised (failed or retried) out of all that ended in the window."""
        t = self.totals()
        ended = sum(t.values())
        return (t["failed"] + t["retried"]) / ended if ended else None


def redis_client(source: Any) -> Redis:
    """The redis.Redis client of `source`: a client, or the front door (console.connection)."""
    return source if isinstance(source, Redis) else source.connection


def _selection(queue: str | None, function: str | None) -> Any:
    """The WHERE clause of the rows that make up the selection (names bounded as the writer bounds them)."""
    t = metric_rollups.c
    clauses = [t.function == (layout.bound(function) if function is not None else "")]
    if queue is not None:
        clauses.append(t.queue == layout.bound(queue))
    return sa.and_(*clauses)


def _sql_rows(sql: sa.Connection, resolution: str, since: int, until: int, where: Any) -> list[Any]:
    t = metric_rollups.c
    query = (
        sa.select(*(getattr(t, name) for name in COLUMNS))
        .where(t.resolution == resolution, t.bucket >= since, t.bucket < until, where)
        .limit(MAX_SERIES * ((until - since) // (60 if resolution == "m" else 3600) + 1))
    )
    return list(sql.execute(query))


def _newest_bucket(sql: sa.Connection, resolution: str, since: int, where: Any) -> int | None:
    t = metric_rollups.c
    found = sql.execute(sa.select(sa.func.max(t.bucket)).where(t.resolution == resolution, t.bucket >= since, where))
    value = found.scalar()
    return int(value) if value is not None else None


def _collector_writes(sql: sa.Connection, since: int) -> bool:
    t = metric_rollups.c
    probe = sa.select(t.bucket).where(t.resolution == "m", t.bucket >= since).limit(1)
    hours = sa.select(t.bucket).where(t.resolution == "h", t.bucket >= since).limit(1)
    return sql.execute(probe).first() is not None or sql.execute(hours).first() is not None


def _redis_names(redis: Redis, queue: str | None, function: str | None) -> list[tuple[str, str | None]]:
    if queue is not None:
        return [(queue, function)]
    wanted = layout.bound(function) if function is not None else None
    return [n for n in series.known_series(redis) if n[1] == wanted][:MAX_SERIES]


def _redis_points(
    redis: Redis,
    queue: str | None,
    function: str | None,
    since: int,
    now: float,
    settings: TelemetrySettings,
) -> dict[tuple[str, int], series.Point]:
    """(queue, minute start) -> the Redis minute, for the minutes from `since` to now that have data."""
    minutes = layout.minute_of(now) - since // 60 + 1
    if minutes <= 0:
        return {}
    found: dict[tuple[str, int], series.Point] = {}
    for s in series.read_many(redis, _redis_names(redis, queue, function), minutes, now, settings):
        for point in s.points:
            if point.ended and point.minute >= since:
                found[(layout.bound(s.queue), point.minute)] = point
    return found


@dataclass(frozen=True)
class _Gathered:
    window: str
    step: int
    buckets: range
    items: list[Item]
    sources: frozenset[str]
    missing: str | None


def _gather(
    connection: Redis,
    sql: sa.Connection,
    queue: str | None,
    function: str | None,
    window: str,
    now: float,
    settings: TelemetrySettings,
) -> _Gathered:
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {', '.join(WINDOWS)}")
    seconds, step, resolution = WINDOWS[window]
    last = int(now) // step * step
    start = last - seconds + step
    where = _selection(queue, function)
    rows = _sql_rows(sql, resolution, start, last + step, where)
    if resolution == "h":
        newest = max((int(r[1]) for r in rows), default=start - 3600)
        tail = max(newest + 3600, int(now) - _MINUTE_FALLBACK_SECONDS)
        rows += _sql_rows(sql, "m", tail, last + step, where)
    redis_points: dict[tuple[str, int], series.Point] = {}
    if window == "1h":
        redis_points = _redis_points(connection, queue, function, start, now, settings)
    elif window == "24h":
        newest_sql = _newest_bucket(sql, "m", start, where)
        since = start if newest_sql is None else newest_sql + 60
        redis_points = _redis_points(connection, queue, function, since, now, settings)
    items = [redis_item(q, point) for (q, _), point in redis_points.items()]
    sources = {"extension"} if items else set()
    for row in rows:  # rows are COLUMNS tuples
        if redis_points and (row[0], int(row[1])) in redis_points:
            continue  # Redis holds that minute (only 1h/24h read Redis, minutes both): the same data, fresher
        items.append(row_item(row))
        sources.add(row[-1] if row[-1] in ("extension", "registry") else "extension")
    missing = []
    if not series.telemetry_present(connection):
        missing.append(EXTENSION_HINT)
    if seconds > settings.metrics_retention and not _collector_writes(sql, start):
        missing.append(COLLECTOR_HINT)
    buckets = range(start, last + step, step)
    return _Gathered(window, step, buckets, items, frozenset(sources), "; ".join(missing) or None)


def _fold(gathered: _Gathered, items: Iterable[Item]) -> Timeline:
    """The items summed into the window's buckets."""
    step, start = gathered.step, gathered.buckets.start
    acc = {b: Bucket() for b in gathered.buckets}
    for item in items:
        slot = acc.get(start + (item.at - start) // step * step)
        if slot is not None:
            slot.add(item)
    points = []
    started = False
    for bucket in gathered.buckets:
        started = started or acc[bucket].seen
        points.append(acc[bucket].point(bucket, started))
    sources = gathered.sources
    source = "extension" if "extension" in sources else ("registry" if sources else "none")
    return Timeline(gathered.window, step, tuple(points), source, gathered.missing)


def read_timeline(
    redis: Any,
    sql: sa.Connection,
    queue: str | None = None,
    function: str | None = None,
    window: str = "1h",
    now: float | None = None,
    settings: TelemetrySettings | None = None,
) -> Timeline:
    """The selection's buckets over `window` (see the module docstring for sources and cost).
    ValueError for an unknown window."""
    now = time.time() if now is None else now
    gathered = _gather(redis_client(redis), sql, queue, function, window, now, settings or TelemetrySettings())
    return _fold(gathered, gathered.items)


def read_queue_timelines(
    redis: Any,
    sql: sa.Connection,
    window: str = "1h",
    now: float | None = None,
    settings: TelemetrySettings | None = None,
) -> tuple[Timeline, dict[str, Timeline]]:
    """Every queue's total summed, and each queue's own (the overview's chart and sparklines), from ONE
    read of the same cost as read_timeline(queue=None). Queue names as the writer bounded them."""
    now = time.time() if now is None else now
    gathered = _gather(redis_client(redis), sql, None, None, window, now, settings or TelemetrySettings())
    by_queue: dict[str, list[Item]] = {}
    for item in gathered.items:
        by_queue.setdefault(item.queue, []).append(item)
    return _fold(gathered, gathered.items), {q: _fold(gathered, items) for q, items in by_queue.items()}
