"""The one way anything in the console sends a webhook: `send` (Flask-free; the web process passes db.engine,
the history process and RQ jobs a plain engine).

    send(engine, redis, "job.failed", {...}, queue="default", function="tasks.x", key="<job>:<attempt>:failed")

creates one delivery row per enabled endpoint subscribed to the type whose queue / function filters match (or
exactly the enabled endpoints in `endpoint_ids`, whatever their subscriptions: an alert rule's channels, a test
event), commits, then enqueues one RQ job per new delivery on WEBHOOK_QUEUE (jobs.py) and returns the delivery
ids. With `key`, a second send of the same key to an endpoint creates nothing (unique (endpoint, key)) and
re-enqueues only a delivery whose first job never reached Redis (a crash between the commit and the enqueue),
so a replayed event is sent once. Costs one Redis GET when no endpoint changed and none matches (endpoints.py
caches the list); otherwise one transaction (INSERT + SELECT) and two Redis round trips per delivery.

The body of every delivery is the Standard Webhooks JSON {"type", "timestamp", "data"}, fixed at send time:
every attempt and redelivery sends the same bytes with the same webhook-id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from redis import Redis

from dashboard.settings import WebhookSettings, load_webhook_settings
from dashboard.webhooks import endpoints as endpoints_
from dashboard.webhooks import jobs, signing
from dashboard.webhooks.models import webhook_deliveries

JOB_EVENT_TYPES = ("job.finished", "job.failed", "job.stopped")
EVENT_TYPES = (*JOB_EVENT_TYPES, "alert.firing", "alert.resolved", "event.published")
TEST_TYPE = "webhook.test"  # "send test event": only ever sent to the endpoint asked for
KEY_LENGTH = 300


def body(type_: str, data: Mapping[str, Any], moment: datetime | None = None) -> str:
    """The JSON body (compact, keys in the spec's order)."""
    moment = moment or datetime.now(UTC)
    stamp = moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({"type": type_, "timestamp": stamp, "data": dict(data)}, separators=(",", ":"), default=str)


def targets(
    engine: sa.Engine,
    redis: Redis,
    type_: str,
    queue: str | None = None,
    function: str | None = None,
    endpoint_ids: Iterable[int] | None = None,
) -> list[endpoints_.Endpoint]:
    """The enabled endpoints a send would create deliveries for (one cached read)."""
    enabled = endpoints_.enabled(engine, redis)
    if endpoint_ids is not None:
        return endpoints_.by_ids(enabled, endpoint_ids)
    return [e for e in enabled if e.matches(type_, queue, function)]


def send(
    engine: sa.Engine,
    redis: Redis,
    type_: str,
    data: dict[str, Any],
    *,
    queue: str | None = None,
    function: str | None = None,
    endpoint_ids: Iterable[int] | None = None,
    key: str | None = None,
    settings: WebhookSettings | None = None,
) -> list[int]:
    """Deliveries for one event -> their ids (those of an earlier send with the same key included).
    ValueError for an unknown type or a key over 300 characters. Raises on SQL / Redis errors: the caller
    keeps its event and sends it again (idempotent with `key`)."""
    if type_ not in EVENT_TYPES and type_ != TEST_TYPE:
        raise ValueError(f"unknown webhook event type {type_[:40]!r} (one of {', '.join(EVENT_TYPES)})")
    if key is not None and len(key) > KEY_LENGTH:
        raise ValueError(f"key longer than {KEY_LENGTH} characters")
    found = targets(engine, redis, type_, queue, function, endpoint_ids)
    if not found:
        return []
    settings = settings or load_webhook_settings()
    payload = body(type_, data)
    msg_id = signing.message_id(key)
    now = endpoints_.utcnow()
    rows = [
        {
            "endpoint_id": e.id,
            "msg_id": msg_id,
            "idem_key": key,
            "type": type_,
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for e in found
    ]
    with engine.begin() as sql:
        new, earlier, unsent = _insert(sql, rows, key)
    for delivery_id in new:
        jobs.enqueue(redis, settings, delivery_id, 1)
    # A replay: deliveries created earlier whose first job never made it to Redis are enqueued now.
    for delivery_id, attempt in jobs.missing(redis, [(d, 1) for d in unsent]):
        jobs.enqueue(redis, settings, delivery_id, attempt)
    return sorted([*new, *earlier])


def _insert(sql: sa.Connection, rows: list[dict[str, Any]], key: str | None) -> tuple[list[int], list[int], list[int]]:
    """(ids created now, ids of earlier deliveries with this key, those of them never attempted)."""
    t = webhook_deliveries
    endpoint_ids = [r["endpoint_id"] for r in rows]
    earlier: dict[int, tuple[int, int, str]] = {}
    if key is not None:
        earlier = {
            r.endpoint_id: (r.id, r.attempts, r.status)
            for r in sql.execute(
                sa.select(t.c.id, t.c.endpoint_id, t.c.attempts, t.c.status).where(
                    t.c.idem_key == key, t.c.endpoint_id.in_(endpoint_ids)
                )
            )
        }
    fresh = [r for r in rows if r["endpoint_id"] not in earlier]
    created: list[int] = []
    for row in fresh:
        # One INSERT per endpoint (they are few); a concurrent send of the same key loses on the unique
        # (endpoint_id, idem_key) and its caller's transaction fails, to be retried as a replay.
        created.append(endpoints_.inserted_id(sql.execute(sa.insert(t).values(**row))))
    unsent = [i for i, attempts, status in earlier.values() if attempts == 0 and status == "pending"]
    return created, [i for i, _, _ in earlier.values()], unsent
