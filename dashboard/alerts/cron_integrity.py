"""Cron integrity: `rq cron` processes that run the same entries (so every run is enqueued twice), and
recurring schedules that missed runs. Warnings for the Schedules page and observations for the alert kinds
cron_duplicate and missed_runs. Flask-free.

Duplicates. RQ 3's `rq cron` takes no lock: two processes started with the same config each enqueue every
entry. Each process registers itself (`<prefix>:cron_schedulers`, name -> heartbeat) with a hash listing its
entries (`cron_jobs`: name, func_name, queue_name, cron / interval) and its config file. Two live processes
(heartbeat within RQ's cron TTL, 120 s) that list the same entry (same name, function, queue and schedule)
enqueue it twice; the config file path alone proves nothing (a relative path on two hosts), the entries do.
Entries shared by the same set of processes form one warning; its subject (stable across restarts, as
process names carry pids) is the config file when they share one, else the entries' names.

Missed runs: the schedule page's rule (dashboard/history/missed_runs.py: an expected fire time with no run
within its tolerance) over the first page of each recurring schedule's runs (history/schedule_history.py),
counted within a window. Reading every schedule's runs costs one indexed query per schedule (at most
MAX_CHECKED schedules), so the Schedules page keeps the answer MISSED_CACHE_SECONDS in process memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

import redis
import sqlalchemy as sa

from dashboard.history import missed_runs, schedule_history
from dashboard.rqlayer import keys
from dashboard.rqlayer.decode import text
from dashboard.rqlayer.schedules import cron_run_ids, list_schedules
from dashboard.rqlayer.schedules.model import MAX_CRON_SCHEDULERS, CronProcess, Schedule, cron_ttl
from dashboard.rqlayer.schedules.rqcron import cron_process

MAX_CHECKED = 50
PAGE_WINDOW = timedelta(hours=24)  # the Schedules page warns about misses of the last day
MISSED_CACHE_SECONDS = 60


@dataclass(frozen=True)
class CronDuplicate:
    subject: str
    processes: tuple[str, ...]  # "host:pid" of each live process running these entries
    entries: tuple[str, ...]  # the entries' names
    config_file: str

    @property
    def text(self) -> str:
        where = f" (config {self.config_file})" if self.config_file else ""
        names = ", ".join(self.entries[:5]) + (f" and {len(self.entries) - 5} more" if len(self.entries) > 5 else "")
        return (
            f"{len(self.processes)} rq cron processes ({', '.join(self.processes)}) run the same entries{where}: "
            f"{names}. RQ takes no lock between them, so each run is enqueued {len(self.processes)} times: stop all "
            "but one."
        )


@dataclass(frozen=True)
class MissedSchedule:
    schedule: Schedule
    missed: int  # expected runs with no run, in the window (at least this many when `capped`)
    latest: datetime  # the newest missed fire time
    capped: bool = False

    @property
    def text(self) -> str:
        more = "at least " if self.capped else ""
        return (
            f"Schedule {self.schedule.id} ({self.schedule.func_name}) missed {more}{self.missed} run(s), the latest "
            f"expected at {self.latest:%Y-%m-%d %H:%M} UTC."
        )


def live_processes(connection: redis.Redis, now: datetime | None = None) -> list[CronProcess]:
    """The `rq cron` processes whose heartbeat is within RQ's TTL. Cost: one ZRANGEBYSCORE (at most
    MAX_CRON_SCHEDULERS) and one pipeline of their hashes. Read-only; odd hashes read as empty."""
    now = now or datetime.now(UTC)
    try:
        names = cast(
            list[tuple[bytes, float]],
            connection.zrangebyscore(
                keys.cron_schedulers(),
                now.timestamp() - cron_ttl(),
                "+inf",
                start=0,
                num=MAX_CRON_SCHEDULERS,
                withscores=True,
            ),
        )
    except redis.ResponseError:  # WRONGTYPE: not RQ's registry
        return []
    if not names:
        return []
    pipe = connection.pipeline(transaction=False)
    for name, _ in names:
        pipe.hgetall(keys.cron_scheduler(text(name)))
    replies = pipe.execute(raise_on_error=False)
    return [
        cron_process(text(name), score, raw if isinstance(raw, dict) else {})
        for (name, score), raw in zip(names, replies, strict=True)
    ]


def find_duplicates(processes: Iterable[CronProcess]) -> list[CronDuplicate]:
    """Entries listed by two or more of `processes`, grouped by the set of processes listing them. Pure."""
    by_entry: dict[tuple, list[CronProcess]] = {}
    for process in processes:
        seen = set()
        for job in process.jobs:
            entry = (job.id, job.func_name, job.queue, job.cron, job.interval)
            if entry not in seen:
                seen.add(entry)
                by_entry.setdefault(entry, []).append(process)
    groups: dict[tuple[str, ...], list[str]] = {}
    holders: dict[tuple[str, ...], list[CronProcess]] = {}
    for entry, found in by_entry.items():
        if len(found) > 1:
            names = tuple(sorted(p.name for p in found))
            groups.setdefault(names, []).append(entry[0])
            holders[names] = found
    duplicates = []
    for names, entries in groups.items():
        found = holders[names]
        configs = {p.config_file for p in found}
        config = configs.pop() if len(configs) == 1 else ""
        entries = sorted(set(entries))
        subject = f"config {config}" if config else "entries " + ", ".join(entries)
        duplicates.append(
            CronDuplicate(subject[:250], tuple(f"{p.hostname}:{p.pid}" for p in found), tuple(entries), config)
        )
    return sorted(duplicates, key=lambda d: d.subject)


def duplicates(connection: redis.Redis, now: datetime | None = None) -> list[CronDuplicate]:
    """Live `rq cron` processes running the same entries. Cost: live_processes'."""
    return find_duplicates(live_processes(connection, now))


