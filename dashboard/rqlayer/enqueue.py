"""Enqueue registered tasks by hand: validated options, one job, or a batch in pipelined chunks.

Only functions registered in tasks/ can be enqueued: the function is taken from the registry by its
name, never from a dotted path typed by a user.
"""

from __future__ import annotations

import itertools
import json
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

import redis
from redis.typing import EncodableT, FieldT
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Dependency, Job
from rq.utils import get_call_string

from dashboard.rqlayer import actions, cron, feed, keys, serializers
from dashboard.rqlayer.vocabulary import NEW_JOB_ID_RULE, rq_time, valid_job_id, valid_new_job_id
from tasks.registry import TaskSpec

MAX_TIMEOUT = 7 * 24 * 3600
MAX_TTL = 365 * 24 * 3600


@dataclass
class EnqueueOptions:
    queue: str
    at_front: bool = False
    run_at: datetime | None = None  # aware UTC
    timeout: int | None = None
    retry_max: int = 0
    retry_intervals: list[int] = field(default_factory=list)
    result_ttl: int | None = None
    failure_ttl: int | None = None
    job_id: str | None = None
    depends_on: list[str] = field(default_factory=list)
    description: str | None = None
    serializer: str = serializers.PICKLE  # the instance's (console.capabilities.serializer)

    def retry(self) -> Retry | None:
        if not self.retry_max:
            return None
        return Retry(max=self.retry_max, interval=self.retry_intervals or [0])


def _int(raw: object, name: str, errors: dict[str, str], low: int, high: int) -> int | None:
    if raw is None or str(raw).strip() == "":
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        errors[name] = "expected a whole number"
        return None
    if not low <= value <= high:
        errors[name] = f"must be between {low} and {high}"
        return None
    return value


LATEST_YEAR = 9000  # far enough for any schedule, and every zone can still show it


def parse_run_at(raw: str, tz_name: str, now: datetime) -> datetime:
    """A local date-time in `tz_name` as aware UTC; refuses the past, the absurd future and unknown
    zones (ValueError with the message for the operator)."""
    zone = cron.zone(tz_name)
    try:
        moment = datetime.fromisoformat(raw.strip())
        moment = moment.replace(tzinfo=zone) if moment.tzinfo is None else moment
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError("expected a date and time like 2026-01-31T08:00") from None
    if moment.year > LATEST_YEAR:
        raise ValueError(f"dates after the year {LATEST_YEAR} are not accepted")
    if moment <= now:
        raise ValueError("this time is in the past")
    return moment


FRONT_AND_LATER = "a job scheduled for later cannot also go to the front now"


def _field(raw: Mapping[str, object], name: str) -> str:
    value = raw.get(name)
    return "" if value is None else str(value)


def validate_options(
    connection: redis.Redis,
    spec: TaskSpec,
    raw: Mapping[str, object],
    now: datetime | None = None,
    serializer: str = serializers.PICKLE,
) -> tuple[EnqueueOptions, dict[str, str]]:
    """Options from form or API values, with per-field errors (field names as in the form); the job is
    written with `serializer` (the console binds its instance's). Cost: at most two round trips (EXISTS
    for a custom id; the dependencies' EXISTS, pipelined)."""
    now = now or datetime.now(UTC)
    errors: dict[str, str] = {}
    options = EnqueueOptions(queue=_queue(spec, raw, errors), serializer=serializer)
    options.at_front = _field(raw, "at_front").lower() in ("1", "true", "on", "yes")
    options.run_at = _run_at(raw, errors, now, options.at_front)
    _retry_and_ttls(spec, raw, errors, options)
    options.job_id = _job_id(connection, raw, errors)
    options.depends_on = _depends_on(connection, raw, errors, scheduled=options.run_at is not None)
    description = _field(raw, "description").strip()
    if len(description) > 500:
        errors["description"] = "at most 500 characters"
    options.description = description or None
    return options, errors


def _queue(spec: TaskSpec, raw: Mapping[str, object], errors: dict[str, str]) -> str:
    queue = _field(raw, "queue").strip() or spec.queue
    try:
        return actions.validate_queue_name(queue)
    except actions.ActionError as error:
        errors["queue"] = str(error)
    return queue


def _run_at(raw: Mapping[str, object], errors: dict[str, str], now: datetime, at_front: bool) -> datetime | None:
    """When the job runs: a local time in a zone, or a delay in seconds (not both); None for now."""
    run_at, delay = _field(raw, "run_at").strip(), _field(raw, "delay").strip()
    moment = None
    if run_at and delay:
        errors["run_at"] = "give a time or a delay, not both"
    elif run_at:
        try:
            moment = parse_run_at(run_at, _field(raw, "timezone") or "UTC", now)
        except ValueError as error:
            errors["timezone" if "timezone" in str(error) else "run_at"] = str(error)
    elif delay:
        seconds = _int(delay, "delay", errors, 1, MAX_TTL)
        if seconds:
            moment = now + timedelta(seconds=seconds)
    if at_front and moment:
        errors["at_front"] = FRONT_AND_LATER
    return moment


