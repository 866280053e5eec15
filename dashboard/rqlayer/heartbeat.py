"""CoalescedHeartbeat: RQ workers that skip the heartbeats RQ's work loop repeats within a second.

RQ's work loop heartbeats outside any transaction three times a job (before and after its dequeue, and after
the job), each an HSET and two EXPIREs sent as three round trips, to keep the worker's key (TTL worker_ttl +
60 s, 480 s by default) alive. For short jobs that is nine round trips a job which change nothing the next
reader can tell: the transaction that starts each job (prepare_execution) refreshes the same key and
`last_heartbeat` anyway. This mixin sends such a standalone heartbeat at most once per HEARTBEAT_SECONDS, in
one round trip (a pipeline). Heartbeats inside RQ's transactions, and any with a timeout of its own (the
forking worker's horse monitoring), are RQ's, unchanged. ConsoleWorker and ConsoleSimpleWorker have it,
like `reuse_driver_info` a fix unrelated to telemetry; benchmarks/worker_overhead.py prints telemetry's cost
against stock workers given the same fixes.
"""

from __future__ import annotations

import time

from redis.client import Pipeline
from rq.worker.base import BaseWorker

HEARTBEAT_SECONDS = 1.0


class CoalescedHeartbeat(BaseWorker):
    """At most one standalone heartbeat a second, in one round trip (see the module docstring)."""

    _hb_sent = float("-inf")

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        if pipeline is not None or timeout is not None:
            super().heartbeat(timeout, pipeline)
            return
        moment = time.monotonic()
        if moment - self._hb_sent < HEARTBEAT_SECONDS:
            return
        with self.connection.pipeline(transaction=False) as batch:
            super().heartbeat(None, batch)
            batch.execute()
        self._hb_sent = moment
