"""Coalesced heartbeats (dashboard/rqlayer/heartbeat.py): our workers skip the standalone heartbeats RQ's work
loop repeats within a second, and keep every other heartbeat as RQ sends it. Real Redis, real workers."""

from __future__ import annotations

import time

from rq import Queue, SimpleWorker

from dashboard.rqlayer import heartbeat
from dashboard.rqlayer.telemetry.worker import ConsoleSimpleWorker
from tests.helpers import wait_until


def expires(conn) -> int:
    return conn.info("commandstats").get("cmdstat_expire", {}).get("calls", 0)


def drain(conn, worker_class, jobs: int) -> int:
    """EXPIREs Redis ran while `worker_class` worked `jobs` trivial jobs."""
    queue = Queue("default", connection=conn)
    for n in range(jobs):
        queue.enqueue("tests.jobfuncs.add", n, 1)
    conn.config_resetstat()
    worker_class([queue], connection=conn).work(burst=True, logging_level="WARNING")
    assert queue.finished_job_registry.count >= jobs
    return expires(conn)


def test_the_work_loop_repeats_fewer_heartbeats(conn):
    stock, ours = drain(conn, SimpleWorker, 40), drain(conn, ConsoleSimpleWorker, 40)
    # RQ's loop: three standalone heartbeats a job, two EXPIREs each; ours sends those about once a second.
    assert stock - ours >= 40 * 5, (stock, ours)


def test_a_heartbeat_within_the_window_is_skipped_and_one_after_it_is_sent(conn, monkeypatch):
    monkeypatch.setattr(heartbeat, "HEARTBEAT_SECONDS", 0.2)
    worker = ConsoleSimpleWorker([Queue("default", connection=conn)], connection=conn)
    worker.register_birth()
    conn.persist(worker.key)
    worker.heartbeat()
    first = conn.hget(worker.key, "last_heartbeat")
    assert conn.ttl(worker.key) > 0  # sent: the key's TTL is set again
    conn.persist(worker.key)
    worker.heartbeat()
    assert conn.ttl(worker.key) == -1  # skipped
    wait_until(lambda: time.monotonic() > worker._hb_sent + 0.25, timeout=2, message="the window to pass")
    worker.heartbeat()
    assert conn.ttl(worker.key) > 0 and conn.hget(worker.key, "last_heartbeat") >= first


def test_heartbeats_with_a_timeout_or_in_a_transaction_are_rqs(conn):
    worker = ConsoleSimpleWorker([Queue("default", connection=conn)], connection=conn)
    worker.register_birth()
    worker.heartbeat()  # opens the window
    worker.heartbeat(123)
    assert 120 <= conn.ttl(worker.key) <= 123
    with conn.pipeline() as pipe:
        worker.heartbeat(77, pipeline=pipe)
        pipe.execute()
    assert 74 <= conn.ttl(worker.key) <= 77
