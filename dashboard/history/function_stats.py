"""The functions the console has seen, with their last hour (the /functions list), and whether one was seen.

Functions come from the worker extension's series index in Redis and from the SQL history (rollups of the
last hour and hour rows of the last 7 days, outcomes); the list is bounded (LIMIT names). Counts of the
last hour: a (queue, function) pair Redis still holds comes from Redis (the newest minutes), any other
pair from the SQL minute rollups.

Cost: Redis one ZREVRANGE of the series index (at most series.MAX_LIMIT members) and one pipeline of at
most REDIS_PAIRS x 60 HGETALLs; SQL one GROUP BY over the last hour's minute rows and one DISTINCT over the
last 7 days' hour rows (index ix_metric_rollups_bucket ranges), both LIMITed. Flask-free.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from dashboard.history.models import job_outcomes, metric_rollups
from dashboard.history.timeline import redis_client
from dashboard.rqlayer.telemetry import layout, series
from dashboard.settings import TelemetrySettings

LIMIT = 200
REDIS_PAIRS = 100
_COUNTS = ("finished", "failed", "retried", "stopped")


@dataclass
class FunctionSummary:
    """A function's last hour across the queues it ran in."""

    name: str
    queues: set[str] = field(default_factory=set)
    finished: int = 0
    failed: int = 0
    retried: int = 0
    stopped: int = 0

    @property
    def ended(self) -> int:
        return self.finished + self.failed + self.retried + self.stopped

    @property
    def failure_rate(self) -> float | None:
        """Executions that raised (failed or retried) out of all that ended."""
        return (self.failed + self.retried) / self.ended if self.ended else None

    def add(self, queue: str, counts: Any) -> None:
        self.queues.add(queue)
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + int(getattr(counts, name) or 0))


@dataclass(frozen=True)
class FunctionList:
    functions: list[FunctionSummary]
    truncated: bool  # more names than LIMIT: the busiest and most recent are shown
    extension: bool  # the worker extension writes metrics (else: what registry sweeps give)


def list_functions(
    redis: Any, sql: sa.Connection, now: float | None = None, settings: TelemetrySettings | None = None
) -> FunctionList:
    """Every function seen (at most LIMIT), busiest in the last hour first, then by name."""
    connection = redis_client(redis)
    now = time.time() if now is None else now
    found: dict[str, FunctionSummary] = {}
    pairs = [n for n in series.known_series(connection) if n[1] is not None][:REDIS_PAIRS]
    in_redis = set()
    for s in series.read_many(connection, pairs, 60, now, settings):
        name = s.function or ""
        in_redis.add((s.queue, name))
        found.setdefault(name, FunctionSummary(name)).add(s.queue, s.total())
    t = metric_rollups.c
    hour_ago = int(now) // 60 * 60 - 3540
    # SQLite's SUM raises on an integer overflow (a hostile or broken rollup row); TOTAL() is a float.
    add = sa.func.total if sql.dialect.name == "sqlite" else sa.func.sum
    sums = [add(getattr(t, name)).label(name) for name in _COUNTS]
    recent = (
        sa.select(t.queue, t.function, *sums)
        .where(t.resolution == "m", t.bucket >= hour_ago, t.function != "")
        .group_by(t.queue, t.function)
        .limit(LIMIT * 5)
    )
    for row in sql.execute(recent):
        if (row.queue, row.function) not in in_redis:
            found.setdefault(row.function, FunctionSummary(row.function)).add(row.queue, row)
    older = (
        sa.select(t.queue, t.function)
        .where(t.resolution == "h", t.bucket >= int(now) - 7 * 86400, t.function != "")
        .distinct()
        .limit(LIMIT * 5)
    )
    for row in sql.execute(older):
        found.setdefault(row.function, FunctionSummary(row.function)).queues.add(row.queue)
    ordered = sorted(found.values(), key=lambda f: (-f.ended, f.name))
    return FunctionList(ordered[:LIMIT], len(ordered) > LIMIT, series.telemetry_present(connection))


def function_seen(redis: Any, sql: sa.Connection, name: str, queues: Iterable[str] = ()) -> bool:
    """Whether `name` ever ran as far as the console knows: in the series index (one ZREVRANGE), in the
    outcomes (one LIMIT 1 on ix_job_outcomes_function) or in the rollups of one of `queues` (one LIMIT 1
    on the primary key; at most series.MAX_LIMIT queue names)."""
    wanted = layout.bound(name)
    if any(n[1] == wanted for n in series.known_series(redis_client(redis))):
        return True
    o = job_outcomes.c
    if sql.execute(sa.select(o.id).where(o.function == wanted).limit(1)).first() is not None:
        return True
    names = [layout.bound(q) for q in list(queues)[: series.MAX_LIMIT]]
    if not names:
        return False
    t = metric_rollups.c
    probe = sa.select(t.bucket).where(t.resolution.in_(("m", "h")), t.queue.in_(names), t.function == wanted)
    return sql.execute(probe.limit(1)).first() is not None
