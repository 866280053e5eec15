"""Actions on one existing schedule: run now, pause, resume, delete, reschedule. Each is one
MULTI/EXEC (WATCH on what it read), refused with a ScheduleNotFound / ScheduleConflict /
ScheduleInvalid before anything changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import redis
from rq import Queue

from dashboard.rqlayer import actions, feed, keys, serializers
from dashboard.rqlayer import cron as cronlib
from dashboard.rqlayer.decode import integer, text
from dashboard.rqlayer.schedules.model import (
    META_SCHEDULE,
    META_TIMEZONE,
    ScheduleConflict,
    ScheduleInvalid,
    ScheduleNotFound,
    epoch,
    meta_str,
    paused_entry,
    read_meta,
)
from dashboard.rqlayer.schedules.rqscheduler import get_schedule
from dashboard.rqlayer.schedules.writes import aware, paused_value, refuse_during_pass
from tasks.registry import get_task


@dataclass
class _Outcome:
    """What a transaction's callback found, read once the transaction is over. redis-py runs the
    callback again after a WatchError, so each run starts with `reset()`."""

    error: str = ""
    score: float | None = None

    def reset(self) -> None:
        self.error, self.score = "", None


def run_now(
    connection: redis.Redis,
    schedule_id: str,
    actor: str | None = None,
    *,
    kwargs_override: dict[str, Any] | None = None,
    extra_meta: dict[str, str] | None = None,
    label: str = "run now",
    serializer: str = serializers.PICKLE,
) -> str:
    """Enqueue one extra run of the schedule's task on its queue now, as a fresh job (new id), so
    the schedule itself (its id, next run, repeat count) is untouched. Returns the new job's id.
    Only what `Schedule.run_refusal` allows (registered task, arguments read safely), else
    ScheduleNotFound / ScheduleConflict. Cost: one pipelined read, one HMGET and RQ's enqueue (one
    transaction); with an `actor`, one more for its `schedule_run_now` event (never raises). Guarantee:
    never unpickles beyond the restricted decoder; the schedule is not written. `kwargs_override` (a
    test fire's payload, already checked against the task's parameters) replaces its arguments;
    `extra_meta` and `label` mark the run (a backfilled run says which missed time it stands for). The run
    is written with `serializer` (the instance's), so its workers can read it; InvalidInput for a value
    a JSON instance cannot hold."""
    schedule = get_schedule(connection, schedule_id)
    if schedule is None:
        raise ScheduleNotFound("no such schedule")
    if schedule.run_refusal:
        raise (ScheduleConflict if schedule.exists else ScheduleNotFound)(schedule.run_refusal)
    spec, args, kwargs = get_task(schedule.func_name), schedule.args, schedule.kwargs
    if kwargs_override is not None:
        args, kwargs = [], kwargs_override
    if spec is None or args is None or kwargs is None:  # ruled out by run_refusal; says so to mypy
        raise ScheduleConflict("its task or its arguments cannot be read")
    serializers.check(serializer, kwargs, args)
    raw = connection.hmget(keys.job(schedule_id), "timeout")
    timeout = integer(raw[0]) or spec.timeout
    queue = Queue(schedule.queue or spec.queue, connection=connection, serializer=serializers.rq_serializer(serializer))
    job = queue.enqueue_call(
        spec.name,
        args=tuple(args),
        kwargs=dict(kwargs),
        timeout=timeout,
        result_ttl=spec.result_ttl,
        retry=spec.retry(),
        meta={META_SCHEDULE: schedule_id, **(extra_meta or {})},
        description=f"{label} of schedule {schedule_id}: {schedule.description}"[:500],
    )
    if actor is not None:
        fields = {"job_id": job.id, "queue": job.origin, "function": spec.name, "extra": {"schedule": schedule_id}}
        feed.record(connection, feed.SCHEDULE_RUN_NOW, actor, **fields)
    return job.id


def pause(connection: redis.Redis, schedule_id: str, now: datetime | None = None) -> datetime | None:
    """Take the schedule out of rq-scheduler's zset and remember its next run, in one MULTI: it
    keeps its definition and does not fire. Returns the next run it had. Cost: one WATCH/MULTI
    transaction (2-3 reads, 2 writes), retried if a watched key changes. Guarantee: the schedule is in
    exactly one of the zset and the paused hash; refused (ScheduleConflict) while rq-scheduler runs a pass."""
    paused_at = now or datetime.now(UTC)
    outcome = _Outcome()

    def transaction(pipe: redis.client.Pipeline) -> None:
        outcome.reset()
        refuse_during_pass(pipe)
        score = pipe.zscore(keys.RQ_SCHEDULER_JOBS, schedule_id)
        if score is None:
            outcome.error = "paused" if pipe.hexists(keys.paused_schedules(), schedule_id) else "missing"
            return
        pipe.multi()
        pipe.zrem(keys.RQ_SCHEDULER_JOBS, schedule_id)
        pipe.hset(keys.paused_schedules(), schedule_id, paused_value(score, paused_at))
        outcome.score = score

    connection.transaction(transaction, keys.RQ_SCHEDULER_JOBS, keys.paused_schedules(), keys.RQ_SCHEDULER_LOCK)
    if outcome.error == "paused":
        raise ScheduleConflict("it is paused already")
    if outcome.error == "missing":
        raise ScheduleNotFound("no such schedule (it may have run for the last time, or been deleted)")
    return epoch(outcome.score)


def _next_after_pause(raw: Mapping[bytes | str, bytes | str], stored: float | None, now: datetime) -> float:
    f = {text(k): v for k, v in raw.items()}
    meta, safe, _ = read_meta(f)
    now_ts = now.timestamp()
    cron_string = meta.get("cron_string") if safe else None
    interval = meta.get("interval") if safe else None
    if isinstance(cron_string, str) and cron_string:
        broken = cronlib.validate(cron_string)
        if broken:
            raise ScheduleInvalid(
                f"its stored cron string is not valid ({broken}), so it has no next run: edit or delete the schedule"
            )
        tz_name = meta_str(meta, META_TIMEZONE) or "UTC"
        try:
            return int(cronlib.next_runs(cron_string, tz_name, 1, now=now)[0].timestamp())
        except ValueError:
            from rq_scheduler.utils import get_next_scheduled_time, to_unix

            local = bool(meta.get("use_local_timezone"))
            unix: int = to_unix(get_next_scheduled_time(cron_string, use_local_timezone=local))  # untyped library
            return unix
    if isinstance(interval, int) and interval > 0 and stored is not None:
        if stored > now_ts:
            return stored
        missed = int((now_ts - stored) // interval) + 1
        return stored + missed * interval
    if stored is not None and stored > now_ts:
        return stored
    return int(now_ts)  # a one-off that came due while paused runs at the scheduler's next pass


def resume(connection: redis.Redis, schedule_id: str, now: datetime | None = None) -> datetime:
    """Put a paused schedule back into rq-scheduler's zset at its next future run (cron: computed
    in its timezone; interval: its rhythm continued; a one-off already due: now). Cost: one WATCH/MULTI
    transaction (2-3 reads, 2 writes). Guarantee: atomic; ScheduleNotFound when it is not paused or its
    job hash is gone, ScheduleConflict when it is active."""
    now = aware(now or datetime.now(UTC))
    outcome = _Outcome()

    def transaction(pipe: redis.client.Pipeline) -> None:
        outcome.reset()
        raw_entry = pipe.hget(keys.paused_schedules(), schedule_id)
        if raw_entry is None:
            outcome.error = "active" if pipe.zscore(keys.RQ_SCHEDULER_JOBS, schedule_id) is not None else "missing"
            return
        raw = pipe.hgetall(keys.job(schedule_id))
        if not raw:
            outcome.error = "gone"
            return
        stored, _ = paused_entry(raw_entry)
        score = _next_after_pause(raw, stored, now)
        if epoch(score) is None:  # a remembered time out of any calendar's range (written by hand)
            outcome.error = "invalid"
            return
        pipe.multi()
        pipe.hdel(keys.paused_schedules(), schedule_id)
        pipe.zadd(keys.RQ_SCHEDULER_JOBS, {schedule_id: score})
        outcome.score = score

    connection.transaction(transaction, keys.paused_schedules(), keys.job(schedule_id))
    if outcome.error == "active":
        raise ScheduleConflict("it is not paused")
    if outcome.error == "missing":
        raise ScheduleNotFound("no such paused schedule")
    if outcome.error == "gone":
        raise ScheduleNotFound("its job data is gone (expired or deleted): delete the schedule")
    next_run = epoch(outcome.score)
    if next_run is None:
        raise ScheduleInvalid("its remembered next run is not a valid time: delete the schedule")
    return next_run


def delete(connection: redis.Redis, schedule_id: str) -> None:
    """Remove the schedule for good: zset entry, paused entry, job hash and the keys it owns, and
    its entries in its queue's registries, in one MULTI. Refused while a run is executing.
    Cost: one WATCH/MULTI transaction (3 reads, then the deletion path's writes). Guarantee: nothing
    or everything is removed; a run a worker took meanwhile goes ahead as an ordinary job (ScheduleConflict)."""
    job_key = keys.job(schedule_id)
    outcome = _Outcome()

    def transaction(pipe: redis.client.Pipeline) -> None:
        outcome.reset()
        refuse_during_pass(pipe)
        status, origin = (text(v) for v in pipe.hmget(job_key, "status", "origin"))
        in_zset = pipe.zscore(keys.RQ_SCHEDULER_JOBS, schedule_id) is not None
        in_paused = pipe.hexists(keys.paused_schedules(), schedule_id)
        if not (in_zset or in_paused):
            outcome.error = "missing"
            return
        if status == "started":
            outcome.error = "started"
            return
        pipe.multi()
        pipe.zrem(keys.RQ_SCHEDULER_JOBS, schedule_id)
        pipe.hdel(keys.paused_schedules(), schedule_id)
        # The job itself goes through the one deletion path (queue, every registry, group, limit slot).
        actions.delete_in_transaction(connection, pipe, [schedule_id], actions.ANY_STATUS)

    # Without value_from_callable, transaction() answers EXEC's replies: a list (redis-py types it wider).
    replies = cast(
        list[Any],
        connection.transaction(
            transaction, job_key, keys.RQ_SCHEDULER_JOBS, keys.paused_schedules(), keys.RQ_SCHEDULER_LOCK
        ),
    )
    if not outcome.error and text(replies[-1][0]) not in ("ok", "missing"):
        raise ScheduleConflict(
            "a worker took its last run a moment ago: the schedule is removed, that run goes "
            "ahead and then stays as an ordinary job"
        )
    if outcome.error == "missing":
        raise ScheduleNotFound("no such schedule")
    if outcome.error == "started":
        raise ScheduleConflict(
            "a run of this schedule is executing right now: pause it, then delete it when the run ends"
        )


def reschedule(connection: redis.Redis, schedule_id: str, when: datetime, now: datetime | None = None) -> str:
    """Move a one-off (or the next run of a recurring schedule) to `when` (aware, future). Works on
    rq-scheduler's zset, a paused schedule's remembered time, and RQ's own scheduled registry.
    Returns where it was found: "rq-scheduler", "paused" or "rq". Cost: 1-2 round trips when it is in
    rq-scheduler's zset, up to 6 otherwise. Guarantee: only an existing entry moves (ZADD XX), nothing is
    created; ScheduleInvalid for a past time, ScheduleNotFound when it is in none of the three."""
    now = aware(now or datetime.now(UTC))
    when = aware(when)
    if when <= now:
        raise ScheduleInvalid("this time is in the past")
    score = int(when.timestamp())
    if (
        connection.zadd(keys.RQ_SCHEDULER_JOBS, {schedule_id: score}, xx=True, ch=True)
        or connection.zscore(keys.RQ_SCHEDULER_JOBS, schedule_id) == score
    ):
        return "rq-scheduler"
    outcome = _Outcome()

    def transaction(pipe: redis.client.Pipeline) -> None:
        outcome.reset()
        raw_entry = pipe.hget(keys.paused_schedules(), schedule_id)
        if raw_entry is None:
            outcome.error = "missing"
            return
        _, paused_at = paused_entry(raw_entry)
        pipe.multi()
        pipe.hset(keys.paused_schedules(), schedule_id, paused_value(score, paused_at))

    connection.transaction(transaction, keys.paused_schedules())
    if not outcome.error:
        return "paused"
    origin = text(connection.hget(keys.job(schedule_id), "origin"))
    if origin and connection.zadd(keys.registry("scheduled", origin), {schedule_id: score}, xx=True, ch=True):
        return "rq"
    if origin and connection.zscore(keys.registry("scheduled", origin), schedule_id) == score:
        return "rq"
    raise ScheduleNotFound("no such scheduled job (it may have run already)")
