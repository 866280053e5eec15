"""Outcomes of stock workers (no extension, so no events): a bounded sweep of RQ's finished and failed
registries, read from the job hashes without unpickling (Flask-free).

Each (registry, queue) has a cursor "<score>:<skip>" (the registries are zsets scored by expiry time,
now + TTL in whole seconds, so with one TTL they grow at the end; `skip` counts the entries swept at that
score): a pass reads the entries from the cursor on, at most
`per_queue` of each and `limit` in all, in two round trips (ZRANGEBYSCORE of every registry in one
pipeline; HMGET of the hashes + XREVRANGE COUNT 1 of failures' results in another). Entries that ended
less than `min_age_ms` ago stop their registry's pass (picked up next time): the stream, read first, has
then written the executions an extension worker ran, so the sweep adds nothing for them (same attempt
key). Limits: a job whose TTL is shorter than earlier ones' sorts before the cursor and is missed; a job
kept forever (result_ttl=-1, score -1) is seen by the first pass only.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from redis import Redis

from dashboard.rqlayer import keys
from dashboard.rqlayer.decode import text, timestamp
from dashboard.rqlayer.payloads import decode_job_data
from dashboard.rqlayer.rows import name_from_description
from dashboard.rqlayer.telemetry.layout import NAME_LIMIT, epoch_ms
from dashboard.rqlayer.telemetry.outcome import Outcome, clean, hash_fields, promoted, with_failure
from dashboard.rqlayer.tracebacks import latest_traceback

REGISTRIES = ("finished", "failed")
ENDED = {"finished": "finished", "failed": "failed", "stopped": "stopped"}
FIELDS = (
    "status",
    "origin",
    "started_at",
    "enqueued_at",
    "ended_at",
    "worker_name",
    "data",
    "description",
    "exc_info",
    "meta",
)
MAX_QUEUES = 500
SETTLE_MS = 2000
_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class SweepResult:
    outcomes: list[Outcome]
    cursors: dict[str, str]  # fields of the collector's state hash to write after the commit
    scanned: int


def cursor_field(registry: str, queue: str) -> str:
    return f"sweep:{registry}:{queue}"


def _cursor(raw: str | None) -> tuple[str, int]:
    score, _, skip = (raw or "").partition(":")
    try:
        float(score)
    except ValueError:
        return "-inf", 0
    return score, int(skip) if skip.isascii() and skip.isdigit() else 0


def _micros(later: datetime | None, earlier: datetime | None) -> int | None:
    if later is None or earlier is None:
        return None
    return max(0, (later - earlier) // _US)


def outcome_from_hash(
    job_id: str, fields: Mapping[str, Any], latest_result: list[Any] | None, queue: str, attributes: Sequence[str] = ()
) -> Outcome | None:
    """The outcome a job hash in a finished/failed registry describes (None when it is not ended)."""
    status = ENDED.get(text(fields.get("status")))
    if status is None:
        return None
    started = timestamp(fields.get("started_at"))
    enqueued = timestamp(fields.get("enqueued_at"))
    ended = timestamp(fields.get("ended_at")) or started
    if ended is None:
        return None
    call = decode_job_data(fields.get("data"), unsafe=False, pretty=False, preview_only=True)
    function = call.func_name or name_from_description(text(fields.get("description"))[:2000])
    outcome = Outcome(
        job_id=clean(job_id, NAME_LIMIT),
        attempt=epoch_ms(started) or 0,
        queue=clean(text(fields.get("origin")) or queue, NAME_LIMIT),
        function=clean(function, NAME_LIMIT),
        status=status,
        ended_ms=epoch_ms(ended) or 0,
        started_ms=epoch_ms(started),
        enqueued_ms=epoch_ms(enqueued),
        run_us=_micros(ended, started),
        wait_us=_micros(started, enqueued),
        worker=clean(text(fields.get("worker_name")), NAME_LIMIT),
        attributes=promoted(fields.get("meta"), attributes),
        source="registry",
    )
    tb = latest_traceback(fields.get("exc_info"), latest_result) if status == "failed" else ""
    return with_failure(outcome, tb)


def sweep(
    connection: Redis,
    state: Mapping[str, str],
    limit: int = 1000,
    per_queue: int = 200,
    min_age_ms: int = 10_000,
    attributes: Sequence[str] = (),
    now_ms: int | None = None,
) -> SweepResult:
    """One bounded pass over every queue's finished and failed registries from their cursors in `state`.
    Cost: SMEMBERS of the queues, then two pipelined round trips for at most `limit` entries."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    names = sorted(keys.queue_name_from_key(text(k)) for k in cast(set[bytes], connection.smembers(keys.queues())))
    pairs = [(registry, queue) for queue in names[:MAX_QUEUES] for registry in REGISTRIES]
    pipe = connection.pipeline(transaction=False)
    for registry, queue in pairs:
        score, skip = _cursor(state.get(cursor_field(registry, queue)))
        pipe.zrangebyscore(keys.registry(registry, queue), score, "+inf", start=skip, num=per_queue, withscores=True)
    pages = [p if isinstance(p, list) else [] for p in pipe.execute(raise_on_error=False)]
    budget, chosen = max(1, limit), []
    for (registry, queue), page in zip(pairs, pages, strict=True):
        take = page[:budget]
        budget -= len(take)
        chosen.append((registry, queue, take))
    pipe = connection.pipeline(transaction=False)
    for registry, _queue, take in chosen:
        for member, _score in take:
            pipe.hmget(keys.job(text(member)), list(FIELDS))
            if registry == "failed":
                pipe.xrevrange(keys.results(text(member)), count=1)
    replies = iter(pipe.execute(raise_on_error=False)) if any(t for _, _, t in chosen) else iter(())
    outcomes: list[Outcome] = []
    cursors: dict[str, str] = {}
    scanned = 0
    for registry, queue, take in chosen:
        score, skip = _cursor(state.get(cursor_field(registry, queue)))
        fresh, settled = False, True
        for member, member_score in take:
            fields = hash_fields(next(replies), FIELDS)
            result = next(replies) if registry == "failed" else None
            if fresh:
                continue
            ended = timestamp(fields.get("ended_at"))
            if ended is not None and (epoch_ms(ended) or 0) > now_ms - min_age_ms:
                fresh = True  # too recent: the stream may not have been read that far yet
                continue
            outcome = outcome_from_hash(
                text(member), fields, result if isinstance(result, list) else None, queue, attributes
            )
            if outcome is not None:
                outcomes.append(outcome)
            scanned += 1
            new_score = repr(float(member_score))
            skip = skip + 1 if float(new_score) == float(score) else 1
            score = new_score
            settled = ended is None or (epoch_ms(ended) or 0) <= now_ms - SETTLE_MS
        if take:
            # RQ scores in whole seconds and orders equal scores by id: a job that ends in the same second
            # as the last one swept may sort before it. Until that second is SETTLE_MS old, read it again.
            cursors[cursor_field(registry, queue)] = f"{score}:{skip if settled else 0}"
    return SweepResult(outcomes, cursors, scanned)
