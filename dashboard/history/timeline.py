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
MAX(bucket) lookup, and one LIMIT 1 probe of whether the collector writes at all. Flask-free: takes the
redis.Redis client (or the front door) and a SQLAlchemy Connection.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from redis import Redis

from dashboard.history.models import metric_rollups
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
class TimelinePoint:
    """One bucket: `bucket` is its start in epoch seconds; durations in seconds (None without
    observations); `has_data` False before the series' first data point (a gap, not zeros)."""

    bucket: int
    has_data: bool
    finished: int
    failed: int
    retried: int
    stopped: int
    run_p50: float | None
    run_p95: float | None
    run_max: float | None
    wait_p50: float | None
    wait_p95: float | None
    depth: int | None = None
    oldest_age_s: float | None = None

    @property
    def ended(self) -> int:
        return self.finished + self.failed + self.retried + self.stopped

    def as_json(self) -> dict[str, Any]:
        keys = ("finished", "failed", "retried", "stopped", "run_p50", "run_p95", "run_max", "wait_p50", "wait_p95")
        data: dict[str, Any] = {"bucket": self.bucket}
        data.update({k: (getattr(self, k) if self.has_data else None) for k in keys})
        data["depth"], data["oldest_age_s"] = self.depth, self.oldest_age_s
        return data


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


@dataclass
class _Acc:
    """What one bucket accumulates (across minutes and series); depth/age: queue -> (sample time, value)."""

    point: series.Point
    seen: bool = False
    depth: dict[str, tuple[int, int]] | None = None
    age: dict[str, tuple[int, float]] | None = None


def parse_counts(text: str | None, edges: tuple[float, ...]) -> tuple[int, ...]:
    """A comma-separated histogram from SQL, padded/cut to len(edges) + 1; junk counts as 0."""
    counts = [0] * (len(edges) + 1)
    for index, part in enumerate((text or "").split(",")[: len(counts)]):
        try:
            counts[index] = max(0, int(part))
        except ValueError:
            counts[index] = 0
    return tuple(counts)


def _row_point(row: Any) -> series.Point:
    run = series.Histogram(
        layout.RUN_EDGES, parse_counts(row.run_buckets, layout.RUN_EDGES), int(row.run_sum_us), int(row.run_max_us)
    )
    wait = series.Histogram(
        layout.WAIT_EDGES,
        parse_counts(row.wait_buckets, layout.WAIT_EDGES),
        int(row.wait_sum_us),
        int(row.wait_max_us),
    )
    return series.Point(
        int(row.bucket), int(row.finished), int(row.failed), int(row.retried), int(row.stopped), run, wait
    )


def _empty(bucket: int) -> series.Point:
    h = series.empty_histogram
    return series.Point(bucket, 0, 0, 0, 0, h(layout.RUN_EDGES), h(layout.WAIT_EDGES))


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
        sa.select(metric_rollups)
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
class _Item:
    """One minute (Redis or SQL) or hour (SQL) of one queue's series, before folding into buckets."""

    queue: str
    at: int
    point: series.Point
    depth: int | None = None
    age: float | None = None


@dataclass(frozen=True)
class _Gathered:
    window: str
    step: int
    buckets: range
    items: list[_Item]
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
        newest = max((int(r.bucket) for r in rows), default=start - 3600)
        tail = max(newest + 3600, int(now) - _MINUTE_FALLBACK_SECONDS)
        rows += _sql_rows(sql, "m", tail, last + step, where)
    redis_points: dict[tuple[str, int], series.Point] = {}
    if window == "1h":
        redis_points = _redis_points(connection, queue, function, start, now, settings)
    elif window == "24h":
        newest_sql = _newest_bucket(sql, "m", start, where)
        since = start if newest_sql is None else newest_sql + 60
        redis_points = _redis_points(connection, queue, function, since, now, settings)
    items = [_Item(q, minute, point) for (q, minute), point in redis_points.items()]
    sources = {"extension"} if items else set()
    for row in rows:
        if row.resolution == "m" and (row.queue, int(row.bucket)) in redis_points:
            continue  # Redis holds that minute: the same data, fresher
        items.append(_Item(row.queue, int(row.bucket), _row_point(row), row.depth, row.oldest_age_s))
        sources.add(row.source if row.source in ("extension", "registry") else "extension")
    missing = []
    if not series.telemetry_present(connection):
        missing.append(EXTENSION_HINT)
    if seconds > settings.metrics_retention and not _collector_writes(sql, start):
        missing.append(COLLECTOR_HINT)
    buckets = range(start, last + step, step)
    return _Gathered(window, step, buckets, items, frozenset(sources), "; ".join(missing) or None)


def _fold(gathered: _Gathered, items: Iterable[_Item]) -> Timeline:
    """The items summed into the window's buckets; gauges keep each queue's newest sample in a bucket
    (queues' depths add up, their oldest ages take the max)."""
    step, start = gathered.step, gathered.buckets.start
    acc = {b: _Acc(_empty(b)) for b in gathered.buckets}
    for item in items:
        slot = acc.get(start + (item.at - start) // step * step)
        if slot is None:
            continue
        slot.point = slot.point + item.point
        slot.seen = True
        _sample(slot, item.queue, item.at, item.depth, item.age)
    sources = gathered.sources
    source = "extension" if "extension" in sources else ("registry" if sources else "none")
    return Timeline(gathered.window, step, _finish(gathered.buckets, acc), source, gathered.missing)


def _sample(slot: _Acc, queue: str, at: int, depth: int | None, age: float | None) -> None:
    if depth is not None:
        slot.depth = slot.depth or {}
        if queue not in slot.depth or slot.depth[queue][0] <= at:
            slot.depth[queue] = (at, int(depth))
    if age is not None:
        slot.age = slot.age or {}
        if queue not in slot.age or slot.age[queue][0] <= at:
            slot.age[queue] = (at, float(age))


def _finish(buckets: Iterable[int], acc: dict[int, _Acc]) -> tuple[TimelinePoint, ...]:
    points: list[TimelinePoint] = []
    started = False
    for bucket in buckets:
        slot = acc[bucket]
        started = started or slot.seen
        p = slot.point
        depth = sum(d for _, d in slot.depth.values()) if slot.depth else None
        age = max(a for _, a in slot.age.values()) if slot.age else None
        points.append(
            TimelinePoint(
                bucket,
                started,
                p.finished,
                p.failed,
                p.retried,
                p.stopped,
                p.run.quantile(0.5),
                p.run.quantile(0.95),
                p.run.max,
                p.wait.quantile(0.5),
                p.wait.quantile(0.95),
                depth,
                age,
            )
        )
    return tuple(points)


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
    by_queue: dict[str, list[_Item]] = {}
    for item in gathered.items:
        by_queue.setdefault(item.queue, []).append(item)
    return _fold(gathered, gathered.items), {q: _fold(gathered, items) for q, items in by_queue.items()}