def _retry_and_ttls(spec: TaskSpec, raw: Mapping[str, object], errors: dict[str, str], options: EnqueueOptions) -> None:
    """Timeout, retries and TTLs: what the form gave, else the task's own defaults."""
    options.timeout = _int(_field(raw, "timeout"), "timeout", errors, 1, MAX_TIMEOUT) or spec.timeout
    retry_max = _int(_field(raw, "retry_max"), "retry_max", errors, 0, 100)
    options.retry_max = spec.retry_max if retry_max is None else retry_max
    intervals = _field(raw, "retry_intervals").strip()
    if intervals:
        try:
            options.retry_intervals = [int(part) for part in intervals.replace(" ", "").split(",") if part]
            if any(i < 0 or i > MAX_TTL for i in options.retry_intervals):
                raise ValueError
        except ValueError:
            errors["retry_intervals"] = "comma-separated whole seconds, e.g. 10, 60, 300"
    else:
        # A retry count alone keeps the task's own backoff.
        options.retry_intervals = list(spec.retry_intervals)
    options.result_ttl = _int(_field(raw, "result_ttl"), "result_ttl", errors, -1, MAX_TTL)
    if options.result_ttl is None:
        options.result_ttl = spec.result_ttl
    options.failure_ttl = _int(_field(raw, "failure_ttl"), "failure_ttl", errors, 1, MAX_TTL)


def _job_id(connection: redis.Redis, raw: Mapping[str, object], errors: dict[str, str]) -> str | None:
    """A custom id that follows the rule and is not taken (one EXISTS), else None."""
    job_id = _field(raw, "job_id").strip()
    if not job_id:
        return None
    if not valid_new_job_id(job_id):
        errors["job_id"] = NEW_JOB_ID_RULE
    elif connection.exists(keys.job(job_id)):
        errors["job_id"] = f"a job with id {job_id!r} already exists"
    else:
        return job_id
    return None


def _depends_on(
    connection: redis.Redis, raw: Mapping[str, object], errors: dict[str, str], scheduled: bool
) -> list[str]:
    """The jobs this one waits for; each must exist (one pipelined round trip). RQ ignores dependencies
    of scheduled jobs, so a schedule with dependencies is refused."""
    depends = [part.strip() for part in _field(raw, "depends_on").replace("\n", ",").split(",") if part.strip()]
    if not depends:
        return []
    missing = [d for d in depends if not valid_job_id(d)]
    if not missing:
        pipe = connection.pipeline(transaction=False)
        for dependency in depends:
            pipe.exists(keys.job(dependency))
        missing = [d for d, exists in zip(depends, pipe.execute(), strict=True) if not exists]
    if missing:
        errors["depends_on"] = f"no such job: {', '.join(missing[:5])}"
    elif scheduled:
        errors["depends_on"] = "RQ ignores dependencies of scheduled jobs: choose one or the other"
    else:
        return depends
    return []


class _CommonOptions(TypedDict):
    """What enqueue_call and enqueue_at share (enqueue_at spells the timeout job_timeout)."""

    timeout: int | None
    result_ttl: int | None
    failure_ttl: int | None
    job_id: str | None
    description: str | None
    retry: Retry | None


def enqueue(
    connection: redis.Redis,
    spec: TaskSpec,
    kwargs: dict[str, Any],
    options: EnqueueOptions,
    actor: str | None = None,
) -> str:
    """Enqueue one validated call of a registered task with the options' serializer; returns the job id.
    Raises ValueError when a custom id was taken in the meantime, InvalidInput (serializers.check, before
    anything is written) for a value a JSON instance cannot hold. With an `actor`, the new job gets an
    `enqueued` event in the event stream (one more round trip, after success; never raises)."""
    job_id = _enqueue(connection, spec, kwargs, options)
    if actor is not None:
        feed.record(connection, feed.ENQUEUED, actor, job_id=job_id, queue=options.queue, function=spec.name)
    return job_id


def _enqueue(connection: redis.Redis, spec: TaskSpec, kwargs: dict[str, Any], options: EnqueueOptions) -> str:
    serializers.check(options.serializer, kwargs)
    # RQ fetches dependency jobs while enqueueing: either serializer reads them safely (plain data only).
    queue = Queue(options.queue, connection=connection, serializer=serializers.rq_serializer(options.serializer))
    common = _CommonOptions(
        timeout=options.timeout,
        result_ttl=options.result_ttl,
        failure_ttl=options.failure_ttl,
        job_id=options.job_id,
        description=options.description,
        retry=options.retry(),
    )
    try:
        if options.run_at is not None:
            # enqueue_at is unannotated in RQ: its Job is named here.
            job: Job = queue.enqueue_at(
                options.run_at, spec.name, kwargs=kwargs, unique=bool(options.job_id), **_scheduled_kwargs(common)
            )
            return job.id
        return _enqueue_now(queue, spec, kwargs, options, common)
    except DuplicateJobError:
        raise ValueError(f"a job with id {options.job_id!r} was created meanwhile") from None


