"""Error groups from newly inserted failures, in the same transaction as the outcomes (writer side; the
pages' reads are in error_groups.py).

One upsert per fingerprint of the batch (sorted, so two writers lock groups in one order): count += n,
first_seen / last_seen widened, the sample is the newest failure, and a "resolved" group that gets a
failure that ended after resolved_at becomes "regressed" (regressed_at = that failure's end). "ignored"
stays ignored, "open" and "regressed" stay as they are. Only outcomes that were really inserted may be
passed: a replay must not bump counts. The group's message is the normalised message (its title).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from dashboard.history.models import MESSAGE, NAME, error_groups
from dashboard.history.outcomes import dialect_insert, naive_utc
from dashboard.rqlayer.fingerprint import normalise_message
from dashboard.rqlayer.telemetry.outcome import Outcome


def _rows(failures: Sequence[Outcome]) -> list[dict[str, object]]:
    groups: dict[str, dict[str, object]] = {}
    for outcome in sorted(failures, key=lambda o: o.ended_ms):
        if not outcome.fingerprint:
            continue
        ended = naive_utc(outcome.ended_ms)
        row = groups.get(outcome.fingerprint)
        if row is None:
            row = groups[outcome.fingerprint] = {
                "fingerprint": outcome.fingerprint,
                "exc_type": (outcome.exc_type or "")[:NAME],
                "message": normalise_message(outcome.exc_message or "")[:MESSAGE],
                "first_seen": ended,
                "count": 0,
                "status": "open",
            }
        row["count"] = int(row["count"]) + 1  # type: ignore[call-overload]
        row["last_seen"] = ended
        row["sample_job_id"] = outcome.job_id[:NAME]
        row["sample_traceback"] = outcome.traceback
    return [groups[key] for key in sorted(groups)]


def upsert_groups(connection: sa.Connection, failures: Sequence[Outcome]) -> int:
    """Count newly inserted failures into their groups (creating groups as needed); returns the number of
    groups touched. One INSERT ... ON CONFLICT DO UPDATE per group."""
    rows = _rows(failures)
    if not rows:
        return 0
    g = error_groups
    insert = dialect_insert(connection, g)
    new = insert.excluded
    regress = sa.and_(g.c.status == "resolved", sa.or_(g.c.resolved_at.is_(None), new.last_seen > g.c.resolved_at))
    newer = new.last_seen >= g.c.last_seen
    statement = insert.on_conflict_do_update(
        index_elements=[g.c.fingerprint],
        set_={
            "count": g.c.count + new.count,
            "first_seen": sa.case((new.first_seen < g.c.first_seen, new.first_seen), else_=g.c.first_seen),
            "last_seen": sa.case((newer, new.last_seen), else_=g.c.last_seen),
            "sample_job_id": sa.case((newer, new.sample_job_id), else_=g.c.sample_job_id),
            "sample_traceback": sa.case((newer, new.sample_traceback), else_=g.c.sample_traceback),
            "status": sa.case((regress, "regressed"), else_=g.c.status),
            "regressed_at": sa.case((regress, new.last_seen), else_=g.c.regressed_at),
            "status_changed_at": sa.case((regress, new.last_seen), else_=g.c.status_changed_at),
        },
    )
    for row in rows:
        connection.execute(statement, row)
    return len(rows)
