"""The per-minute metrics writer: the commands the worker adds to RQ's own pipelines.

One job execution that ends costs ONE extra command in the transaction RQ already sends (an EVAL of
record_end.lua: it updates the (queue, function) series and the queue's total for the minute, the
series' monotonic totals and the event stream; see layout.py for the fields). EVAL, not EVALSHA: a
script cache flushed by a Redis restart can never fail the worker's transaction with NOSCRIPT (the body
costs the worker a copy of ~2 KB, Redis a SHA-1 of it: a few microseconds). A SimpleWorker sends only the
events per job (`add_end_event`) and its counts through a CountBuffer (buffer.py, simple.py).

Why the split between `plan` and `add_end`: a forking worker runs each job in a fresh work horse, where
every line of Python run for the first time costs page faults (copy-on-write of the code, objects and
caches it touches), so everything that can be known before the fork is prepared once in the worker
(`plan`: bounded names, series ids, cached across jobs) and the horse only adds timestamps.

The writer remembers, per series, the last minute an execution of it was written (`written`, called by
the worker after each job): later executions in that minute skip the once-a-minute index and stream
upkeep in the script. The worker marks a minute only after a job ended, in the process that plans (the
work horse's memory is thrown away), so a horse killed before its commit leaves the next job to do it.
"""

from __future__ import annotations

import time
from pathlib import Path

from redis import Redis
from redis.client import Pipeline

from dashboard.rqlayer import keys
from dashboard.rqlayer.telemetry import layout
from dashboard.rqlayer.telemetry.events import APPEND, APPEND_END
from dashboard.settings import TelemetrySettings


def _lua(name: str) -> str:
    """A script of this folder without its comment lines (Redis hashes the whole body on every EVAL), with
    the bucket edges from layout.py and the shared evict_totals.lua filled in."""

    def body(file: str) -> str:
        lines = Path(__file__).with_name(file).read_text().splitlines()
        return "\n".join(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("--"))

    text = body(name).replace("__EVICT_TOTALS__", body("evict_totals.lua"))
    text = text.replace("__RUN_EDGES__", ",".join(map(str, layout.RUN_EDGES_US)))
    return text.replace("__WAIT_EDGES__", ",".join(map(str, layout.WAIT_EDGES_US)))


RECORD_END = _lua("record_end.lua")


def _ms(epoch: float | None) -> str:
    return "" if epoch is None else str(int(epoch * 1000))


def _us(seconds: float | None) -> str:
    return "" if seconds is None else str(layout.micros(seconds))


class Plan:
    """What one execution's telemetry needs that is known before it runs: bounded names, the started
    event's arguments and, for the minute it was planned in, the end EVAL's arguments up to the
    per-execution ones (`head`). `function`, `started` and `head` are None when the function name was
    not known then."""

    __slots__ = ("id", "job_id", "queue", "function", "worker", "total", "started", "minute", "head")

    def __init__(self, id_: str, job_id: str, queue: str, function: str | None, worker: str) -> None:
        self.id, self.job_id, self.queue, self.function, self.worker = id_, job_id, queue, function, worker
        self.total: tuple[str, str, str] = ("", "", "")
        self.started: tuple[str, ...] | None = None
        self.minute = 0
        self.head: tuple[str, ...] | None = None


