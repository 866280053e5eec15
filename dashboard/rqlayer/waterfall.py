"""A waterfall of related jobs: a dependency chain (RQ's depends_on: parents always, children while RQ
still lists them) and the job's RQ 3 group, with each job's queue wait (enqueued -> started) and run
time (started -> ended) on one time axis. Flask-free; reads only the row fields (never job data
beyond the function name).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from dashboard.rqlayer import keys
from dashboard.rqlayer.decode import text
from dashboard.rqlayer.jobdetail import _json_list
from dashboard.rqlayer.jobs import read_rows
from dashboard.rqlayer.rows import JobRow, wrong_type

MAX_JOBS = 60  # bars on one waterfall; the rest are counted, not drawn
MAX_DEPTH = 20  # dependency levels walked each way


@dataclass(frozen=True)
class Bar:
    """One job's bar, in percent of the waterfall's span: `start` (its enqueue), `wait` then `run`."""

    row: JobRow
    start: float
    wait: float
    run: float
    wait_seconds: float | None
    run_seconds: float | None
    running: bool  # still waiting or running: its bar ends now


@dataclass(frozen=True)
class Waterfall:
    bars: list[Bar]
    span_seconds: float
    origin: datetime | None
    more: bool  # more related jobs than MAX_JOBS


def _neighbours(connection: redis.Redis, frontier: list[str]) -> list[str]:
    """Parents and children of these jobs: one pipelined round trip. Parents: the hash's dependency_ids
    (kept) and the :dependencies set; children: :dependents, which RQ deletes once it enqueued them (a
    finished chain is found from its last job)."""
    pipe = connection.pipeline(transaction=False)
    for node in frontier:
        pipe.hget(keys.job(node), "dependency_ids")
        pipe.sscan(keys.job_dependencies(node), 0, count=MAX_JOBS)
        pipe.sscan(keys.job_dependents(node), 0, count=MAX_JOBS)
    found: list[str] = []
    for n, reply in enumerate(pipe.execute(raise_on_error=False)):
        if not wrong_type(reply):
            found += [str(i) for i in _json_list(reply)] if n % 3 == 0 else [text(m) for m in reply[1]]
    return found


def _group_members(connection: redis.Redis, group_id: str) -> list[str]:
    try:
        return sorted(text(m) for m in connection.smembers(keys.group(group_id)))
    except redis.ResponseError:  # a planted key of another type: no group to show
        return []


def _add(seen: list[str], candidates: list[str]) -> tuple[list[str], bool]:
    """Append the new ones to `seen` up to MAX_JOBS; (the added, whether some did not fit)."""
    added: list[str] = []
    for node in dict.fromkeys(candidates):
        if node in seen:
            continue
        if len(seen) >= MAX_JOBS:
            return added, True
        seen.append(node)
        added.append(node)
    return added, False


def _related(connection: redis.Redis, job_id: str, group_id: str) -> tuple[list[str], bool]:
    """The job, its ancestors and descendants (breadth first), then its group's other members. Cost:
    one pipelined round trip per dependency level (at most MAX_DEPTH), one for the group."""
    seen, frontier, more = [job_id], [job_id], False
    for _ in range(MAX_DEPTH):
        if not frontier or more:
            break
        frontier, more = _add(seen, _neighbours(connection, frontier))
    if group_id and not more:
        _, more = _add(seen, _group_members(connection, group_id))
    return seen, more


def read(connection: redis.Redis, job_id: str, now: float | None = None) -> Waterfall:
    """The waterfall around `job_id` (with its RQ 3 group): jobs ordered by enqueue time. Cost: one
    HGET, see _related, then one pipelined read of the rows. Jobs that expired are left out."""
    try:
        group_id = text(connection.hget(keys.job(job_id), "group_id"))
    except redis.ResponseError:  # the job key holds another type
        group_id = ""
    ids, more = _related(connection, job_id, group_id)
    rows = [r for r in read_rows(connection, ids) if r.exists]
    now = time.time() if now is None else now
    spans: list[tuple[JobRow, float, float | None, float | None, bool]] = []
    for row in rows:
        enqueued = row.enqueued_at or row.created_at
        if enqueued is None:
            continue
        began = row.started_at.timestamp() if row.started_at else None
        ended = row.ended_at.timestamp() if row.ended_at else None
        running = row.status in ("queued", "started", "deferred", "scheduled") and ended is None
        spans.append((row, enqueued.timestamp(), began, ended, running))
    if not spans:
        return Waterfall([], 0.0, None, more)
    spans.sort(key=lambda s: s[1])
    t0 = spans[0][1]
    t1 = max(e if e is not None else (now if run else (b if b is not None else q)) for _, q, b, e, run in spans)
    span = max(t1 - t0, 0.001)
    pct = 100.0 / span
    bars = []
    for row, queued, began, ended, running in spans:
        wait_end = began if began is not None else (now if running else queued)
        run_end = ended if ended is not None else (now if began is not None and running else wait_end)
        bars.append(
            Bar(
                row=row,
                start=(queued - t0) * pct,
                wait=max(0.0, wait_end - queued) * pct,
                run=max(0.0, run_end - wait_end) * pct,
                wait_seconds=(began - queued) if began is not None else None,
                run_seconds=(ended - began) if began is not None and ended is not None else None,
                running=running,
            )
        )
    return Waterfall(bars, span, datetime.fromtimestamp(t0, UTC), more)
