"""Default schedules declared in code (tasks/schedules.py: DEFAULT_SCHEDULES), registered at start
under stable ids "default-<name>", idempotently: an operator's pause and edits survive restarts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis

from dashboard.rqlayer import actions, keys
from dashboard.rqlayer.decode import text
from dashboard.rqlayer.schedules.model import (
    ACTIVE_STATUSES,
    DEFAULT_ID_PREFIX,
    META_DEFAULT,
    ScheduleError,
    ScheduleInvalid,
    read_meta,
)
from dashboard.rqlayer.schedules.writes import create_cron, create_interval
from tasks.registry import get_task


@dataclass(frozen=True)
class DefaultSchedule:
    """A schedule the application declares in tasks/ (e.g. `DEFAULT_SCHEDULES = [DefaultSchedule(...)]`)
    and the console registers at start under the stable id "default-<name>". Exactly one of `cron`
    and `interval` (seconds). `queue` defaults to the task's queue."""

    name: str
    task: str
    cron: str | None = None
    interval: int | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    timezone: str = "UTC"
    queue: str | None = None
    repeat: int | None = None
    description: str = ""


@dataclass
class DefaultsReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)  # left alone: the operator's pause survives restarts
    errors: dict[str, str] = field(default_factory=dict)


def default_id(name: str) -> str:
    """The stable id "default-<slug>" of a declared schedule (ASCII letters, digits, - and _). No Redis."""
    slug = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in name.strip())[:100]
    return f"{DEFAULT_ID_PREFIX}{slug}"


def _fingerprint(decl: DefaultSchedule) -> str:
    data = {
        "task": decl.task,
        "cron": decl.cron,
        "interval": decl.interval,
        "kwargs": dict(decl.kwargs or {}),
        "timezone": decl.timezone,
        "queue": decl.queue,
        "repeat": decl.repeat,
        "description": decl.description,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _declaration(item: object) -> DefaultSchedule:
    if isinstance(item, DefaultSchedule):
        return item
    source = item if isinstance(item, Mapping) else vars(item)
    known = DefaultSchedule.__dataclass_fields__
    return DefaultSchedule(**{k: v for k, v in source.items() if k in known})


def register_defaults(
    connection: redis.Redis, declared: Iterable[Any], now: datetime | None = None, strict: bool = False
) -> DefaultsReport:
    """Register the declared default schedules idempotently: a missing one is created, a changed
    declaration updates its schedule in place, an unchanged one is left alone, and a paused one is
    never re-added (the operator's pause survives restarts). Items may be DefaultSchedule, or any
    object/mapping with the same fields. Errors are reported per name (raised with `strict`).
    Cost: one round trip per declaration, plus the write (one transaction) for each one created or
    updated. Guarantee: one declaration's error never stops the others."""
    report = DefaultsReport()
    seen_ids: dict[str, str] = {}
    for item in declared:
        try:
            decl = _declaration(item)
            sid = default_id(decl.name)
        except (TypeError, AttributeError, ValueError) as error:
            report.errors[str(getattr(item, "name", item))[:100]] = f"not a schedule declaration: {error}"
            continue
        if sid in seen_ids:
            report.errors[decl.name] = f"its id {sid} is the same as {seen_ids[sid]!r}'s: rename one"
            continue
        seen_ids[sid] = decl.name
        try:
            _register_one(connection, decl, sid, report, now)
        except (ScheduleError, ValueError, TypeError, AttributeError) as error:
            if strict:
                raise
            report.errors[sid] = str(error)
    return report


def _register_one(
    connection: redis.Redis, decl: DefaultSchedule, sid: str, report: DefaultsReport, now: datetime | None
) -> None:
    from dashboard.rqlayer.params import validate_call

    spec = get_task(decl.task)
    if spec is None:
        raise ScheduleInvalid(f"{decl.task!r} is not a registered task")
    if bool(decl.cron) == bool(decl.interval):
        raise ScheduleInvalid("give exactly one of cron and interval")
    kwargs, param_errors = validate_call(spec, dict(decl.kwargs or {}))
    if param_errors:
        raise ScheduleInvalid("; ".join(f"{k}: {v}" for k, v in param_errors.items()))
    fingerprint = _fingerprint(decl)
    pipe = connection.pipeline(transaction=False)
    pipe.hexists(keys.paused_schedules(), sid)
    pipe.zscore(keys.RQ_SCHEDULER_JOBS, sid)
    pipe.hmget(keys.job(sid), "status", "meta")
    is_paused, score, (status, raw_meta) = pipe.execute()
    if is_paused:
        report.paused.append(sid)
        return
    if score is None and text(status) in ACTIVE_STATUSES:
        report.unchanged.append(sid)  # running now: rq-scheduler puts it back after this run
        return
    existing = score is not None
    if existing and read_meta({"meta": raw_meta})[0].get(META_DEFAULT) == fingerprint:
        report.unchanged.append(sid)
        return
    if not existing and status is not None:
        actions.delete(connection, [sid])  # a finished one-time leftover: start afresh
    extra = {META_DEFAULT: fingerprint}
    queue = decl.queue or spec.queue
    if decl.cron:
        create_cron(
            connection,
            spec,
            kwargs,
            decl.cron,
            decl.timezone,
            queue,
            repeat=decl.repeat,
            schedule_id=sid,
            description=decl.description or None,
            now=now,
            extra_meta=extra,
        )
    else:
        create_interval(
            connection,
            spec,
            kwargs,
            int(decl.interval or 0),
            queue,
            repeat=decl.repeat,
            schedule_id=sid,
            tz_name=decl.timezone,
            description=decl.description or None,
            now=now,
            extra_meta=extra,
        )
    (report.updated if existing else report.created).append(sid)
