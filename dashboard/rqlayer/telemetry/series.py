"""Reading the per-minute metrics back (Flask-free, bounded): series of the last N minutes.

Costs: a queue's total or one (queue, function) pair is ONE pipeline of `minutes` HGETALLs (the key
is computed from the name). Discovery reads (every queue, a function across queues) first read the
series index (one ZREVRANGE of at most layout.SERIES_CAP members), then one pipeline of at most
`limit` x `minutes` HGETALLs. `minutes` is capped at the retention (METRICS_RETENTION).
A Redis written only by stock workers has no series: the readers return empty series
(`has_data=False`) or an empty list, never an error.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from redis import Redis
from redis.exceptions import ResponseError

from dashboard.rqlayer import keys
from dashboard.rqlayer.telemetry import layout
from dashboard.rqlayer.telemetry.events import wrong_type
from dashboard.settings import TelemetrySettings

MAX_LIMIT = 500


@dataclass(frozen=True)
class Histogram:
    """Bucket counts (see layout.RUN_EDGES / WAIT_EDGES), sum and max in microseconds."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    sum_us: int = 0
    max_us: int = 0

    @property
    def count(self) -> int:
        return sum(self.counts)

    @property
    def max(self) -> float | None:
        return self.max_us / 1e6 if self.count else None

    @property
    def mean(self) -> float | None:
        return self.sum_us / 1e6 / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """Seconds below which a fraction `q` of observations fall (linear within a bucket, like
        Prometheus' histogram_quantile), never above the observed max; None without observations."""
        total = self.count
        if not total:
            return None
        rank = q * total
        seen = 0
        for index, count in enumerate(self.counts):
            if count and seen + count >= rank:
                lower = self.edges[index - 1] if index else 0.0
                upper = self.edges[index] if index < len(self.edges) else self.max_us / 1e6
                value = lower + (upper - lower) * ((rank - seen) / count)
                return min(value, self.max_us / 1e6)
            seen += count
        return self.max_us / 1e6

    def __add__(self, other: Histogram) -> Histogram:
        counts = tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
        return Histogram(self.edges, counts, self.sum_us + other.sum_us, max(self.max_us, other.max_us))


def empty_histogram(edges: tuple[float, ...]) -> Histogram:
    return Histogram(edges, (0,) * (len(edges) + 1))


@dataclass(frozen=True)
class Point:
    """One minute of one series; `minute` is the epoch second the minute starts at."""

    minute: int
    finished: int
    failed: int
    retried: int
    stopped: int
    run: Histogram
    wait: Histogram

    @property
    def ended(self) -> int:
        return self.finished + self.failed + self.retried + self.stopped

    def __add__(self, other: Point) -> Point:
        return Point(
            min(self.minute, other.minute),
            self.finished + other.finished,
            self.failed + other.failed,
            self.retried + other.retried,
            self.stopped + other.stopped,
            self.run + other.run,
            self.wait + other.wait,
        )


@dataclass(frozen=True)
class Series:
    """A queue's total (`function` None) or a (queue, function) pair over consecutive minutes, oldest
    first, one point per minute (zeros where nothing ended)."""

    queue: str
    function: str | None
    points: tuple[Point, ...]

    @property
    def has_data(self) -> bool:
        return any(p.ended for p in self.points)

    def total(self) -> Point:
        """The whole window as one point (sums, merged histograms: p50/p95 over the window)."""
        start = self.points[0].minute if self.points else 0
        result = _point(start, {})
        for point in self.points:
            result = result + point
        return result


def _int(raw: Mapping[bytes, bytes], name: str) -> int:
    value = raw.get(name.encode())
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def _histogram(raw: Mapping[bytes, bytes], field: str, sum_f: str, max_f: str, edges: tuple[float, ...]) -> Histogram:
    counts = tuple(max(0, _int(raw, f"{field}{i}")) for i in range(len(edges) + 1))
    return Histogram(edges, counts, _int(raw, sum_f), _int(raw, max_f))


def _point(minute: int, raw: Mapping[bytes, bytes]) -> Point:
    if not raw:  # most minutes of most series: nothing ended, nothing to parse (charts read thousands)
        return Point(minute * 60, 0, 0, 0, 0, _EMPTY_RUN, _EMPTY_WAIT)
    o = layout.OUTCOMES
    return Point(
        minute * 60,
        _int(raw, o["finished"]),
        _int(raw, o["failed"]),
        _int(raw, o["retried"]),
        _int(raw, o["stopped"]),
        _histogram(raw, layout.RUN_BUCKET, layout.RUN_SUM, layout.RUN_MAX, layout.RUN_EDGES),
        _histogram(raw, layout.WAIT_BUCKET, layout.WAIT_SUM, layout.WAIT_MAX, layout.WAIT_EDGES),
    )


_EMPTY_RUN, _EMPTY_WAIT = empty_histogram(layout.RUN_EDGES), empty_histogram(layout.WAIT_EDGES)


