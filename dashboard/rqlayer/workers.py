"""The worker page's read model: one worker, what it runs (with each job's function), its counters.

Cost per call, whatever the number of jobs or workers: two pipelined round trips — (1) the worker's
hash, whether it is in RQ's worker set, and a bounded sample (at most MAX_CURRENT_JOBS) of its running
executions with their count; (2) one HMGET row per running job (rows.py's fields: never meta or result),
skipped when it runs nothing. Never writes, never SCANs, never unpickles outside payloads' restricted
reader. A worker key of the wrong type reads as a "broken" worker instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from dashboard.rqlayer import keys
from dashboard.rqlayer.decode import text, timestamp
from dashboard.rqlayer.jobs import read_rows
from dashboard.rqlayer.overview import WorkerSummary, worker_summary
from dashboard.rqlayer.rows import JobRow, count_or_zero, wrong_type
from dashboard.rqlayer.vocabulary import lookup_queue_name

# RQ 3 workers may run several executions; a planted set of millions must not cost millions.
MAX_CURRENT_JOBS = 20


@dataclass(frozen=True)
class WorkerDetail:
    """One worker as RQ records it. `found` is False when its hash is gone (expired, or never existed);
    `registered` says whether RQ's worker set still names it (a worker that died without clean-up)."""

    name: str
    found: bool
    registered: bool
    summary: WorkerSummary
    ip_address: str
    shutdown_requested_at: datetime | None
    death: datetime | None
    current_jobs: tuple[JobRow, ...]  # at most MAX_CURRENT_JOBS
    running_count: int  # every execution it lists, even those not shown
    read_at: datetime

    @property
    def more_running(self) -> int:
        return max(0, self.running_count - len(self.current_jobs))


def read_worker(
    connection: redis.Redis, name: str, now: datetime | None = None, unsafe: bool = False
) -> WorkerDetail | None:
    """The worker named `name`, or None for a name no worker could have (empty, whitespace, too long).
    Cost: two pipelined round trips (the second only when it runs something), O(MAX_CURRENT_JOBS)."""
    if not lookup_queue_name(name):
        return None
    now = now or datetime.now(UTC)
    pipe = connection.pipeline(transaction=False)
    pipe.hgetall(keys.worker(name))
    pipe.sismember(keys.workers(), keys.worker(name))
    pipe.scard(keys.worker_executions(name))
    pipe.srandmember(keys.worker_executions(name), MAX_CURRENT_JOBS)  # distinct members, O(count)
    data, member, running, sample = pipe.execute(raise_on_error=False)
    executions: set[bytes] | Exception = sample if wrong_type(sample) else set(sample or [])
    summary = worker_summary(name, data, executions, now)
    fields = {} if wrong_type(data) else {text(k): v for k, v in data.items()}
    rows = read_rows(connection, list(summary.current_job_ids), unsafe) if summary.current_job_ids else []
    return WorkerDetail(
        name=name,
        found=wrong_type(data) or bool(fields),
        registered=not wrong_type(member) and bool(member),
        summary=summary,
        ip_address=text(fields.get("ip_address")),
        shutdown_requested_at=timestamp(fields.get("shutdown_requested_date")),
        death=timestamp(fields.get("death")),
        current_jobs=tuple(rows),
        running_count=max(count_or_zero(running), len(rows)),
        read_at=now,
    )
