"""Backfill: the fire times a schedule expected in a window with no run, for the console to run now.

The same rules as missed_runs.py (its Definition, its TOLERANCE, a run met by the first unused run that
fired in [t, t + TOLERANCE]): a cron expression is walked in the schedule's zone; an interval is anchored
on the last run fired before the window (or the window's start), as rq-scheduler computes the next run
from the last enqueue. Only times at least TOLERANCE in the past count: a newer one may still fire.

Cost: the runs are read in pages of the run history (schedule_history.run_page), newest first, until a
page reaches before the window (at most MAX_PAGES); the walk stops after MAX_TIMES expected times.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from dashboard.history.missed_runs import TOLERANCE, Definition
from dashboard.history.schedule_history import fired_at, run_page
from dashboard.rqlayer import cron as cronlib

MAX_BACKFILL = 100  # runs one backfill enqueues at most
MAX_TIMES = 5000  # expected times walked in one window
MAX_PAGES = 40
MAX_WINDOW = timedelta(days=31)


def _fires(conn: sa.Connection, run_ids: Sequence[str], since: datetime) -> list[datetime]:
    """Fire times of the recorded runs, oldest first, back to the first one before `since`."""
    fires: list[datetime] = []
    after = None
    for _ in range(MAX_PAGES):
        page = run_page(conn, run_ids, after, size=100)
        fires += [fired_at(r) for r in page.runs]
        if page.next_cursor is None or (fires and min(fires) < since):
            break
        after = page.next_cursor
    return sorted(fires)


def _expected(definition: Definition, since: datetime, until: datetime, fires: list[datetime]) -> list[datetime]:
    times: list[datetime] = []
    if definition.cron:
        for moment in cronlib.iter_runs(
            definition.cron, definition.timezone or "UTC", now=since - timedelta(seconds=1)
        ):
            moment = moment.astimezone(UTC)
            if moment > until or len(times) >= MAX_TIMES:
                break
            times.append(moment)
        return times
    step = timedelta(seconds=definition.interval or 0)
    before = [f for f in fires if f < since]
    moment = before[-1] + step if before else since
    while moment <= until and len(times) < MAX_TIMES:
        if moment >= since:
            times.append(moment)
        moment += step
    return times


def missed_times(
    conn: sa.Connection,
    run_ids: Sequence[str],
    definition: Definition,
    since: datetime,
    until: datetime,
    now: datetime | None = None,
) -> list[datetime]:
    """The expected fire times in [since, until] that no recorded run met, oldest first (at most
    MAX_BACKFILL + 1: one more says "more than can be backfilled at once"). ValueError with the
    operator's message for a window that is reversed, too long, or a definition that expects nothing."""
    if not definition.checkable:
        raise ValueError("this schedule expects no recurring runs: nothing to backfill")
    if since >= until:
        raise ValueError("until must be later than since")
    if until - since > MAX_WINDOW:
        raise ValueError(f"a backfill window is at most {MAX_WINDOW.days} days")
    until = min(until, (now or datetime.now(UTC)) - TOLERANCE)
    fires = _fires(conn, run_ids, since)
    used = [False] * len(fires)
    missed = []
    for moment in _expected(definition, since, until, fires):
        index = bisect.bisect_left(fires, moment)
        while index < len(fires) and (used[index] or fires[index] < moment):
            index += 1
        if index < len(fires) and fires[index] <= moment + TOLERANCE:
            used[index] = True
            continue
        missed.append(moment)
        if len(missed) > MAX_BACKFILL:
            break
    return missed