def _enqueue_now(
    queue: Queue, spec: TaskSpec, kwargs: dict[str, Any], options: EnqueueOptions, common: _CommonOptions
) -> str:
    depends_on = Dependency(jobs=options.depends_on, enqueue_at_front=options.at_front) if options.depends_on else None
    # unique=True makes a taken custom id fail atomically; RQ refuses it together with dependencies,
    # where the earlier existence check is all there is.
    unique = bool(options.job_id) and depends_on is None
    job = queue.enqueue_call(
        spec.name, kwargs=kwargs, at_front=options.at_front, depends_on=depends_on, unique=unique, **common
    )
    return job.id


def _scheduled_kwargs(common: _CommonOptions) -> dict[str, object]:
    # enqueue_at passes RQ's options by their enqueue() names: the timeout is job_timeout there.
    mapped = {
        "job_timeout": common["timeout"],
        "result_ttl": common["result_ttl"],
        "failure_ttl": common["failure_ttl"],
        "job_id": common["job_id"],
        "description": common["description"],
        "retry": common["retry"],
    }
    return {k: v for k, v in mapped.items() if v is not None}


def encode_call(spec: TaskSpec, kwargs: dict[str, Any], options: EnqueueOptions) -> tuple[bytes, str]:
    """A validated call as the job's `data` field (what RQ's enqueue writes, in the options' serializer)
    and its description; InvalidInput for a value JSON cannot hold on a JSON instance. Pure computation,
    no Redis; the bytes are only ever written to Redis, never loaded here."""
    serializers.check(options.serializer, kwargs)
    data = zlib.compress(serializers.dumps(options.serializer, (spec.name, None, (), kwargs)))
    return data, options.description or get_call_string(spec.name, (), kwargs, max_length=75) or ""


def enqueue_batch(
    connection: redis.Redis,
    spec: TaskSpec,
    calls: Iterable[dict[str, Any]],
    options: EnqueueOptions,
    chunk: int = 1000,
    progress: Callable[[int], bool] | None = None,
) -> int:
    """Enqueue many validated calls of one task; see write_batch for cost and guarantees."""
    return write_batch(
        connection,
        spec,
        (encode_call(spec, kwargs, options) for kwargs in calls),
        options,
        chunk=chunk,
        progress=progress,
    )


def write_batch(
    connection: redis.Redis,
    spec: TaskSpec,
    encoded: Iterable[tuple[bytes, str]],
    options: EnqueueOptions,
    chunk: int = 1000,
    progress: Callable[[int], bool] | None = None,
) -> int:
    """Enqueue encoded calls (encode_call) in chunks: each chunk is one MULTI/EXEC round trip that writes
    the job hashes exactly as RQ's enqueue does and pushes the ids, so a chunk is all or nothing.
    Consumes `encoded` lazily: memory holds one chunk. `progress(n)` is told each chunk's size and may
    return False to stop. Returns how many were enqueued."""
    queue_key = keys.queue(options.queue)
    # Typed as redis-py takes a hash mapping (its keys are invariant: a dict[str, ...] is refused).
    base: dict[FieldT, EncodableT] = {
        "status": "queued",
        "origin": options.queue,
        "timeout": options.timeout or spec.timeout,
        "ended_at": "",
        "started_at": "",
        "last_heartbeat": "",
        "worker_name": "",
        "group_id": "",
        "success_callback_name": "",
        "failure_callback_name": "",
        "stopped_callback_name": "",
    }
    if options.result_ttl is not None:
        base["result_ttl"] = options.result_ttl
    if options.failure_ttl is not None:
        base["failure_ttl"] = options.failure_ttl
    if options.retry_max:
        base["retries_left"] = options.retry_max
        base["retry_intervals"] = json.dumps(options.retry_intervals or [0])
    done = 0
    items = iter(encoded)
    while part := list(itertools.islice(items, chunk)):
        stamp = rq_time()
        ids = [uuid.uuid4().hex for _ in part]
        pipe = connection.pipeline(transaction=True)
        for job_id, (data, description) in zip(ids, part, strict=True):
            pipe.hset(
                keys.job(job_id),
                mapping={
                    **base,
                    "created_at": stamp,
                    "enqueued_at": stamp,
                    "data": data,
                    "description": description,
                },
            )
        if options.at_front:
            pipe.lpush(queue_key, *reversed(ids))
        else:
            pipe.rpush(queue_key, *ids)
        pipe.sadd(keys.queues(), queue_key)
        pipe.execute()
        done += len(part)
        if progress is not None and progress(len(part)) is False:
            break
    return done
