"""rq-scheduler writes: create a cron or interval schedule of a registered task, or update one in
place, computing the first run in the operator's IANA zone (DST included).

Writes are raw Redis in MULTI/EXEC (WATCH where they depend on what was read), never
`Job.fetch` + `job.save()`: a lossy safe decode would corrupt meta. rq-scheduler's own
`Scheduler.cron/schedule` write the job hash onto the MULTI pipeline, so its format stays its own.
"""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from dashboard.rqlayer import actions, keys, serializers
from dashboard.rqlayer import cron as cronlib
from dashboard.rqlayer.decode import text
from dashboard.rqlayer.schedules.model import (
    ACTIVE_STATUSES,
    LAST_RUN_FIELDS,
    MAX_INTERVAL,
    MAX_REPEAT,
    META_DEFAULT,
    META_END,
    META_TIMEZONE,
    TERMINAL_STATUSES,
    ScheduleConflict,
    ScheduleInvalid,
    paused_entry,
    read_meta,
)
from dashboard.rqlayer.vocabulary import RQ_TIME_FORMAT_SECONDS
from tasks.registry import TaskSpec, get_task

# rq-scheduler's cron helper calls crontab without `default_utc`, and crontab 1.0.5 warns about it on
# every call (harmless: the behaviour is documented in the package docstring). Set once, narrowly.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"rq_scheduler\.utils")

# Writes one schedule's job hash through rq-scheduler's Scheduler (given, id, meta). rq_scheduler ships
# no type information, so its Scheduler is Any to mypy.
_Write = Callable[[Any, str, dict[str, Any]], None]


def new_schedule_id() -> str:
    """A fresh random schedule id ("sched-" + 16 hex digits). No Redis."""
    return f"sched-{uuid.uuid4().hex[:16]}"


