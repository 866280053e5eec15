"""The collector's periodic work, each task bounded per pass and driven by cursors in Redis
(keys.history_state(), read and written through telemetry/consumer.py):

    sweep    every 10 s   stock workers' outcomes from RQ's finished/failed registries (+ registry rollups)
    minutes  every 15 s   completed Redis minutes -> SQL minutes (the last RECOPY minutes again: late writes)
    hours    every 60 s   SQL minutes -> SQL hours (the current and previous hour rebuilt each time)
    depth    every 60 s   each queue's depth and oldest job age -> its total row
    prune    every 600 s  outcomes, minutes, hours, incoming events and alert history past their
                          retention, a few chunks
    alerts   every 15 s   alert rules evaluated, transitions notified (dashboard/alerts/evaluate.py)

A task that fails is reported (the collector's last error) and tried again when next due; the others run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from redis import Redis

from dashboard.alerts.evaluate import evaluate as evaluate_alerts
from dashboard.alerts.models import alert_events
from dashboard.history.groups import upsert_groups
from dashboard.history.outcomes import naive_utc, prune_outcomes, write_outcomes
from dashboard.history.retention import prune_older
from dashboard.history.rollups import copy_minutes, count_registry, point_row, prune_rollups, roll_hours, sample_depth
from dashboard.inbound.models import incoming_event_jobs as event_jobs
from dashboard.inbound.models import incoming_events
from dashboard.rqlayer.overview import read_overview
from dashboard.rqlayer.telemetry import layout
from dashboard.rqlayer.telemetry.consumer import write_state
from dashboard.rqlayer.telemetry.minutes import active_series, read_minutes
from dashboard.rqlayer.telemetry.sweep import sweep
from dashboard.settings import HistorySettings, TelemetrySettings

log = logging.getLogger(__name__)

INTERVALS = {"sweep": 10, "minutes": 15, "hours": 60, "depth": 60, "prune": 600, "alerts": 15}
GRACE = 5  # seconds after a minute ends before it counts as complete (a worker's commit may land late)
RECOPY = 2  # minutes copied again on each pass
READS_PER_PASS = 20_000  # minute hashes read from Redis per pass, at most
HOURS_PER_PASS = 6
PRUNE_CHUNKS = 5


class Context:
    """What every task needs: connections, settings, the state hash as read, and `now` (epoch s)."""

    def __init__(
        self,
        redis: Redis,
        engine: sa.Engine,
        history: HistorySettings,
        telemetry: TelemetrySettings,
        state: dict[str, str],
        now: float,
        sweep_delay_ms: int,
    ) -> None:
        self.redis, self.engine, self.history, self.telemetry = redis, engine, history, telemetry
        self.state, self.now, self.sweep_delay_ms = state, now, sweep_delay_ms
        self.behind: set[str] = set()  # tasks that stopped at their bound: due again at once

    def cursor(self, name: str) -> int:
        raw = self.state.get(name, "")
        return int(raw) if raw.lstrip("-").isdigit() else 0


def run_sweep(ctx: Context) -> int:
    """One sweep pass; its outcomes, groups and registry rollups in one transaction, cursors after it."""
    result = sweep(
        ctx.redis,
        ctx.state,
        min_age_ms=ctx.sweep_delay_ms,
        attributes=ctx.history.attributes,
        now_ms=int(ctx.now * 1000),
    )
    inserted = []
    if result.outcomes:
        with ctx.engine.begin() as sql:
            inserted = write_outcomes(sql, result.outcomes)
            upsert_groups(sql, [o for o in inserted if o.fingerprint])
            count_registry(sql, inserted)
    write_state(ctx.redis, result.cursors)
    if result.scanned >= 1000:
        ctx.behind.add("sweep")
    return len(inserted)


def run_minutes(ctx: Context) -> int:
    """Copy the completed minutes since the cursor (RECOPY again), at most READS_PER_PASS hashes a pass."""
    last = layout.minute_of(ctx.now - GRACE) - 1
    keep = min(ctx.telemetry.metrics_retention, ctx.history.minutes_retention) // 60
    start = max(ctx.cursor("rollup:minute") - RECOPY + 1, last - keep + 1)
    names = active_series(ctx.redis, start)
    span = max(1, min(keep, READS_PER_PASS // max(1, len(names))))
    end = min(last, start + span - 1)
    if end < start:
        return 0
    found = read_minutes(ctx.redis, start, end, ctx.telemetry, names)
    if found:
        with ctx.engine.begin() as sql:
            copy_minutes(sql, [point_row(q, f, minute, point) for q, f, minute, point in found])
    write_state(ctx.redis, {"rollup:minute": end})
    if end < last:
        ctx.behind.add("minutes")
    return 0


def run_hours(ctx: Context) -> int:
    """Rebuild the current and the previous hour, and up to HOURS_PER_PASS older hours from the cursor
    (hours whose minutes were written while the collector was away)."""
    current = int(ctx.now) // 3600 * 3600
    oldest = (int(ctx.now) - ctx.history.minutes_retention) // 3600 * 3600
    raw = ctx.state.get("rollup:hour")
    start = max(ctx.cursor("rollup:hour"), oldest) if raw else current - 3600
    backlog = list(range(start, current - 3600, 3600))[:HOURS_PER_PASS]
    with ctx.engine.begin() as sql:
        roll_hours(sql, [*backlog, current - 3600, current])
    done = backlog[-1] + 3600 if backlog else current - 3600
    write_state(ctx.redis, {"rollup:hour": done})
    if done < current - 3600:
        ctx.behind.add("hours")
    return 0


def run_depth(ctx: Context) -> int:
    overview = read_overview(ctx.redis)
    samples = [(q.name, int(q.counts.get("queued", 0)), q.latency_seconds) for q in overview.queues]
    if samples:
        with ctx.engine.begin() as sql:
            sample_depth(sql, layout.minute_of(ctx.now) * 60, samples)
    return 0


def run_prune(ctx: Context) -> int:
    before = naive_utc(int((ctx.now - ctx.history.retention_days * 86400) * 1000)) or datetime.min
    for _ in range(PRUNE_CHUNKS):
        with ctx.engine.begin() as sql:
            deleted = (
                prune_outcomes(sql, before)
                + prune_rollups(sql, int(ctx.now), ctx.history.minutes_retention, ctx.history.hours_retention)
                + prune_older(
                    sql, incoming_events, incoming_events.c.received_at, before, 1000, (event_jobs.c.event_id,)
                )
                + prune_older(sql, alert_events, alert_events.c.at, before)
            )
        if not deleted:
            break
    else:
        ctx.behind.add("prune")
    return 0


def run_alerts(ctx: Context) -> int:
    evaluate_alerts(ctx.engine, ctx.redis, datetime.fromtimestamp(ctx.now, UTC), ctx.telemetry)
    return 0


TASKS: tuple[tuple[str, Callable[[Context], int]], ...] = (
    ("sweep", run_sweep),
    ("minutes", run_minutes),
    ("hours", run_hours),
    ("depth", run_depth),
    ("prune", run_prune),
    ("alerts", run_alerts),
)


def run_due(ctx: Context, force: bool = False, on_error: Callable[[str, Exception], Any] | None = None) -> int:
    """Run the tasks that are due (all with `force`); returns outcomes written (the sweep's). Due times are
    kept in the state hash, so several collector processes share one schedule."""
    written = 0
    due: dict[str, float] = {}
    for name, task in TASKS:
        raw = ctx.state.get(f"due:{name}", "")
        try:
            next_at = float(raw) if raw else 0.0
        except ValueError:
            next_at = 0.0
        if not force and next_at > ctx.now:
            continue
        started = time.monotonic()
        try:
            written += task(ctx)
        except Exception as error:  # noqa: BLE001 - one task's failure never stops the others or the stream
            first_line = (str(error).splitlines() or [""])[0][:300]
            log.warning("periodic task %s failed: %s: %s", name, type(error).__name__, first_line)
            log.debug("periodic task %s failed", name, exc_info=True)
            if on_error is not None:
                on_error(name, error)
        due[f"due:{name}"] = ctx.now + (0 if name in ctx.behind else INTERVALS[name])
        log.debug("%s took %.1f ms", name, (time.monotonic() - started) * 1000)
    write_state(ctx.redis, due)
    return written
