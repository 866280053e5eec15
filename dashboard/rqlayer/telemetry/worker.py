"""RQ workers that record per-minute metrics and lifecycle events:

    rq worker -w dashboard.rqlayer.telemetry.worker.ConsoleWorker high default low
    rq worker -w dashboard.rqlayer.telemetry.worker.ConsoleSimpleWorker ...

They behave exactly like RQ's `Worker` / `SimpleWorker`; telemetry rides in the transactions RQ
already sends, so it costs no extra round trip per job:
- the `started` event is one XADD in the pipeline of `prepare_job_execution` (through `heartbeat`,
  the first call that receives that pipeline);
- the end of an execution is one EVAL (metrics/record_end.lua) in the pipeline of
  `handle_job_success` / `handle_job_failure` / `handle_job_retry` (through `cleanup_execution`,
  which all three call with their pipeline). A WatchError retry of RQ's transaction re-adds it, so
  each execution is counted once, when RQ's own transaction commits.
- abandoned jobs (RQ's StartedJobRegistry cleanup: the worker that ran them died) are reported to an
  exception handler; they cost one round trip each.
Anything that goes wrong in telemetry is logged and never changes what happens to the job.
Imports only the Flask-free layer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from redis.client import Pipeline
from rq import SimpleWorker, Worker
from rq.exceptions import AbandonedJobError
from rq.executions import Execution
from rq.job import Job, Retry
from rq.queue import Queue
from rq.registry import StartedJobRegistry
from rq.worker.base import BaseWorker

from dashboard.rqlayer.telemetry.events import add_event_commands, event_fields
from dashboard.rqlayer.telemetry.metrics import MetricsWriter
from dashboard.settings import load_telemetry_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Ending:
    job_id: str
    outcome: str  # layout.OUTCOMES key
    event: str  # events.WORKER_TYPES member


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return max(0.0, (later - earlier).total_seconds())


def function_name(job: Job) -> str:
    """The job's function name, or a placeholder when its data cannot be decoded."""
    try:
        return job.func_name or ""
    except Exception:  # noqa: BLE001 - a job whose data does not decode still gets counted
        return "<undecodable>"


class TelemetryMixin(BaseWorker):
    """The overrides shared by ConsoleWorker and ConsoleSimpleWorker (put it first in the bases)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.telemetry = MetricsWriter(load_telemetry_settings())
        self._tm_starting: Job | None = None
        self._tm_ending: _Ending | None = None
        self._tm_exc_type = ""
        # First in the chain, and it always lets the others run.
        self._exc_handlers.insert(0, self._tm_exception_handler)

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
        try:
            fields = event_fields(
                "started", job_id=job.id, queue=job.origin, function=function_name(job), worker=self.name
            )
            add_event_commands(pipeline, fields, self.telemetry.settings, trim_age=False)
        except Exception:
            log.exception("telemetry: could not record the start of job %s", job.id)

    # -- ended -----------------------------------------------------------------------------------
    def handle_job_success(
        self, job: Job, queue: Queue, started_job_registry: StartedJobRegistry, execution: Execution
    ) -> None:
        self._tm_ending = _Ending(job.id, "finished", "finished")
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
            self._tm_ending = _Ending(job.id, "stopped", "stopped")
        elif job.should_retry:
            self._tm_ending = _Ending(job.id, "retried", "retry_scheduled")
        else:
            self._tm_ending = _Ending(job.id, "failed", "failed")
        try:
            super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)
        finally:
            self._tm_ending, self._tm_exc_type = None, ""

    def handle_job_retry(
        self, job: Job, queue: Queue, retry: Retry, started_job_registry: StartedJobRegistry, execution: Execution
    ) -> None:
        if job.number_of_retries and job.number_of_retries >= retry.max:
            self._tm_ending = _Ending(job.id, "failed", "failed")
            self._tm_exc_type = "MaxRetriesExceeded"
        else:
            self._tm_ending = _Ending(job.id, "retried", "retry_scheduled")
        try:
            super().handle_job_retry(job, queue, retry, started_job_registry, execution)
        finally:
            self._tm_ending, self._tm_exc_type = None, ""

    def cleanup_execution(self, job: Job, pipeline: Pipeline, execution: Execution | None = None) -> None:
        super().cleanup_execution(job, pipeline, execution)
        ending = self._tm_ending
        if ending is None or ending.job_id != job.id:
            return
        try:
            self._record_end(pipeline, job, ending.outcome, ending.event, self._tm_exc_type)
        except Exception:
            log.exception("telemetry: could not record the end of job %s", job.id)

    def handle_work_horse_killed(self, job: Job, retpid: int, ret_val: int, rusage: Any) -> None:
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)  # type: ignore[no-untyped-call]
        self._tm_exc_type = "WorkHorseTerminated"

    def _record_end(self, target: Any, job: Job, outcome: str, event: str, exc_type: str) -> None:
        ended = job.ended_at
        ended_at = ended.timestamp() if ended is not None else None
        queue_name, function = job.origin, function_name(job)
        fields = event_fields(
            event,
            job_id=job.id,
            queue=queue_name,
            function=function,
            worker=self.name,
            exc_type=exc_type,
            at_ms=None if ended_at is None else int(ended_at * 1000),
        )
        self.telemetry.record_end(
            target,
            queue=queue_name,
            function=function,
            outcome=outcome,
            ended_at=ended_at,
            run_s=_seconds(job.ended_at, job.started_at),
            wait_s=_seconds(job.started_at, job.enqueued_at),
            event=fields,
        )

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


class ConsoleWorker(TelemetryMixin, Worker):
    """RQ's forking Worker, with per-minute metrics and lifecycle events."""


class ConsoleSimpleWorker(TelemetryMixin, SimpleWorker):
    """RQ's SimpleWorker (no fork), with per-minute metrics and lifecycle events."""
