"""Telemetry held back and sent with less: counts summed in the worker's memory and written once a second,
and, for a SimpleWorker, the started event sent with the end.

- Counts go into a CountBuffer (buffer.py), added only when RQ's end-of-job transaction commits (its
  pipeline's `execute` is wrapped: a WatchError makes RQ build the transaction again, and a transaction that
  fails counts nothing), and a thread writes them once a second.
- A forking worker's horse ends its job in a process that is thrown away: it writes each committed count as
  one JSON line to a pipe the worker opened before the fork (`in_horse`), and the worker reads the pipe once
  the horse has exited (`counted_elsewhere`). A horse killed before its transaction committed counts
  nothing, as before; the worker then records the failure itself.
- A SimpleWorker's `started` event is held when the job starts and goes, with its true start time, in the
  same command as the end event (one EVAL of events.APPEND_END in RQ's transaction); a job still running
  after a second gets its started event from the thread, so a long job shows as started within about a
  second. (A forking worker sends it before the fork, in RQ's prepare transaction: worker.py.)
Per job that is one command in a transaction RQ sends anyway, instead of the per-job script's twenty-odd
calls. A worker killed with SIGKILL loses at most the last second of counts; every ended job's events are
written with its end. Flask-free; thread-safe (the worker thread and the flusher share one lock).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

from redis import Redis
from redis.client import Pipeline

from dashboard.rqlayer.telemetry.buffer import CountBuffer
from dashboard.rqlayer.telemetry.events import APPEND
from dashboard.rqlayer.telemetry.metrics import MetricsWriter, Plan

log = logging.getLogger(__name__)
FLUSH_SECONDS = 1.0  # counts reach Redis within about this long; a running job's started event too


class _Start:
    __slots__ = ("job_id", "at", "opened", "plan", "function", "sent")

    def __init__(self, plan: Plan, function: str) -> None:
        self.job_id, self.plan, self.function, self.sent = plan.id, plan, function, False
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
        self._sink: int | None = None  # in a forking worker's horse: the pipe its counts go to

    def open(self, plan: Plan, function: str) -> None:
        """A job starts: hold its started event (the time is now). O(1), no I/O."""
        start = _Start(plan, function)
        with self._lock:
            self._start = start
        if self._thread is None:
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
            at = start.at if start is not None and start.job_id == plan.id and not start.sent else ""
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

    def in_horse(self, pipe: int) -> None:
        """In a forking worker's horse, just forked: counts go to `pipe` (the worker reads them when the horse
        has exited); nothing of the worker's lock, thread or held start is used here (the worker's thread may
        have held the lock at the fork)."""
        self._lock, self._start, self._sink = threading.Lock(), None, pipe

    def counted_elsewhere(self, data: bytes) -> None:
        """In the worker: add the counts a horse wrote (one JSON line an execution whose transaction committed)."""
        for line in data.splitlines():
            try:
                member, total, outcome, run, wait, minute = json.loads(line)
                self._count((tuple(member), tuple(total), outcome, run, wait, minute))
            except (ValueError, TypeError):
                log.warning("telemetry: a horse's count could not be read: %r", line[:200])

    def _count(self, counts: tuple[Any, ...]) -> None:
        if self._sink is not None:
            try:
                os.write(self._sink, json.dumps(counts, separators=(",", ":")).encode() + b"\n")
            except OSError:
                log.exception("telemetry: could not hand a count to the worker")
            return
        try:
            self.buffer.add(*counts)
        except Exception:
            log.exception("telemetry: could not count an execution")
        if self._thread is None:
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
            key, maxlen = self.writer.events_target()
            fields = self.writer.started_args(start.plan.id, start.plan.queue, start.function, start.plan.worker)[5:]
            self.connection.execute_command("EVAL", APPEND, "1", key, maxlen, "", *fields, "at", start.at)  # type: ignore[no-untyped-call]
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
