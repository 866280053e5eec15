"""Completed minutes of every active series, for the collector's copy into SQL (Flask-free, bounded).

Cost: one ZRANGEBYSCORE of the series index (the series written since the first minute asked, at most
layout.SERIES_CAP), then pipelines of at most MAX_READS HGETALLs (series.read_many, chunked by series).
"""

from __future__ import annotations

from typing import cast

from redis import Redis

from dashboard.rqlayer import keys
from dashboard.rqlayer.telemetry import layout
from dashboard.rqlayer.telemetry.series import MAX_LIMIT, Point, read_many
from dashboard.settings import TelemetrySettings

MAX_READS = 10_000


def active_series(connection: Redis, since_minute: int) -> list[tuple[str, str | None]]:
    """The series whose last write is at or after `since_minute` (the index scores the last minute)."""
    members = cast(
        list[bytes],
        connection.zrangebyscore(keys.metrics_series(), since_minute, "+inf", start=0, num=layout.SERIES_CAP),
    )
    names = [layout.parse_member(m) for m in members]
    return [n for n in names if n is not None]


def read_minutes(
    connection: Redis,
    first: int,
    last: int,
    settings: TelemetrySettings | None = None,
    names: list[tuple[str, str | None]] | None = None,
) -> list[tuple[str, str | None, int, Point]]:
    """(queue, function or None, minute start in epoch seconds, point) for the minutes first..last
    (`minute` numbers: epoch seconds // 60) that saw an execution; empty minutes are left out. `names`:
    the series to read (default: active_series since `first`)."""
    if last < first:
        return []
    names = active_series(connection, first) if names is None else names
    minutes = last - first + 1
    step = max(1, min(MAX_LIMIT, MAX_READS // minutes))
    found = []
    for start in range(0, len(names), step):
        chunk = names[start : start + step]
        for series in read_many(connection, chunk, minutes, now=last * 60 + 30, settings=settings):
            for point in series.points:
                if point.ended:
                    found.append((series.queue, series.function, point.minute, point))
    return found
