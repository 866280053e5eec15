"""FlowMixin: RQ workers that honour the console's per-queue pauses and rate limits.

ConsoleWorker and ConsoleSimpleWorker (telemetry/worker.py) have it in their bases; stock `rq worker`
processes ignore pauses and limits (the console's pages say so, from the EXTENSION_FIELD it writes in
the worker's hash at birth, through RQ's own `serialize`: no extra round trip).

It wraps RQ's `dequeue_job_and_maintain_ttl` (one call per job of RQ's work loop):
- nothing paused or throttled among the worker's queues (the usual case): RQ's own call, unchanged. The
  flow state is a cached book (flow/gate.py), re-read when the console publishes a change (the worker
  subscribes to keys.flow_changes() on the pub/sub connection RQ already keeps for commands) and at most
  once a second otherwise: no extra round trip per job;
- some queues held: RQ's call on the other queues only (RQ's own `_ordered_queues`, swapped for the call
  and restored; the dequeue strategy is then applied to the whole order), blocking at most until the
  next change could come — so a resumed queue is served within about a second;
- every queue held: the worker waits (on the change notice, at most WAIT_SECONDS at a time), keeps its
  heartbeat and RQ's maintenance going, and takes jobs again by itself when a pause ends or a token is
  due. A burst worker stops when only paused queues have jobs, and waits for the tokens of limited ones;
- a job popped from a queue the book says is paused or limited goes through the take script before it
  runs (one EVAL): it takes a token, or puts the job back at the head of its queue, atomically.
A job never sleeps in its work horse: the wait is the worker's, before it takes a job.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from rq.job import Job
from rq.queue import Queue
from rq.worker.base import BaseWorker, WorkerStatus

from dashboard.rqlayer import keys
from dashboard.rqlayer.flow.gate import FOREVER, FlowGate
from dashboard.rqlayer.flow.state import EXTENSION_FIELD

log = logging.getLogger(__name__)

WAIT_SECONDS = 1.0  # longest single wait while every queue is held (a resume is noticed at once anyway)
BLOCK_SECONDS = 1.0  # longest pop on the other queues while some are held (a resume is seen after it)
MIN_BLOCK_SECONDS = 0.05  # RQ refuses a blocking pop of 0 s
HEARTBEAT_SECONDS = 15.0  # heartbeats while every queue is held (RQ's worker key lives 480 s)

Dequeued = tuple[Job, Queue]


class FlowMixin(BaseWorker):
    """Per-queue pause and rate limit, between RQ's work loop and its dequeue (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flow = FlowGate(self.connection)
        self._flow_beat = time.monotonic()

    def serialize(self) -> dict[Any, Any]:
        data: dict[Any, Any] = super().serialize()
        data[EXTENSION_FIELD] = "1"  # the console's pages count the workers that honour pauses by it
        return data

    def subscribe(self) -> None:
        super().subscribe()  # type: ignore[no-untyped-call]
        try:
            if self.pubsub is not None:
                self.pubsub.subscribe(**{keys.flow_changes(): self.flow.notice})
        except (redis.RedisError, OSError):
            log.warning("flow: could not subscribe to flow changes; they are read every second", exc_info=True)

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Dequeued | None:
        idle_since = time.monotonic()
        while True:
            self.flow.refresh()
            held = self.flow.held(q.name for q in self.queues)
            if not held:
                result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            else:
                result, finished = self._dequeue_around(held, timeout)
                if finished:
                    return None
                if result is None:
                    if max_idle_time is not None and time.monotonic() - idle_since >= max_idle_time:
                        return None
                    continue
            if result is None:
                return None
            job, queue = result
            if self.flow.admit(queue.name, job.id):
                return result
            log.debug("flow: job %s put back at the head of %s (paused or over its limit)", job.id, queue.name)

    def _dequeue_around(self, held: dict[str, float], timeout: int | None) -> tuple[Dequeued | None, bool]:
        """(a job from a queue that is not held, or None; whether RQ's loop should end: burst mode with
        nothing left it may run)."""
        soonest = min(held.values())
        allowed = [q for q in self._ordered_queues if q.name not in held]
        if not allowed:
            if timeout is None and not self.flow.throttled():
                return None, True  # burst, and only paused queues hold jobs
            self._wait(soonest)
            return None, False
        block = None
        if timeout is not None:
            block = max(MIN_BLOCK_SECONDS, min(BLOCK_SECONDS, timeout, soonest - time.monotonic()))
        whole = self._ordered_queues
        self._ordered_queues = allowed
        try:
            # max_idle_time = the block: RQ's call returns None after one empty wait instead of looping.
            result = super().dequeue_job_and_maintain_ttl(block, block)  # type: ignore[arg-type]
        finally:
            self._ordered_queues = whole
        if result is not None:
            self.reorder_queues(reference_queue=result[1])  # the strategy over every queue, not the subset
            return result, False
        if timeout is None:  # burst, and the queues it may pop from are empty
            if not self.flow.throttled():
                return None, True
            self._wait(soonest)
        return None, False

    def _wait(self, until: float) -> None:
        """Wait for a change notice, `until` (time.monotonic()) or WAIT_SECONDS, whichever comes first;
        the worker still heartbeats and runs RQ's maintenance. A signal (warm shutdown) interrupts it."""
        if self.get_state() != WorkerStatus.IDLE:
            self.set_state(WorkerStatus.IDLE)
            self.procline("Waiting: every queue is paused or at its rate limit")  # type: ignore[no-untyped-call]
        delay = WAIT_SECONDS if until == FOREVER else min(WAIT_SECONDS, max(0.0, until - time.monotonic()))
        self.flow.changed.wait(delay)
        if time.monotonic() - self._flow_beat >= HEARTBEAT_SECONDS:
            self._flow_beat = time.monotonic()
            self.heartbeat()
        if self.should_run_maintenance_tasks:
            self.run_maintenance_tasks()  # type: ignore[no-untyped-call]
