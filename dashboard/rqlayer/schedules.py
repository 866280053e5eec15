"""Everything that runs later: read model, health and actions for the Schedules area. Flask-free.

Four sources:
- rq-scheduler (`rq:scheduler:scheduled_jobs`, score = next run epoch): recurring cron and interval
  schedules and one-offs. Recurrence lives in the job's PICKLED `meta` (`cron_string`, `interval`,
  `repeat`, `use_local_timezone`): read here only through payloads.decode (restricted unpickler).
  rq-scheduler reuses the job id for every run, so the job hash's last status is the last outcome.
- RQ's own scheduled registries (`<prefix>:scheduled:<queue>`): one-off delayed jobs and retry
  backoffs, run by workers started with --with-scheduler.
- RQ 3 `rq cron` processes (`<prefix>:cron_schedulers`, `<prefix>:cron_scheduler:<name>`): shown,
  read-only (their schedule lives in a config file, not in Redis).
- Schedules paused in the console: removed from rq-scheduler's zset and remembered in
  `<prefix>:console:paused-schedules` (id -> JSON {score, paused_at}), in one MULTI.

Timezones. rq-scheduler evaluates a cron string in its own process's local time (UTC on most
servers; `use_local_timezone` changes only how the result is expressed, not the instant). The
console computes the run it writes (on create, edit, resume) in the operator's IANA zone, DST
included, and keeps the zone in meta (`console_timezone`); every later run is computed by
rq-scheduler in its process's time. The page says so, and flags a schedule whose next run differs
from the one the chosen zone gives (run `rqscheduler` with TZ=<zone> to keep them equal).

Writes are raw Redis in MULTI/EXEC (WATCH where they depend on what was read), never
`Job.fetch` + `job.save()`: a lossy safe decode would corrupt meta.
"""

from __future__ import annotations

import hashlib
import json
import uuid
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis
from rq import Queue

from dashboard.rqlayer import actions, keys
from dashboard.rqlayer import cron as cronlib
from dashboard.rqlayer.decode import integer, text, timestamp
from dashboard.rqlayer.jobs import valid_job_id
from dashboard.rqlayer.payloads import decode, decode_job_data
from tasks.registry import TaskSpec, get_task

MAX_SCHEDULES = 1000  # rq-scheduler entries read per page: schedules are few; the page says when capped
NEXT_DUE_PER_QUEUE = 5
MAX_CRON_SCHEDULERS = 50
MAX_QUEUES = 500
OVERDUE_GRACE_SECONDS = 90  # rqscheduler's default pass is every 60 s, plus its lock's 10 s
MAX_INTERVAL = 366 * 24 * 3600
MAX_REPEAT = 1_000_000
PREVIEW_CHARS = 160
DEFAULT_ID_PREFIX = "default-"

# rq-scheduler's cron helper calls crontab without `default_utc`, and crontab 1.0.5 warns about it on
# every call (harmless: the behaviour is documented in this module's docstring). Set once, narrowly.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"rq_scheduler\.utils")

META_TIMEZONE = "console_timezone"
META_END = "console_end"
META_DEFAULT = "console_default"
META_SCHEDULE = "console_schedule"  # on a job started by "run now": the schedule it copies

ACTIVE_STATUSES = ("queued", "started")
TERMINAL_STATUSES = ("finished", "failed", "stopped", "canceled")
LAST_RUN_FIELDS = ("status", "started_at", "ended_at", "enqueued_at", "worker_name", "last_heartbeat")


# ---------------------------------------------------------------- errors

class ScheduleError(ValueError):
    """Refused before anything changed; the message is for the operator."""


class ScheduleNotFound(ScheduleError):
    pass


class ScheduleConflict(ScheduleError):
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
    kwargs: dict | None = None  # the decoded plain kwargs (edit form), None when not safely readable
    args: list | None = None
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
        return (not self.paused and self.next_run is not None
                and (datetime.now(UTC) - self.next_run).total_seconds() > OVERDUE_GRACE_SECONDS)

    @property
    def editable(self) -> bool:
        return (self.source == "rq-scheduler" and self.exists and self.recurring and self.registered
                and self.kwargs is not None and not self.args and self.meta_safe)

    @property
    def runnable(self) -> bool:
        return self.source == "rq-scheduler" and self.exists and self.registered and self.kwargs is not None

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
        return (self.last_heartbeat is not None
                and (datetime.now(UTC) - self.last_heartbeat).total_seconds() < _cron_ttl())


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


def _cron_ttl() -> int:
    try:
        from rq.defaults import DEFAULT_CRON_SCHEDULER_TTL

        return int(DEFAULT_CRON_SCHEDULER_TTL)
    except ImportError:  # pragma: no cover — older RQ has no rq cron
        return 120


