"""The delivery log: read models and keyset pages for the pages and the API, redelivery, and the upkeep the
dispatcher runs (re-enqueue lost attempts, prune old rows). Flask-free."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from redis import Redis

from dashboard.settings import WebhookSettings
from dashboard.webhooks import jobs
from dashboard.webhooks.endpoints import inserted_id, utcnow
from dashboard.webhooks.models import STATUSES, webhook_deliveries

PAGE = 50
MAX_PAGE = 200
CURSOR = re.compile(r"^([0-9]{1,20})\.([0-9]{1,20})$")
_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Delivery:
    id: int
    endpoint_id: int
    msg_id: str
    type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None  # when the next attempt is due (retrying), else None
    last_status: int | None
    response_ms: int | None
    response_body: str
    error: str
    redelivery_of: int | None
    created_at: datetime
    updated_at: datetime
    payload: str

    @property
    def finished(self) -> bool:
        return self.status in ("succeeded", "failed")


@dataclass(frozen=True)
class DeliveryPage:
    rows: list[Delivery]
    next_cursor: str | None  # pass as `after` for the next (older) page; None: this was the last


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=int(row.id),
        endpoint_id=int(row.endpoint_id),
        msg_id=row.msg_id,
        type=row.type,
        status=row.status if row.status in STATUSES else "pending",
        attempts=int(row.attempts or 0),
        next_attempt_at=row.next_attempt_at if row.status == "retrying" else None,
        last_status=row.last_status,
        response_ms=row.response_ms,
        response_body=row.response_body or "",
        error=row.error or "",
        redelivery_of=row.redelivery_of,
        created_at=row.created_at,
        updated_at=row.updated_at,
        payload=row.payload or "",
    )


def cursor_of(delivery: Delivery) -> str:
    return f"{(delivery.created_at - _EPOCH) // timedelta(microseconds=1)}.{delivery.id}"


def parse_cursor(raw: str | None) -> tuple[datetime, int] | None:
    """(created_at, id) from a cursor; None for none; ValueError for a malformed one (a 400)."""
    if not raw:
        return None
    match = CURSOR.match(raw)
    if not match:
        raise ValueError("cursor must look like 1700000000000000.42 (from next_cursor)")
    return _EPOCH + timedelta(microseconds=int(match.group(1))), int(match.group(2))


def deliveries(
    engine: sa.Engine, endpoint_id: int, after: str | None = None, limit: int = PAGE, status: str | None = None
) -> DeliveryPage:
    """An endpoint's deliveries, newest first, `limit` after the cursor: one indexed range read
    (endpoint_id, created_at, id) of limit + 1 rows at any depth; the status filter is applied on it."""
    t = webhook_deliveries
    limit = max(1, min(int(limit), MAX_PAGE))
    start = parse_cursor(after)
    query = sa.select(t).where(t.c.endpoint_id == endpoint_id)
    if status:
        query = query.where(t.c.status == status)
    if start is not None:
        query = query.where(sa.tuple_(t.c.created_at, t.c.id) < sa.tuple_(sa.literal(start[0]), sa.literal(start[1])))
    query = query.order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit + 1)
    with engine.connect() as sql:
        rows = [_delivery(r) for r in sql.execute(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    return DeliveryPage(rows, cursor_of(rows[-1]) if more and rows else None)


def get_delivery(engine: sa.Engine, delivery_id: int) -> Delivery | None:
    with engine.connect() as sql:
        row = sql.execute(sa.select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)).first()
    return _delivery(row) if row is not None else None


def latest_by_endpoint(engine: sa.Engine, endpoint_ids: list[int]) -> dict[int, Delivery]:
    """Each endpoint's newest delivery: one indexed LIMIT 1 read per endpoint (endpoints are few)."""
    t = webhook_deliveries
    found: dict[int, Delivery] = {}
    with engine.connect() as sql:
        for endpoint_id in endpoint_ids:
            row = sql.execute(
                sa.select(t)
                .where(t.c.endpoint_id == endpoint_id)
                .order_by(t.c.created_at.desc(), t.c.id.desc())
                .limit(1)
            ).first()
            if row is not None:
                found[endpoint_id] = _delivery(row)
    return found


def redeliver(engine: sa.Engine, redis: Redis, settings: WebhookSettings, delivery_id: int) -> int | None:
    """A new delivery of the same message (same webhook-id, same body) to the same endpoint, sent at once;
    the original row stays as it was. Returns the new id, None when the delivery does not exist."""
    t = webhook_deliveries
    now = utcnow()
    with engine.begin() as sql:
        row = sql.execute(
            sa.select(t.c.endpoint_id, t.c.msg_id, t.c.type, t.c.payload).where(t.c.id == delivery_id)
        ).first()
        if row is None:
            return None
        new_id = inserted_id(
            sql.execute(
                sa.insert(t).values(
                    endpoint_id=row.endpoint_id,
                    msg_id=row.msg_id,
                    type=row.type,
                    payload=row.payload,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    redelivery_of=delivery_id,
                    created_at=now,
                    updated_at=now,
                )
            )
        )
    jobs.enqueue(redis, settings, new_id, 1)
    return new_id


def overdue(engine: sa.Engine, before: datetime, limit: int = 100) -> list[tuple[int, int]]:
    """(delivery, next attempt number) of unfinished deliveries whose next attempt was due before `before`
    (or whose attempt's lease ran out): candidates for the repair pass, which enqueues those whose job is
    missing from Redis. Reads at most `limit` rows."""
    t = webhook_deliveries
    query = (
        sa.select(t.c.id, t.c.attempts)
        .where(t.c.status.in_(("pending", "retrying")), t.c.next_attempt_at < before)
        .order_by(t.c.next_attempt_at)
        .limit(limit)
    )
    with engine.connect() as sql:
        return [(int(r.id), int(r.attempts) + 1) for r in sql.execute(query)]


def repair(engine: sa.Engine, redis: Redis, settings: WebhookSettings, grace: float = 60.0) -> int:
    """Enqueue the attempts that should exist but whose RQ job is gone (Redis lost it, an enqueue failed
    after a commit, a worker died mid-attempt and its lease ran out). Returns how many."""
    candidates = overdue(engine, utcnow() - timedelta(seconds=grace))
    lost = jobs.missing(redis, candidates)
    for delivery_id, attempt in lost:
        jobs.enqueue(redis, settings, delivery_id, attempt)
    return len(lost)


def prune(engine: sa.Engine, retention_days: int, chunk: int = 1000) -> int:
    """Delete up to `chunk` deliveries older than the retention (by created_at, the indexed column)."""
    t = webhook_deliveries
    before = utcnow() - timedelta(days=retention_days)
    with engine.begin() as sql:
        ids = [r.id for r in sql.execute(sa.select(t.c.id).where(t.c.created_at < before).limit(chunk))]
        if ids:
            sql.execute(sa.delete(t).where(t.c.id.in_(ids)))
    return len(ids)
