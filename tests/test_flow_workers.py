"""Pauses and rate limits with real `rq worker -w ...` subprocesses of the console's extension: a paused
queue stops draining while the worker's other queue keeps going, and drains by itself after the resume;
a pause until a time ends by itself; three workers on one queue limited to 10/s run at 10/s ± 10 %
(measured from the jobs' ended_at), every job exactly once although refused tokens put jobs back."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from rq import Queue
from rq.job import Job

from dashboard.rqlayer import keys
from dashboard.rqlayer.flow import state
from tests.helpers import PROJECT_ROOT, wait_until

SIMPLE = "dashboard.rqlayer.telemetry.worker.ConsoleSimpleWorker"
FORKING = "dashboard.rqlayer.telemetry.worker.ConsoleWorker"


@pytest.fixture
def workers(redis_url, conn):
    """start(count, queues, worker_class): extension workers in subprocesses, returned once each listens
    for flow changes; all are shut down (warm, then killed) when the test ends."""
    started: list[subprocess.Popen] = []

    def start(count: int, queues: tuple[str, ...], worker_class: str = SIMPLE) -> None:
        listening = conn.pubsub_numsub(keys.flow_changes())[0][1]
        for _ in range(count):
            command = [sys.executable, "-m", "rq.cli", "worker", "-w", worker_class, "--url", redis_url, *queues]
            started.append(
                subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        wait_until(
            lambda: conn.pubsub_numsub(keys.flow_changes())[0][1] >= listening + count,
            timeout=30,
            message="the workers listening for flow changes",
        )

    yield start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def enqueue(conn, queue: str, count: int) -> list[str]:
    q = Queue(queue, connection=conn)
    return [q.enqueue("tests.jobfuncs.record_run", tag=queue).id for _ in range(count)]


def finished(conn, queue: str) -> int:
    return conn.zcard(keys.registry("finished", queue))


def test_a_paused_queue_stops_draining_while_another_keeps_going_and_drains_after_resume(conn, workers):
    workers(1, ("held", "other"))
    state.pause(conn, "held", "oscar")  # the worker is told on the flow-changes channel
    held = enqueue(conn, "held", 3)
    first = enqueue(conn, "other", 3)
    wait_until(lambda: finished(conn, "other") == 3, timeout=15, message="the other queue drained")
    later = enqueue(conn, "other", 2)  # it keeps serving the queue that is not paused
    wait_until(lambda: finished(conn, "other") == 5, timeout=15, message="later jobs of the other queue")
    assert [i.decode() for i in conn.lrange(keys.queue("held"), 0, -1)] == held  # untouched, in order
    assert not conn.hgetall("test:held")  # none of them ran
    resumed_at = time.time()
    state.resume(conn, "held")
    wait_until(lambda: finished(conn, "held") == 3, timeout=15, message="the paused queue drained after resume")
    starts = [Job.fetch(i, connection=conn).started_at.timestamp() for i in held]
    assert min(starts) >= resumed_at - 0.05 and max(starts) - resumed_at < 2.5, (resumed_at, starts)
    runs = {**conn.hgetall("test:held"), **conn.hgetall("test:other")}
    assert sorted(runs.values()) == [b"1"] * 8 and {k.decode() for k in runs} == {*held, *first, *later}


def test_a_pause_until_a_time_ends_by_itself(conn, workers):
    workers(1, ("timed",))  # one queue: RQ's BLMOVE path, and a worker with every queue held waits
    until = time.time() + 1.5
    state.pause(conn, "timed", "oscar", until=until)
    jobs = enqueue(conn, "timed", 2)
    wait_until(lambda: finished(conn, "timed") == 2, timeout=15, message="the jobs after the pause ended")
    starts = [Job.fetch(i, connection=conn).started_at.timestamp() for i in jobs]
    assert all(until - 0.01 <= s < until + 2.0 for s in starts), (until, starts)
    assert conn.llen(keys.intermediate_queue("timed")) == 0


def test_three_workers_hold_a_10_per_second_limit_and_run_every_job_once(conn, workers):
    count = 31
    state.set_limit(conn, "limited", 10, "second", "oscar")
    workers(3, ("limited",), FORKING)
    jobs = enqueue(conn, "limited", count)
    wait_until(lambda: finished(conn, "limited") == count, timeout=30, message="every limited job")
    ended = sorted(Job.fetch(i, connection=conn).ended_at.timestamp() for i in jobs)
    rate = (count - 1) / (ended[-1] - ended[0])
    assert 9.0 <= rate <= 11.0, rate
    assert len({Job.fetch(i, connection=conn).worker_name for i in jobs}) == 3  # all three shared the work
    runs = conn.hgetall("test:limited")
    assert len(runs) == count and set(runs.values()) == {b"1"}  # put back when refused, never lost or doubled
    assert conn.llen(keys.queue("limited")) == 0 and conn.llen(keys.intermediate_queue("limited")) == 0
    view = state.read_queue(conn, "limited")
    assert view.stats.taken == count and view.workers == 3 and view.honouring == 3
