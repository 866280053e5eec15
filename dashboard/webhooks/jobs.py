"""The RQ jobs that send deliveries: one job per attempt on the console's webhook queue (WEBHOOK_QUEUE).

A job's id names its delivery and attempt (`webhook-delivery-<id>-<n>`), its only arguments are those two
integers (no payload, no secret in Redis), and the job itself claims the attempt in SQL before sending
(delivery.py), so a job enqueued twice sends once. Later attempts go through RQ's scheduler (enqueue_in:
the Procfile's worker runs --with-scheduler); a delay of 0 enqueues at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from redis import Redis
from rq import Queue

from dashboard.rqlayer import keys
from dashboard.settings import WebhookSettings

FUNCTION = "dashboard.webhooks.delivery.run"
RESULT_TTL = 3600  # a finished delivery job is kept an hour (the SQL row is the record)
FAILURE_TTL = 7 * 86400


def job_id(delivery_id: int, attempt: int) -> str:
    return f"webhook-delivery-{int(delivery_id)}-{int(attempt)}"


def enqueue(redis: Redis, settings: WebhookSettings, delivery_id: int, attempt: int, delay: float = 0) -> str:
    """Enqueue attempt `attempt` of a delivery, `delay` seconds from now. Two round trips (RQ's enqueue)."""
    queue = Queue(settings.queue, connection=redis)
    options = {
        "job_id": job_id(delivery_id, attempt),
        "job_timeout": int(settings.timeout * 3) + 30,  # resolve + connect + read, with room to record
        "result_ttl": RESULT_TTL,
        "failure_ttl": FAILURE_TTL,
        "description": f"webhook delivery {int(delivery_id)}, attempt {int(attempt)}",
    }
    if delay > 0:
        queue.enqueue_in(timedelta(seconds=delay), FUNCTION, int(delivery_id), int(attempt), **options)
    else:
        queue.enqueue(FUNCTION, int(delivery_id), int(attempt), **options)
    return str(options["job_id"])


def missing(redis: Redis, ids: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The (delivery, attempt) pairs whose job does not exist in Redis (never enqueued, or long gone).
    One pipelined EXISTS per pair."""
    if not ids:
        return []
    pipe = redis.pipeline(transaction=False)
    for delivery_id, attempt in ids:
        pipe.exists(keys.job(job_id(delivery_id, attempt)))
    return [pair for pair, found in zip(ids, pipe.execute(), strict=True) if not found]


def backoff(settings: WebhookSettings, attempts: int) -> float:
    """Seconds before the attempt after `attempts` failed ones: retry_base doubling, at most retry_cap
    (defaults 30 s, 1 min, 2 min ... 4 h: 15 attempts span about a day)."""
    return float(min(settings.retry_cap, settings.retry_base * 2 ** max(0, attempts - 1)))
