"""RQ workers that record per-minute metrics and lifecycle events:

    rq worker -w dashboard.rqlayer.telemetry.worker.ConsoleWorker high default low
    rq worker -w dashboard.rqlayer.telemetry.worker.ConsoleSimpleWorker ...

They behave exactly like RQ's `Worker` / `SimpleWorker`; telemetry rides in the transactions RQ
already sends, so it costs no extra round trip per job:
- before the job runs (in the worker, before a forking worker forks) `execute_job` prepares its
  telemetry once (`MetricsWriter.plan`: bounded names, series ids, the started event; the function
  name read from the job's data without unpickling it, funcname.py), so the work horse, where code
  run for the first time costs copy-on-write page faults, only adds timestamps;
- the `started` event is one XADD in the transaction of RQ's `prepare_execution` (in the worker,
  through `set_state(BUSY)`); when the function name could not be read before the job ran, the work
  horse adds it to the pipeline of `prepare_job_execution` instead (through `heartbeat`);
- the end of an execution is one EVAL (record_end.lua) in the pipeline of
  `handle_job_success` / `handle_job_failure` / `handle_job_retry` (through `cleanup_execution`,
  which all three call with their pipeline). A WatchError retry of RQ's transaction re-adds it, so
  each execution is counted once, when RQ's own transaction commits.
- abandoned jobs (RQ's StartedJobRegistry cleanup: the worker that ran them died) are reported to an
  exception handler; they cost one round trip each.
That is the forking worker's way (its horses' memory is thrown away). ConsoleSimpleWorker ends jobs in its
own process and holds back more (simple.py): its counts are summed in memory and written once a second, and
its started event goes with the end event, so a job costs it one command in RQ's end transaction.
Anything that goes wrong in telemetry is logged and never changes what happens to the job.

Two things they do that stock workers do not, unrelated to telemetry: coalesced heartbeats (heartbeat.py:
RQ's work loop sends nine redundant round trips a job) and `reuse_driver_info`. A client made with
`Redis.from_url` (as `rq worker --url` makes it) reads redis-py's package metadata for every new
connection, and a forking worker makes one in every work horse: ~0.5 ms of each job. The workers resolve
it once, so every connection still sends the same CLIENT SETINFO. benchmarks/worker_overhead.py prints the
telemetry's own cost against stock workers with the same fixes, beside the RESULT (stock against ours).
Imports only the Flask-free layer.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.driver_info import DriverInfo
from rq import SimpleWorker, Worker
from rq.exceptions import AbandonedJobError
from rq.executions import Execution
from rq.job import Job, Retry
from rq.queue import Queue
from rq.registry import StartedJobRegistry
from rq.worker.base import BaseWorker, WorkerStatus

from dashboard.rqlayer.flow.worker import FlowMixin
from dashboard.rqlayer.heartbeat import CoalescedHeartbeat
from dashboard.rqlayer.telemetry import layout
from dashboard.rqlayer.telemetry.funcname import peek_function
from dashboard.rqlayer.telemetry.layout import epoch_ms
from dashboard.rqlayer.telemetry.metrics import MetricsWriter, Plan
from dashboard.rqlayer.telemetry.simple import SimpleTelemetry
from dashboard.settings import load_telemetry_settings

log = logging.getLogger(__name__)
MICROSECOND = timedelta(microseconds=1)


def reuse_driver_info(connection: Redis) -> None:
    """Make new connections of `connection`'s pool reuse one DriverInfo (redis-py's name and version for
    CLIENT SETINFO) instead of resolving the version from package metadata each time. Nothing changes
    when the client was given a driver_info, lib_name or lib_version. O(1), no round trip."""
    kwargs = connection.connection_pool.connection_kwargs
    if not ({"driver_info", "lib_name", "lib_version"} & kwargs.keys()):
        kwargs["driver_info"] = DriverInfo()


def _us(later: datetime | None, earlier: datetime | None) -> str:
    """Whole microseconds from `earlier` to `later` (never negative), "" when either is unknown."""
    if later is None or earlier is None:
        return ""
    return str(max(0, (later - earlier) // MICROSECOND))


def _ms(moment: datetime | None) -> str:
    return "" if moment is None else str(epoch_ms(moment))


def function_name(job: Job) -> str:
    """The job's function name, or a placeholder when its data cannot be decoded."""
    try:
        return job.func_name or ""
    except Exception:  # noqa: BLE001 - a job whose data does not decode still gets counted
        return "<undecodable>"


