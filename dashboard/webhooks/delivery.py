"""The delivery job: one attempt of one delivery, run by an RQ worker on WEBHOOK_QUEUE (jobs.py enqueues it).

    run(delivery_id, attempt)     the RQ job: settings and engine from the environment (runtime.py)
    attempt(engine, redis, settings, delivery_id, n)   the same with everything passed in

An attempt first claims itself in SQL (attempts n-1 -> n, only while the delivery is pending or retrying), so a
job run twice sends once; the claim also leases the row (next_attempt_at = now + the job's timeout) so the
repair pass (dispatcher.py) leaves an attempt in flight alone. Then: endpoint gone -> nothing; disabled ->
failed; the URL is checked again (ssrf.py: DNS may have changed) -> a refused destination fails at once with
the reason, no request made; else one signed POST (sender.py). 2xx: succeeded. 410 Gone: failed, and the
endpoint is disabled (the Standard Webhooks spec's advice: the receiver says it is gone for good). Anything
else (timeout, connection error, DNS failure, 3xx, 4xx, 5xx): retrying after jobs.backoff, through RQ's
scheduler, until WEBHOOK_MAX_ATTEMPTS, then failed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from redis import Redis

from dashboard.settings import WebhookSettings
from dashboard.webhooks import endpoints, jobs, sender, signing, ssrf
from dashboard.webhooks.models import webhook_deliveries, webhook_endpoints


@dataclass(frozen=True)
class Outcome:
    status: str  # succeeded | retrying | failed | skipped
    answer: sender.Answer | None = None
    error: str = ""


def run(delivery_id: int, attempt_no: int) -> str:
    """The RQ job. Returns the outcome's status (the job's result)."""
    from rq import get_current_job

    from dashboard.webhooks import runtime

    job = get_current_job()
    if job is None:  # called outside a worker: nothing to send with
        raise RuntimeError("dashboard.webhooks.delivery.run is an RQ job")
    settings = runtime.settings()
    return attempt(runtime.engine(), job.connection, settings, int(delivery_id), int(attempt_no)).status


def _claim(sql: sa.Connection, delivery_id: int, n: int, settings: WebhookSettings) -> bool:
    t = webhook_deliveries
    now = endpoints.utcnow()
    lease = now + timedelta(seconds=settings.timeout * 3 + 60)
    return bool(
        sql.execute(
            sa.update(t)
            .where(t.c.id == delivery_id, t.c.attempts == n - 1, t.c.status.in_(("pending", "retrying")))
            .values(attempts=n, next_attempt_at=lease, updated_at=now)
        ).rowcount
    )


def attempt(engine: sa.Engine, redis: Redis, settings: WebhookSettings, delivery_id: int, n: int) -> Outcome:
    """Attempt `n` of a delivery (see the module docstring). SQL and Redis errors raise (RQ records the job
    as failed; the repair pass enqueues the attempt again later)."""
    t, e = webhook_deliveries, webhook_endpoints
    with engine.begin() as sql:
        if not _claim(sql, delivery_id, n, settings):
            return Outcome("skipped")
        row = sql.execute(
            sa.select(t.c.endpoint_id, t.c.msg_id, t.c.payload, e.c.url, e.c.enabled)
            .join(e, e.c.id == t.c.endpoint_id)
            .where(t.c.id == delivery_id)
        ).first()
        secrets = endpoints.signing_secrets(sql, row.endpoint_id, endpoints.utcnow()) if row is not None else None
    if row is None or secrets is None:
        return Outcome("skipped")
    if not row.enabled:
        return _record(engine, delivery_id, Outcome("failed", error="the endpoint is disabled"))
    try:
        resolved = ssrf.check(row.url, settings.allowed_hosts)
    except ssrf.Refused as refused:
        return _record(engine, delivery_id, Outcome("failed", error=f"destination refused: {refused}"))
    except ssrf.Unresolvable as failure:
        return _retry_or_fail(engine, redis, settings, delivery_id, n, Outcome("retrying", error=str(failure)))
    body = row.payload.encode()
    signed = signing.headers(row.msg_id, int(time.time()), row.payload, secrets)
    answer = sender.post(resolved, body, signed, settings.timeout)
    if answer.ok:
        return _record(engine, delivery_id, Outcome("succeeded", answer))
    if answer.status == 410:
        endpoints.disable_for(
            engine, redis, row.endpoint_id, f"disabled: it answered 410 Gone to delivery {delivery_id}"
        )
        return _record(engine, delivery_id, Outcome("failed", answer, "410 Gone: the endpoint was disabled"))
    why = answer.error or _status_words(answer.status)
    return _retry_or_fail(engine, redis, settings, delivery_id, n, Outcome("retrying", answer, why))


def _status_words(status: int | None) -> str:
    if status is not None and 300 <= status < 400:
        return f"answered {status} (a redirect: not followed)"
    return f"answered {status}"


def _retry_or_fail(
    engine: sa.Engine, redis: Redis, settings: WebhookSettings, delivery_id: int, n: int, outcome: Outcome
) -> Outcome:
    if n >= settings.max_attempts:
        final = Outcome("failed", outcome.answer, f"{outcome.error}; gave up after {n} attempts")
        return _record(engine, delivery_id, final)
    delay = jobs.backoff(settings, n)
    _record(engine, delivery_id, outcome, next_in=delay)
    jobs.enqueue(redis, settings, delivery_id, n + 1, delay)
    return outcome


def _record(engine: sa.Engine, delivery_id: int, outcome: Outcome, next_in: float | None = None) -> Outcome:
    """Write what the attempt got (status, HTTP status, time, first bytes, error) in one UPDATE."""
    t = webhook_deliveries
    now = endpoints.utcnow()
    answer = outcome.answer
    values: dict[str, object] = {
        "status": outcome.status,
        "error": outcome.error[:500],
        "updated_at": now,
        "next_attempt_at": now + timedelta(seconds=next_in) if next_in is not None else None,
        "last_status": answer.status if answer else None,
        "response_ms": answer.ms if answer else None,
        "response_body": answer.body if answer else None,
    }
    with engine.begin() as sql:
        sql.execute(sa.update(t).where(t.c.id == delivery_id).values(**values))
    return outcome
