"""Job read models: pages of a queue state at any depth (rows: rows.py; the detail: jobdetail.py).

A page of P jobs costs O(P): LRANGE/ZRANGE for the ids, then one pipelined round trip that reads
the P job hashes (and, for failures, the newest entry of each results stream). Nothing unpickles
outside payloads.py's restricted reader, and nothing writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import redis
from redis.client import Pipeline

from dashboard.rqlayer import keys
from dashboard.rqlayer.decode import epoch, text
from dashboard.rqlayer.rows import ROW_FIELDS, count_or_zero, reply_or, row_from_hash, wrong_type

# Re-exported (`X as X`): views and visibility read the row model and the job-id rule from here.
from dashboard.rqlayer.rows import Failure as Failure
from dashboard.rqlayer.rows import JobRow as JobRow
from dashboard.rqlayer.vocabulary import (
    DEFAULT_PAGE_SIZE,
    FAILURE_STATES,
    STATES,
    job_id_of_execution,
    lookup_queue_name,
)
from dashboard.rqlayer.vocabulary import valid_job_id as valid_job_id


def read_rows(
    connection: redis.Redis,
    job_ids: list[str],
    unsafe: bool = False,
    failures: bool = False,
    run_at_key: str | None = None,
    parents: bool = False,
) -> list[JobRow]:
    """Rows for these ids, in order, in one pipelined round trip. With `failures`, each job's newest
    results-stream entry is read too: RQ 3 keeps the traceback there, not in the job hash. With
    `run_at_key` (a scheduled registry), each job's score there becomes its row's run_at (ZSCORE per id).
    With `parents`, each row names a few of the jobs it waits for (SSCAN of a few + SCARD per id). All in
    the same round trip: O(page)."""
    if not job_ids:
        return []
    pipe = connection.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hmget(keys.job(job_id), ROW_FIELDS)
        if failures:
            pipe.xrevrange(keys.results(job_id), count=1)
    if run_at_key:
        for job_id in job_ids:
            pipe.zscore(run_at_key, job_id)
    if parents:
        for job_id in job_ids:
            pipe.sscan(keys.job_dependencies(job_id), 0, count=PARENTS_IN_ROW)
            pipe.scard(keys.job_dependencies(job_id))
    # Per item: one planted key of the wrong type must not fail the whole page.
    replies = pipe.execute(raise_on_error=False)
    step = 2 if failures else 1
    rows = [
        row_from_hash(job_id, _as_fields(replies[step * i]), replies[step * i + 1] if failures else None, unsafe)
        for i, job_id in enumerate(job_ids)
    ]
    extra = replies[step * len(rows) :]
    if run_at_key:
        rows = [replace(row, run_at=epoch(score)) for row, score in zip(rows, extra, strict=False)]
        extra = extra[len(rows) :]
    if parents:
        rows = [_with_parents(row, extra[2 * i], extra[2 * i + 1]) for i, row in enumerate(rows)]
    return rows


PARENTS_IN_ROW = 3


def _with_parents(row: JobRow, scan: Any, total: Any) -> JobRow:
    """The row with the first few ids of the jobs it waits for (sorted) and how many there are."""
    count = count_or_zero(total)
    if not row.exists or not count:
        return row
    found: tuple[int, list[bytes]] = reply_or(scan, (0, []))
    return replace(row, waits_for=tuple(sorted(text(m) for m in found[1])[:PARENTS_IN_ROW]), waits_for_total=count)


def _as_fields(reply: list[Any] | Exception) -> dict[str, Any] | Exception:
    """HMGET's list as the dict HGETALL would give ({} for a missing hash); an error passes through."""
    if isinstance(reply, Exception):  # wrong_type(reply), spelled so that the type narrows
        return reply
    return {name: value for name, value in zip(ROW_FIELDS, reply, strict=True) if value is not None}


# ---------------------------------------------------------------- pages of a state


@dataclass(frozen=True)
class StatePage:
    queue: str
    state: str
    rows: list[JobRow]
    total: int
    page: int
    size: int
    order: str

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.size + 1 if self.rows else 0


def count_state(connection: redis.Redis, queue: str, state: str) -> int:
    """LLEN/ZCARD: one round trip, O(1). 0 when the key holds another type (a planted or corrupted key
    shows as empty); never raises for that."""
    try:
        if state == "queued":
            return int(connection.llen(keys.queue(queue)))
        return int(connection.zcard(keys.registry(state, queue)))
    except redis.ResponseError:
        return 0


def state_counts(connection: redis.Redis, queue: str) -> dict[str, int]:
    """Every state's count for one queue, in one pipelined round trip (a wrong-type key counts 0)."""
    pipe = connection.pipeline(transaction=False)
    pipe.llen(keys.queue(queue))
    for state in STATES[1:]:
        pipe.zcard(keys.registry(state, queue))
    return dict(zip(STATES, (count_or_zero(n) for n in pipe.execute(raise_on_error=False)), strict=True))


