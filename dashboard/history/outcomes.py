"""Writing job outcomes to SQL: a batch in the caller's transaction, idempotent on (job_id, attempt).

INSERT ... ON CONFLICT (job_id, attempt) DO NOTHING RETURNING: only the rows really inserted come back, so a
replayed batch inserts nothing and the caller counts (error groups, registry rollups) only what is new.
PostgreSQL: one INSERT ... SELECT FROM unnest(<one array per column>) per batch; SQLite (>= 3.35): the
dialect insert as multi-row VALUES. Promoted attributes go to job_outcome_attributes for the inserted rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from dashboard.history.models import MESSAGE, NAME, job_outcome_attributes, job_outcomes
from dashboard.history.retention import prune_older
from dashboard.rqlayer.telemetry.outcome import Outcome

_EPOCH = datetime(1970, 1, 1)


def naive_utc(ms: int | None) -> datetime | None:
    """Epoch milliseconds as the naive UTC datetime the console's tables store."""
    return None if ms is None else _EPOCH + timedelta(milliseconds=ms)


def dialect_insert(connection: sa.Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT (for ON CONFLICT): PostgreSQL's or SQLite's."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# Every column but the id, in the table's order (PG_INSERT names them in the same order).
COLUMNS: tuple[str, ...] = tuple(c.name for c in job_outcomes.c if c.name != "id")
PG_INSERT = sa.text("""
INSERT INTO job_outcomes (job_id, attempt, queue, "function", status, enqueued_at, started_at, ended_at, wait_us,
                          run_us, worker, exc_type, exc_message, fingerprint, source)
SELECT * FROM unnest(
    CAST(:job_id AS varchar[]), CAST(:attempt AS bigint[]), CAST(:queue AS varchar[]),
    CAST(:function AS varchar[]), CAST(:status AS varchar[]), CAST(:enqueued_at AS timestamp[]),
    CAST(:started_at AS timestamp[]), CAST(:ended_at AS timestamp[]), CAST(:wait_us AS bigint[]),
    CAST(:run_us AS bigint[]), CAST(:worker AS varchar[]), CAST(:exc_type AS varchar[]),
    CAST(:exc_message AS varchar[]), CAST(:fingerprint AS varchar[]), CAST(:source AS varchar[]))
ON CONFLICT (job_id, attempt) DO NOTHING
RETURNING id, job_id, attempt
""")


def _row(outcome: Outcome) -> dict[str, object]:
    return {
        "job_id": outcome.job_id[:NAME],
        "attempt": outcome.attempt,
        "queue": outcome.queue[:NAME],
        "function": outcome.function[:NAME],
        "status": outcome.status,
        "enqueued_at": naive_utc(outcome.enqueued_ms),
        "started_at": naive_utc(outcome.started_ms),
        "ended_at": naive_utc(outcome.ended_ms),
        "wait_us": outcome.wait_us,
        "run_us": outcome.run_us,
        "worker": outcome.worker[:NAME],
        "exc_type": outcome.exc_type[:NAME] if outcome.exc_type else None,
        "exc_message": outcome.exc_message[:MESSAGE] if outcome.exc_message is not None else None,
        "fingerprint": outcome.fingerprint,
        "source": outcome.source,
    }


def write_outcomes(connection: sa.Connection, outcomes: Sequence[Outcome]) -> list[Outcome]:
    """Insert the outcomes not in SQL yet (and their attributes), in the caller's transaction; returns the
    ones inserted. Duplicates inside the batch count once."""
    unique: dict[tuple[str, int], Outcome] = {}
    for outcome in outcomes:
        unique.setdefault((outcome.job_id[:NAME], outcome.attempt), outcome)
    if not unique:
        return []
    rows = [_row(o) for o in unique.values()]
    if connection.dialect.name == "postgresql":
        # One statement of COLUMNS arrays: its text never changes (psycopg and the server parse it once),
        # where a multi-row VALUES of thousands of parameters costs more to parse than to run.
        result = connection.execute(PG_INSERT, {name: [row[name] for row in rows] for name in COLUMNS})
    else:
        t = job_outcomes
        statement = (
            dialect_insert(connection, t)
            .on_conflict_do_nothing(index_elements=[t.c.job_id, t.c.attempt])
            .returning(t.c.id, t.c.job_id, t.c.attempt)
        )
        result = connection.execute(statement, rows)
    inserted = [(row.id, unique[(row.job_id, row.attempt)]) for row in result]
    attributes = [
        {"outcome_id": outcome_id, "name": name, "value": value, "ended_at": naive_utc(outcome.ended_ms)}
        for outcome_id, outcome in inserted
        for name, value in outcome.attributes.items()
    ]
    if attributes:
        connection.execute(sa.insert(job_outcome_attributes), attributes)
    return [outcome for _, outcome in inserted]


def prune_outcomes(connection: sa.Connection, before: datetime, chunk: int = 5000) -> int:
    """Delete up to `chunk` outcomes that ended before `before` (oldest first) and their attributes.
    Uses ix_job_outcomes_ended."""
    return prune_older(
        connection, job_outcomes, job_outcomes.c.ended_at, before, chunk, (job_outcome_attributes.c.outcome_id,)
    )
