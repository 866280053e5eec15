"""Whether the schedulers that should fire waiting jobs are running: rq-scheduler, each queue's
worker scheduler (--with-scheduler) and `rq cron` processes, as banners for the Schedules page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis

from dashboard.rqlayer import keys
from dashboard.rqlayer.cluster import on_cluster
from dashboard.rqlayer.decode import text
from dashboard.rqlayer.schedules.model import MAX_QUEUES, OVERDUE_GRACE_SECONDS, cron_ttl, epoch


@dataclass(frozen=True)
class Banner:
    level: str  # danger, warn, info
    text: str


@dataclass(frozen=True)
class QueueSchedulerState:
    queue: str
    scheduled: int
    scheduler: str  # the lock holder's name, "" when no worker runs RQ's scheduler for this queue


@dataclass(frozen=True)
class SchedulerHealth:
    rq_scheduler_jobs: int
    rq_scheduler_paused: int
    rq_scheduler_lock: bool  # an rqscheduler pass holds the lock at this moment
    overdue: int  # rq-scheduler entries due more than OVERDUE_GRACE_SECONDS ago
    oldest_due: datetime | None
    queues: list[QueueSchedulerState]
    cron_processes_alive: int
    banners: list[Banner] = field(default_factory=list)

    @property
    def rq_scheduler_running(self) -> bool | None:
        """True: a pass is running now; False: due schedules are not being fired; None: cannot tell
        (rq-scheduler leaves no trace between passes unless something is overdue)."""
        if self.rq_scheduler_lock:
            return True
        if self.overdue:
            return False
        return None


CLUSTER_NOTE = (
    "On a Redis Cluster rq-scheduler cannot run (its keys carry no hash tag, so they are on another node "
    "than RQ's): only rq cron and RQ's own scheduler (workers with --with-scheduler) are shown and work here."
)


def health(connection: redis.Redis, now: datetime | None = None, grace: int = OVERDUE_GRACE_SECONDS) -> SchedulerHealth:
    """Whether the schedulers that should fire the waiting jobs run. Cost: two pipelined round trips
    (the second only when queues exist), O(queues). Guarantee: read-only, no SCAN.

    rq-scheduler 0.14 keeps no registry of its processes: `rq:scheduler_lock` (value: the time the
    pass began) exists only while a pass runs, and its instance hashes (`rq:scheduler_instance:<uuid>`)
    could only be found by SCAN. So the console reads the evidence it can get cheaply: the lock, and
    entries due longer ago than one pass plus `grace` seconds: due work not fired means no process."""
    now = now or datetime.now(UTC)
    cutoff = now.timestamp() - grace
    # On a Redis Cluster rq-scheduler's untagged keys are on another node than RQ's: not read there.
    cluster = on_cluster(connection)
    pipe = connection.pipeline(transaction=False)
    pipe.hlen(keys.paused_schedules())
    pipe.smembers(keys.queues())
    pipe.zcount(keys.cron_schedulers(), now.timestamp() - cron_ttl(), "+inf")
    if not cluster:
        pipe.zcard(keys.RQ_SCHEDULER_JOBS)
        pipe.exists(keys.RQ_SCHEDULER_LOCK)
        pipe.zcount(keys.RQ_SCHEDULER_JOBS, "-inf", cutoff)
        pipe.zrange(keys.RQ_SCHEDULER_JOBS, 0, 0, withscores=True)
    paused, queue_keys, cron_alive, *rq_scheduler = pipe.execute()
    total, lock, overdue, first = rq_scheduler or (0, 0, 0, [])
    queues = sorted(keys.queue_name_from_key(text(k)) for k in queue_keys)[:MAX_QUEUES]
    pipe = connection.pipeline(transaction=False)
    for queue in queues:
        pipe.zcard(keys.registry("scheduled", queue))
        pipe.get(keys.builtin_scheduler_lock(queue))
    replies = pipe.execute() if queues else []
    states = [
        QueueSchedulerState(queue, int(replies[2 * i]), text(replies[2 * i + 1])) for i, queue in enumerate(queues)
    ]
    oldest = epoch(first[0][1]) if first else None
    banners = [Banner("info", CLUSTER_NOTE)] if cluster else []
    if total and not lock and overdue:
        late = (now - oldest).total_seconds() if oldest else 0
        banners.append(
            Banner(
                "danger",
                f"rq-scheduler jobs exist but no rq-scheduler process is running — nothing "
                f"will fire: {overdue} schedule(s) overdue, the oldest by {_span(late)}. "
                "Start the Procfile's scheduler: `python -m dashboard.rqlayer.schedules.atomic --url <redis>`.",
            )
        )
    for state in states:
        if state.scheduled and not state.scheduler:
            banners.append(
                Banner(
                    "warn",
                    f"{state.scheduled} scheduled job(s) in queue {state.queue} but no "
                    "worker runs RQ's scheduler (--with-scheduler): they will not be queued.",
                )
            )
    return SchedulerHealth(int(total), int(paused), bool(lock), int(overdue), oldest, states, int(cron_alive), banners)


def _span(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"