def _epoch(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _short_repr(value) -> str:
    rendered = repr(value)
    return rendered if len(rendered) <= 60 else rendered[:57] + "…"


def _preview(args, kwargs) -> str:
    parts = [_short_repr(v) for v in args or []]
    parts += [f"{k}={_short_repr(v)}" for k, v in (kwargs or {}).items()]
    preview = ", ".join(parts)
    return (preview[:PREVIEW_CHARS] + "…") if len(preview) > PREVIEW_CHARS else preview


def _paused_entry(raw) -> tuple[float | None, datetime | None]:
    value = text(raw)
    try:
        data = json.loads(value)
    except ValueError:
        return None, None
    if isinstance(data, int | float):
        return float(data), None
    if isinstance(data, dict):
        score = data.get("score")
        return (float(score) if isinstance(score, int | float) else None), _epoch(data.get("paused_at"))
    return None, None


def _meta(fields: dict) -> tuple[dict, bool, str]:
    shown = decode(fields.get("meta"), pretty=False)
    if shown.format == "empty":
        return {}, True, ""
    if shown.safe and isinstance(shown.value, dict):
        return shown.value, True, ""
    return {}, False, shown.note or "its meta cannot be read safely"


def _schedule_from_hash(job_id: str, raw: dict, score: float | None, *, paused: bool = False,
                        paused_at: datetime | None = None, unsafe: bool = False,
                        now: datetime | None = None) -> Schedule:
    next_run = _epoch(score) if score is not None else None
    if not raw:
        return Schedule(id=job_id, source="rq-scheduler", kind="one-off", next_run=next_run, paused=paused,
                        paused_at=paused_at, exists=False,
                        note="its job data is gone (expired or deleted): rq-scheduler drops it at its next pass")
    f = {text(k): v for k, v in raw.items()}
    meta, meta_safe, meta_note = _meta(f)
    call = decode_job_data(f.get("data"), unsafe=unsafe, pretty=False)
    safe_call = decode_job_data(f.get("data"), pretty=False) if unsafe else call
    kwargs = safe_call.kwargs.value if safe_call.kwargs.safe and isinstance(safe_call.kwargs.value, dict) else None
    args = safe_call.args.value if safe_call.args.safe and isinstance(safe_call.args.value, list) else None
    if call.args.safe:
        preview, args_safe = _preview(call.args.value, call.kwargs.value), True
    else:
        preview, args_safe = call.args.note or "not displayable safely", False
    func_name = call.func_name or text(f.get("description")).split("(", 1)[0]
    cron_string = meta.get("cron_string") if isinstance(meta.get("cron_string"), str) else ""
    interval = meta.get("interval") if isinstance(meta.get("interval"), int) else None
    repeat = meta.get("repeat") if isinstance(meta.get("repeat"), int) else None
    tz_name = meta.get(META_TIMEZONE) if isinstance(meta.get(META_TIMEZONE), str) else ""
    end = meta.get(META_END)
    end_at = timestamp(end) if isinstance(end, str) else None
    notes = [meta_note] if meta_note else []
    expected = None
    broken = cronlib.validate(cron_string) if cron_string else None
    if broken:
        # Written by hand or by another tool: list it as what it is rather than guess at its meaning.
        kind, raw_text, words = "cron", cron_string[:cronlib.MAX_LENGTH], "broken: the cron string is not valid"
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
        id=job_id, source="rq-scheduler", kind=kind, func_name=func_name, registered=get_task(func_name) is not None,
        args_preview=preview, args_safe=args_safe, kwargs=kwargs, args=args,
        description=text(f.get("description")), cron=cron_string, interval=interval, words=words, raw=raw_text,
        timezone=tz_name, next_run=next_run, paused=paused, paused_at=paused_at, status=status,
        last_run_at=ended_at if outcome or status in ACTIVE_STATUSES else None, last_outcome=outcome,
        queue=text(f.get("origin")), repeats_left=repeat, end=end_at, exists=True, meta_safe=meta_safe,
        note="; ".join(notes), expected_next=expected,
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


def read_schedules(connection: redis.Redis, unsafe: bool = False, now: datetime | None = None) -> ScheduleBook:
    """The Schedules page's data in three pipelined round trips whatever the number of jobs:
    ids and counts; the schedules' job hashes and each queue's next few due; rq cron processes."""
    now = now or datetime.now(UTC)
    pipe = connection.pipeline(transaction=False)
    pipe.zrange(keys.RQ_SCHEDULER_JOBS, 0, MAX_SCHEDULES - 1, withscores=True)
    pipe.zcard(keys.RQ_SCHEDULER_JOBS)
    pipe.hlen(keys.paused_schedules())
    pipe.hscan(keys.paused_schedules(), 0, count=MAX_SCHEDULES)
    pipe.smembers(keys.queues())
    pipe.zrange(keys.cron_schedulers(), 0, MAX_CRON_SCHEDULERS - 1, desc=True, withscores=True)
    entries, total, _paused_count, (_, paused_raw), queue_keys, cron_names = pipe.execute()
    queues = sorted(keys.queue_name_from_key(text(k)) for k in queue_keys)[:MAX_QUEUES]
    scheduled = [(text(member), score) for member, score in entries]
    active_ids = {job_id for job_id, _ in scheduled}
    paused = []
    for member, value in list(paused_raw.items())[:MAX_SCHEDULES]:
        job_id = text(member)
        if job_id not in active_ids:  # in both: a pause raced with a run; the zset wins (it will fire)
            paused.append((job_id, *_paused_entry(value)))

    pipe = connection.pipeline(transaction=False)
    for job_id, _ in scheduled:
        pipe.hgetall(keys.job(job_id))
    for job_id, _, _ in paused:
        pipe.hgetall(keys.job(job_id))
    for queue in queues:
        pipe.zcard(keys.registry("scheduled", queue))
        pipe.zrange(keys.registry("scheduled", queue), 0, NEXT_DUE_PER_QUEUE - 1, withscores=True)
        pipe.get(keys.builtin_scheduler_lock(queue))
    for name, _ in cron_names:
        pipe.hgetall(keys.cron_scheduler(text(name)))
    replies = pipe.execute()
    position = 0
    recurring, one_offs, paused_rows = [], [], []
    for job_id, score in scheduled:
        row = _schedule_from_hash(job_id, replies[position], score, unsafe=unsafe, now=now)
        position += 1
        (recurring if row.recurring else one_offs).append(row)
    for job_id, score, paused_at in paused:
        paused_rows.append(_schedule_from_hash(job_id, replies[position], score, paused=True, paused_at=paused_at,
                                               unsafe=unsafe, now=now))
        position += 1
    queue_rows = []
    due_ids: list[tuple[int, str, float]] = []
    for index, queue in enumerate(queues):
        count, due, lock = replies[position:position + 3]
        position += 3
        queue_rows.append((queue, int(count), text(lock)))
        due_ids.extend((index, text(member), score) for member, score in due)
    cron_hashes = replies[position:]

    # The next few due of each queue: one more pipelined round trip (only when there are any).
    due_by_queue: dict[int, list[Schedule]] = {}
    if due_ids:
        pipe = connection.pipeline(transaction=False)
        for _, job_id, _ in due_ids:
            pipe.hgetall(keys.job(job_id))
        for (index, job_id, score), raw in zip(due_ids, pipe.execute(), strict=True):
            due_by_queue.setdefault(index, []).append(_builtin_row(job_id, raw, score, unsafe))
    book_queues = [QueueScheduled(queue, count, due_by_queue.get(i, []), lock)
                   for i, (queue, count, lock) in enumerate(queue_rows)]
    processes = [_cron_process(text(name), score, raw) for (name, score), raw in zip(cron_names, cron_hashes,
                                                                                    strict=True)]
    recurring.sort(key=lambda s: (s.next_run or datetime.max.replace(tzinfo=UTC), s.id))
    paused_rows.sort(key=lambda s: s.id)
    return ScheduleBook(recurring, one_offs, paused_rows, int(total), int(total) > len(scheduled), book_queues,
                        processes)


def list_schedules(connection: redis.Redis, unsafe: bool = False) -> list[Schedule]:
    """Every schedule as one flat list (rq-scheduler active and paused, each queue's next few due in
    RQ's scheduled registry, rq cron jobs). `read_schedules` has the same, grouped, with counts."""
    return read_schedules(connection, unsafe).all()


def get_schedule(connection: redis.Redis, schedule_id: str, unsafe: bool = False) -> Schedule | None:
    """One rq-scheduler schedule (active or paused), or None."""
    if not valid_job_id(schedule_id):
        return None
    pipe = connection.pipeline(transaction=False)
    pipe.zscore(keys.RQ_SCHEDULER_JOBS, schedule_id)
    pipe.hget(keys.paused_schedules(), schedule_id)
    pipe.hgetall(keys.job(schedule_id))
    score, paused_raw, raw = pipe.execute()
    if score is not None:
        return _schedule_from_hash(schedule_id, raw, score, unsafe=unsafe)
    if paused_raw is not None:
        paused_score, paused_at = _paused_entry(paused_raw)
        return _schedule_from_hash(schedule_id, raw, paused_score, paused=True, paused_at=paused_at, unsafe=unsafe)
    return None


def _builtin_row(job_id: str, raw: dict, score: float, unsafe: bool) -> Schedule:
    if not raw:
        return Schedule(id=job_id, source="rq", kind="one-off", next_run=_epoch(score), exists=False,
                        note="its job data is gone (expired or deleted)")
    f = {text(k): v for k, v in raw.items()}
    call = decode_job_data(f.get("data"), unsafe=unsafe, pretty=False)
    preview, safe = ((_preview(call.args.value, call.kwargs.value), True) if call.args.safe
                     else (call.args.note or "not displayable safely", False))
    retries = integer(f.get("number_of_retries")) or 0
    func_name = call.func_name or text(f.get("description")).split("(", 1)[0]
    return Schedule(
        id=job_id, source="rq", kind="one-off", func_name=func_name, registered=get_task(func_name) is not None,
        args_preview=preview, args_safe=safe, description=text(f.get("description")),
        words="retry backoff" if retries else "once", timezone="UTC", next_run=_epoch(score),
        status=text(f.get("status")), queue=text(f.get("origin")),
        note=f"retry #{retries}" if retries else "",
    )


def _cron_process(name: str, heartbeat: float, raw: dict) -> CronProcess:
    f = {text(k): text(v) for k, v in (raw or {}).items()}
    try:
        entries = json.loads(f.get("cron_jobs") or "[]")
    except ValueError:
        entries = []
    jobs = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        expression = entry.get("cron") if isinstance(entry.get("cron"), str) else ""
        interval = entry.get("interval") if isinstance(entry.get("interval"), int) else None
        args, kwargs = _json_value(entry.get("args"), list), _json_value(entry.get("kwargs"), dict)
        func_name = str(entry.get("func_name") or "")
        jobs.append(Schedule(
            id=str(entry.get("name") or func_name), source="rq-cron", kind="cron" if expression else "interval",
            func_name=func_name, registered=get_task(func_name) is not None,
            args_preview=_preview(args, kwargs), args=args, kwargs=kwargs,
            cron=expression, interval=interval,
            words=(cronlib.describe(expression) or expression) if expression else cronlib.to_words(interval or 0),
            raw=expression or (f"{interval} s" if interval else ""), timezone="",
            next_run=timestamp(entry.get("next_enqueue_time")), last_run_at=timestamp(entry.get("latest_enqueue_time")),
            queue=str(entry.get("queue_name") or ""),
            process=f"{f.get('hostname', '?')}:{f.get('pid', '?')}",
            note="rq cron evaluates cron strings in its process's local time",
        ))
    return CronProcess(name=name, hostname=f.get("hostname", ""), pid=f.get("pid", ""),
                       last_heartbeat=_epoch(heartbeat), config_file=f.get("config_file", ""), jobs=jobs)


def _json_value(raw, kind):
    if isinstance(raw, kind):
        return raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            return kind()
        return value if isinstance(value, kind) else kind()
    return kind()


# ---------------------------------------------------------------- health

@dataclass(frozen=True)
class Banner:
    level: str  # danger, warn, info
    text: str


@dataclass(frozen=True)
class QueueSchedulerState:
    queue: str
    scheduled: int
    scheduler: str  # the lock holder's name, "" when no worker runs RQ's scheduler for this queue


@dataclass(frozen=True)
class SchedulerHealth:
    rq_scheduler_jobs: int
    rq_scheduler_paused: int
    rq_scheduler_lock: bool  # an rqscheduler pass holds the lock at this moment
    overdue: int  # rq-scheduler entries due more than OVERDUE_GRACE_SECONDS ago
    oldest_due: datetime | None
    queues: list[QueueSchedulerState]
    cron_processes_alive: int
    banners: list[Banner] = field(default_factory=list)

    @property
    def rq_scheduler_running(self) -> bool | None:
        """True: a pass is running now; False: due schedules are not being fired; None: cannot tell
        (rq-scheduler leaves no trace between passes unless something is overdue)."""
        if self.rq_scheduler_lock:
            return True
        if self.overdue:
            return False
        return None


def health(connection: redis.Redis, now: datetime | None = None,
           grace: int = OVERDUE_GRACE_SECONDS) -> SchedulerHealth:
    """Whether the schedulers that should fire the waiting jobs run, in two pipelined round trips.

    rq-scheduler 0.14 keeps no registry of its processes: `rq:scheduler_lock` (value: the time the
    pass began) exists only while a pass runs, and its instance hashes (`rq:scheduler_instance:<uuid>`)
    could only be found by SCAN. So the console reads the evidence it can get cheaply: the lock, and
    entries due longer ago than one pass plus `grace` seconds: due work not fired means no process."""
    now = now or datetime.now(UTC)
    cutoff = now.timestamp() - grace
    pipe = connection.pipeline(transaction=False)
    pipe.zcard(keys.RQ_SCHEDULER_JOBS)
    pipe.hlen(keys.paused_schedules())
    pipe.exists(keys.RQ_SCHEDULER_LOCK)
    pipe.zcount(keys.RQ_SCHEDULER_JOBS, "-inf", cutoff)
    pipe.zrange(keys.RQ_SCHEDULER_JOBS, 0, 0, withscores=True)
    pipe.smembers(keys.queues())
    pipe.zcount(keys.cron_schedulers(), now.timestamp() - _cron_ttl(), "+inf")
    total, paused, lock, overdue, first, queue_keys, cron_alive = pipe.execute()
    queues = sorted(keys.queue_name_from_key(text(k)) for k in queue_keys)[:MAX_QUEUES]
    pipe = connection.pipeline(transaction=False)
    for queue in queues:
        pipe.zcard(keys.registry("scheduled", queue))
        pipe.get(keys.builtin_scheduler_lock(queue))
    replies = pipe.execute() if queues else []
    states = [QueueSchedulerState(queue, int(replies[2 * i]), text(replies[2 * i + 1]))
              for i, queue in enumerate(queues)]
    oldest = _epoch(first[0][1]) if first else None
    banners = []
    if total and not lock and overdue:
        late = (now - oldest).total_seconds() if oldest else 0
        banners.append(Banner("danger", f"rq-scheduler jobs exist but no rq-scheduler process is running — nothing "
                                        f"will fire: {overdue} schedule(s) overdue, the oldest by {_span(late)}. "
                                        "Start `rqscheduler --url <redis>`."))
    for state in states:
        if state.scheduled and not state.scheduler:
            banners.append(Banner("warn", f"{state.scheduled} scheduled job(s) in queue {state.queue} but no "
                                          "worker runs RQ's scheduler (--with-scheduler): they will not be queued."))
    return SchedulerHealth(int(total), int(paused), bool(lock), int(overdue), oldest, states, int(cron_alive),
                           banners)


def _span(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


# ---------------------------------------------------------------- create and edit

def new_schedule_id() -> str:
    return f"sched-{uuid.uuid4().hex[:16]}"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _check_common(spec: TaskSpec | None, queue: str, repeat: int | None, schedule_id: str | None) -> str:
    if spec is None or get_task(spec.name) is None:
        raise ScheduleError("only tasks registered in tasks/ can be scheduled")
    try:
        queue = actions.validate_queue_name(queue or spec.queue)
    except actions.ActionError as error:
        raise ScheduleError(str(error)) from None
    if repeat is not None and not 1 <= int(repeat) <= MAX_REPEAT:
        raise ScheduleError(f"the repeat count is a whole number from 1 to {MAX_REPEAT:,}")
    if schedule_id is not None:
        _check_id(schedule_id)
    return queue


def _check_id(schedule_id: str) -> None:
    if not schedule_id or len(schedule_id) > 128 or not all(c.isascii() and (c.isalnum() or c in "-_")
                                                            for c in schedule_id):
        raise ScheduleError("a schedule id is 1 to 128 letters, digits, - and _")


def create_cron(connection: redis.Redis, spec: TaskSpec, kwargs: dict, cron: str, tz_name: str, queue: str,
                repeat: int | None = None, end: datetime | None = None, schedule_id: str | None = None,
                description: str | None = None, now: datetime | None = None,
                extra_meta: Mapping[str, Any] | None = None) -> str:
    """Create (or, with the id of an existing schedule, update in place) an rq-scheduler cron
    schedule of a registered task. The first run is computed in `tz_name` (DST-aware); an end date
    becomes a repeat count (rq-scheduler has no end date). Returns the schedule id."""
    now = _aware(now or datetime.now(UTC))
    queue = _check_common(spec, queue, repeat, schedule_id)
    message = cronlib.validate(cron)
    if message:
        raise ScheduleError(f"cron: {message}")
    expression = cronlib.normalize(cron)
    tz_name = (tz_name or "UTC").strip()
    cronlib.zone(tz_name)
    [first] = cronlib.next_runs(expression, tz_name, 1, now=now)
    meta: dict[str, Any] = {META_TIMEZONE: tz_name, **(extra_meta or {})}
    if end is not None:
        end = _aware(end)
        if end <= now:
            raise ScheduleError("the end date is in the past")
        runs = cronlib.count_runs(expression, tz_name, now, end)
        if runs == 0:
            raise ScheduleError("the end date comes before the first run")
        repeat = min(repeat, runs) if repeat else runs
        meta[META_END] = end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def write(scheduler, sid, meta):
        scheduler.cron(expression, func=spec.name, kwargs=dict(kwargs), repeat=repeat, queue_name=queue, id=sid,
                       timeout=spec.timeout, description=description or None, meta=meta, result_ttl=-1)

    return _save(connection, schedule_id, queue, first, meta, write)


def create_interval(connection: redis.Redis, spec: TaskSpec, kwargs: dict, seconds: int, queue: str,
                    repeat: int | None = None, start: datetime | None = None, schedule_id: str | None = None,
                    end: datetime | None = None, tz_name: str = "UTC", description: str | None = None,
                    now: datetime | None = None, extra_meta: Mapping[str, Any] | None = None) -> str:
    """Create (or update in place) an rq-scheduler interval schedule: first run at `start` (default:
    now, i.e. at the scheduler's next pass), then every `seconds`. An end date becomes a repeat count."""
    now = _aware(now or datetime.now(UTC))
    queue = _check_common(spec, queue, repeat, schedule_id)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= MAX_INTERVAL:
        raise ScheduleError(f"the interval is a whole number of seconds from 1 to {MAX_INTERVAL:,}")
    tz_name = (tz_name or "UTC").strip()
    cronlib.zone(tz_name)
    first = _aware(start) if start is not None else _current_next_run(connection, schedule_id, now) or now
    meta: dict[str, Any] = {META_TIMEZONE: tz_name, **(extra_meta or {})}
    if end is not None:
        end = _aware(end)
        if end <= now:
            raise ScheduleError("the end date is in the past")
        if end < first:
            raise ScheduleError("the end date comes before the first run")
        runs = int((end - first).total_seconds() // seconds) + 1
        repeat = min(repeat, runs) if repeat else runs
        meta[META_END] = end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def write(scheduler, sid, meta):
        scheduler.schedule(first.astimezone(UTC).replace(tzinfo=None), func=spec.name, kwargs=dict(kwargs),
                           interval=seconds, repeat=repeat, queue_name=queue, id=sid, timeout=spec.timeout,
                           description=description or None, meta=meta, result_ttl=-1)

    return _save(connection, schedule_id, queue, first, meta, write)


def _current_next_run(connection: redis.Redis, schedule_id: str | None, now: datetime) -> datetime | None:
    """An edited interval schedule keeps its rhythm: its pending next run (active or paused), if any
    is still ahead."""
    if not schedule_id:
        return None
    score = connection.zscore(keys.RQ_SCHEDULER_JOBS, schedule_id)
    if score is None:
        raw = connection.hget(keys.paused_schedules(), schedule_id)
        score = _paused_entry(raw)[0] if raw is not None else None
    if score is None or score <= now.timestamp():
        return None
    return datetime.fromtimestamp(score, UTC)


def _scheduler(connection):
    from rq_scheduler import Scheduler

    return Scheduler(connection=connection)


def _refuse_during_pass(pipe) -> None:
    """rq-scheduler holds its lock while it fires due schedules, and then rewrites each job it took
    from memory: a pause, edit or delete written meanwhile would be undone. Its key is watched too,
    so a pass that starts before EXEC fails the transaction and this check refuses on the retry."""
    if pipe.exists(keys.RQ_SCHEDULER_LOCK):
        raise ScheduleConflict("rq-scheduler is firing due schedules right now: try again in a moment")


def _save(connection: redis.Redis, schedule_id: str | None, queue: str, first: datetime, meta: dict, write) -> str:
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
                pipe.watch(job_key, keys.paused_schedules(), keys.RQ_SCHEDULER_JOBS, keys.RQ_SCHEDULER_LOCK)
                _refuse_during_pass(pipe)
                old = pipe.hgetall(job_key)
                in_zset = pipe.zscore(keys.RQ_SCHEDULER_JOBS, sid) is not None
                paused_raw = pipe.hget(keys.paused_schedules(), sid)
                old_fields = {text(k): v for k, v in old.items()}
                old_status = text(old_fields.get("status"))
                if old and not schedule_id:
                    raise ScheduleConflict(f"a job with id {sid} already exists")
                if old and not in_zset and paused_raw is None:
                    raise ScheduleConflict("this job is not an rq-scheduler schedule any more (it ran and "
                                           "ended, or was removed): create a new schedule")
                if old_status in ACTIVE_STATUSES:
                    raise ScheduleConflict(f"a run of this schedule is {old_status} right now: try again when it ends")
                new_meta = dict(meta)
                old_meta, _, _ = _meta(old_fields)
                if META_DEFAULT in old_meta and META_DEFAULT not in new_meta:
                    new_meta[META_DEFAULT] = old_meta[META_DEFAULT]
                pipe.multi()
                if old:
                    pipe.delete(job_key)
                write(_scheduler(pipe), sid, new_meta)
                old_origin = text(old_fields.get("origin"))
                if old_status in TERMINAL_STATUSES and old_origin == queue:
                    pipe.hset(job_key, mapping={name: old_fields[name] for name in LAST_RUN_FIELDS
                                                if name in old_fields})
                elif old and old_origin:
                    for state in ("finished", "failed", "canceled"):
                        pipe.zrem(keys.registry(state, old_origin), sid)
                if paused_raw is not None and not in_zset:
                    _, paused_at = _paused_entry(paused_raw)
                    pipe.hset(keys.paused_schedules(), sid, _paused_value(score, paused_at))
                    pipe.zrem(keys.RQ_SCHEDULER_JOBS, sid)
                else:
                    pipe.zadd(keys.RQ_SCHEDULER_JOBS, {sid: score})
                    pipe.hdel(keys.paused_schedules(), sid)
                pipe.execute()
                return sid
            except redis.WatchError:
                continue
    raise ScheduleConflict("the schedule kept changing while it was saved: try again")


def _paused_value(score: float, paused_at: datetime | None) -> str:
    stamp = (paused_at or datetime.now(UTC)).timestamp()
    return json.dumps({"score": score, "paused_at": stamp})


# ---------------------------------------------------------------- actions

def run_now(connection: redis.Redis, schedule_id: str) -> str:
    """Enqueue one extra run of the schedule's task on its queue now, as a fresh job (new id), so
    the schedule itself (its id, next run, repeat count) is untouched. Returns the new job's id.
    Only registered tasks whose arguments can be read safely."""
    schedule = get_schedule(connection, schedule_id)
    if schedule is None or not schedule.exists:
        raise ScheduleNotFound("no such schedule")
    spec = get_task(schedule.func_name)
    if spec is None:
        raise ScheduleConflict(f"{schedule.func_name or 'its function'} is not a registered task: the console only "
                               "runs tasks registered in tasks/")
    if schedule.kwargs is None or schedule.args is None:
        raise ScheduleConflict("its arguments cannot be read safely, so the console cannot copy them")
    raw = connection.hmget(keys.job(schedule_id), "timeout")
    timeout = integer(raw[0]) or spec.timeout
    job = Queue(schedule.queue or spec.queue, connection=connection).enqueue_call(
        spec.name, args=tuple(schedule.args), kwargs=dict(schedule.kwargs), timeout=timeout,
        result_ttl=spec.result_ttl, retry=spec.retry(), meta={META_SCHEDULE: schedule_id},
        description=f"run now of schedule {schedule_id}: {schedule.description}"[:500],
    )
    return job.id


def pause(connection: redis.Redis, schedule_id: str, now: datetime | None = None) -> datetime | None:
    """Take the schedule out of rq-scheduler's zset and remember its next run, in one MULTI: it
    keeps its definition and does not fire. Returns the next run it had."""
    stamp = (now or datetime.now(UTC)).timestamp()
    outcome: dict = {}

    def transaction(pipe):
        outcome.clear()
        _refuse_during_pass(pipe)
        score = pipe.zscore(keys.RQ_SCHEDULER_JOBS, schedule_id)
        if score is None:
            outcome["error"] = "paused" if pipe.hexists(keys.paused_schedules(), schedule_id) else "missing"
            return
        pipe.multi()
        pipe.zrem(keys.RQ_SCHEDULER_JOBS, schedule_id)
        pipe.hset(keys.paused_schedules(), schedule_id, json.dumps({"score": score, "paused_at": stamp}))
        outcome["score"] = score

    connection.transaction(transaction, keys.RQ_SCHEDULER_JOBS, keys.paused_schedules(), keys.RQ_SCHEDULER_LOCK)
    if outcome.get("error") == "paused":
        raise ScheduleConflict("it is paused already")
    if outcome.get("error") == "missing":
        raise ScheduleNotFound("no such schedule (it may have run for the last time, or been deleted)")
    return _epoch(outcome["score"])


def _next_after_pause(raw: dict, stored: float | None, now: datetime) -> float:
    f = {text(k): v for k, v in raw.items()}
    meta, safe, _ = _meta(f)
    now_ts = now.timestamp()
    cron_string = meta.get("cron_string") if safe else None
    interval = meta.get("interval") if safe else None
    if isinstance(cron_string, str) and cron_string:
        broken = cronlib.validate(cron_string)
        if broken:
            raise ScheduleError(f"its stored cron string is not valid ({broken}), so it has no next run: edit "
                                "or delete the schedule")
        tz_name = meta.get(META_TIMEZONE) if isinstance(meta.get(META_TIMEZONE), str) else "UTC"
        try:
            return int(cronlib.next_runs(cron_string, tz_name or "UTC", 1, now=now)[0].timestamp())
        except ValueError:
            from rq_scheduler.utils import get_next_scheduled_time, to_unix

            local = bool(meta.get("use_local_timezone"))
            return to_unix(get_next_scheduled_time(cron_string, use_local_timezone=local))
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
    in its timezone; interval: its rhythm continued; a one-off already due: now). One MULTI."""
    now = _aware(now or datetime.now(UTC))
    outcome: dict = {}

    def transaction(pipe):
        outcome.clear()
        raw_entry = pipe.hget(keys.paused_schedules(), schedule_id)
        if raw_entry is None:
            outcome["error"] = "active" if pipe.zscore(keys.RQ_SCHEDULER_JOBS, schedule_id) is not None else "missing"
            return
        raw = pipe.hgetall(keys.job(schedule_id))
        if not raw:
            outcome["error"] = "gone"
            return
        stored, _ = _paused_entry(raw_entry)
        score = _next_after_pause(raw, stored, now)
        pipe.multi()
        pipe.hdel(keys.paused_schedules(), schedule_id)
        pipe.zadd(keys.RQ_SCHEDULER_JOBS, {schedule_id: score})
        outcome["score"] = score

    connection.transaction(transaction, keys.paused_schedules(), keys.job(schedule_id))
    error = outcome.get("error")
    if error == "active":
        raise ScheduleConflict("it is not paused")
    if error == "missing":
        raise ScheduleNotFound("no such paused schedule")
    if error == "gone":
        raise ScheduleNotFound("its job data is gone (expired or deleted): delete the schedule")
    return _epoch(outcome["score"])


def delete(connection: redis.Redis, schedule_id: str) -> None:
    """Remove the schedule for good: zset entry, paused entry, job hash and the keys it owns, and
    its entries in its queue's registries, in one MULTI. Refused while a run is executing."""
    job_key = keys.job(schedule_id)
    outcome: dict = {}

    def transaction(pipe):
        outcome.clear()
        _refuse_during_pass(pipe)
        status, origin = (text(v) for v in pipe.hmget(job_key, "status", "origin"))
        in_zset = pipe.zscore(keys.RQ_SCHEDULER_JOBS, schedule_id) is not None
        in_paused = pipe.hexists(keys.paused_schedules(), schedule_id)
        if not (in_zset or in_paused):
            outcome["error"] = "missing"
            return
        if status == "started":
            outcome["error"] = "started"
            return
        pipe.multi()
        pipe.zrem(keys.RQ_SCHEDULER_JOBS, schedule_id)
        pipe.hdel(keys.paused_schedules(), schedule_id)
        # The job itself goes through the one deletion path (queue, every registry, group, limit slot).
        actions.delete_in_transaction(connection, pipe, [schedule_id], actions.ANY_STATUS)

    replies = connection.transaction(transaction, job_key, keys.RQ_SCHEDULER_JOBS, keys.paused_schedules(),
                                     keys.RQ_SCHEDULER_LOCK)
    if not outcome and text(replies[-1][0]) not in ("ok", "missing"):
        raise ScheduleConflict("a worker took its last run a moment ago: the schedule is removed, that run goes "
                               "ahead and then stays as an ordinary job")
    if outcome.get("error") == "missing":
        raise ScheduleNotFound("no such schedule")
    if outcome.get("error") == "started":
        raise ScheduleConflict("a run of this schedule is executing right now: pause it, then delete it when "
                               "the run ends")


def reschedule(connection: redis.Redis, schedule_id: str, when: datetime, now: datetime | None = None) -> str:
    """Move a one-off (or the next run of a recurring schedule) to `when` (aware, future). Works on
    rq-scheduler's zset, a paused schedule's remembered time, and RQ's own scheduled registry.
    Returns where it was found: "rq-scheduler", "paused" or "rq"."""
    now = _aware(now or datetime.now(UTC))
    when = _aware(when)
    if when <= now:
        raise ScheduleError("this time is in the past")
    score = int(when.timestamp())
    if connection.zadd(keys.RQ_SCHEDULER_JOBS, {schedule_id: score}, xx=True, ch=True) or \
            connection.zscore(keys.RQ_SCHEDULER_JOBS, schedule_id) == score:
        return "rq-scheduler"
    outcome: dict = {}

    def transaction(pipe):
        outcome.clear()
        raw_entry = pipe.hget(keys.paused_schedules(), schedule_id)
        if raw_entry is None:
            outcome["found"] = False
            return
        _, paused_at = _paused_entry(raw_entry)
        pipe.multi()
        pipe.hset(keys.paused_schedules(), schedule_id, _paused_value(score, paused_at))
        outcome["found"] = True

    connection.transaction(transaction, keys.paused_schedules())
    if outcome.get("found"):
        return "paused"
    origin = text(connection.hget(keys.job(schedule_id), "origin"))
    if origin and connection.zadd(keys.registry("scheduled", origin), {schedule_id: score}, xx=True, ch=True):
        return "rq"
    if origin and connection.zscore(keys.registry("scheduled", origin), schedule_id) == score:
        return "rq"
    raise ScheduleNotFound("no such scheduled job (it may have run already)")


# ---------------------------------------------------------------- forms (shared by the page and any API)

@dataclass
class ScheduleRequest:
    """A validated create/edit request."""

    spec: TaskSpec | None = None
    kwargs: dict = field(default_factory=dict)
    kind: str = "cron"
    cron: str = ""
    seconds: int | None = None
    timezone: str = "UTC"
    queue: str = ""
    repeat: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    description: str = ""


PARAM_PREFIX = "arg-"
FORM_FIELDS = ("task", "kind", "cron", "interval", "timezone", "queue", "repeat", "start", "end", "description")


def parse_form(raw: Mapping[str, Any], now: datetime | None = None) -> tuple[ScheduleRequest, dict, dict]:
    """(request, field errors, parameter errors) from form values. Parameters come as
    `arg-<name>`; every problem is reported at once, each next to its field."""
    from dashboard.rqlayer.enqueue import parse_run_at
    from dashboard.rqlayer.params import validate_call

    now = _aware(now or datetime.now(UTC))
    errors: dict[str, str] = {}

    def get(name: str) -> str:
        value = raw.get(name)
        return "" if value is None else str(value).strip()

    request = ScheduleRequest()
    task_name = get("task")
    spec = get_task(task_name) if task_name else None
    if spec is None:
        errors["task"] = (f"{task_name[:100]!r} is not a registered task" if task_name
                          else "choose a registered task")
    request.spec = spec
    param_errors: dict[str, str] = {}
    if spec is not None:
        values = {p.name: raw.get(PARAM_PREFIX + p.name) for p in spec.params}
        request.kwargs, param_errors = validate_call(spec, values, checkbox_form=True)
    request.kind = get("kind") or "cron"
    if request.kind not in ("cron", "interval"):
        errors["kind"] = "choose cron or interval"
    tz_name = get("timezone") or "UTC"
    tz_error = cronlib.validate_timezone(tz_name)
    if tz_error:
        errors["timezone"] = tz_error
    request.timezone = tz_name
    if request.kind == "cron":
        message = cronlib.validate(get("cron"))
        if message:
            errors["cron"] = message
        request.cron = cronlib.normalize(get("cron"))
    elif request.kind == "interval":
        try:
            seconds = int(get("interval"))
        except ValueError:
            errors["interval"] = "a whole number of seconds, at least 1"
        else:
            if not 1 <= seconds <= MAX_INTERVAL:
                errors["interval"] = f"a whole number of seconds from 1 to {MAX_INTERVAL:,}"
            request.seconds = seconds
    try:
        request.queue = actions.validate_queue_name(get("queue") or (spec.queue if spec else "default"))
    except actions.ActionError as error:
        errors["queue"] = str(error)
    if get("repeat"):
        try:
            request.repeat = int(get("repeat"))
            if not 1 <= request.repeat <= MAX_REPEAT:
                raise ValueError
        except ValueError:
            errors["repeat"] = f"a whole number from 1 to {MAX_REPEAT:,}, or empty to repeat forever"
    # A cron schedule starts at its next matching time: a first run typed for an interval is ignored.
    for name in ("start", "end") if request.kind == "interval" else ("end",):
        if get(name) and not tz_error:
            try:
                setattr(request, name, parse_run_at(get(name), tz_name, now))
            except ValueError as error:
                errors[name] = str(error)
    if request.start and request.end and request.end < request.start:
        errors["end"] = "the end date comes before the first run"
    if request.kind == "cron" and request.end and "cron" not in errors and "timezone" not in errors:
        try:
            if cronlib.count_runs(request.cron, tz_name, now, request.end) == 0:
                errors["end"] = "the end date comes before the first run"
        except ValueError as error:
            errors["end"] = str(error)
    description = get("description")
    if len(description) > 200:
        errors["description"] = "at most 200 characters"
    request.description = description
    return request, errors, param_errors


def save(connection: redis.Redis, request: ScheduleRequest, schedule_id: str | None = None,
         now: datetime | None = None) -> str:
    """Create (or update in place) the schedule a validated request describes."""
    if request.kind == "interval":
        return create_interval(connection, request.spec, request.kwargs, int(request.seconds or 0), request.queue,
                               repeat=request.repeat, start=request.start, schedule_id=schedule_id, end=request.end,
                               tz_name=request.timezone, description=request.description or None, now=now)
    return create_cron(connection, request.spec, request.kwargs, request.cron, request.timezone, request.queue,
                       repeat=request.repeat, end=request.end, schedule_id=schedule_id,
                       description=request.description or None, now=now)


def form_values(schedule: Schedule) -> dict[str, str]:
    """An existing schedule as the edit form's raw values (parameters as `arg-<name>`)."""
    from dashboard.rqlayer.params import field_kind

    values = {
        "task": schedule.func_name, "kind": schedule.kind if schedule.kind in ("cron", "interval") else "cron",
        "cron": schedule.cron, "interval": str(schedule.interval or ""), "timezone": schedule.timezone or "UTC",
        "queue": schedule.queue, "repeat": "" if schedule.repeats_left is None else str(schedule.repeats_left),
        "description": "" if _is_generated(schedule) else schedule.description,
    }
    if schedule.end is not None:
        values["end"] = schedule.end.astimezone(cronlib.zone(schedule.timezone or "UTC")).strftime("%Y-%m-%dT%H:%M")
    spec = get_task(schedule.func_name)
    for name, value in (schedule.kwargs or {}).items():
        param = spec.param(name) if spec else None
        widget = field_kind(param).widget if param else "text"
        values[PARAM_PREFIX + name] = _raw_text(value, widget)
    return values


def _is_generated(schedule: Schedule) -> bool:
    return schedule.description.startswith(f"{schedule.func_name}(")


def _raw_text(value, widget: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M") if widget == "datetime" else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | dict | tuple):
        return json.dumps(value)
    return str(value)


# ---------------------------------------------------------------- default schedules declared in code

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
    slug = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in name.strip())[:100]
    return f"{DEFAULT_ID_PREFIX}{slug}"


def _fingerprint(decl) -> str:
    data = {"task": decl.task, "cron": decl.cron, "interval": decl.interval, "kwargs": dict(decl.kwargs or {}),
            "timezone": decl.timezone, "queue": decl.queue, "repeat": decl.repeat, "description": decl.description}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _declaration(item) -> DefaultSchedule:
    if isinstance(item, DefaultSchedule):
        return item
    source = item if isinstance(item, Mapping) else vars(item)
    known = DefaultSchedule.__dataclass_fields__
    return DefaultSchedule(**{k: v for k, v in source.items() if k in known})


def register_defaults(connection: redis.Redis, declared: Iterable, now: datetime | None = None,
                      strict: bool = False) -> DefaultsReport:
    """Register the declared default schedules idempotently: a missing one is created, a changed
    declaration updates its schedule in place, an unchanged one is left alone, and a paused one is
    never re-added (the operator's pause survives restarts). Items may be DefaultSchedule, or any
    object/mapping with the same fields. Errors are reported per name (raised with `strict`)."""
    from dashboard.rqlayer.params import validate_call

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
            spec = get_task(decl.task)
            if spec is None:
                raise ScheduleError(f"{decl.task!r} is not a registered task")
            if bool(decl.cron) == bool(decl.interval):
                raise ScheduleError("give exactly one of cron and interval")
            kwargs, param_errors = validate_call(spec, dict(decl.kwargs or {}))
            if param_errors:
                raise ScheduleError("; ".join(f"{k}: {v}" for k, v in param_errors.items()))
            fingerprint = _fingerprint(decl)
            pipe = connection.pipeline(transaction=False)
            pipe.hexists(keys.paused_schedules(), sid)
            pipe.zscore(keys.RQ_SCHEDULER_JOBS, sid)
            pipe.hmget(keys.job(sid), "status", "meta")
            is_paused, score, (status, raw_meta) = pipe.execute()
            if is_paused:
                report.paused.append(sid)
                continue
            if score is None and text(status) in ACTIVE_STATUSES:
                report.unchanged.append(sid)  # running now: rq-scheduler puts it back after this run
                continue
            existing = score is not None
            if existing:
                meta, _, _ = _meta({"meta": raw_meta})
                if meta.get(META_DEFAULT) == fingerprint:
                    report.unchanged.append(sid)
                    continue
            elif status is not None:
                actions.delete(connection, [sid])  # a finished one-time leftover: start afresh
            extra = {META_DEFAULT: fingerprint}
            queue = decl.queue or spec.queue
            if decl.cron:
                create_cron(connection, spec, kwargs, decl.cron, decl.timezone, queue, repeat=decl.repeat,
                            schedule_id=sid, description=decl.description or None, now=now, extra_meta=extra)
            else:
                create_interval(connection, spec, kwargs, int(decl.interval), queue, repeat=decl.repeat,
                                schedule_id=sid, tz_name=decl.timezone, description=decl.description or None,
                                now=now, extra_meta=extra)
            (report.updated if existing else report.created).append(sid)
        except (ScheduleError, ValueError, TypeError, AttributeError) as error:
            if strict:
                raise
            report.errors[sid] = str(error)
    return report