def ids_at(connection: redis.Redis, queue: str, state: str, offset: int, count: int, order: str) -> list[str]:
    """`count` ids from `offset` in the state's natural order ("oldest" first) or reversed.
    One round trip: O(log N + count) for registries; LRANGE, measured flat at any depth, for the queue
    list. A key of another type lists nothing."""
    if count <= 0:
        return []
    try:
        raw = _raw_ids(connection, queue, state, offset, count, order)
    except redis.ResponseError:  # the key holds another type: nothing to list
        return []
    if state == "queued" and order != "oldest":
        raw = list(reversed(raw))
    return _member_ids(raw, state)


def _raw_ids(
    connection: redis.Redis | Pipeline, queue: str, state: str, offset: int, count: int, order: str
) -> list[Any]:
    """The LRANGE/ZRANGE/ZREVRANGE for a window (on a client or a pipeline, whose reply comes from its
    execute: redis-py types both alike). The queue list read newest first comes back oldest first:
    callers reverse it."""
    if state == "queued":
        key = keys.queue(queue)
        if order == "oldest":
            return connection.lrange(key, offset, offset + count - 1)
        return connection.lrange(key, -(offset + count), -(offset + 1))
    key = keys.registry(state, queue)
    if order == "oldest":
        return connection.zrange(key, offset, offset + count - 1)
    return connection.zrevrange(key, offset, offset + count - 1)


