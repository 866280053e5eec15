"""What became of the jobs events started: the live row while Redis has the job, else its last outcome in the
SQL history (the collector keeps it after RQ let the job expire), else "expired". Flask-free.

    views = event_views(conn, page.events, console.jobs.rows([j.job_id for e in page.events for j in e.jobs]))

Cost: the caller's one pipelined read of the page's job rows (the layer's job-row read), then at most one
indexed SELECT (ix_job_outcomes_job) for the page's jobs Redis no longer has.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from dashboard.history.models import job_outcomes
from dashboard.inbound.store import EventRecord, PlannedJob
from dashboard.rqlayer.rows import JobRow

EXPIRED = "expired"


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    task: str
    queue: str
    status: str  # RQ's status while live; the history's outcome after; EXPIRED when neither knows
    live: bool  # the job hash still exists (link to its page)
    from_history: bool = False
    ended_at: datetime | None = None  # naive UTC when from the history; aware from a live row
    exc_type: str = ""


@dataclass(frozen=True)
class EventView:
    event: EventRecord
    jobs: tuple[JobOutcome, ...]


def _last_outcomes(conn: sa.Connection, job_ids: list[str]) -> dict[str, sa.Row]:
    """The newest history row of each id (a retried job has several)."""
    if not job_ids:
        return {}
    query = (
        sa.select(job_outcomes.c.job_id, job_outcomes.c.status, job_outcomes.c.ended_at, job_outcomes.c.exc_type)
        .where(job_outcomes.c.job_id.in_(job_ids))
        .order_by(job_outcomes.c.job_id, job_outcomes.c.ended_at.desc(), job_outcomes.c.id.desc())
    )
    found: dict[str, sa.Row] = {}
    for row in conn.execute(query):
        found.setdefault(row.job_id, row)
    return found


def _outcome(job: PlannedJob, row: JobRow | None, past: sa.Row | None) -> JobOutcome:
    if row is not None and row.exists:
        exc = row.failure.exc_type if row.failure else ""
        return JobOutcome(
            job.job_id, job.task, job.queue, row.status or "unknown", True, ended_at=row.ended_at, exc_type=exc
        )
    if past is not None:
        return JobOutcome(job.job_id, job.task, job.queue, past.status, False, True, past.ended_at, past.exc_type or "")
    return JobOutcome(job.job_id, job.task, job.queue, EXPIRED, False)


def event_views(conn: sa.Connection, events: Iterable[EventRecord], rows: Iterable[JobRow]) -> list[EventView]:
    """Each event with the outcome of each job it started (see the module docstring for the cost)."""
    events = list(events)
    by_id = {r.id: r for r in rows}
    gone = [j.job_id for e in events for j in e.jobs if not (j.job_id in by_id and by_id[j.job_id].exists)]
    past = _last_outcomes(conn, gone)
    return [EventView(e, tuple(_outcome(j, by_id.get(j.job_id), past.get(j.job_id)) for j in e.jobs)) for e in events]
