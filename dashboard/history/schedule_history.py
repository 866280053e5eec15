"""A schedule's run history from SQL (job_outcomes), newest first, keyset-paged on (ended_at, id).

Which outcomes are a schedule's runs is the RQ layer's knowledge (rqlayer/schedules/entry.py): the one
job id of an rq-scheduler schedule (it re-enqueues the same id), or the ids RQ 3 recorded for an `rq cron`
entry (a new job per run, at most 1,000 kept). This module takes those ids and reads their outcomes.

Cost of a page: one indexed query, `job_id IN (ids) [AND (ended_at, id) < cursor] ORDER BY ended_at DESC,
id DESC LIMIT size + 1`. Each id is found through the unique (job_id, attempt) index; the rows of those ids
are then sorted, so a page costs O(outcomes of these ids): for an rq-scheduler schedule that ran 100,000
times, every page reads them all unless an index on (job_id, ended_at, id) exists (proposed for the
migration; with it a page is O(size)). For rq cron entries at most 1,000 ids, each with its attempts.
Never OFFSET, never a count. Rows, cursors and columns are the history page's (history/queries.py), so a
run renders like a row of /history and its cursor is validated the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from dashboard.history import queries
from dashboard.history.models import job_outcomes
from dashboard.history.queries import OutcomeRow

PAGE_SIZE = 25


@dataclass(frozen=True)
class RunPage:
    runs: list[OutcomeRow]  # newest first
    next_cursor: str | None  # the page after this one (older runs), None on the last page
    upper: datetime | None  # the fire time of the run just before this page (the cursor's), None on the first


def fired_at(row: OutcomeRow) -> datetime:
    """When the scheduler fired a run, aware UTC: its enqueue time (a scheduler enqueues a run once it is
    due), else its start, else its end."""
    moment = row.enqueued_at or row.started_at or row.ended_at
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def run_page(conn: sa.Connection, job_ids: Sequence[str], after: str | None = None, size: int = PAGE_SIZE) -> RunPage:
    """The outcomes of these job ids, newest first, the page after `after` (a history cursor:
    queries.BadQuery, a ValueError, when it is not one). Cost: see the module docstring; a later page
    adds one primary-key lookup (the cursor's row, for its fire time)."""
    if not 1 <= size <= queries.MAX_PAGE_SIZE:
        raise queries.BadQuery(f"size must be between 1 and {queries.MAX_PAGE_SIZE}")
    t = job_outcomes
    position = queries.decode_cursor(after) if after else None
    if not job_ids:
        return RunPage([], None, None)
    ids = sorted(set(job_ids))
    query = sa.select(*queries._COLUMNS).where(t.c.job_id == ids[0] if len(ids) == 1 else t.c.job_id.in_(ids))
    upper = None
    if position:
        bound = sa.tuple_(sa.literal(position[0], sa.DateTime()), sa.literal(position[1], sa.BigInteger()))
        query = query.where(sa.tuple_(t.c.ended_at, t.c.id) < bound)
        before = conn.execute(
            sa.select(t.c.enqueued_at, t.c.started_at, t.c.ended_at).where(t.c.id == position[1])
        ).first()
        moment = (before.enqueued_at or before.started_at or before.ended_at) if before else position[0]
        upper = moment.replace(tzinfo=UTC)
    rows = [queries._row(r) for r in conn.execute(query.order_by(t.c.ended_at.desc(), t.c.id.desc()).limit(size + 1))]
    more = len(rows) > size
    rows = rows[:size]
    return RunPage(rows, queries.encode_cursor(rows[-1].ended_at, rows[-1].outcome_id) if more else None, upper)
