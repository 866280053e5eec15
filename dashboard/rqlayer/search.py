"""Filtering, grouping and exporting big registries without blocking Redis or the web process.

Everything here walks a state in bounded chunks (ids by offset, then one pipelined read per chunk)
under a time budget, and says how far it got, so the caller can continue from there.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from dashboard.rqlayer import keys
from dashboard.rqlayer.decode import text, timestamp
from dashboard.rqlayer.errors import InvalidInput
from dashboard.rqlayer.fingerprint import NO_TRACEBACK_FINGERPRINT, NO_TRACEBACK_TYPE, fingerprint_of_frames
from dashboard.rqlayer.jobs import count_state, ids_at, list_queue_names, read_rows
from dashboard.rqlayer.payloads import func_name_of
from dashboard.rqlayer.readcache import ReadCache
from dashboard.rqlayer.rows import FAILURE_ROW_STATUSES, Failure, JobRow, name_from_description
from dashboard.rqlayer.tracebacks import latest_traceback
from dashboard.rqlayer.vocabulary import BULK_CHUNK, DEFAULT_PAGE_SIZE, FAILURE_STATES, SCAN_CHUNK

CHUNK = SCAN_CHUNK
DEFAULT_BUDGET_SECONDS = 0.25


# How a text filter matches: "is" compares the whole key a failure group is made of (the exception
# type, the function's dotted name) exactly, case-sensitively; "contains" looks for the text anywhere,
# ignoring case (the exception filter then searches "Type: message").
MATCH_MODES = ("contains", "is")
NO_TRACEBACK = NO_TRACEBACK_TYPE  # the exception group of a failure without a readable traceback
UNKNOWN_FUNCTION = "(unknown)"  # the function group of a job whose function name cannot be read


def exception_key(row: JobRow) -> str:
    """The exception group a row belongs to: its exception type, or NO_TRACEBACK."""
    return row.failure.exc_type if row.failure else NO_TRACEBACK


def fingerprint_key(row: JobRow) -> str:
    """The error group (fingerprint.py) a failed row belongs to; NO_TRACEBACK_FINGERPRINT without a traceback."""
    failure = row.failure
    if failure is None:
        return NO_TRACEBACK_FINGERPRINT
    return fingerprint_of_frames(failure.exc_type, failure.message, failure.frames)


def function_key(row: JobRow) -> str:
    """The function group a row belongs to: its function's dotted name, or UNKNOWN_FUNCTION."""
    return row.func_name or UNKNOWN_FUNCTION


@dataclass(frozen=True)
class JobFilter:
    """Which rows a list shows or a bulk action takes. `func_match` / `exc_match` are MATCH_MODES;
    `ended_after` (epoch seconds, failure windows) keeps only jobs that ended at or after it (a job
    without an end time stays, as failure groups count it). `fingerprint` (32 hex digits) keeps only the
    failures of that error group (/errors)."""

    func: str = ""
    exc: str = ""
    args: str = ""
    func_match: str = "contains"
    exc_match: str = "contains"
    ended_after: float | None = None
    fingerprint: str = ""
    # A replay's id and the job ids it retried (rqlayer/replay.py): "touched by this operation".
    op: str = ""
    touched: frozenset[str] | None = None

    def __post_init__(self) -> None:
        for mode in (self.func_match, self.exc_match):
            if mode not in MATCH_MODES:
                raise InvalidInput(f"a filter matches with one of {', '.join(MATCH_MODES)}, not {mode[:20]!r}")

    @property
    def active(self) -> bool:
        return bool(self.func or self.exc or self.args or self.fingerprint or self.ended_after is not None or self.op)

    def matches(self, row: JobRow) -> bool:
        return self.matches_group(row) and self.matches_text(row)

    def matches_group(self, row: JobRow) -> bool:
        """The error-group part alone (VisibleFilter matches it on the whole row: a group's fingerprint
        is shown to every role, as an identity, while the texts are matched as the role sees them)."""
        return row.exists and (not self.fingerprint or fingerprint_key(row) == self.fingerprint)

    def matches_text(self, row: JobRow) -> bool:
        """Every part but the error group."""
        if not row.exists or (self.op and row.id not in (self.touched or ())):
            return False
        if self.func and not _matches(self.func, self.func_match, function_key(row), row.func_name):
            return False
        if self.exc:
            failure = row.failure
            haystack = f"{failure.exc_type}: {failure.message}" if failure else ""
            if not _matches(self.exc, self.exc_match, exception_key(row), haystack):
                return False
        if self.ended_after is not None and row.ended_at and row.ended_at.timestamp() < self.ended_after:
            return False
        return not self.args or self.args.lower() in row.args_preview.lower()

    def as_params(self) -> dict[str, str]:
        """The filter as URL / form parameters (the window is the caller's: it has a name there)."""
        pairs = (
            ("func", self.func),
            ("exc", self.exc),
            ("args", self.args),
            ("fingerprint", self.fingerprint),
            ("op", self.op),
        )
        params = {k: v for k, v in pairs if v}
        if self.func and self.func_match != "contains":
            params["func_match"] = self.func_match
        if self.exc and self.exc_match != "contains":
            params["exc_match"] = self.exc_match
        return params

    def describe(self) -> str:
        """In words: "exception is 'ValueError', function contains 'send'" ("" when it takes all)."""
        parts = [
            f"{label} {mode} {value!r}"
            for label, mode, value in (
                ("function", self.func_match, self.func),
                ("exception", self.exc_match, self.exc),
                ("arguments", "contain", self.args),
                ("error group", "is", self.fingerprint),
                ("touched by", "operation", self.op),
            )
            if value
        ]
        return ", ".join(parts)


