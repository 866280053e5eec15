"""The inbound tables (SQLAlchemy Core on their own metadata, like dashboard/history/models.py: the RQ jobs and
processes that write them run without a Flask app). Times are naive UTC datetimes.

Every read is newest first with keyset pages on (received_at, id): each filterable column has an index that
ends in (received_at, id), so a page costs O(page) at any depth and never needs OFFSET or a count.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# A 64-bit id on PostgreSQL; SQLite only autoincrements INTEGER PRIMARY KEY (which is 64-bit there anyway).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

NAME = 200  # task, queue, job id: as in the history tables
EVENT_NAME = 100  # tasks.registry.EVENT_NAME_MAX
KEY = 200  # an idempotency key
SOURCES = ("api", "console")
# pending: rows written, jobs being enqueued; published: every job enqueued; incomplete: Redis failed
# part-way (publishing again with the same idempotency key enqueues the jobs still missing).
STATUSES = ("pending", "published", "incomplete")

# One row per event accepted. `payload` is the JSON text as received (at most publish.MAX_PAYLOAD_BYTES);
# `digest` (sha256 of name and canonical payload) tells a retry of the same event from another event
# sent with a reused idempotency key. A key is released 24 h after its event (publish.KEY_HOURS).
incoming_events = sa.Table(
    "incoming_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(EVENT_NAME), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("payload_bytes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(72), nullable=False),
    sa.Column("source", sa.String(8), nullable=False),
    sa.Column("idempotency_key", sa.String(KEY)),
    sa.Column("status", sa.String(12), nullable=False, server_default="pending"),
    sa.Column("job_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("idempotency_key", name="uq_incoming_events_key"),
    sa.Index("ix_incoming_events_received", "received_at", "id"),
    sa.Index("ix_incoming_events_name", "name", "received_at", "id"),
)

# One row per job an event started, in subscriber order. The job id is chosen before the job is
# enqueued, so a retry after a partial failure knows which jobs to look for.
incoming_event_jobs = sa.Table(
    "incoming_event_jobs",
    metadata,
    sa.Column("event_id", BigId, sa.ForeignKey("incoming_events.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("job_id", sa.String(NAME), nullable=False),
    sa.Column("task", sa.String(NAME), nullable=False),
    sa.Column("queue", sa.String(NAME), nullable=False),
    sa.Index("ix_incoming_event_jobs_job", "job_id"),
)