def read_state_page(
    connection: redis.Redis,
    queue: str,
    state: str,
    page: int = 1,
    size: int = DEFAULT_PAGE_SIZE,
    order: str = "oldest",
    unsafe: bool = False,
) -> StatePage:
    """Page `page` (1-based) of a queue state; a page past the end is clamped to the last one.

    Cost: two round trips at any depth — the count and the page's ids in one pipeline, then the page's
    hashes in another (a third only when the page asked for is past the end). Never writes."""
    total, raw = _count_and_ids(connection, queue, state, (max(1, page) - 1) * size, size, order)
    pages = max(1, -(-total // size))
    clamped = min(max(1, page), pages)
    if clamped != page and total:
        raw = ids_at(connection, queue, state, (clamped - 1) * size, size, order)
    run_at_key = keys.registry(state, queue) if state == "scheduled" else None
    rows = read_rows(
        connection, raw, unsafe, failures=state in FAILURE_STATES, run_at_key=run_at_key, parents=state == "deferred"
    )
    return StatePage(queue, state, rows, total, clamped, size, order)


def _count_and_ids(
    connection: redis.Redis, queue: str, state: str, offset: int, count: int, order: str
) -> tuple[int, list[str]]:
    """The state's count and `count` ids from `offset`, in one pipelined round trip (a wrong-type key
    reads as empty)."""
    pipe = connection.pipeline(transaction=False)
    if state == "queued":
        pipe.llen(keys.queue(queue))
    else:
        pipe.zcard(keys.registry(state, queue))
    _raw_ids(pipe, queue, state, offset, count, order)
    total, raw = pipe.execute(raise_on_error=False)
    if wrong_type(raw) or wrong_type(total):
        return count_or_zero(total), []
    if state == "queued" and order != "oldest":
        raw = list(reversed(raw))
    return int(total), _member_ids(raw, state)


def _member_ids(raw: list[Any], state: str) -> list[str]:
    ids = [text(member) for member in raw]
    if state == "started":
        ids = [job_id_of_execution(member) for member in ids]
    return ids


# ---------------------------------------------------------------- the failed jobs of all queues


@dataclass(frozen=True)
class FailedPage:
    rows: list[tuple[str, JobRow]]  # (queue, row)
    next_cursor: str | None
    total: int


def list_queue_names(connection: redis.Redis) -> list[str]:
    """Every queue in RQ's queue set, high/default/low first. One SMEMBERS (O(queues)); [] when the set
    holds another type."""
    from dashboard.rqlayer.overview import queue_order

    try:
        members = connection.smembers(keys.queues())
    except redis.ResponseError:  # the queues set holds another type: no queue is known
        return []
    return sorted((keys.queue_name_from_key(text(k)) for k in members), key=queue_order)


def _parse_failed_cursor(cursor: str | None) -> tuple[str, dict[str, int]]:
    """A cursor is "<score>|<queue>=<n>,...": the last score shown and, per queue, how many members
    with exactly that score were shown already (RQ 3 scores in whole seconds, so ties are common)."""
    if not cursor:
        return "+inf", {}
    score, _, rest = cursor.partition("|")
    try:
        value = float(score)
    except ValueError:
        return "+inf", {}
    if not math.isfinite(value):
        return "+inf", {}
    shown: dict[str, int] = {}
    for part in filter(None, rest.split(",")):
        queue, _, count = part.rpartition("=")
        if queue and count.isdigit():
            shown[queue] = int(count)
    return score, shown


@dataclass(frozen=True)
class FailedWindow:
    """The next failures across every queue, newest first, from a cursor (see _parse_failed_cursor)."""

    entries: list[tuple[float, str, str]]  # (score, queue, job id)
    more: bool  # failures follow the entries
    total: int  # failures of every queue (ZCARD sum)
    max_score: str
    shown: dict[str, int]

    def cursor_after(self, count: int) -> str | None:
        """The cursor that continues after the first `count` entries; None when nothing follows them."""
        if count >= len(self.entries) and not self.more:
            return None
        if count <= 0:
            return f"{self.max_score}|" + ",".join(f"{q}={n}" for q, n in sorted(self.shown.items()))
        last_score = self.entries[count - 1][0]
        counts: dict[str, int] = {}
        for score, queue, _ in self.entries[:count]:
            if score == last_score:
                counts[queue] = counts.get(queue, 0) + 1
        if self.max_score != "+inf" and float(self.max_score) == last_score:
            for queue, shown in self.shown.items():
                counts[queue] = counts.get(queue, 0) + shown
        return f"{last_score!r}|" + ",".join(f"{q}={n}" for q, n in sorted(counts.items()))


def failed_window(connection: redis.Redis, queues: list[str], cursor: str | None, size: int) -> FailedWindow:
    """Up to `size` failures after `cursor`, newest first across `queues`, keyset-paginated on the
    registry score: a deep window costs one ZREVRANGEBYSCORE (and ZCARD) per queue, in one pipeline,
    never a walk from the top. One round trip."""
    max_score, shown = _parse_failed_cursor(cursor)
    pipe = connection.pipeline(transaction=False)
    for queue in queues:
        # Members at exactly max_score come first in ZREVRANGEBYSCORE: skip those already shown.
        pipe.zrevrangebyscore(
            keys.registry("failed", queue), max_score, "-inf", start=shown.get(queue, 0), num=size + 1, withscores=True
        )
        pipe.zcard(keys.registry("failed", queue))
    replies = pipe.execute(raise_on_error=False)
    candidates: list[tuple[float, int, int, str, str]] = []
    total = 0
    for index, queue in enumerate(queues):
        total += count_or_zero(replies[2 * index + 1])
        members = [] if wrong_type(replies[2 * index]) else replies[2 * index]
        for position, (member, score) in enumerate(members):
            candidates.append((-score, index, position, queue, text(member)))
    candidates.sort()
    entries = [(-negative, queue, job_id) for negative, _, _, queue, job_id in candidates[:size]]
    return FailedWindow(entries, len(candidates) > size, total, max_score, shown)


def read_failed_across_queues(
    connection: redis.Redis, cursor: str | None = None, size: int = 50, unsafe: bool = False
) -> FailedPage:
    """Newest failures first across every queue, keyset-paginated on the registry score (failed_window),
    the cursor staying small. Cost: three round trips (the queue names; every queue's window and count
    in one pipeline; the rows)."""
    window = failed_window(connection, list_queue_names(connection), cursor, size)
    rows = read_rows(connection, [job_id for *_, job_id in window.entries], unsafe, failures=True)
    next_cursor = window.cursor_after(len(window.entries)) if window.more else None
    rows_by_queue = [(queue, row) for (_, queue, _), row in zip(window.entries, rows, strict=True)]
    return FailedPage(rows_by_queue, next_cursor, window.total)


def job_exists(connection: redis.Redis, job_id: str) -> bool:
    """One EXISTS (none for an id no job can have)."""
    return valid_job_id(job_id) and bool(connection.exists(keys.job(job_id)))


def existing_jobs(connection: redis.Redis, job_ids: list[str]) -> set[str]:
    """Which of these ids still have a job hash (history rows link to the live job only while it exists).
    Cost: one pipelined round trip of EXISTS per id (none for no ids, or ids no job can have); a key per
    command, so it works on Redis Cluster too."""
    candidates = [job_id for job_id in dict.fromkeys(job_ids) if valid_job_id(job_id)]
    if not candidates:
        return set()
    pipe = connection.pipeline(transaction=False)
    for job_id in candidates:
        pipe.exists(keys.job(job_id))
    return {job_id for job_id, found in zip(candidates, pipe.execute(), strict=True) if found}


def worker_exists(connection: redis.Redis, name: str) -> bool:
    """Registered in RQ's workers set (one SISMEMBER); a worker that died uncleanly still is, until RQ's
    clean-up, so commands to it can still say "not listening"."""
    return lookup_queue_name(name) and bool(connection.sismember(keys.workers(), keys.worker(name)))


def queue_exists(connection: redis.Redis, queue: str) -> bool:
    """Known to RQ (in the queues set) or holding anything in its list or a registry. Cost: one SISMEMBER;
    a second, pipelined round trip of counts only for a queue missing from the set."""
    if not lookup_queue_name(queue):
        return False
    try:
        if connection.sismember(keys.queues(), keys.queue(queue)):
            return True
    except redis.ResponseError:  # the queues set holds another type: fall back to the queue's own keys
        pass
    return any(state_counts(connection, queue).values())
