"""Filtering, grouping and exporting big registries without blocking Redis or the web process.

Everything here walks a state in bounded chunks (ids by offset, then one pipelined read per chunk)
under a time budget, and says how far it got, so the caller can continue from there.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC

import redis

from dashboard.rqlayer.jobs import FAILURE_STATES, JobRow, count_state, ids_at, list_queue_names, read_rows

CHUNK = 500
DEFAULT_BUDGET_SECONDS = 0.25


@dataclass(frozen=True)
class JobFilter:
    func: str = ""
    exc: str = ""
    args: str = ""

    @property
    def active(self) -> bool:
        return bool(self.func or self.exc or self.args)

    def matches(self, row: JobRow) -> bool:
        if not row.exists:
            return False
        if self.func and self.func.lower() not in row.func_name.lower():
            return False
        if self.exc:
            failure = row.failure
            haystack = f"{failure.exc_type}: {failure.message}".lower() if failure else ""
            if self.exc.lower() not in haystack:
                return False
        if self.args and self.args.lower() not in row.args_preview.lower():
            return False
        return True

    def as_params(self) -> dict[str, str]:
        return {k: v for k, v in (("func", self.func), ("exc", self.exc), ("args", self.args)) if v}


@dataclass(frozen=True)
class ScanResult:
    rows: list[JobRow]
    scanned_from: int
    next_offset: int
    total: int
    done: bool

    @property
    def scanned(self) -> int:
        return self.next_offset


def scan_state(connection: redis.Redis, queue: str, state: str, job_filter: JobFilter, offset: int = 0,
               order: str = "oldest", max_rows: int = 50, budget_seconds: float = DEFAULT_BUDGET_SECONDS,
               unsafe: bool = False) -> ScanResult:
    """Matching rows from `offset` on, until `max_rows` matched, the budget ran out or the state
    ended. Redis sees one short LRANGE/ZRANGE and one pipelined read per chunk of CHUNK ids."""
    total = count_state(connection, queue, state)
    deadline = time.monotonic() + budget_seconds
    rows: list[JobRow] = []
    position = max(0, offset)
    while position < total and len(rows) < max_rows:
        ids = ids_at(connection, queue, state, position, CHUNK, order)
        if not ids:
            break
        for index, row in enumerate(read_rows(connection, ids, unsafe, failures=state in FAILURE_STATES)):
            if job_filter.matches(row):
                rows.append(row)
                if len(rows) >= max_rows:
                    position += index + 1
                    break
        else:
            position += len(ids)
        if time.monotonic() > deadline:
            break
    return ScanResult(rows, offset, position, total, position >= total)


def iter_state(connection: redis.Redis, queue: str, state: str, job_filter: JobFilter, order: str = "oldest",
               unsafe: bool = False, chunk: int = 1000) -> Iterator[JobRow]:
    """Every matching row of a state, chunk by chunk: memory stays bounded for any size (export)."""
    position = 0
    while True:
        ids = ids_at(connection, queue, state, position, chunk, order)
        if not ids:
            return
        for row in read_rows(connection, ids, unsafe, failures=state in FAILURE_STATES):
            if not job_filter.active or job_filter.matches(row):
                yield row
        position += len(ids)


@dataclass
class Group:
    key: str
    count: int = 0
    newest_id: str = ""
    newest_queue: str = ""
    newest_message: str = ""


@dataclass
class FailureGroups:
    by_exception: list[Group] = field(default_factory=list)
    by_function: list[Group] = field(default_factory=list)
    scanned: int = 0
    total: int = 0
    complete: bool = True


def group_failures(connection: redis.Redis, window_seconds: float | None, budget_seconds: float = 0.3,
                   max_jobs: int = 10_000, unsafe: bool = False) -> FailureGroups:
    """Failures of every queue grouped by exception type and by function, newest first, within the
    window (None: all time), bounded by a time budget and a job count; says how much it covered."""
    from datetime import datetime

    now = datetime.now(UTC)
    deadline = time.monotonic() + budget_seconds
    by_exc: dict[str, Group] = {}
    by_func: dict[str, Group] = {}
    result = FailureGroups()
    queues = list_queue_names(connection)
    totals = {queue: count_state(connection, queue, "failed") for queue in queues}
    result.total = sum(totals.values())
    for queue in queues:
        position = 0
        while position < totals[queue]:
            if time.monotonic() > deadline or result.scanned >= max_jobs:
                result.complete = False
                break
            ids = ids_at(connection, queue, "failed", position, CHUNK, "newest")
            if not ids:
                break
            position += len(ids)
            result.scanned += len(ids)
            for row in read_rows(connection, ids, unsafe, failures=True):
                if not row.exists:
                    continue
                age = (now - row.ended_at).total_seconds() if row.ended_at else 0
                if window_seconds is not None and age > window_seconds:
                    continue
                exc_key = row.failure.exc_type if row.failure else "(no traceback)"
                message = row.failure.message if row.failure else ""
                for groups, key in ((by_exc, exc_key), (by_func, row.func_name or "(unknown)")):
                    group = groups.setdefault(key, Group(key))
                    group.count += 1
                    if not group.newest_id:
                        group.newest_id, group.newest_queue, group.newest_message = row.id, queue, message
    result.by_exception = sorted(by_exc.values(), key=lambda g: (-g.count, g.key))
    result.by_function = sorted(by_func.values(), key=lambda g: (-g.count, g.key))
    return result
