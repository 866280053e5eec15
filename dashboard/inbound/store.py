"""Reads and writes of the inbound tables. Flask-free: every function takes a SQLAlchemy Connection and
leaves the transaction to its caller (publish.py opens short ones; the page reads in the request's).

Pages are newest first, keyset on (received_at, id) with history.queries' opaque cursor: one indexed SELECT
of size + 1 events, then one SELECT of their jobs — never OFFSET, never a count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from dashboard.history.queries import decode_cursor, encode_cursor
from dashboard.inbound.models import incoming_event_jobs as jobs_table
from dashboard.inbound.models import incoming_events as events

PAGE_SIZE = 25
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class PlannedJob:
    """A job an event starts: its id is chosen before it is enqueued."""

    position: int
    job_id: str
    task: str
    queue: str


@dataclass(frozen=True)
class EventRecord:
    id: int
    name: str
    payload: str  # JSON text
    payload_bytes: int
    digest: str
    actor: str
    source: str
    idempotency_key: str | None
    status: str
    job_count: int
    received_at: datetime
    jobs: tuple[PlannedJob, ...] = ()


@dataclass(frozen=True)
class EventsPage:
    events: list[EventRecord]
    next_cursor: str | None


def insert_event(
    conn: sa.Connection,
    *,
    name: str,
    payload: str,
    digest: str,
    actor: str,
    source: str,
    key: str | None,
    received_at: datetime,
    planned: Iterable[PlannedJob],
) -> int:
    """Write one event (status pending) and its planned jobs; returns its id. Two INSERTs. Raises
    IntegrityError when another event holds `key` (the caller reads that one instead)."""
    planned = list(planned)
    event_id = conn.execute(
        events.insert()
        .values(
            name=name,
            payload=payload,
            payload_bytes=len(payload.encode()),
            digest=digest,
            actor=actor[:72],
            source=source,
            idempotency_key=key,
            status="pending",
            job_count=len(planned),
            received_at=received_at,
        )
        .returning(events.c.id)
    ).scalar_one()
    if planned:
        conn.execute(
            jobs_table.insert(),
            [
                {"event_id": event_id, "position": p.position, "job_id": p.job_id, "task": p.task, "queue": p.queue}
                for p in planned
            ],
        )
    return int(event_id)


def set_status(conn: sa.Connection, event_id: int, status: str) -> None:
    """One UPDATE."""
    conn.execute(events.update().where(events.c.id == event_id).values(status=status))


def release_stale_key(conn: sa.Connection, key: str, now: datetime, hours: int) -> None:
    """Free `key` when its event is older than `hours`, so the key may name a new event. One UPDATE on
    the unique index."""
    conn.execute(
        events.update()
        .where(events.c.idempotency_key == key, events.c.received_at < now - timedelta(hours=hours))
        .values(idempotency_key=None)
    )


def _record(row: sa.Row, jobs: tuple[PlannedJob, ...]) -> EventRecord:
    return EventRecord(
        id=int(row.id),
        name=row.name,
        payload=row.payload,
        payload_bytes=int(row.payload_bytes),
        digest=row.digest,
        actor=row.actor,
        source=row.source,
        idempotency_key=row.idempotency_key,
        status=row.status,
        job_count=int(row.job_count),
        received_at=row.received_at,
        jobs=jobs,
    )


def _jobs_of(conn: sa.Connection, event_ids: list[int]) -> dict[int, tuple[PlannedJob, ...]]:
    found: dict[int, list[PlannedJob]] = {i: [] for i in event_ids}
    if event_ids:
        query = (
            sa.select(jobs_table)
            .where(jobs_table.c.event_id.in_(event_ids))
            .order_by(jobs_table.c.event_id, jobs_table.c.position)
        )
        for row in conn.execute(query):
            found[int(row.event_id)].append(PlannedJob(int(row.position), row.job_id, row.task, row.queue))
    return {i: tuple(js) for i, js in found.items()}


def by_key(conn: sa.Connection, key: str) -> EventRecord | None:
    """The event holding idempotency `key`, with its jobs. Two indexed SELECTs."""
    row = conn.execute(sa.select(events).where(events.c.idempotency_key == key)).first()
    return None if row is None else _record(row, _jobs_of(conn, [int(row.id)])[int(row.id)])


def get(conn: sa.Connection, event_id: int) -> EventRecord | None:
    """One event with its jobs, or None. Two SELECTs by primary key."""
    row = conn.execute(sa.select(events).where(events.c.id == event_id)).first()
    return None if row is None else _record(row, _jobs_of(conn, [event_id])[event_id])


def recent(conn: sa.Connection, after: str | None = None, size: int = PAGE_SIZE, name: str = "") -> EventsPage:
    """Events newest first after the cursor `after` (history.queries.BadQuery for an edited one),
    optionally of one `name`, each with its jobs. Cost: one indexed SELECT of size + 1 rows, one SELECT
    of their jobs."""
    query = sa.select(events).order_by(events.c.received_at.desc(), events.c.id.desc()).limit(size + 1)
    if name:
        query = query.where(events.c.name == name)
    if after:
        at, event_id = decode_cursor(after)
        bound = sa.tuple_(sa.literal(at, sa.DateTime()), sa.literal(event_id, sa.BigInteger()))
        query = query.where(sa.tuple_(events.c.received_at, events.c.id) < bound)
    rows = list(conn.execute(query))
    more = len(rows) > size
    rows = rows[:size]
    jobs = _jobs_of(conn, [int(r.id) for r in rows])
    found = [_record(r, jobs[int(r.id)]) for r in rows]
    cursor = encode_cursor(found[-1].received_at, found[-1].id) if more and found else None
    return EventsPage(found, cursor)


def any_events(conn: sa.Connection) -> bool:
    """Whether any event was ever recorded (the page's first-run empty state). One SELECT of one row."""
    return conn.execute(sa.select(events.c.id).limit(1)).first() is not None