def _window(minutes: int, now: float | None, settings: TelemetrySettings) -> list[int]:
    minutes = max(1, min(int(minutes), settings.metrics_retention // 60))
    last = layout.minute_of(time.time() if now is None else now)
    return list(range(last - minutes + 1, last + 1))


def read_many(
    connection: Redis,
    names: Sequence[tuple[str, str | None]],
    minutes: int = 60,
    now: float | None = None,
    settings: TelemetrySettings | None = None,
) -> list[Series]:
    """The series named (queue, function or None), last `minutes` minutes: one pipeline of
    len(names) x minutes HGETALLs (names are capped at MAX_LIMIT)."""
    window = _window(minutes, now, settings or TelemetrySettings())
    names = list(names)[:MAX_LIMIT]
    pipe = connection.pipeline(transaction=False)
    for queue, function in names:
        sid = layout.series_id(layout.series_member(queue, function))
        for minute in window:
            pipe.hgetall(keys.metrics_minute(minute, sid))
    replies = pipe.execute(raise_on_error=False)
    result = []
    for n, (queue, function) in enumerate(names):
        chunk = replies[n * len(window) : (n + 1) * len(window)]
        points = tuple(_point(m, r if isinstance(r, dict) else {}) for m, r in zip(window, chunk, strict=True))
        result.append(Series(queue, function, points))
    return result


def read_series(
    connection: Redis,
    queue: str,
    function: str | None = None,
    minutes: int = 60,
    now: float | None = None,
    settings: TelemetrySettings | None = None,
) -> Series:
    """One queue's total (function None) or one (queue, function) pair: one pipeline."""
    return read_many(connection, [(queue, function)], minutes, now, settings)[0]


def known_series(connection: Redis, limit: int = MAX_LIMIT) -> list[tuple[str, str | None]]:
    """The series written within the retention, most recent first (one ZREVRANGE, at most `limit`)."""
    limit = max(1, min(int(limit), layout.SERIES_CAP))
    found: list[tuple[str, str | None]] = []
    try:
        members = cast(list[bytes], connection.zrevrange(keys.metrics_series(), 0, limit - 1))
    except ResponseError as error:
        if not wrong_type(error):
            raise
        return found  # a key of another type where the index belongs: no series
    for member in members:
        name = layout.parse_member(member)
        if name is not None:
            found.append(name)
    return found


def read_queues(
    connection: Redis,
    minutes: int = 60,
    limit: int = 50,
    now: float | None = None,
    settings: TelemetrySettings | None = None,
) -> list[Series]:
    """Every queue's total series (at most `limit` queues, the most recently active), sorted by name:
    the overview's throughput chart and sparklines. [] when no extension worker wrote any."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    names = [name for name in known_series(connection) if name[1] is None][:limit]
    return read_many(connection, sorted(names), minutes, now, settings)


def read_function(
    connection: Redis,
    function: str,
    queue: str | None = None,
    minutes: int = 60,
    now: float | None = None,
    settings: TelemetrySettings | None = None,
) -> list[Series]:
    """A function's series in every queue it ran in (or only `queue`), sorted by queue."""
    wanted = layout.bound(function)
    names = [n for n in known_series(connection) if n[1] == wanted and (queue is None or n[0] == layout.bound(queue))]
    return read_many(connection, sorted(names, key=lambda n: n[0]), minutes, now, settings)


def telemetry_present(connection: Redis) -> bool:
    """Whether any extension worker wrote metrics within the retention (one EXISTS): pages say
    "start workers with -w dashboard.rqlayer.telemetry.worker.ConsoleWorker" when it is False."""
    return bool(connection.exists(keys.metrics_series()))


def _grouped(raw: Mapping[bytes, bytes]) -> dict[bytes, dict[bytes, bytes]]:
    """The totals hash's "<totals id>:<field>" entries, grouped by totals id."""
    grouped: dict[bytes, dict[bytes, bytes]] = {}
    for name, value in raw.items():
        prefix, sep, field_name = name.partition(b":")
        if sep:
            grouped.setdefault(prefix, {})[field_name] = value
    return grouped


def read_totals(connection: Redis) -> list[tuple[str, str | None, Point]]:
    """Every series' monotonic totals since it was first written (Prometheus counters): (queue,
    function or None for the queue's total, Point with `minute` 0 and no maxima), sorted by name. A
    queue's total is the sum of its series' (the worker keeps no separate one: a fifth fewer calls in
    its script per job). One pipelined round trip: ZREVRANGE of the totals index + HGETALL of the totals
    hash, both bounded by layout.SERIES_CAP series. A series the index trimmed (beyond the cap) is gone
    from both; on a Redis written only by stock workers the list is empty."""
    pipe = connection.pipeline(transaction=False)
    pipe.zrevrange(keys.metrics_totals_index(), 0, layout.SERIES_CAP - 1)
    pipe.hgetall(keys.metrics_totals())
    members, raw = pipe.execute(raise_on_error=False)
    if not isinstance(members, list) or not isinstance(raw, dict):
        return []
    grouped = _grouped(raw)
    found: list[tuple[str, str | None, Point]] = []
    queues: dict[str, Point] = {}
    for member in members:
        name = layout.parse_member(member)
        if name is None or name[1] is None:  # a queue total an older worker kept: summed from series now
            continue
        point = _point(0, grouped.get(layout.totals_id(member).encode(), {}))
        found.append((name[0], name[1], point))
        queues[name[0]] = queues[name[0]] + point if name[0] in queues else point
    found.extend((queue, None, point) for queue, point in queues.items())
    return sorted(found, key=lambda row: (row[0], row[1] is not None, row[1] or ""))
