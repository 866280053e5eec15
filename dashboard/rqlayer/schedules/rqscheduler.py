"""Reader for rq-scheduler (0.14) schedules: a job hash (and its zset score or paused entry) as a
Schedule. Recurrence lives in the job's PICKLED `meta` (`cron_string`, `interval`, `repeat`): read
only through payloads.decode (restricted unpickler). rq-scheduler reuses the job id for every run,
so the job hash's last status is the last outcome.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis

from dashboard.rqlayer import cron as cronlib
from dashboard.rqlayer import keys
from dashboard.rqlayer.decode import text, timestamp
from dashboard.rqlayer.payloads import decode_job_data
from dashboard.rqlayer.schedules.model import (
    ACTIVE_STATUSES,
    META_END,
    META_TIMEZONE,
    OVERDUE_GRACE_SECONDS,
    TERMINAL_STATUSES,
    RawHash,
    Schedule,
    call_preview,
    epoch,
    meta_int,
    meta_str,
    paused_entry,
    read_meta,
)
from dashboard.rqlayer.vocabulary import valid_job_id
from tasks.registry import get_task


def schedule_from_hash(
    job_id: str,
    raw: RawHash | None,
    score: float | None,
    *,
    paused: bool = False,
    paused_at: datetime | None = None,
    unsafe: bool = False,
    now: datetime | None = None,
) -> Schedule:
    """One rq-scheduler job hash (with its zset score or remembered paused score) as a Schedule.
    No Redis. Guarantee: meta and data are read through the restricted decoder (data unrestricted
    only with `unsafe`, and kwargs for editing always restricted); odd data becomes a note, never an error."""
    next_run = epoch(score) if score is not None else None
    if not raw:
        return Schedule(
            id=job_id,
            source="rq-scheduler",
            kind="one-off",
            next_run=next_run,
            paused=paused,
            paused_at=paused_at,
            exists=False,
            note="its job data is gone (expired or deleted): rq-scheduler drops it at its next pass",
        )
    f = {text(k): v for k, v in raw.items()}
    meta, meta_safe, meta_note = read_meta(f)
    call = decode_job_data(f.get("data"), unsafe=unsafe, pretty=False)
    safe_call = decode_job_data(f.get("data"), pretty=False) if unsafe else call
    kwargs = safe_call.kwargs.value if safe_call.kwargs.safe and isinstance(safe_call.kwargs.value, dict) else None
    args = safe_call.args.value if safe_call.args.safe and isinstance(safe_call.args.value, list) else None
    if call.args.safe:
        preview, args_safe = call_preview(call.args.value, call.kwargs.value), True
    else:
        preview, args_safe = call.args.note or "not displayable safely", False
    func_name = call.func_name or text(f.get("description")).split("(", 1)[0]
    cron_string = meta_str(meta, "cron_string")
    interval = meta_int(meta, "interval")
    repeat = meta_int(meta, "repeat")
    tz_name = meta_str(meta, META_TIMEZONE)
    end = meta.get(META_END)
    end_at = timestamp(end) if isinstance(end, str) else None
    notes = [meta_note] if meta_note else []
    expected = None
    broken = cronlib.validate(cron_string) if cron_string else None
    if broken:
        # Written by hand or by another tool: list it as what it is rather than guess at its meaning.
        kind, raw_text, words = "cron", cron_string[: cronlib.MAX_LENGTH], "broken: the cron string is not valid"
        notes.append(f"its cron string is not valid ({broken}): edit or delete the schedule")
    elif cron_string:
        kind, raw_text = "cron", cron_string
        words = cronlib.describe(cron_string) or cron_string
        if tz_name and next_run is not None and not paused:
            expected = _expected_cron_run(cron_string, tz_name, next_run, now or datetime.now(UTC))
    elif interval:
        kind, raw_text = "interval", f"{interval} s"
        words = cronlib.to_words(interval)
    else:
        kind, raw_text, words = "one-off", "", "once"
    if not meta_safe:
        kind, words = "one-off", "unknown (meta not readable safely)"
    status = text(f.get("status"))
    ended_at = timestamp(f.get("ended_at"))
    outcome = status if status in TERMINAL_STATUSES else ""
    if status in ACTIVE_STATUSES:
        notes.append(f"a run is {status} now")
    return Schedule(
        id=job_id,
        source="rq-scheduler",
        kind=kind,
        func_name=func_name,
        registered=get_task(func_name) is not None,
        args_preview=preview,
        args_safe=args_safe,
        kwargs=kwargs,
        args=args,
        description=text(f.get("description")),
        cron=cron_string,
        interval=interval,
        words=words,
        raw=raw_text,
        timezone=tz_name,
        next_run=next_run,
        paused=paused,
        paused_at=paused_at,
        status=status,
        last_run_at=ended_at if outcome or status in ACTIVE_STATUSES else None,
        last_outcome=outcome,
        queue=text(f.get("origin")),
        repeats_left=repeat,
        end=end_at,
        exists=True,
        meta_safe=meta_safe,
        note="; ".join(notes),
        expected_next=expected,
    )


def _expected_cron_run(cron_string: str, tz_name: str, next_run: datetime, now: datetime) -> datetime | None:
    """The run the console's zone gives, when rq-scheduler's stored next run differs from it."""
    if (now - next_run).total_seconds() > OVERDUE_GRACE_SECONDS:
        return None  # overdue: the health banner says why, a drift note would only confuse
    try:
        [expected] = cronlib.next_runs(cron_string, tz_name, 1, now=min(now, next_run) - timedelta(seconds=1))
    except ValueError:
        return None
    return expected if abs((expected - next_run).total_seconds()) >= 60 else None


def get_schedule(connection: redis.Redis, schedule_id: str, unsafe: bool = False) -> Schedule | None:
    """One rq-scheduler schedule (active or paused), or None. Cost: one pipelined round trip.
    Guarantee: read-only; an invalid id is None without a Redis call."""
    if not valid_job_id(schedule_id):
        return None
    pipe = connection.pipeline(transaction=False)
    pipe.zscore(keys.RQ_SCHEDULER_JOBS, schedule_id)
    pipe.hget(keys.paused_schedules(), schedule_id)
    pipe.hgetall(keys.job(schedule_id))
    score, paused_raw, raw = pipe.execute()
    if score is not None:
        return schedule_from_hash(schedule_id, raw, score, unsafe=unsafe)
    if paused_raw is not None:
        paused_score, paused_at = paused_entry(paused_raw)
        return schedule_from_hash(schedule_id, raw, paused_score, paused=True, paused_at=paused_at, unsafe=unsafe)
    return None