def _matches(wanted: str, mode: str, key: str, haystack: str) -> bool:
    return key == wanted if mode == "is" else wanted.lower() in haystack.lower()


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


def scan_state(
    connection: redis.Redis,
    queue: str,
    state: str,
    job_filter: JobFilter,
    offset: int = 0,
    order: str = "oldest",
    max_rows: int = DEFAULT_PAGE_SIZE,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    unsafe: bool = False,
) -> ScanResult:
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


def iter_state(
    connection: redis.Redis,
    queue: str,
    state: str,
    job_filter: JobFilter,
    order: str = "oldest",
    unsafe: bool = False,
    chunk: int = BULK_CHUNK,
) -> Iterator[JobRow]:
    """Every matching row of a state, chunk by chunk: memory stays bounded for any size (export).
    Cost: two round trips per `chunk` ids (the window, then its rows); ids added after the count are
    not walked into. Never writes."""
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
    computed_at: float = 0.0  # epoch seconds; 0 when computed for this request


def group_failures(
    connection: redis.Redis,
    window_seconds: float | None,
    budget_seconds: float = 0.3,
    max_jobs: int = 10_000,
    unsafe: bool = False,
) -> FailureGroups:
    """Failures of every queue grouped by exception type and by function, newest first, within the
    window (None: all time), bounded by a time budget and a job count; says how much it covered.
    Reads only what grouping needs per job (HMGET of ended_at/exc_info/data, and the newest results
    entry for RQ 3's tracebacks) and never decodes arguments: the function name is the data's first
    text constant. `unsafe` is accepted for symmetry and unused: nothing here unpickles."""
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
            for job_id, fields, latest in _group_fields(connection, ids):
                ended = timestamp(fields[0])
                age = (now - ended).total_seconds() if ended else 0
                if window_seconds is not None and age > window_seconds:
                    continue
                # The same keys as a row's (exception_key, function_key): a group's link filters exactly it.
                failure = _failure(fields[1], latest) if text(fields[3]) in FAILURE_ROW_STATUSES else None
                exc_key = failure.exc_type if failure else NO_TRACEBACK
                message = failure.message if failure else ""
                func_key = func_name_of(fields[2]) or name_from_description(text(fields[4])) or UNKNOWN_FUNCTION
                for groups, key in ((by_exc, exc_key), (by_func, func_key)):
                    group = groups.setdefault(key, Group(key))
                    group.count += 1
                    if not group.newest_id:
                        group.newest_id, group.newest_queue, group.newest_message = job_id, queue, message[:300]
    result.by_exception = sorted(by_exc.values(), key=lambda g: (-g.count, g.key))
    result.by_function = sorted(by_func.values(), key=lambda g: (-g.count, g.key))
    return result


def _group_fields(
    connection: redis.Redis, ids: list[str]
) -> Iterator[tuple[str, list[bytes | None], list[Any] | None]]:
    """(id, [ended_at, exc_info, data, status, description], newest results entry) for each existing job,
    one round trip;
    a key of another type or an expired job is skipped."""
    pipe = connection.pipeline(transaction=False)
    for job_id in ids:
        pipe.hmget(keys.job(job_id), "ended_at", "exc_info", "data", "status", "description")
        pipe.xrevrange(keys.results(job_id), count=1)
    replies = pipe.execute(raise_on_error=False)
    for index, job_id in enumerate(ids):
        fields, latest = replies[2 * index], replies[2 * index + 1]
        if isinstance(fields, Exception) or not any(value is not None for value in fields):
            continue
        yield job_id, fields, None if isinstance(latest, Exception) else latest


def _failure(exc_info: bytes | None, latest: list[Any] | None) -> Failure | None:
    try:
        tb = latest_traceback(exc_info, latest)
        return Failure.from_traceback(tb) if tb else None
    except (ValueError, TypeError, AttributeError, IndexError):
        return None


GROUPS_CACHE_SECONDS = 15
# Keyed by (which Redis, which key prefix, window name). Single flight: when the answer expires, one
# thread recomputes it while the process's other requests for it wait for that answer.
_groups_cache: ReadCache[FailureGroups] = ReadCache(GROUPS_CACHE_SECONDS)


def cached_failure_groups(connection: redis.Redis, window: str, window_seconds: float | None) -> FailureGroups:
    """group_failures for a named window, computed at most once per GROUPS_CACHE_SECONDS per console
    process however many requests ask (kept in this process's memory, so reading the page never writes to
    Redis): a cached answer costs nothing in Redis. Counts may lag by up to that; the fragment says when
    they were computed."""

    def compute() -> FailureGroups:
        groups = group_failures(connection, window_seconds)
        groups.computed_at = time.time()
        return groups

    return _groups_cache.get((_server_identity(connection), window), compute)


def _server_identity(connection: redis.Redis) -> tuple[Hashable, ...]:
    kwargs: dict[str, Any] = connection.connection_pool.connection_kwargs
    return kwargs.get("host"), kwargs.get("port"), kwargs.get("path"), kwargs.get("db"), keys.PREFIX
