"""What a SimpleWorker's telemetry does differently: it ends every job in its own process, so it can hold
back what a forking worker must write per job (worker.py) and send it with less.

- Counts go into a CountBuffer (buffer.py), added only when RQ's end-of-job transaction commits (its
  pipeline's `execute` is wrapped: a WatchError makes RQ build the transaction again, and a transaction that
  fails counts nothing), and a thread writes them once a second.
- The `started` event is held when the job starts and goes, with its true start time, in the same command
  as the end event (one EVAL of events.APPEND_PAIR in RQ's transaction); a job still running after a
  second gets its started event from the thread, so a long job shows as started within about a second.
  Per job that is one command in a transaction RQ sends anyway, instead of two EVALs and twenty-odd hash
  writes.
A worker killed with SIGKILL loses at most the last second of counts; every ended job's events are written
with its end. Flask-free; thread-safe (the worker thread and the flusher share one lock).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from redis import Redis
from redis.client import Pipeline

from dashboard.rqlayer.telemetry.buffer import CountBuffer
from dashboard.rqlayer.telemetry.metrics import MetricsWriter, Plan

log = logging.getLogger(__name__)
FLUSH_SECONDS = 1.0  # counts reach Redis within about this long; a running job's started event too


class _Start:
    __slots__ = ("at", "opened", "plan", "function", "sent")

    def __init__(self, plan: Plan, function: str) -> None:
        self.plan, self.function, self.sent = plan, function, False
        self.at, self.opened = str(int(time.time() * 1000)), time.monotonic()


class SimpleTelemetry:
    """A SimpleWorker's held-back telemetry: the open job's started event and the counts."""

    def __init__(self, writer: MetricsWriter, connection: Redis) -> None:
        self.writer, self.connection = writer, connection
        self.buffer = CountBuffer(writer.settings)
        self._lock = threading.Lock()
        self._start: _Start | None = None
        self._uncommitted: tuple[Any, ...] | None = None  # counts of the job RQ's transaction is ending
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._failing = False

    def open(self, plan: Plan, function: str) -> None:
        """A job starts: hold its started event (the time is now). O(1), no I/O."""
        start = _Start(plan, function)
        with self._lock:
            self._start = start
        self._ensure_thread()

    def close(self) -> None:
        """The job's end was handled (committed or not): nothing of it is held any more."""
        with self._lock:
            self._start = None

    def end(self, target: Pipeline | Redis, plan: Plan, function: str, counts: tuple[Any, ...], **event: Any) -> None:
        """The end event (with the held started event unless the thread sent it) into `target`, and the
        counts, added when `target`'s transaction commits (at once when `target` is a connection)."""
        with self._lock:
            start = self._start
            at = start.at if start is not None and start.plan.id == plan.id and not start.sent else ""
        self.writer.add_end_event(target, plan, function, started_event_at=at, **event)
        if isinstance(target, Pipeline):
            self._count_on_commit(target, counts)
        else:
            self._count(counts)

    def _count_on_commit(self, pipeline: Pipeline, counts: tuple[Any, ...]) -> None:
        self._uncommitted = counts  # RQ retrying its transaction calls this again: the same job, once
        if getattr(pipeline, "_tm_counts_on_commit", False):
            return
        execute = pipeline.execute

        def execute_then_count(*args: Any, **kwargs: Any) -> Any:
            result = execute(*args, **kwargs)
            committed, self._uncommitted = self._uncommitted, None
            if committed is not None:
                self._count(committed)
            return result

        pipeline.execute = execute_then_count  # type: ignore[method-assign]
        pipeline._tm_counts_on_commit = True  # type: ignore[attr-defined]

    def _count(self, counts: tuple[Any, ...]) -> None:
        try:
            self.buffer.add(*counts)
        except Exception:
            log.exception("telemetry: could not count an execution")
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="rq-console-telemetry", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self._send_running_start()
            self.flush()

    def _send_running_start(self) -> None:
        """The started event of a job running for a second already: sent now (at its true start time)."""
        with self._lock:
            start = self._start
            if start is None or start.sent or time.monotonic() - start.opened < FLUSH_SECONDS:
                return
            start.sent = True
        try:
            plan = start.plan
            started = self.writer.started_args(plan.id, plan.queue, start.function, plan.worker)
            self.connection.execute_command("EVAL", *started, "at", start.at)  # type: ignore[no-untyped-call]
        except Exception:
            log.warning("telemetry: could not write a started event; it goes with the job's end", exc_info=True)
            with self._lock:
                start.sent = False

    def flush(self) -> None:
        """Write the pending counts (buffer.py); a failure is logged once per outage and retried."""
        if not self.buffer.pending:
            return
        try:
            self.buffer.flush(self.connection)
            self._failing = False
        except Exception:
            if not self._failing:
                log.warning("telemetry: could not write the counts; they are kept for the next try", exc_info=True)
            self._failing = True

    def stop(self) -> None:
        """The worker stops: the thread ends and the last counts are written."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5)
            self._thread = None
        self.flush()
