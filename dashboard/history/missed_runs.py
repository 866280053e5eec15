"""Missed runs: the fire times a schedule's definition expected over a page of its history, with no run.

A run "fired" at its enqueue time (schedulers enqueue a run once it is due, never before: rq-scheduler
when a pass finds its score due, rq cron when its next time has come). An expected fire time t is met by
the first unused run that fired in [t, t + tolerance]; the tolerance is rq-scheduler's pass interval (60 s)
plus 60 s. Each expected time is met by at most one run, so a per-minute schedule that ran every other
minute shows its gaps.

The window is the page's: from its oldest run to the run before it (the previous page's last), or to
now - tolerance on the first page (so a schedule that stopped firing shows it), and never past the moment
the schedule was paused. Nothing is inferred before the oldest recorded run (when the schedule was made is
unknown); past pauses are not recorded, so they show as missed runs.

Definitions: a cron expression is walked in the schedule's timezone (UTC when it has none: rq cron and
rq-scheduler without a console zone evaluate in their process's local time, UTC on most servers); an
interval is anchored on each run, as both schedulers compute the next run from the last enqueue.

Cost: bounded. Gaps are checked newest first; a gap walks at most GAP_WALK expected times (longer ones
are counted as "at least" and the walk resumes near the gap's end), a page at most PAGE_WALK in all
(then the older gaps of the page are left unchecked and the page says so). Intervals are arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dashboard.history.queries import OutcomeRow
from dashboard.history.schedule_history import fired_at
from dashboard.rqlayer import cron as cronlib

SCHEDULER_PASS_SECONDS = 60
TOLERANCE = timedelta(seconds=SCHEDULER_PASS_SECONDS + 60)
GAP_WALK = 200
PAGE_WALK = 2000


@dataclass(frozen=True)
class Definition:
    """What a schedule expects: a cron expression in a zone, or an interval in seconds."""

    cron: str = ""
    timezone: str = ""
    interval: int | None = None

    @property
    def checkable(self) -> bool:
        return bool(self.cron and cronlib.validate(self.cron) is None) or bool(self.interval and self.interval > 0)


@dataclass(frozen=True)
class Missed:
    """Expected fire times with no run: `count` of them from `first` to `last` (`capped`: at least)."""

    first: datetime
    last: datetime
    count: int
    capped: bool = False

    missed = True  # templates tell a missed entry from a run (an OutcomeRow) by this


@dataclass(frozen=True)
class Checked:
    entries: list[OutcomeRow | Missed]  # runs and missed runs, newest first
    missed_count: int  # on this page (a lower bound when some gap is capped)
    complete: bool  # False: the page's walk budget ran out before its oldest gap


class _Budget:
    def __init__(self) -> None:
        self.left = PAGE_WALK


def _cron_gap(definition: Definition, start: datetime, end: datetime, met_by_end: bool, budget: _Budget):
    """Missed expected times t, start < t <= end (< end when the end is not a run); when the end is a run,
    it meets the first t in [end - TOLERANCE, end]. Returns (first, last, count, capped) or None."""
    tz = definition.timezone or "UTC"
    tail = end - TOLERANCE
    first = last = None
    count, walked, capped, met = 0, 0, False, not met_by_end
    expected = cronlib.iter_runs(definition.cron, tz, now=start)
    while budget.left > 0:
        t = next(expected).astimezone(UTC)
        if t > end or (not met_by_end and t >= end):
            break
        budget.left -= 1
        walked += 1
        if not met and t >= tail:
            met = True
            continue
        step = t - last if last else timedelta(minutes=1)
        first = first or t
        last, count = t, count + 1
        resume = end - TOLERANCE - 3 * step
        if walked >= GAP_WALK and not capped and t < resume:
            # A long silence: count no further, walk on from a few steps before the gap's end, so the
            # newest missed time is found (and the run ending the gap still meets its own).
            capped = True
            expected = cronlib.iter_runs(definition.cron, tz, now=resume)
    else:
        capped = True
    return (first, last, count, capped) if count else None


def _interval_gap(interval: int, start: datetime, end: datetime, met_by_end: bool):
    step = timedelta(seconds=interval)
    total = math.floor((end - start) / step)  # expected times start + k*step <= end, k >= 1
    if not met_by_end and start + total * step >= end:
        total -= 1
    if total <= 0:
        return None
    missed = total
    if met_by_end:
        k = max(1, math.ceil((end - TOLERANCE - start) / step))
        if start + k * step <= end:
            missed -= 1
            if missed <= 0:
                return None
            first_missed = 1 if k > 1 else 2
            last_missed = total if k < total else total - 1
            return (start + first_missed * step, start + last_missed * step, missed, False)
    return (start + step, start + total * step, missed, False)


def check(
    runs: list[OutcomeRow],
    definition: Definition,
    *,
    upper: datetime | None,
    now: datetime | None = None,
    paused_at: datetime | None = None,
) -> Checked:
    """`runs` (one page, newest first) with the missed runs of the page's window between them. `upper`:
    the fire time of the run before this page (None on the first page: up to now - TOLERANCE)."""
    if not runs or not definition.checkable:
        return Checked(list(runs), 0, True)
    now = now or datetime.now(UTC)
    end = upper or now - TOLERANCE
    if paused_at is not None:
        end = min(end, paused_at)
    fires = sorted(fired_at(r) for r in runs)
    # Gaps newest first: (start run's fire, end, whether the end is a run that may meet an expected time).
    gaps = [(fires[-1], end, False)] if end > fires[-1] else []
    gaps += [(a, b, True) for a, b in zip(fires[-2::-1], fires[:0:-1], strict=True)]
    budget, found, complete = _Budget(), [], True
    for start, stop, met_by_end in gaps:
        if budget.left <= 0:
            complete = False
            break
        if definition.interval and not definition.cron:
            gap = _interval_gap(definition.interval, start, stop, met_by_end)
        else:
            gap = _cron_gap(definition, start, stop, met_by_end, budget)
        if gap:
            found.append(Missed(*gap))
    entries: list[OutcomeRow | Missed] = [*runs, *found]
    entries.sort(key=lambda e: e.last if isinstance(e, Missed) else fired_at(e), reverse=True)
    return Checked(entries, sum(m.count for m in found), complete)