def _run_ids(connection: redis.Redis, schedule: Schedule) -> list[str]:
    return cron_run_ids(connection, schedule.id) if schedule.source == "rq-cron" else [schedule.id]


def missed(
    connection: redis.Redis,
    sql: sa.Connection,
    window: timedelta,
    schedule_id: str = "",
    now: datetime | None = None,
    schedules: Iterable[Schedule] | None = None,
) -> list[MissedSchedule]:
    """Recurring schedules (or the one `schedule_id`) with missed runs whose expected time is within
    `window` before now. Cost: the Schedules page's Redis read (rqlayer/schedules/book.py) unless the caller
    has `schedules` already, then per schedule (at most MAX_CHECKED) one ZRANGE for an `rq cron` entry's run
    ids and one indexed SQL page of runs."""
    now = now or datetime.now(UTC)
    since = now - window
    found = []
    listed = list_schedules(connection) if schedules is None else schedules
    recurring = [s for s in listed if s.recurring and (not schedule_id or s.id == schedule_id)]
    for schedule in recurring[:MAX_CHECKED]:
        page = schedule_history.run_page(sql, _run_ids(connection, schedule))
        checked = missed_runs.check(
            page.runs,
            missed_runs.Definition(schedule.cron, schedule.timezone, schedule.interval),
            upper=None,
            now=now,
            paused_at=schedule.paused_at if schedule.paused else None,
        )
        gaps = [e for e in checked.entries if isinstance(e, missed_runs.Missed) and e.last >= since]
        if gaps:
            found.append(
                MissedSchedule(
                    schedule, sum(g.count for g in gaps), max(g.last for g in gaps), any(g.capped for g in gaps)
                )
            )
    return found


_cache: dict[str, tuple[float, list[MissedSchedule]]] = {}
_cache_lock = threading.Lock()


def forget_cache() -> None:
    with _cache_lock:
        _cache.clear()


def missed_for_page(connection: redis.Redis, sql: sa.Connection, schedules: Iterable[Schedule]) -> list[MissedSchedule]:
    """`missed` over PAGE_WINDOW for the page's `schedules`, remembered MISSED_CACHE_SECONDS per Redis and
    database: the page polls every few seconds; missed runs change by the minute."""
    cache_key = f"{connection.connection_pool!r} {sql.engine.url!r}"
    with _cache_lock:
        hit = _cache.get(cache_key)
    if hit and time.monotonic() - hit[0] < MISSED_CACHE_SECONDS:
        return hit[1]
    result = missed(connection, sql, PAGE_WINDOW, schedules=schedules)
    with _cache_lock:
        _cache[cache_key] = (time.monotonic(), result)
    return result
