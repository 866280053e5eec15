"""The failures of every queue filtered (a failure group, or what an operator typed): a page of matches
and their count, walked newest first in bounded chunks under a time budget, continuing from a cursor.

The walk uses the dead-letter view's keyset cursor (jobs.failed_window), so continuing costs the same at
any depth, and matching is JobFilter.matches on the same rows the lists show: the count, the page and a
bulk retry of the same filter agree on which jobs match. Nothing here writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from dashboard.rqlayer.jobs import failed_window, list_queue_names, read_rows
from dashboard.rqlayer.rows import JobRow
from dashboard.rqlayer.search import JobFilter
from dashboard.rqlayer.vocabulary import SCAN_CHUNK

LIST_BUDGET_SECONDS = 0.25
COUNT_BUDGET_SECONDS = 1.0
# An exact count for a confirmation (retry a group): longer, still bounded; past it the count says so.
EXACT_COUNT_BUDGET_SECONDS = 5.0


@dataclass(frozen=True)
class FailedMatches:
    """What one bounded walk found: `rows` (queue, row) when rows were kept, `matched` in all, over
    `scanned` failures from the cursor; `next_cursor` continues it (None: it reached the end, `done`)."""

    rows: list[tuple[str, JobRow]]
    matched: int
    scanned: int
    total: int  # failures of every queue when it walked
    next_cursor: str | None

    @property
    def done(self) -> bool:
        return self.next_cursor is None


def scan_failed(
    connection: redis.Redis,
    job_filter: JobFilter,
    cursor: str | None = None,
    max_rows: int | None = 50,
    budget_seconds: float = LIST_BUDGET_SECONDS,
    keep_rows: bool = True,
    unsafe: bool = False,
) -> FailedMatches:
    """Matching failures of every queue, newest first, from `cursor` until `max_rows` matched (None: no
    limit), the budget ran out or the failures ended. Cost per chunk of SCAN_CHUNK failures: one
    pipelined window over the failed registries (ZREVRANGEBYSCORE + ZCARD per queue) and one pipelined
    read of the rows; the first chunk always runs, so every call makes progress."""
    deadline = time.monotonic() + budget_seconds
    queues = list_queue_names(connection)
    kept: list[tuple[str, JobRow]] = []
    matched = scanned = total = 0
    while True:
        window = failed_window(connection, queues, cursor, SCAN_CHUNK)
        total = window.total
        rows = read_rows(connection, [job_id for *_, job_id in window.entries], unsafe, failures=True)
        for index, ((_, queue, _), row) in enumerate(zip(window.entries, rows, strict=True)):
            if not job_filter.matches(row):
                continue
            matched += 1
            if keep_rows:
                kept.append((queue, row))
            if max_rows is not None and matched >= max_rows:
                return FailedMatches(kept, matched, scanned + index + 1, total, window.cursor_after(index + 1))
        scanned += len(window.entries)
        cursor = window.cursor_after(len(window.entries))
        if cursor is None or time.monotonic() > deadline:
            return FailedMatches(kept, matched, scanned, total, cursor)


def count_failed(
    connection: redis.Redis,
    job_filter: JobFilter,
    cursor: str | None = None,
    budget_seconds: float = COUNT_BUDGET_SECONDS,
    unsafe: bool = False,
) -> FailedMatches:
    """How many failures of every queue match, from `cursor`, within the budget (no rows kept). When
    `done`, `matched` is the exact count as walked (a chunk at a time: a job moved meanwhile may be
    counted where it was); else it is a lower bound and `next_cursor` continues the count."""
    return scan_failed(
        connection, job_filter, cursor, max_rows=None, budget_seconds=budget_seconds, keep_rows=False, unsafe=unsafe
    )
