"""The history tables (SQLAlchemy Core: the collector writes thousands of rows a second in bulk).

Times are naive UTC datetimes, like the console's other tables. Durations are integer microseconds.
Every read is by time window with keyset pages on (ended_at, id): each filterable column has an index that
ends in (ended_at, id), so a page costs O(page) at any depth and never needs OFFSET or a count.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# A 64-bit id on PostgreSQL; SQLite only autoincrements INTEGER PRIMARY KEY (which is 64-bit there anyway).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

NAME = 200  # queue, function, worker, job id: longer values are cut by the writer (telemetry.layout.bound)
MESSAGE = 1000
STATUSES = ("finished", "failed", "retried", "stopped", "abandoned")

# One row per execution of a job that ended. (job_id, attempt) is the idempotency key: attempt is the
# execution's started_at in epoch milliseconds (0 when unknown), so a replayed event or the registry sweep
# seeing the same execution again never writes a second row.
job_outcomes = sa.Table(
    "job_outcomes",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(NAME), nullable=False),
    sa.Column("attempt", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("queue", sa.String(NAME), nullable=False),
    sa.Column("function", sa.String(NAME), nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("enqueued_at", sa.DateTime),
    sa.Column("started_at", sa.DateTime),
    sa.Column("ended_at", sa.DateTime, nullable=False),
    sa.Column("wait_us", sa.BigInteger),
    sa.Column("run_us", sa.BigInteger),
    sa.Column("worker", sa.String(NAME), nullable=False, server_default=""),
    sa.Column("exc_type", sa.String(NAME)),
    sa.Column("exc_message", sa.String(MESSAGE)),
    sa.Column("fingerprint", sa.String(32)),
    # "stream": from the worker extension's events; "registry": swept from RQ's registries (stock workers).
    sa.Column("source", sa.String(8), nullable=False, server_default="stream"),
    sa.UniqueConstraint("job_id", "attempt", name="uq_job_outcomes_job_attempt"),
    sa.Index("ix_job_outcomes_ended", "ended_at", "id"),
    sa.Index("ix_job_outcomes_queue", "queue", "ended_at", "id"),
    # "This queue's (this function's) failures", the links other pages make: one exact range each.
    sa.Index("ix_job_outcomes_queue_status", "queue", "status", "ended_at", "id"),
    sa.Index("ix_job_outcomes_function", "function", "ended_at", "id"),
    sa.Index("ix_job_outcomes_function_status", "function", "status", "ended_at", "id"),
    sa.Index("ix_job_outcomes_status", "status", "ended_at", "id"),
    sa.Index("ix_job_outcomes_fingerprint", "fingerprint", "ended_at", "id"),
    sa.Index("ix_job_outcomes_worker", "worker", "ended_at", "id"),
    # One job id's runs, newest first: a schedule's run history (rq-scheduler reuses the job id).
    sa.Index("ix_job_outcomes_job", "job_id", "ended_at", "id"),
)

# The `meta` keys an operator promoted to search attributes (HISTORY_ATTRIBUTES), one row per key and
# outcome; ended_at is copied so a filter on an attribute is a keyset range too.
job_outcome_attributes = sa.Table(
    "job_outcome_attributes",
    metadata,
    sa.Column("outcome_id", BigId, sa.ForeignKey("job_outcomes.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(NAME), nullable=False),
    sa.Column("ended_at", sa.DateTime, nullable=False),
    sa.Index("ix_job_outcome_attributes_lookup", "name", "value", "ended_at", "outcome_id"),
)

# Per-minute ("m") and per-hour ("h") metrics of a series: (queue, function), or the queue's total
# (function = ""). `bucket` is the bucket's start in epoch seconds. The fields mirror the Redis minute
# hashes (telemetry/layout.py); *_buckets are comma-separated histogram counts over layout.RUN_EDGES /
# WAIT_EDGES (+Inf last). depth and oldest_age_s are sampled by the collector on queue totals only.
metric_rollups = sa.Table(
    "metric_rollups",
    metadata,
    sa.Column("resolution", sa.String(1), primary_key=True),
    sa.Column("queue", sa.String(NAME), primary_key=True),
    sa.Column("function", sa.String(NAME), primary_key=True),
    sa.Column("bucket", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("finished", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("failed", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("retried", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("stopped", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("run_sum_us", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("run_max_us", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("run_buckets", sa.String(400), nullable=False, server_default=""),
    sa.Column("wait_sum_us", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("wait_max_us", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("wait_buckets", sa.String(400), nullable=False, server_default=""),
    sa.Column("depth", sa.BigInteger),
    sa.Column("oldest_age_s", sa.Float),
    # "extension": from the worker extension's minute hashes; "registry": counted from swept outcomes.
    sa.Column("source", sa.String(10), nullable=False, server_default="extension"),
    sa.Index("ix_metric_rollups_bucket", "resolution", "bucket"),
)

# Failures grouped by fingerprint (rqlayer/fingerprint.py). status: open | resolved | ignored | regressed;
# a resolved group that fails again after resolved_at becomes regressed.
error_groups = sa.Table(
    "error_groups",
    metadata,
    sa.Column("fingerprint", sa.String(32), primary_key=True),
    sa.Column("exc_type", sa.String(NAME), nullable=False, server_default=""),
    sa.Column("message", sa.String(MESSAGE), nullable=False, server_default=""),
    sa.Column("sample_job_id", sa.String(NAME)),
    sa.Column("sample_traceback", sa.Text),
    sa.Column("first_seen", sa.DateTime, nullable=False),
    sa.Column("last_seen", sa.DateTime, nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("status", sa.String(12), nullable=False, server_default="open"),
    sa.Column("status_changed_at", sa.DateTime),
    sa.Column("status_changed_by", sa.String(72)),
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("regressed_at", sa.DateTime),
    sa.Index("ix_error_groups_last_seen", "last_seen"),
    sa.Index("ix_error_groups_status", "status", "last_seen"),
)

# What an operator wrote about a schedule (its id is the scheduled job's id or the cron entry's name).
schedule_notes = sa.Table(
    "schedule_notes",
    metadata,
    sa.Column("schedule_id", sa.String(NAME), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False, server_default=""),
    sa.Column("description", sa.String(2000), nullable=False, server_default=""),
    sa.Column("updated_at", sa.DateTime),
    sa.Column("updated_by", sa.String(72)),
)
