"""The Schedules page's whole read: rq-scheduler (active and paused), each queue's scheduled
registry and the `rq cron` processes, in a fixed number of pipelined round trips. The per-source
readers turn raw hashes into rows; this module only batches the Redis reads and groups the rows.
"""

from __future__ import annotations

from datetime import UTC, datetime

import redis

from dashboard.rqlayer import keys
from dashboard.rqlayer.cluster import on_cluster
from dashboard.rqlayer.decode import text
from dashboard.rqlayer.schedules.model import (
    MAX_CRON_SCHEDULERS,
    MAX_QUEUES,
    MAX_SCHEDULES,
    RawHash,
    Schedule,
    ScheduleBook,
    paused_entry,
)
from dashboard.rqlayer.schedules.registries import queue_head, queues_scheduled
from dashboard.rqlayer.schedules.rqcron import cron_process
from dashboard.rqlayer.schedules.rqscheduler import schedule_from_hash


def read_schedules(connection: redis.Redis, unsafe: bool = False, now: datetime | None = None) -> ScheduleBook:
    """The Schedules page's data. Cost: three pipelined round trips whatever the number of jobs (ids
    and counts; the schedules' job hashes, each queue's registry head and the rq cron processes; the
    hashes of each queue's next few due), at most MAX_SCHEDULES schedules and MAX_QUEUES queues.
    Guarantee: read-only, never unpickles beyond the decode policy, never raises on odd data."""
    now = now or datetime.now(UTC)
    pipe = connection.pipeline(transaction=False)
    pipe.hscan(keys.paused_schedules(), 0, count=MAX_SCHEDULES)
    pipe.smembers(keys.queues())
    pipe.zrange(keys.cron_schedulers(), 0, MAX_CRON_SCHEDULERS - 1, desc=True, withscores=True)
    if not on_cluster(connection):  # on a Redis Cluster rq-scheduler's untagged keys are on another node
        pipe.zrange(keys.RQ_SCHEDULER_JOBS, 0, MAX_SCHEDULES - 1, withscores=True)
        pipe.zcard(keys.RQ_SCHEDULER_JOBS)
    (_, paused_raw), queue_keys, cron_names, *rq_scheduler = pipe.execute()
    entries, total = rq_scheduler or ([], 0)
    queues = sorted(keys.queue_name_from_key(text(k)) for k in queue_keys)[:MAX_QUEUES]
    scheduled = [(text(member), score) for member, score in entries]
    paused = _paused_ids(paused_raw, {job_id for job_id, _ in scheduled})

    pipe = connection.pipeline(transaction=False)
    for job_id in [job_id for job_id, _ in scheduled] + [job_id for job_id, _, _ in paused]:
        pipe.hgetall(keys.job(job_id))
    for queue in queues:
        queue_head(pipe, queue)
    for name, _ in cron_names:
        pipe.hgetall(keys.cron_scheduler(text(name)))
    replies = iter(pipe.execute())
    recurring: list[Schedule] = []
    one_offs: list[Schedule] = []
    for job_id, score in scheduled:
        row = schedule_from_hash(job_id, next(replies), score, unsafe=unsafe, now=now)
        (recurring if row.recurring else one_offs).append(row)
    paused_rows = [
        schedule_from_hash(job_id, next(replies), score, paused=True, paused_at=paused_at, unsafe=unsafe, now=now)
        for job_id, score, paused_at in paused
    ]
    heads = [(queue, next(replies), next(replies), next(replies)) for queue in queues]
    processes = [cron_process(text(name), score, raw) for (name, score), raw in zip(cron_names, replies, strict=True)]
    recurring.sort(key=lambda s: (s.next_run or datetime.max.replace(tzinfo=UTC), s.id))
    paused_rows.sort(key=lambda s: s.id)
    return ScheduleBook(
        recurring,
        one_offs,
        paused_rows,
        int(total),
        int(total) > len(scheduled),
        queues_scheduled(connection, heads, unsafe),
        processes,
    )


def _paused_ids(paused_raw: RawHash, active_ids: set[str]) -> list[tuple[str, float | None, datetime | None]]:
    paused = []
    for member, value in list(paused_raw.items())[:MAX_SCHEDULES]:
        job_id = text(member)
        if job_id not in active_ids:  # in both: a pause raced with a run; the zset wins (it will fire)
            paused.append((job_id, *paused_entry(value)))
    return paused


def list_schedules(connection: redis.Redis, unsafe: bool = False) -> list[Schedule]:
    """Every schedule as one flat list (rq-scheduler active and paused, each queue's next few due in
    RQ's scheduled registry, rq cron jobs). `read_schedules` has the same, grouped, with counts.
    Cost and guarantee: those of `read_schedules`."""
    return read_schedules(connection, unsafe).all()
