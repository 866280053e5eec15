"""`flask --app app demo`: a realistic mix of jobs so a newcomer sees a living console.

Flask-free. It enqueues registered tasks only, through RQ's own API (this runs in a CLI process,
not the web process), and registers two recurring schedules with rq-scheduler idempotently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import redis
from rq import Queue, Retry
from rq.job import Dependency

import tasks

DEMO_SCHEDULES = (
    {
        "name": "demo-cleanup-every-15-min",
        "cron": "*/15 * * * *",
        "task": "tasks.maintenance.cleanup_old_files",
        "kwargs": {"max_age_hours": 24.0},
        "queue": "low",
        "description": "demo schedule",
    },
    {
        "name": "demo-exchange-rate-hourly",
        "cron": "0 * * * *",
        "task": "tasks.external.fetch_exchange_rate",
        "kwargs": {"failure_rate": 0.2},
        "queue": "default",
        "description": "demo schedule",
    },
)


@dataclass
class DemoReport:
    enqueued: list[str] = field(default_factory=list)
    scheduled: list[str] = field(default_factory=list)
    schedules: list[str] = field(default_factory=list)


def _queue(connection: redis.Redis, name: str) -> Queue:
    return Queue(name, connection=connection)


def _enqueue(connection, report: DemoReport, task_name: str, kwargs: dict, **options):
    spec = tasks.get_task(task_name)
    if spec is None:
        raise LookupError(f"demo task {task_name!r} is not registered")
    queue_name = options.pop("queue", spec.queue)
    retry = options.pop("retry", spec.retry())
    job = _queue(connection, queue_name).enqueue_call(
        spec.name, kwargs=kwargs, timeout=spec.timeout, retry=retry, **options
    )
    report.enqueued.append(job.id)
    return job


def fill(connection: redis.Redis, now: datetime | None = None, batch_items: int = 600) -> DemoReport:
    """Enqueue the demo mix; returns what was created. The progress batch takes batch_items/20 s."""
    now = now or datetime.now(UTC)
    report = DemoReport()
    email = "tasks.notifications.send_email_notification"

    # Jobs that succeed, on each priority queue.
    for n in range(3):
        _enqueue(connection, report, email, {"to": f"ops{n}@example.com", "subject": f"Deploy #{n} finished"})
    _enqueue(connection, report, "tasks.images.make_thumbnail", {"size": 96})
    report_job = _enqueue(connection, report, "tasks.reports.generate_sales_report", {"days": 30, "seed": 7})

    # Jobs that fail: a bad address, a missing image.
    _enqueue(connection, report, email, {"to": "not-an-address", "subject": "Will bounce"})
    _enqueue(connection, report, "tasks.images.make_thumbnail", {"source": "missing-photo.jpg"})

    # A flaky call that fails often: RQ retries it with backoff (5 s, 15 s, 60 s).
    for seed in range(3):
        _enqueue(
            connection,
            report,
            "tasks.external.fetch_exchange_rate",
            {"failure_rate": 0.7, "seed": seed},
            retry=Retry(max=3, interval=[5, 15, 60]),
        )

    # A long batch that reports progress through job.meta.
    _enqueue(connection, report, "tasks.batches.process_batch", {"items": batch_items, "delay": 0.05})

    # A dependent job: the digest goes out once the report exists.
    _enqueue(
        connection,
        report,
        "tasks.notifications.send_digest",
        {"recipients": ["team@example.com"], "subject": "Sales report ready"},
        depends_on=Dependency(jobs=[report_job.id]),
    )

    # Delayed jobs: in two minutes and in an hour (RQ's own scheduler runs them).
    low = _queue(connection, "low")
    for delay in (timedelta(minutes=2), timedelta(hours=1)):
        job = low.enqueue_at(now + delay, "tasks.maintenance.cleanup_old_files", max_age_hours=48.0, dry_run=True)
        report.scheduled.append(job.id)

    report.schedules = register_schedules(connection)
    return report


def register_schedules(connection: redis.Redis) -> list[str]:
    """Register the demo's recurring schedules; running it twice changes nothing, and a demo
    schedule an operator paused stays paused."""
    from dashboard.rqlayer.schedules import register_defaults

    return register_defaults(connection, DEMO_SCHEDULES, strict=True).created