def _peeked(job: Job) -> str | None:
    try:
        return peek_function(job.data)
    except Exception:  # noqa: BLE001 - RQ reports data it cannot read; telemetry asks RQ later
        return None


class TelemetryMixin(BaseWorker):
    """The overrides shared by ConsoleWorker and ConsoleSimpleWorker (put it first in the bases).

    `batched`: for a worker that ends its jobs in its own process (SimpleWorker): counts summed in memory and
    written once a second, the started event sent with the end (simple.py)."""

    batched = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        try:
            reuse_driver_info(self.connection)
        except Exception:  # noqa: BLE001 - a client of another shape keeps redis-py's default
            log.debug("could not share the client's driver info", exc_info=True)
        self.telemetry = MetricsWriter(load_telemetry_settings())
        self._tm_plan: Plan | None = None
        self._tm_starting: Job | None = None
        self._tm_ending: tuple[str, str, str] | None = None  # job id, layout.OUTCOMES key, event type
        self._tm_exc_type = ""
        self._tm_simple = SimpleTelemetry(self.telemetry, self.connection) if self.batched else None
        # First in the chain, and it always lets the others run.
        self._exc_handlers.insert(0, self._tm_exception_handler)

    # -- before the job (the worker itself, before a forking worker forks) ------------------------
    def execute_job(self, job: Job, queue: Queue) -> None:
        try:
            if self._tm_simple is not None:
                # RQ decodes the job's data in this process anyway (it runs here): no peeking.
                function = function_name(job)
                self._tm_plan = self.telemetry.plan(job.id, job.origin, function, self.name, events_only=True)
                self._tm_simple.open(self._tm_plan, function)
            else:
                self._tm_plan = self.telemetry.plan(job.id, job.origin, _peeked(job), self.name)
        except Exception:
            self._tm_plan = None
            log.exception("telemetry: could not prepare job %s", job.id)
        try:
            super().execute_job(job, queue)
        finally:
            if self._tm_simple is not None:
                self._tm_simple.close()
        if self._tm_plan is not None:
            self.telemetry.written(self._tm_plan)

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        super().set_state(state, pipeline)
        plan = self._tm_plan
        # BUSY in prepare_execution's transaction (in the worker, before the fork): the started event
        # rides in it when the function name was known then; else the work horse adds it (heartbeat).
        if state != WorkerStatus.BUSY or pipeline is None or plan is None or plan.started is None:
            return
        try:
            pipeline.execute_command("EVAL", *plan.started, "at", str(int(time.time() * 1000)))  # type: ignore[no-untyped-call]
        except Exception:
            log.exception("telemetry: could not record the start of job %s", plan.id)

    def _tm_plan_of(self, job: Job) -> Plan:
        plan = self._tm_plan
        if plan is None or plan.id != job.id:  # not the job execute_job prepared (an abandoned one)
            plan = self.telemetry.plan(job.id, job.origin, _peeked(job), self.name)
        return plan

    # -- started ---------------------------------------------------------------------------------
    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        self._tm_starting = job
        try:
            super().prepare_job_execution(job, remove_from_intermediate_queue)
        finally:
            self._tm_starting = None

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        super().heartbeat(timeout, pipeline)
        job, self._tm_starting = self._tm_starting, None
        if job is None or pipeline is None:
            return
        plan = self._tm_plan
        if plan is not None and plan.id == job.id and plan.started is not None:
            return  # sent with set_state(BUSY)
        try:
            started = self.telemetry.started_args(job.id, job.origin, function_name(job), self.name)
            pipeline.execute_command("EVAL", *started, "at", str(int(time.time() * 1000)))  # type: ignore[no-untyped-call]
        except Exception:
            log.exception("telemetry: could not record the start of job %s", job.id)

    # -- ended -----------------------------------------------------------------------------------
    def handle_job_success(
        self, job: Job, queue: Queue, started_job_registry: StartedJobRegistry, execution: Execution
    ) -> None:
        self._tm_ending = (job.id, "finished", "finished")
        try:
            super().handle_job_success(job, queue, started_job_registry, execution)
        finally:
            self._tm_ending, self._tm_exc_type = None, ""

    def handle_job_failure(
        self,
        job: Job,
        queue: Queue,
        started_job_registry: StartedJobRegistry | None = None,
        exc_string: str = "",
        execution: Execution | None = None,
    ) -> None:
        # The same decision RQ's handle_job_failure takes, read before it clears _stopped_job_id.
        if self._stopped_job_id == job.id:
            self._tm_ending = (job.id, "stopped", "stopped")
        elif job.should_retry:
            self._tm_ending = (job.id, "retried", "retry_scheduled")
        else:
            self._tm_ending = (job.id, "failed", "failed")
        try:
            super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)
        finally:
            self._tm_ending, self._tm_exc_type = None, ""

    def handle_job_retry(
        self, job: Job, queue: Queue, retry: Retry, started_job_registry: StartedJobRegistry, execution: Execution
    ) -> None:
        if job.number_of_retries and job.number_of_retries >= retry.max:
            self._tm_ending = (job.id, "failed", "failed")
            self._tm_exc_type = "MaxRetriesExceeded"
        else:
            self._tm_ending = (job.id, "retried", "retry_scheduled")
        try:
            super().handle_job_retry(job, queue, retry, started_job_registry, execution)
        finally:
            self._tm_ending, self._tm_exc_type = None, ""

    def cleanup_execution(self, job: Job, pipeline: Pipeline, execution: Execution | None = None) -> None:
        super().cleanup_execution(job, pipeline, execution)
        ending = self._tm_ending
        if ending is None or ending[0] != job.id:
            return
        try:
            self._record_end(pipeline, job, ending[1], ending[2], self._tm_exc_type)
        except Exception:
            log.exception("telemetry: could not record the end of job %s", job.id)

    def handle_work_horse_killed(self, job: Job, retpid: int, ret_val: int, rusage: Any) -> None:
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)  # type: ignore[no-untyped-call]
        self._tm_exc_type = "WorkHorseTerminated"

    def _record_end(self, target: Pipeline | Redis, job: Job, outcome: str, event: str, exc_type: str) -> None:
        plan = self._tm_plan_of(job)
        ended, started, enqueued = job.ended_at, job.started_at, job.enqueued_at
        function = plan.function if plan.function is not None else function_name(job)
        ended_at = time.time() if ended is None else ended.timestamp()
        run_us, wait_us = _us(ended, started), _us(started, enqueued)
        times = {"run_us": run_us, "wait_us": wait_us, "started_ms": _ms(started), "enqueued_ms": _ms(enqueued)}
        if self._tm_simple is None:
            self.telemetry.add_end(
                target, plan, function, outcome, ended_at=ended_at, event=event, exc_type=exc_type, **times
            )
            return
        series, total = self.telemetry.series_of(plan, function)
        run, wait = (int(us) if us else None for us in (run_us, wait_us))
        counts = (series, total, outcome, run, wait, layout.minute_of(ended_at))
        self._tm_simple.end(target, plan, function, counts, event=event, ended_at=ended_at, exc_type=exc_type, **times)

    def teardown(self) -> None:
        if self._tm_simple is not None:  # the last counts, before the worker deregisters
            self._tm_simple.stop()
        super().teardown()  # type: ignore[no-untyped-call]

    # -- exception handler: remembers the exception type; reports abandoned jobs --------------------
    def _tm_exception_handler(
        self, job: Job, exc_type: type[BaseException] | None, exc_value: Any, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is AbandonedJobError:
                outcome = "retried" if job.should_retry else "failed"
                self._record_end(self.connection, job, outcome, "abandoned", "AbandonedJobError")
            else:
                self._tm_exc_type = getattr(exc_type, "__name__", "")
        except Exception:
            log.exception("telemetry: exception handler failed for job %s", job.id)


class ConsoleWorker(TelemetryMixin, CoalescedHeartbeat, FlowMixin, Worker):
    """RQ's forking Worker, with per-minute metrics and lifecycle events; honours queue pauses and limits."""


class ConsoleSimpleWorker(TelemetryMixin, CoalescedHeartbeat, FlowMixin, SimpleWorker):
    """RQ's SimpleWorker (no fork), with per-minute metrics and lifecycle events; honours queue pauses and limits.
    Its counts are written once a second, its started event with its end (simple.py)."""

    batched = True
    # The started event is held (simple.py), so RQ's own methods, without TelemetryMixin's start hooks (they
    # run several times a job).
    set_state = SimpleWorker.set_state
    prepare_job_execution = SimpleWorker.prepare_job_execution
    heartbeat = CoalescedHeartbeat.heartbeat
