"""Everything that runs later: read model, readers, health and writes for the Schedules area. Flask-free.

Which module holds what:
    model        Schedule & co (the read model), the shared constants, the error family members,
                 and the one rule each for "can the console edit / run this schedule"
    rqscheduler  reader of rq-scheduler's schedules (one job hash -> Schedule; get_schedule)
    registries   reader of RQ's own scheduled registries (delayed jobs, retry backoffs)
    rqcron       reader of RQ 3 `rq cron` processes (read-only)
    entry        one schedule by id from any source, and the job ids of its runs (its page)
    book         the Schedules page's whole read, pipelined (read_schedules, list_schedules)
    health       are the schedulers running (banners)
    writes       create / edit rq-scheduler schedules (create_cron, create_interval, save)
    control      run now, pause, resume, delete, reschedule
    defaults     default schedules declared in tasks/ (register_defaults)
Form parsing is the web side's (dashboard/web/schedule_forms.py).

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

from dashboard.rqlayer.schedules.book import list_schedules, read_schedules
from dashboard.rqlayer.schedules.control import delete, pause, reschedule, resume, run_now
from dashboard.rqlayer.schedules.defaults import DefaultSchedule, DefaultsReport, default_id, register_defaults
from dashboard.rqlayer.schedules.entry import cron_run_ids, find_schedule
from dashboard.rqlayer.schedules.health import Banner, QueueSchedulerState, SchedulerHealth, health
from dashboard.rqlayer.schedules.model import (
    MAX_INTERVAL,
    MAX_REPEAT,
    MAX_SCHEDULES,
    OVERDUE_GRACE_SECONDS,
    CronProcess,
    QueueScheduled,
    Schedule,
    ScheduleBook,
    ScheduleConflict,
    ScheduleError,
    ScheduleInvalid,
    ScheduleNotFound,
)
from dashboard.rqlayer.schedules.rqscheduler import get_schedule
from dashboard.rqlayer.schedules.writes import ScheduleRequest, create_cron, create_interval, new_schedule_id, save

__all__ = [
    "MAX_INTERVAL",
    "MAX_REPEAT",
    "MAX_SCHEDULES",
    "OVERDUE_GRACE_SECONDS",
    "Banner",
    "CronProcess",
    "DefaultSchedule",
    "DefaultsReport",
    "QueueScheduled",
    "QueueSchedulerState",
    "Schedule",
    "ScheduleBook",
    "ScheduleConflict",
    "ScheduleError",
    "ScheduleInvalid",
    "ScheduleNotFound",
    "ScheduleRequest",
    "SchedulerHealth",
    "create_cron",
    "create_interval",
    "cron_run_ids",
    "default_id",
    "delete",
    "find_schedule",
    "get_schedule",
    "health",
    "list_schedules",
    "new_schedule_id",
    "pause",
    "read_schedules",
    "register_defaults",
    "reschedule",
    "resume",
    "run_now",
    "save",
]