class MetricsWriter:
    """Adds the commands for one execution to a pipeline (or sends them on a connection)."""

    def __init__(self, settings: TelemetrySettings | None = None) -> None:
        self.settings = settings or TelemetrySettings()
        self._ttl = str(self.settings.metrics_retention)
        self._keep_minutes = max(1, self.settings.metrics_retention // 60)
        self._maxlen = str(self.settings.events_maxlen)
        self._max_age_ms = str(self.settings.events_max_age * 1000)
        self._cap = str(layout.SERIES_CAP)
        self._static = (keys.metrics_series(), keys.events(), keys.metrics_totals(), keys.metrics_totals_index())
        self._members: dict[tuple[str, str | None], tuple[str, str, str]] = {}
        self._written: dict[str, int] = {}  # series id -> the last minute the worker wrote it in
        self._names: dict[str, str] = {}

    def _series(self, queue: str, function: str | None) -> tuple[str, str, str]:
        """(member, id, totals prefix) of a series, remembered for the most recent thousand series."""
        found = self._members.get((queue, function))
        if found is None:
            member = layout.series_member(queue, function)
            found = (member, layout.series_id(member), layout.totals_id(member) + ":")
            if len(self._members) > 1000:
                self._members.clear()
            self._members[(queue, function)] = found
        return found

    def _bound(self, name: str) -> str:
        """layout.bound for names that repeat (queues, functions, workers), remembered."""
        found = self._names.get(name)
        if found is None:
            if len(self._names) > 1000:
                self._names.clear()
            found = self._names[name] = layout.bound(name)
        return found

    def plan(
        self,
        job_id: str,
        queue: str,
        function: str | None,
        worker: str,
        now: float | None = None,
        events_only: bool = False,
    ) -> Plan:
        """Prepare one execution (before a forking worker forks): O(1), names and series cached across
        jobs. With the function name known, the started event and the end EVAL for this minute are
        ready; `add_end` rebuilds the latter when the execution ends in another minute. `events_only`:
        neither (a SimpleWorker's: its counts go through a CountBuffer, its events through simple.py)."""
        plan = Plan(job_id, layout.bound(job_id), self._bound(queue), function, self._bound(worker))
        plan.total = self._series(queue, None)
        if function is not None and not events_only:
            plan.started = self.started_args(job_id, queue, function, worker)
            plan.minute = int((time.time() if now is None else now) // 60)
            plan.head = self._head(plan, function, plan.minute)
        return plan

    def started_args(self, job_id: str, queue: str, function: str, worker: str) -> tuple[str, ...]:
        """The EVAL arguments of a `started` event but its time: add "at", <epoch ms> (events.APPEND)."""
        b = self._bound
        return (
            APPEND,
            "1",
            self._static[1],
            self._maxlen,
            "",
            "type",
            "started",
            "job_id",
            layout.bound(job_id),
            "queue",
            b(queue),
            "function",
            b(function),
            "worker",
            b(worker),
            "exc_type",
            "",
        )

    def written(self, plan: Plan) -> None:
        """After an execution planned by `plan` ended: its series' later executions in the minute it was
        planned in skip the script's once-a-minute upkeep. O(1), no round trip."""
        if plan.function is None or plan.head is None:
            return
        if len(self._written) > 1000:
            self._written.clear()
        self._written[self._series(plan.queue, plan.function)[1]] = plan.minute

    def _head(self, plan: Plan, function: str, minute: int) -> tuple[str, ...]:
        """The end EVAL's command, script, keys and ARGV 1-14 (see record_end.lua)."""
        pair, total = self._series(plan.queue, function), plan.total
        upkeep = "" if self._written.get(pair[1]) == minute else "1"
        return (
            "EVAL",
            RECORD_END,
            "6",
            keys.metrics_minute(minute, pair[1]),
            keys.metrics_minute(minute, total[1]),
            *self._static,
            self._ttl,
            str(minute),
            pair[0],
            total[0],
            self._cap,
            str(minute - self._keep_minutes),
            self._maxlen,
            self._max_age_ms,
            plan.job_id,
            plan.queue,
            self._bound(function),
            plan.worker,
            pair[2],
            upkeep,
        )

    def add_end(
        self,
        target: Pipeline | Redis,
        plan: Plan,
        function: str,
        outcome: str,
        *,
        ended_at: float | None = None,
        run_us: str = "",
        wait_us: str = "",
        event: str = "",
        exc_type: str = "",
        started_ms: str = "",
        enqueued_ms: str = "",
    ) -> None:
        """Add (to a pipeline) or send (on a connection) the one EVAL for an ended execution: `outcome`
        is one of layout.OUTCOMES, `event` the event type ("" = no event); durations in whole
        microseconds and times in epoch milliseconds as decimal strings ("" = unknown). O(1) in Redis
        (a few dozen hash fields, two zset entries, one XADD)."""
        ended_at = time.time() if ended_at is None else ended_at
        minute = int(ended_at // 60)
        head = plan.head
        if head is None or plan.minute != minute or plan.function != function:
            head = self._head(plan, function, minute)
        target.execute_command(  # type: ignore[no-untyped-call] # not eval: 2 fewer functions to fault in
            *head,
            layout.OUTCOMES[outcome],
            run_us,
            wait_us,
            str(int(ended_at * 1000)),
            event,
            exc_type if len(exc_type) <= layout.NAME_LIMIT else layout.bound(exc_type),
            started_ms,
            enqueued_ms,
        )

    def add_end_event(
        self,
        target: Pipeline | Redis,
        plan: Plan,
        function: str,
        event: str,
        *,
        ended_at: float,
        run_us: str = "",
        wait_us: str = "",
        exc_type: str = "",
        started_ms: str = "",
        enqueued_ms: str = "",
        started_event_at: str = "",
    ) -> None:
        """The end event alone, with the fields record_end.lua gives it, and before it a `started` event at
        `started_event_at` (epoch ms) unless that is "" (one EVAL of events.APPEND_END, whose pcall keeps a
        stream key of the wrong type from failing RQ's transaction): for a worker whose counts go through a
        CountBuffer (buffer.py). O(1) in Redis: one or two XADDs, trimmed by length."""
        target.execute_command(  # type: ignore[no-untyped-call]
            "EVAL",
            APPEND_END,
            "1",
            self._static[1],
            self._maxlen,
            started_event_at,
            event,
            plan.job_id,
            plan.queue,
            self._bound(function),
            str(int(ended_at * 1000)),
            plan.worker,
            exc_type if len(exc_type) <= layout.NAME_LIMIT else layout.bound(exc_type),
            started_ms,
            enqueued_ms,
            run_us,
            wait_us,
        )

    def series_of(self, plan: Plan, function: str) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
        """The (member, id, totals prefix) of the execution's series and of its queue's total. O(1), cached."""
        return self._series(plan.queue, function), plan.total

    def record_end(
        self,
        target: Pipeline | Redis,
        *,
        queue: str,
        function: str,
        outcome: str,
        ended_at: float | None = None,
        run_s: float | None = None,
        wait_s: float | None = None,
        event: str = "",
        job_id: str = "",
        worker: str = "",
        exc_type: str = "",
        started_at: float | None = None,
        enqueued_at: float | None = None,
    ) -> None:
        """`add_end` from plain values (seconds, epoch seconds): for tests, benchmarks and collectors."""
        self.add_end(
            target,
            self.plan(job_id, queue, function, worker),
            function,
            outcome,
            ended_at=ended_at,
            run_us=_us(run_s),
            wait_us=_us(wait_s),
            event=event,
            exc_type=exc_type,
            started_ms=_ms(started_at),
            enqueued_ms=_ms(enqueued_at),
        )
