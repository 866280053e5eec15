"""One schedule by id, whatever its source, and the job ids its runs had: what a schedule's own page reads.

How runs map to a schedule (checked in the sources of rq-scheduler 0.14 and RQ 3.0):
- rq-scheduler re-enqueues the SAME job id for every run of a cron or interval schedule
  (`Scheduler.enqueue_job` pushes the job, then ZADDs the same id with its next time), so its runs are
  the outcomes whose job id is the schedule's id. A "run now" from the console is a new job (meta
  `console_schedule`), not a run of the schedule.
- RQ 3's `rq cron` enqueues a NEW job per run (`CronJob.enqueue`) and records nothing on the job that
  names its entry (no meta, no description); in the same pipeline it ZADDs the job id to
  `<prefix>:cron_job:<name>:jobs` (score = enqueue time), trimmed to the newest 1,000 and kept a year.
  That set is the exact link: function + queue would also match hand-enqueued jobs and other entries.
"""

from __future__ import annotations

from typing import cast

import redis

from dashboard.rqlayer import keys
from dashboard.rqlayer.decode import text
from dashboard.rqlayer.schedules.model import MAX_CRON_SCHEDULERS, Schedule
from dashboard.rqlayer.schedules.rqcron import cron_process
from dashboard.rqlayer.schedules.rqscheduler import get_schedule
from dashboard.rqlayer.vocabulary import valid_job_id

MAX_CRON_RUNS = 1000  # RQ's DEFAULT_CRON_JOB_HISTORY_LIMIT: it keeps no more


def find_schedule(connection: redis.Redis, schedule_id: str, unsafe: bool = False) -> Schedule | None:
    """The rq-scheduler schedule (active or paused) with this id, else the `rq cron` entry of that name
    (from the most recently seen process listing it), else None. Cost: one pipelined round trip, plus
    two for the rq cron processes (at most MAX_CRON_SCHEDULERS hashes) when rq-scheduler has no such
    id. Guarantee: read-only; an id no job could have is None without a Redis call."""
    if not valid_job_id(schedule_id):
        return None
    found = get_schedule(connection, schedule_id, unsafe=unsafe)
    if found is not None:
        return found
    names = cast(
        list[tuple[bytes, float]],
        connection.zrange(keys.cron_schedulers(), 0, MAX_CRON_SCHEDULERS - 1, desc=True, withscores=True),
    )
    if not names:
        return None
    pipe = connection.pipeline(transaction=False)
    for name, _ in names:
        pipe.hgetall(keys.cron_scheduler(text(name)))
    for (name, score), raw in zip(names, pipe.execute(), strict=True):
        for entry in cron_process(text(name), score, raw).jobs:
            if entry.id == schedule_id:
                return entry
    return None


def cron_run_ids(connection: redis.Redis, name: str, limit: int = MAX_CRON_RUNS) -> list[str]:
    """The ids of the jobs the `rq cron` entry `name` enqueued, newest first (RQ keeps the newest 1,000).
    Cost: one ZRANGE of at most `limit` members. Guarantee: read-only; a key of another type is []."""
    try:
        members = cast(list[bytes], connection.zrange(keys.cron_job_history(name), 0, max(0, limit - 1), desc=True))
    except redis.ResponseError:  # WRONGTYPE: written by something else
        return []
    return [job_id for job_id in (text(m) for m in members) if valid_job_id(job_id)]
