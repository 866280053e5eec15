"""The full detail of one job: everything RQ knows about it, in two round trips.

Decoding goes through payloads.py's bounded, restricted reader; a key of the wrong type becomes a
detail that says so (broken_detail), never an error. Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis

from dashboard.rqlayer import keys
from dashboard.rqlayer.decode import epoch, integer, text
from dashboard.rqlayer.job_webhooks import NONE as NO_WEBHOOKS
from dashboard.rqlayer.job_webhooks import JobWebhooks, parse_webhooks
from dashboard.rqlayer.payloads import (
    EMPTY,
    JobCall,
    Shown,
    decode,
    decode_b64_value,
    decode_job_data,
)
from dashboard.rqlayer.rows import JobRow, broken_note, broken_row, count_or_zero, reply_or, row_from_hash, wrong_type
from dashboard.rqlayer.tracebacks import decode_b64_exc_string, decode_exc_info
from dashboard.rqlayer.vocabulary import LIVE_STATUSES, RESULT_TYPES, STATES


@dataclass(frozen=True)
class Related:
    id: str
    status: str  # "" when the job no longer exists


@dataclass(frozen=True)
class Attempt:
    outcome: str
    worker_name: str
    started_at: datetime | None
    ended_at: datetime | None
    traceback: str
    result: Shown | None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.ended_at:
            return max(0.0, (self.ended_at - self.started_at).total_seconds())
        return None


@dataclass(frozen=True)
class Progress:
    percent: float | None
    done: float | None
    total: float | None
    label: str


@dataclass(frozen=True)
class JobDetail:
    row: JobRow
    call: JobCall
    fields: dict[str, str]
    meta: Shown
    progress: Progress | None
    timeout: int | None
    result_ttl: int | None
    failure_ttl: int | None
    ttl_seconds: int | None  # what Redis says is left on the job hash (-1: none)
    retries_left: int | None
    retry_intervals: list[Scalar]
    callbacks: dict[str, str]
    group_id: str
    dependencies: list[Related]
    dependents: list[Related]
    dependents_total: int
    attempts: list[Attempt]
    traceback: str
    result: Shown | None
    webhooks: JobWebhooks  # parsed: header values are never kept (job_webhooks.py)
    rate_limit_key: str
    in_registries: list[str] = field(default_factory=list)
    recurring: bool = False  # the job of an rq-scheduler schedule (same id at every run)
    run_at: datetime | None = None  # when it is due: its scheduled-registry score, else rq-scheduler's
    dependencies_total: int = 0  # parents in all (dependencies lists at most MAX_RELATED of them)

    @property
    def live(self) -> bool:
        return self.row.status in LIVE_STATUSES

    @property
    def queued_seconds(self) -> float | None:
        start = self.row.enqueued_at or self.row.created_at
        end = self.row.started_at
        if start and end:
            return max(0.0, (end - start).total_seconds())
        if start and self.row.status == "queued":
            return max(0.0, (datetime.now(UTC) - start).total_seconds())
        return None


# What a JSON list field of the job hash may hold once read (_json_list keeps only these).
Scalar = str | int | float
# A results-stream entry as XREVRANGE gives it: (entry id, {field: value}).
ResultEntry = tuple[bytes, dict[bytes, bytes]]

MAX_RELATED = 100
TEXT_FIELDS = (
    "status",
    "origin",
    "description",
    "worker_name",
    "group_id",
    "created_at",
    "enqueued_at",
    "started_at",
    "ended_at",
    "last_heartbeat",
    "timeout",
    "result_ttl",
    "failure_ttl",
    "ttl",
    "retries_left",
    "retry_intervals",
    "dependency_ids",
    "success_callback_name",
    "failure_callback_name",
    "stopped_callback_name",
    "enqueue_at_front",
    "allow_dependency_failures",
    "rate_limit_key",
    "rate_limit_concurrency",
    "repeats_left",
    "repeat_intervals",
    "number_of_retries",
)


def _progress(meta: Shown) -> Progress | None:
    try:
        return _read_progress(meta)
    except (ValueError, TypeError, OverflowError, ZeroDivisionError):  # a planted progress is just not shown
        return None


def _read_progress(meta: Shown) -> Progress | None:
    value = meta.value if meta.safe else None
    if not isinstance(value, dict) or "progress" not in value:
        return None
    raw = value["progress"]
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        share = float(raw) if raw > 1 else float(raw) * 100
        return Progress(min(100.0, max(0.0, share)), None, None, f"{share:.0f} %")
    if isinstance(raw, dict):
        done, total = raw.get("done"), raw.get("total")
        percent = raw.get("percent")
        if percent is None and isinstance(done, int | float) and isinstance(total, int | float) and total:
            percent = 100.0 * done / total
        if isinstance(percent, int | float):
            label = f"{done} of {total}" if done is not None and total is not None else f"{percent:.0f} %"
            return Progress(min(100.0, max(0.0, float(percent))), done, total, label)
    return None


def _json_list(raw: bytes | None) -> list[Scalar]:
    import json

    try:
        value = json.loads(text(raw)[:100_000] or "[]")
    except (ValueError, RecursionError):
        return []
    items = value if isinstance(value, list) else [value]
    # Only scalars: a planted nested value would break whatever renders or serialises it later.
    return [
        item
        for item in items[:MAX_RELATED]
        if isinstance(item, str | int | float)
        and not isinstance(item, bool)
        and (not isinstance(item, int) or abs(item) < 10**18)
    ]


def read_job(connection: redis.Redis, job_id: str, unsafe: bool = False) -> JobDetail | None:
    """Everything RQ knows about one job (None when there is no such job), in two round trips."""
    pipe = connection.pipeline(transaction=False)
    pipe.hgetall(keys.job(job_id))
    pipe.ttl(keys.job(job_id))
    pipe.sscan(keys.job_dependencies(job_id), 0, count=MAX_RELATED)
    pipe.scard(keys.job_dependents(job_id))
    pipe.sscan(keys.job_dependents(job_id), 0, count=MAX_RELATED)
    pipe.xrevrange(keys.results(job_id), count=10)
    pipe.zscore(keys.RQ_SCHEDULER_JOBS, job_id)
    pipe.scard(keys.job_dependencies(job_id))
    replies = pipe.execute(raise_on_error=False)
    raw = replies[0]
    if isinstance(raw, Exception):
        return broken_detail(job_id, broken_note(raw))
    if not raw:
        return None
    # Per reply: an error (a key of another type) reads as empty.
    ttl: int = reply_or(replies[1], 0)
    dependency_scan: tuple[int, list[bytes]] = reply_or(replies[2], (0, []))
    dependents_total = count_or_zero(replies[3])
    dependents_scan: tuple[int, list[bytes]] = reply_or(replies[4], (0, []))
    results: list[ResultEntry] = reply_or(replies[5], [])
    recurring: float | None = reply_or(replies[6], None)
    f: dict[str, bytes] = {text(k): v for k, v in raw.items()}
    row = row_from_hash(job_id, raw, results[:1], unsafe)
    origin = row.origin
    all_deps = {text(d) for d in dependency_scan[1]} | {str(d) for d in _json_list(f.get("dependency_ids"))}
    dependencies_total = max(count_or_zero(replies[7]), len(all_deps))
    deps = sorted(all_deps)[:MAX_RELATED]
    dependents = sorted(text(d) for d in dependents_scan[1])[:MAX_RELATED]

    pipe = connection.pipeline(transaction=False)
    for related in deps + dependents:
        pipe.hget(keys.job(related), "status")
    registry_states = [s for s in STATES[1:] if s != "started"]
    for state in registry_states:
        pipe.zscore(keys.registry(state, origin), job_id)
    replies = pipe.execute(raise_on_error=False)
    statuses = [("broken" if wrong_type(s) else text(s)) for s in replies[: len(deps) + len(dependents)]]
    scores = replies[len(deps) + len(dependents) :]
    in_registries = [
        state
        for state, score in zip(registry_states, scores, strict=True)
        if score is not None and not wrong_type(score)
    ]
    run_at = epoch(scores[registry_states.index("scheduled")]) or epoch(recurring)

    attempts: list[Attempt] = []
    for _, entry in results:
        attempts.append(
            Attempt(
                outcome=RESULT_TYPES.get(entry.get(b"type", b""), "unknown"),
                worker_name=text(entry.get(b"worker_name")),
                started_at=epoch(entry.get(b"execution_started_at")),
                ended_at=epoch(entry.get(b"execution_ended_at")),
                traceback=decode_b64_exc_string(entry.get(b"exc_string")),
                result=decode_b64_value(entry.get(b"return_value"), unsafe) if entry.get(b"return_value") else None,
            )
        )
    traceback = decode_exc_info(f.get("exc_info")) or next((a.traceback for a in attempts if a.traceback), "")
    result = next((a.result for a in attempts if a.outcome == "finished" and a.result is not None), None)
    if result is None and f.get("result"):
        result = decode(f.get("result"), unsafe)  # RQ < 1.12 kept the return value in the hash
    meta = decode(f.get("meta"), unsafe)
    return JobDetail(
        row=row,
        call=decode_job_data(f.get("data"), unsafe),
        fields={name: text(f.get(name)) for name in TEXT_FIELDS if f.get(name) not in (None, b"")},
        meta=meta,
        progress=_progress(meta),
        timeout=integer(f.get("timeout")),
        result_ttl=integer(f.get("result_ttl")),
        failure_ttl=integer(f.get("failure_ttl")),
        ttl_seconds=int(ttl),
        retries_left=integer(f.get("retries_left")),
        retry_intervals=_json_list(f.get("retry_intervals")),
        callbacks={
            kind: text(f.get(f"{kind}_callback_name"))
            for kind in ("success", "failure", "stopped")
            if f.get(f"{kind}_callback_name")
        },
        group_id=text(f.get("group_id")),
        dependencies=[Related(d, s) for d, s in zip(deps, statuses[: len(deps)], strict=True)],
        dependents=[Related(d, s) for d, s in zip(dependents, statuses[len(deps) :], strict=True)],
        dependents_total=dependents_total,
        attempts=attempts,
        traceback=traceback,
        result=result,
        webhooks=parse_webhooks(f.get("webhooks")),
        rate_limit_key=text(f.get("rate_limit_key")),
        in_registries=in_registries,
        recurring=recurring is not None,
        run_at=run_at,
        dependencies_total=dependencies_total,
    )


def broken_detail(job_id: str, problem: str) -> JobDetail:
    """A job whose hash cannot be read (its key holds another type): the page shows the id and why."""
    unreadable = Shown(None, False, "unknown", 0, note=problem)
    return JobDetail(
        row=broken_row(job_id, problem),
        call=JobCall("", unreadable, unreadable, "unknown", note=problem),
        fields={},
        meta=EMPTY,
        progress=None,
        timeout=None,
        result_ttl=None,
        failure_ttl=None,
        ttl_seconds=-1,
        retries_left=None,
        retry_intervals=[],
        callbacks={},
        group_id="",
        dependencies=[],
        dependents=[],
        dependents_total=0,
        attempts=[],
        traceback="",
        result=None,
        webhooks=NO_WEBHOOKS,
        rate_limit_key="",
    )
