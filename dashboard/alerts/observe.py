"""What each alert kind observes now: subject -> Observation (breached or not, the value, a sentence).

Every read goes through the readers the pages use, once per evaluation pass whatever the number of rules
(`Sources` keeps what it read): the overview (rqlayer/overview.py: depths, oldest job ages, listening
workers — three pipelined round trips), the charts' timeline (history/timeline.py: Redis minutes of the
worker extension, SQL rollups of the collector, registry sweeps of stock workers), the schedulers' health
(rqlayer/schedules/health.py), error groups (history/error_groups.py) and cron integrity
(cron_integrity.py). Flask-free; hostile Redis data reads as empty through those readers.

Failure rate counts FINAL failures: the extension's metrics and the rollups keep `failed` (no retry left)
apart from `retried` (an attempt that failed and was scheduled again); only `failed` counts, out of the
jobs that ended for good (finished + failed + stopped).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import redis
import sqlalchemy as sa

from dashboard.alerts import cron_integrity
from dashboard.alerts.rules import Rule
from dashboard.history import error_groups, timeline
from dashboard.rqlayer import keys
from dashboard.rqlayer.decode import text
from dashboard.rqlayer.overview import Overview, read_overview
from dashboard.rqlayer.schedules import health
from dashboard.rqlayer.schedules.model import MAX_QUEUES
from dashboard.settings import TelemetrySettings

GROUPS_READ = 200  # newest open and regressed groups looked at per pass


@dataclass(frozen=True)
class Observation:
    breached: bool
    value: float | None
    detail: str


@dataclass
class Sources:
    """One evaluation pass's reads, each made at most once (several rules share them)."""

    redis: redis.Redis
    sql: sa.Connection
    now: datetime
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    _memo: dict[Any, Any] = field(default_factory=dict)

    def memo(self, key: Any, read: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = read()
        return self._memo[key]

    def overview(self) -> Overview:
        return cast(Overview, self.memo("overview", lambda: read_overview(self.redis, self.now)))


def _queues(sources: Sources, rule: Rule):
    queues = sources.overview().queues
    return [q for q in queues if q.name == rule.target] if rule.target else queues


def queue_depth(sources: Sources, rule: Rule) -> dict[str, Observation]:
    found = {}
    for q in _queues(sources, rule):
        depth = q.counts.get("queued", 0)
        found[q.name] = Observation(depth > rule.threshold, depth, f"queue {q.name}: {depth:,} jobs waiting")
    return found


def oldest_job_age(sources: Sources, rule: Rule) -> dict[str, Observation]:
    found = {}
    for q in _queues(sources, rule):
        age = q.latency_seconds or 0.0
        found[q.name] = Observation(
            age > rule.threshold, round(age, 1), f"queue {q.name}: the oldest waiting job waits for {age:,.0f} s"
        )
    return found


def no_worker(sources: Sources, rule: Rule) -> dict[str, Observation]:
    found = {}
    for q in _queues(sources, rule):
        depth = q.counts.get("queued", 0)
        words = f"queue {q.name}: {depth:,} jobs waiting, {q.listening_workers} worker(s) listening"
        found[q.name] = Observation(q.unattended, depth, words)
    return found


def _window_totals(sources: Sources, queue: str | None, function: str | None, minutes: int) -> dict[str, int]:
    """finished / failed / retried / stopped of the last `minutes` (the current minute included), through
    the charts' reader: the 1 h window's minutes, or the 24 h window's 10-minute buckets."""
    name = "1h" if minutes <= 60 else "24h"
    line = sources.memo(
        ("timeline", queue, function, name),
        lambda: timeline.read_timeline(
            sources.redis, sources.sql, queue, function, name, sources.now.timestamp(), sources.telemetry
        ),
    )
    step = line.step_seconds
    points = line.points[-max(1, math.ceil(minutes * 60 / step)) :]
    return {n: sum(getattr(p, n) for p in points) for n in ("finished", "failed", "retried", "stopped")}


def failure_rate(sources: Sources, rule: Rule) -> dict[str, Observation]:
    scope, _, name = rule.target.partition(":")
    queue = name if scope == "queue" else None
    function = name if scope == "function" else None
    totals = _window_totals(sources, queue, function, rule.window_minutes)
    ended = totals["finished"] + totals["failed"] + totals["stopped"]
    rate = 100.0 * totals["failed"] / ended if ended else 0.0
    words = (
        f"{totals['failed']:,} of {ended:,} jobs failed for good ({rate:.1f} %) in the last {rule.window_minutes} min"
        f" ({totals['retried']:,} attempts retried, not counted)"
    )
    return {rule.target or "all": Observation(ended > 0 and rate > rule.threshold, round(rate, 2), words)}


def _cron_heartbeat_age(sources: Sources) -> float | None:
    try:
        newest = cast(list, sources.redis.zrevrange(keys.cron_schedulers(), 0, 0, withscores=True))
    except redis.ResponseError:
        return None
    return max(0.0, sources.now.timestamp() - float(newest[0][1])) if newest else None


def _worker_schedulers(sources: Sources) -> dict[str, tuple[float, bool]]:
    """queue -> (seconds its oldest due scheduled job is late, whether a worker holds its scheduler lock)."""
    names = sorted(keys.queue_name_from_key(text(k)) for k in sources.redis.smembers(keys.queues()))[:MAX_QUEUES]
    pipe = sources.redis.pipeline(transaction=False)
    for queue in names:
        pipe.zrange(keys.registry("scheduled", queue), 0, 0, withscores=True)
        pipe.exists(keys.builtin_scheduler_lock(queue))
    replies = pipe.execute(raise_on_error=False) if names else []
    found = {}
    for index, queue in enumerate(names):
        head, lock = replies[2 * index], replies[2 * index + 1]
        due = float(head[0][1]) if isinstance(head, list) and head else None
        late = max(0.0, sources.now.timestamp() - due) if due is not None else 0.0
        found[queue] = (late, lock is True or lock == 1)
    return found


def scheduler_missing(sources: Sources, rule: Rule) -> dict[str, Observation]:
    limit = rule.threshold
    if rule.target == "rq-cron":
        age = _cron_heartbeat_age(sources)
        if age is None:
            return {"rq-cron": Observation(True, None, "no rq cron process has been seen")}
        return {"rq-cron": Observation(age > limit, round(age, 1), f"the newest rq cron heartbeat is {age:,.0f} s old")}
    if rule.target == "rq-scheduler":
        state = sources.memo("health", lambda: health(sources.redis, sources.now))
        late = (
            (sources.now - state.oldest_due).total_seconds() if state.oldest_due and not state.rq_scheduler_lock else 0
        )
        late = max(0.0, late)
        words = f"rq-scheduler: the oldest due schedule is {late:,.0f} s late ({state.overdue} overdue)"
        return {"rq-scheduler": Observation(late > limit, round(late, 1), words)}
    found = {}
    for queue, (late, locked) in sources.memo("worker-schedulers", lambda: _worker_schedulers(sources)).items():
        words = f"queue {queue}: the oldest due scheduled job is {late:,.0f} s late, " + (
            "a worker runs RQ's scheduler" if locked else "no worker runs RQ's scheduler (--with-scheduler)"
        )
        found[queue] = Observation(late > limit and not locked, round(late, 1), words)
    return found


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _groups(sql: sa.Connection, status: str) -> error_groups.GroupPage:
    return error_groups.list_groups(sql, status, size=GROUPS_READ)


def error_group(sources: Sources, rule: Rule) -> dict[str, Observation]:
    since = sources.now - timedelta(minutes=rule.window_minutes)
    created = rule.created_at or sources.now
    found = {}
    for status in ("regressed", "open"):
        page = sources.memo(("groups", status), functools.partial(_groups, sources.sql, status))
        for g in page.groups:
            if _aware(g.last_seen) < since:
                continue
            if status == "regressed" or _aware(g.first_seen) >= created:
                how = "regressed" if status == "regressed" else "new"
                words = f"{g.exc_type}: {g.message[:200]} ({how}, {g.count:,} failures)"
                found[g.fingerprint] = Observation(True, g.count, words)
    return found


def cron_duplicate(sources: Sources, rule: Rule) -> dict[str, Observation]:
    found = sources.memo("cron-duplicates", lambda: cron_integrity.duplicates(sources.redis, sources.now))
    return {d.subject: Observation(True, len(d.processes), d.text[:480]) for d in found}


def missed_runs(sources: Sources, rule: Rule) -> dict[str, Observation]:
    window = timedelta(minutes=rule.window_minutes)
    found = sources.memo(
        ("missed", rule.window_minutes, rule.target),
        lambda: cron_integrity.missed(sources.redis, sources.sql, window, rule.target, sources.now),
    )
    return {m.schedule.id: Observation(m.missed >= rule.threshold, m.missed, m.text) for m in found}


OBSERVERS: dict[str, Callable[[Sources, Rule], dict[str, Observation]]] = {
    "queue_depth": queue_depth,
    "oldest_job_age": oldest_job_age,
    "failure_rate": failure_rate,
    "no_worker": no_worker,
    "scheduler_missing": scheduler_missing,
    "error_group": error_group,
    "cron_duplicate": cron_duplicate,
    "missed_runs": missed_runs,
}


def observe(sources: Sources, rule: Rule) -> dict[str, Observation]:
    """The rule's subjects now. A subject it no longer reports (a queue deleted, a group resolved) counts as
    not breached for the state machine."""
    return OBSERVERS[rule.kind](sources, rule)
