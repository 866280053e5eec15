"""rq-scheduler with one atomic step per due run, so a scheduler killed at any moment neither fires a
schedule twice nor loses it. The Procfile's `scheduler` line runs it:

    python -m dashboard.rqlayer.schedules.atomic --url "$REDIS_URL" --interval 5

(the same arguments as `rqscheduler`, whose command line it reuses).

rq-scheduler 0.14's `enqueue_job` sends three separate commands: push the job onto its queue, ZREM it
from the schedule, ZADD its next run. Killed after the push, the schedule still holds the run, and the
next scheduler fires it again; killed after the ZREM, a repeating schedule is gone for good. Here the
push, the ZREM and the next run's ZADD are one MULTI/EXEC. Jobs RQ cannot enqueue inside a transaction
(dependencies, rate limits) keep rq-scheduler's own path.

Flask-free; imports rq and rq_scheduler only.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rq.job import Job
from rq_scheduler.scheduler import Scheduler
from rq_scheduler.utils import get_next_scheduled_time, to_unix


class AtomicScheduler(Scheduler):  # type: ignore[misc]  # rq_scheduler ships no types
    """rq-scheduler's Scheduler whose every due run is enqueued and rescheduled in one transaction."""

    def enqueue_job(self, job: Job) -> None:
        """Cost: one MULTI/EXEC round trip (RQ's own enqueue writes, the ZREM, the next ZADD).
        Guarantee: either all of it happens or none, whenever the process dies."""
        if job.has_rate_limit or job._dependency_ids:
            super().enqueue_job(job)
            return
        repeat = job.meta.get("repeat")
        if repeat:
            job.meta["repeat"] = int(repeat) - 1
        next_run = self._next_run(job)
        queue = self.get_queue_for_job(job)
        with self.connection.pipeline(transaction=True) as pipe:
            queue.enqueue_job(job, pipeline=pipe, at_front=bool(job.enqueue_at_front))
            pipe.zrem(self.scheduled_jobs_key, job.id)
            if next_run is not None:
                pipe.zadd(self.scheduled_jobs_key, {job.id: next_run})
            pipe.execute()

    @staticmethod
    def _next_run(job: Job) -> float | None:
        """When rq-scheduler would run the job next (its own rules): None when it does not repeat."""
        if job.meta.get("repeat") == 0:
            return None
        interval = job.meta.get("interval")
        if interval:
            return float(to_unix(datetime.now(UTC).replace(tzinfo=None)) + int(interval))
        cron_string = job.meta.get("cron_string")
        if cron_string:
            local = job.meta.get("use_local_timezone")
            return float(to_unix(get_next_scheduled_time(cron_string, use_local_timezone=local)))
        return None


def main() -> None:
    """rqscheduler's command line, running AtomicScheduler."""
    from rq_scheduler.scripts import rqscheduler

    from dashboard.rqcli import CliRedis

    rqscheduler.Scheduler = AtomicScheduler  # its main() builds the scheduler by this name
    rqscheduler.Redis = CliRedis  # ... and the connection: --url may be redis+sentinel:// too
    rqscheduler.main()


if __name__ == "__main__":
    main()