def aware(moment: datetime) -> datetime:
    """`moment` with UTC attached when it is naive (the layer's convention for naive datetimes)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _registered(spec: TaskSpec | None) -> TaskSpec:
    if spec is None or get_task(spec.name) is None:
        raise ScheduleInvalid("only tasks registered in tasks/ can be scheduled")
    return spec


def _check_common(spec: TaskSpec | None, queue: str, repeat: int | None, schedule_id: str | None) -> str:
    spec = _registered(spec)
    try:
        queue = actions.validate_queue_name(queue or spec.queue)
    except actions.ActionError as error:
        raise ScheduleInvalid(str(error)) from None
    if repeat is not None and not 1 <= int(repeat) <= MAX_REPEAT:
        raise ScheduleInvalid(f"the repeat count is a whole number from 1 to {MAX_REPEAT:,}")
    if schedule_id is not None:
        _check_id(schedule_id)
    return queue


def _zone_name(tz_name: str | None) -> str:
    name = (tz_name or "UTC").strip()
    message = cronlib.validate_timezone(name)
    if message:
        raise ScheduleInvalid(message)
    return name


def _check_id(schedule_id: str) -> None:
    if (
        not schedule_id
        or len(schedule_id) > 128
        or not all(c.isascii() and (c.isalnum() or c in "-_") for c in schedule_id)
    ):
        raise ScheduleInvalid("a schedule id is 1 to 128 letters, digits, - and _")


def create_cron(
    connection: redis.Redis,
    spec: TaskSpec,
    kwargs: Mapping[str, Any],
    cron: str,
    tz_name: str,
    queue: str,
    repeat: int | None = None,
    end: datetime | None = None,
    schedule_id: str | None = None,
    description: str | None = None,
    now: datetime | None = None,
    extra_meta: Mapping[str, Any] | None = None,
) -> str:
    """Create (or, with the id of an existing schedule, update in place) an rq-scheduler cron
    schedule of a registered task. The first run is computed in `tz_name` (DST-aware); an end date
    becomes a repeat count (rq-scheduler has no end date). Returns the schedule id. Cost: one
    WATCH/MULTI transaction (4 reads, then rq-scheduler's writes), retried while watched keys change.
    Guarantee: all or nothing; ScheduleInvalid for a bad request, ScheduleConflict while a run is
    queued or running, while rq-scheduler runs a pass, or for an id taken by another job."""
    now = aware(now or datetime.now(UTC))
    queue = _check_common(spec, queue, repeat, schedule_id)
    message = cronlib.validate(cron)
    if message:
        raise ScheduleInvalid(f"cron: {message}")
    expression = cronlib.normalize(cron)
    tz_name = _zone_name(tz_name)
    [first] = cronlib.next_runs(expression, tz_name, 1, now=now)
    meta: dict[str, Any] = {META_TIMEZONE: tz_name, **(extra_meta or {})}
    if end is not None:
        end = aware(end)
        if end <= now:
            raise ScheduleInvalid("the end date is in the past")
        runs = cronlib.count_runs(expression, tz_name, now, end)
        if runs == 0:
            raise ScheduleInvalid("the end date comes before the first run")
        repeat = min(repeat, runs) if repeat else runs
        meta[META_END] = end.astimezone(UTC).strftime(RQ_TIME_FORMAT_SECONDS)

    def write(scheduler: Any, sid: str, meta: dict[str, Any]) -> None:
        scheduler.cron(
            expression,
            func=spec.name,
            kwargs=dict(kwargs),
            repeat=repeat,
            queue_name=queue,
            id=sid,
            timeout=spec.timeout,
            description=description or None,
            meta=meta,
            result_ttl=-1,
        )

    return _save(connection, schedule_id, queue, first, meta, write)


def create_interval(
    connection: redis.Redis,
    spec: TaskSpec,
    kwargs: Mapping[str, Any],
    seconds: int,
    queue: str,
    repeat: int | None = None,
    start: datetime | None = None,
    schedule_id: str | None = None,
    end: datetime | None = None,
    tz_name: str = "UTC",
    description: str | None = None,
    now: datetime | None = None,
    extra_meta: Mapping[str, Any] | None = None,
) -> str:
    """Create (or update in place) an rq-scheduler interval schedule: first run at `start` (default:
    now, i.e. at the scheduler's next pass), then every `seconds`. An end date becomes a repeat count.
    Cost: one or two reads (an edit keeps its pending run) plus the transaction of `create_cron`, with
    the same guarantee."""
    now = aware(now or datetime.now(UTC))
    queue = _check_common(spec, queue, repeat, schedule_id)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= MAX_INTERVAL:
        raise ScheduleInvalid(f"the interval is a whole number of seconds from 1 to {MAX_INTERVAL:,}")
    tz_name = _zone_name(tz_name)
    first = aware(start) if start is not None else _current_next_run(connection, schedule_id, now) or now
    meta: dict[str, Any] = {META_TIMEZONE: tz_name, **(extra_meta or {})}
    if end is not None:
        end = aware(end)
        if end <= now:
            raise ScheduleInvalid("the end date is in the past")
        if end < first:
            raise ScheduleInvalid("the end date comes before the first run")
        runs = int((end - first).total_seconds() // seconds) + 1
        repeat = min(repeat, runs) if repeat else runs
        meta[META_END] = end.astimezone(UTC).strftime(RQ_TIME_FORMAT_SECONDS)

    def write(scheduler: Any, sid: str, meta: dict[str, Any]) -> None:
        scheduler.schedule(
            first.astimezone(UTC).replace(tzinfo=None),
            func=spec.name,
            kwargs=dict(kwargs),
            interval=seconds,
            repeat=repeat,
            queue_name=queue,
            id=sid,
            timeout=spec.timeout,
            description=description or None,
            meta=meta,
            result_ttl=-1,
        )

    return _save(connection, schedule_id, queue, first, meta, write)


def _current_next_run(connection: redis.Redis, schedule_id: str | None, now: datetime) -> datetime | None:
    """An edited interval schedule keeps its rhythm: its pending next run (active or paused), if any
    is still ahead."""
    if not schedule_id:
        return None
    score = connection.zscore(keys.RQ_SCHEDULER_JOBS, schedule_id)
    if score is None:
        raw = connection.hget(keys.paused_schedules(), schedule_id)
        score = paused_entry(raw)[0] if raw is not None else None
    if score is None or score <= now.timestamp():
        return None
    return datetime.fromtimestamp(score, UTC)


def _scheduler(connection: redis.client.Pipeline) -> Any:
    from rq_scheduler import Scheduler

    return Scheduler(connection=connection)


def refuse_during_pass(pipe: redis.client.Pipeline) -> None:
    """rq-scheduler holds its lock while it fires due schedules, and then rewrites each job it took
    from memory: a pause, edit or delete written meanwhile would be undone. Its key is watched too,
    so a pass that starts before EXEC fails the transaction and this check refuses on the retry."""
    if pipe.exists(keys.RQ_SCHEDULER_LOCK):
        raise ScheduleConflict("rq-scheduler is firing due schedules right now: try again in a moment")


def _save(
    connection: redis.Redis, schedule_id: str | None, queue: str, first: datetime, meta: dict[str, Any], write: _Write
) -> str:
    """Write the schedule's job hash through rq-scheduler (onto a MULTI pipeline) and its zset
    entry with the console's first run, in one transaction. An existing id is updated in place:
    refused while a run is queued or running; its pause, its last run's outcome and its mark as a
    declared default (so an operator's edit survives restarts until the declaration changes) are kept."""
    sid = schedule_id or new_schedule_id()
    job_key = keys.job(sid)
    score = int(first.timestamp())
    with connection.pipeline(transaction=True) as pipe:
        for _attempt in range(20):
            try:
                # redis-py 8.1 leaves Pipeline.watch unannotated (a library gap, not a wrong call).
                pipe.watch(  # type: ignore[no-untyped-call]
                    job_key, keys.paused_schedules(), keys.RQ_SCHEDULER_JOBS, keys.RQ_SCHEDULER_LOCK
                )
                refuse_during_pass(pipe)
                old = pipe.hgetall(job_key)
                in_zset = pipe.zscore(keys.RQ_SCHEDULER_JOBS, sid) is not None
                paused_raw = pipe.hget(keys.paused_schedules(), sid)
                old_fields = {text(k): v for k, v in old.items()}
                old_status = text(old_fields.get("status"))
                if old and not schedule_id:
                    raise ScheduleConflict(f"a job with id {sid} already exists")
                if old and not in_zset and paused_raw is None:
                    raise ScheduleConflict(
                        "this job is not an rq-scheduler schedule any more (it ran and "
                        "ended, or was removed): create a new schedule"
                    )
                if old_status in ACTIVE_STATUSES:
                    raise ScheduleConflict(f"a run of this schedule is {old_status} right now: try again when it ends")
                new_meta = dict(meta)
                old_meta, _, _ = read_meta(old_fields)
                if META_DEFAULT in old_meta and META_DEFAULT not in new_meta:
                    new_meta[META_DEFAULT] = old_meta[META_DEFAULT]
                pipe.multi()
                if old:
                    pipe.delete(job_key)
                write(_scheduler(pipe), sid, new_meta)
                old_origin = text(old_fields.get("origin"))
                if old_status in TERMINAL_STATUSES and old_origin == queue:
                    pipe.hset(
                        job_key, mapping={name: old_fields[name] for name in LAST_RUN_FIELDS if name in old_fields}
                    )
                elif old and old_origin:
                    for state in ("finished", "failed", "canceled"):
                        pipe.zrem(keys.registry(state, old_origin), sid)
                if paused_raw is not None and not in_zset:
                    _, paused_at = paused_entry(paused_raw)
                    pipe.hset(keys.paused_schedules(), sid, paused_value(score, paused_at))
                    pipe.zrem(keys.RQ_SCHEDULER_JOBS, sid)
                else:
                    pipe.zadd(keys.RQ_SCHEDULER_JOBS, {sid: score})
                    pipe.hdel(keys.paused_schedules(), sid)
                pipe.execute()
                return sid
            except redis.WatchError:
                continue
    raise ScheduleConflict("the schedule kept changing while it was saved: try again")


def paused_value(score: float, paused_at: datetime | None) -> str:
    stamp = (paused_at or datetime.now(UTC)).timestamp()
    return json.dumps({"score": score, "paused_at": stamp})


@dataclass
class ScheduleRequest:
    """A validated create/edit request."""

    spec: TaskSpec | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    kind: str = "cron"
    cron: str = ""
    seconds: int | None = None
    timezone: str = "UTC"
    queue: str = ""
    repeat: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    description: str = ""


def save(
    connection: redis.Redis,
    request: ScheduleRequest,
    schedule_id: str | None = None,
    now: datetime | None = None,
    serializer: str = serializers.PICKLE,
) -> str:
    """Create (or update in place) the schedule a validated request describes (web/schedule_forms.py
    builds it). Cost and guarantee: those of `create_cron` / `create_interval`; on an instance writing
    JSON (`serializer`, the console's) a Conflict before anything is read or written: rq-scheduler
    writes pickle only."""
    serializers.refuse_rq_scheduler(serializer, ScheduleConflict)
    spec = _registered(request.spec)
    if request.kind == "interval":
        return create_interval(
            connection,
            spec,
            request.kwargs,
            int(request.seconds or 0),
            request.queue,
            repeat=request.repeat,
            start=request.start,
            schedule_id=schedule_id,
            end=request.end,
            tz_name=request.timezone,
            description=request.description or None,
            now=now,
        )
    return create_cron(
        connection,
        spec,
        request.kwargs,
        request.cron,
        request.timezone,
        request.queue,
        repeat=request.repeat,
        end=request.end,
        schedule_id=schedule_id,
        description=request.description or None,
        now=now,
    )
