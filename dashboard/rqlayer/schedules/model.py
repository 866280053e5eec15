"""The Schedules read model: what one schedule is (whatever its source), the page's groups, the
constants every part shares, and the small decoders of the console's own bookkeeping. Flask-free,
Redis-free: the readers (rqscheduler, registries, rqcron) build these from raw hashes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dashboard.rqlayer.decode import epoch as epoch  # re-exported: schedules read it from here
from dashboard.rqlayer.decode import text
from dashboard.rqlayer.errors import Conflict, InvalidInput, LayerError, NotFound
from dashboard.rqlayer.payloads import decode

MAX_SCHEDULES = 1000  # rq-scheduler entries read per page: schedules are few; the page says when capped
NEXT_DUE_PER_QUEUE = 5
MAX_CRON_SCHEDULERS = 50
MAX_QUEUES = 500
OVERDUE_GRACE_SECONDS = 90  # rqscheduler's default pass is every 60 s, plus its lock's 10 s
MAX_INTERVAL = 366 * 24 * 3600
MAX_REPEAT = 1_000_000
PREVIEW_CHARS = 160
DEFAULT_ID_PREFIX = "default-"

# A hash as HGETALL answers on the layer's connections (decode_responses=False): bytes to bytes.
RawHash = Mapping[bytes, bytes]

META_TIMEZONE = "console_timezone"
META_END = "console_end"
META_DEFAULT = "console_default"
META_SCHEDULE = "console_schedule"  # on a job started by "run now": the schedule it copies

ACTIVE_STATUSES = ("queued", "started")
TERMINAL_STATUSES = ("finished", "failed", "stopped", "canceled")
LAST_RUN_FIELDS = ("status", "started_at", "ended_at", "enqueued_at", "worker_name", "last_heartbeat")


# ---------------------------------------------------------------- errors (the layer's family: 404/409/422)


class ScheduleError(LayerError):
    """Refused before anything changed; the message is for the operator. Raised as one of the three
    below, so the status follows from the family; `except ScheduleError` catches them all."""

    status = 422


class ScheduleInvalid(InvalidInput, ScheduleError):
    """The request itself is wrong (a time in the past, an unregistered task, a bad field)."""


class ScheduleNotFound(NotFound, ScheduleError):
    pass


class ScheduleConflict(Conflict, ScheduleError):
    """The schedule is not in a state that allows the action (running, already paused, …)."""


# ---------------------------------------------------------------- read model


@dataclass(frozen=True)
class Schedule:
    """One thing that runs later. `source`: "rq-scheduler" (recurring or one-off, maybe paused),
    "rq" (RQ's own scheduled registry: a one-off delayed job or a retry backoff), "rq-cron"."""

    id: str
    source: str
    kind: str  # cron | interval | one-off
    func_name: str = ""
    registered: bool = False
    args_preview: str = ""
    args_safe: bool = True
    kwargs: dict[str, Any] | None = None  # the decoded plain kwargs (edit form), None when not safely readable
    args: list[Any] | None = None
    description: str = ""
    cron: str = ""
    interval: int | None = None
    words: str = ""  # the schedule in words
    raw: str = ""  # the schedule as written (cron string, seconds)
    timezone: str = ""  # IANA zone the console computed runs in ("" = the scheduler process's time)
    next_run: datetime | None = None
    paused: bool = False
    paused_at: datetime | None = None
    status: str = ""  # the job hash's status
    last_run_at: datetime | None = None
    last_outcome: str = ""  # finished, failed, stopped…; "" when it never ran
    queue: str = ""
    repeats_left: int | None = None
    end: datetime | None = None
    exists: bool = True  # False: listed, but its job hash is gone
    meta_safe: bool = True
    note: str = ""
    expected_next: datetime | None = None  # the next run in `timezone`, when rq-scheduler's differs
    process: str = ""  # rq-cron: which `rq cron` process holds it

    @property
    def is_default(self) -> bool:
        return self.id.startswith(DEFAULT_ID_PREFIX)

    @property
    def recurring(self) -> bool:
        return self.kind in ("cron", "interval")

    @property
    def running(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def overdue(self) -> bool:
        return (
            not self.paused
            and self.next_run is not None
            and (datetime.now(UTC) - self.next_run).total_seconds() > OVERDUE_GRACE_SECONDS
        )

    @property
    def edit_refusal(self) -> str:
        """The one rule for "can the console edit this schedule": "" when it can, else why not (the
        edit routes answer 409 with it; the Edit button shows only when it is "")."""
        if self.source != "rq-scheduler":
            return (
                "Only rq-scheduler schedules are edited here: RQ's own scheduled jobs are rescheduled, and "
                "rq cron schedules live in their config file."
            )
        if not self.exists:
            return "Its job data is gone: delete the schedule."
        if not self.registered:
            return (
                f"It runs {self.func_name or 'a function'}, which is not a task registered in tasks/: the "
                "console only edits schedules of registered tasks."
            )
        if self.kwargs is None or not self.meta_safe:
            return "Its arguments or settings cannot be read safely, so the console cannot edit them."
        if self.args:
            return "It passes positional arguments, which the console's form cannot show: edit it in code."
        if not self.recurring:
            return "It is a one-off: reschedule it instead."
        return ""

    @property
    def editable(self) -> bool:
        return not self.edit_refusal

    @property
    def run_refusal(self) -> str:
        """The one rule for "can the console run this schedule now": "" when it can, else why not."""
        if self.source != "rq-scheduler" or not self.exists:
            return "no such schedule"
        if not self.registered:
            return (
                f"{self.func_name or 'its function'} is not a registered task: the console only runs tasks "
                "registered in tasks/"
            )
        if self.kwargs is None or self.args is None:
            return "its arguments cannot be read safely, so the console cannot copy them"
        return ""

    @property
    def runnable(self) -> bool:
        return not self.run_refusal

    @property
    def zone_label(self) -> str:
        return self.timezone or "scheduler's local time"


@dataclass(frozen=True)
class QueueScheduled:
    """RQ's scheduled registry of one queue: how many wait, the next few, who runs them."""

    queue: str
    count: int
    next_due: list[Schedule]
    scheduler: str  # the worker scheduler holding this queue's lock, "" when none

    @property
    def running(self) -> bool:
        return bool(self.scheduler)


@dataclass(frozen=True)
class CronProcess:
    """A registered `rq cron` process (RQ 3)."""

    name: str
    hostname: str
    pid: str
    last_heartbeat: datetime | None
    config_file: str
    jobs: list[Schedule]

    @property
    def alive(self) -> bool:
        return (
            self.last_heartbeat is not None and (datetime.now(UTC) - self.last_heartbeat).total_seconds() < cron_ttl()
        )


@dataclass(frozen=True)
class ScheduleBook:
    """Everything the Schedules page shows, grouped."""

    recurring: list[Schedule]
    one_offs: list[Schedule]
    paused: list[Schedule]
    total: int  # rq-scheduler entries (ZCARD)
    capped: bool  # more than MAX_SCHEDULES: only the soonest are listed
    queues: list[QueueScheduled]
    cron_processes: list[CronProcess]

    def all(self) -> list[Schedule]:
        found = self.recurring + self.one_offs + self.paused
        found += [s for q in self.queues for s in q.next_due]
        found += [s for p in self.cron_processes for s in p.jobs]
        return found


def cron_ttl() -> int:
    try:
        from rq.defaults import DEFAULT_CRON_SCHEDULER_TTL

        return int(DEFAULT_CRON_SCHEDULER_TTL)
    except ImportError:  # pragma: no cover — older RQ has no rq cron
        return 120


def _short_repr(value: object) -> str:
    rendered = repr(value)
    return rendered if len(rendered) <= 60 else rendered[:57] + "…"


def call_preview(args: object, kwargs: object) -> str:
    """A short one-line `a, b, key=value` of a decoded call; what is not a list / mapping shows as nothing."""
    parts = [_short_repr(v) for v in args] if isinstance(args, list | tuple) else []
    if isinstance(kwargs, Mapping):
        parts += [f"{k}={_short_repr(v)}" for k, v in kwargs.items()]
    preview = ", ".join(parts)
    return (preview[:PREVIEW_CHARS] + "…") if len(preview) > PREVIEW_CHARS else preview


def paused_entry(raw: bytes | str | None) -> tuple[float | None, datetime | None]:
    value = text(raw)
    try:
        data = json.loads(value)
    except ValueError:
        return None, None
    if isinstance(data, int | float):
        return float(data), None
    if isinstance(data, dict):
        score = data.get("score")
        return (float(score) if isinstance(score, int | float) else None), epoch(data.get("paused_at"))
    return None, None


def meta_str(meta: Mapping[str, Any], key: str) -> str:
    """A meta field that must be a string (cron string, zone): "" when absent or of another type."""
    value = meta.get(key)
    return value if isinstance(value, str) else ""


def meta_int(meta: Mapping[str, Any], key: str) -> int | None:
    """A meta field that must be an integer (interval, repeat): None when absent or of another type."""
    value = meta.get(key)
    return value if isinstance(value, int) else None


def read_meta(fields: Mapping[str, Any]) -> tuple[dict[str, Any], bool, str]:
    shown = decode(fields.get("meta"), pretty=False)
    if shown.format == "empty":
        return {}, True, ""
    if shown.safe and isinstance(shown.value, dict):
        return shown.value, True, ""
    return {}, False, shown.note or "its meta cannot be read safely"
