"""A SimpleWorker's counts, summed in memory and written once a second (telemetry/buffer.py), land in Redis
exactly as the per-job script would have written them, once each: whatever the network did to a flush, and
when RQ's own transaction is retried. Real Redis, real workers."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import pytest
import redis
from rq import Queue

from dashboard.rqlayer import keys
from dashboard.rqlayer.telemetry import layout, series
from dashboard.rqlayer.telemetry.buffer import CountBuffer
from dashboard.rqlayer.telemetry.events import read_events
from dashboard.rqlayer.telemetry.metrics import MetricsWriter
from dashboard.rqlayer.telemetry.worker import ConsoleSimpleWorker
from dashboard.settings import TelemetrySettings
from tests.helpers import PROJECT_ROOT, FlakyConnection, wait_until

NOW = 1_800_000_000.0 + 30  # half a minute into a minute
# (queue, function, outcome, run seconds, wait seconds, seconds after NOW): both minutes, every outcome,
# run times on and beside bucket edges, unknown times, two functions and two queues.
EXECUTIONS = [
    ("default", "tasks.a", "finished", 0.005, 0.5, 0),
    ("default", "tasks.a", "finished", 0.0051, 3.0, 1),
    ("default", "tasks.a", "failed", 2.5, None, 2),
    ("default", "tasks.b", "retried", None, 0.01, 3),
    ("default", "tasks.b", "stopped", 61.0, 4000.0, 4),
    ("high", "tasks.a", "finished", 0.2, 0.0, 5),
    ("default", "tasks.a", "finished", 9.0, 1.0, 40),  # the next minute
    ("high", "tasks.a", "failed", 0.0, 0.3, 41),
]


def micros(seconds):
    return None if seconds is None else layout.micros(seconds)


def telemetry_data(client) -> dict:
    """Every telemetry key but the flush marker and the stream, by type: what a reader would see."""
    found = {}
    for raw in client.scan_iter(match=f"{keys.PREFIX}:console:metrics*"):
        key = raw.decode()
        if key.startswith(keys.metrics_flush("")):
            continue
        kind = client.type(key).decode()
        if kind == "hash":
            found[key] = client.hgetall(key)
        else:
            found[key] = client.zrange(key, 0, -1, withscores=True)
        assert kind == "zset" or key == keys.metrics_totals() or client.ttl(key) > 0, key
    return found


@pytest.fixture
def second_db(redis_url):
    client = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/1")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def test_a_flush_writes_what_the_per_job_script_writes(conn, second_db):
    writer, buffer = MetricsWriter(), CountBuffer(TelemetrySettings())
    for n, (queue, function, outcome, run_s, wait_s, after) in enumerate(EXECUTIONS):
        writer.record_end(
            second_db,
            queue=queue,
            function=function,
            outcome=outcome,
            ended_at=NOW + after,
            run_s=run_s,
            wait_s=wait_s,
            job_id=f"j{n}",
            worker="w",
        )
        plan = writer.plan(f"j{n}", queue, function, "w", now=NOW + after)
        member, total = writer.series_of(plan, function)
        buffer.add(member, total, outcome, micros(run_s), micros(wait_s), layout.minute_of(NOW + after))
    assert buffer.flush(conn, now=NOW + 41) is True
    assert buffer.flush(conn, now=NOW + 41) is False  # nothing new: no call
    per_job, batched = telemetry_data(second_db), telemetry_data(conn)
    assert len(per_job) > 8 and batched == per_job
    assert series.read_series(conn, "default", "tasks.a", minutes=2, now=NOW + 41).total().finished == 3


def one_execution(buffer, writer, outcome="finished"):
    plan = writer.plan("j", "default", "tasks.a", "w", now=NOW)
    buffer.add(*writer.series_of(plan, "tasks.a"), outcome, 1000, 2000, layout.minute_of(NOW))


def finished(conn):
    return series.read_series(conn, "default", "tasks.a", minutes=1, now=NOW).total().finished


def test_a_flush_whose_reply_was_lost_is_applied_once(flaky, conn):
    writer, buffer = MetricsWriter(), CountBuffer(TelemetrySettings())
    one_execution(buffer, writer)
    FlakyConnection.lose_reply.add("EVAL")
    with pytest.raises(redis.ConnectionError):
        buffer.flush(flaky, now=NOW)
    assert finished(conn) == 1 and buffer.pending  # applied, but the worker could not know
    one_execution(buffer, writer)
    assert buffer.flush(flaky, now=NOW) is True  # the lost one again (skipped), then the new one
    assert finished(conn) == 2 and not buffer.pending


def test_a_flush_that_never_reached_redis_is_sent_with_the_next(flaky, conn):
    writer, buffer = MetricsWriter(), CountBuffer(TelemetrySettings())
    one_execution(buffer, writer)
    FlakyConnection.lose_request.add("EVAL")
    with pytest.raises(redis.ConnectionError):
        buffer.flush(flaky, now=NOW)
    assert finished(conn) == 0
    one_execution(buffer, writer, "failed")
    buffer.flush(flaky, now=NOW)
    point = series.read_series(conn, "default", "tasks.a", minutes=1, now=NOW).total()
    assert (point.finished, point.failed) == (1, 1)


def test_a_telemetry_key_of_the_wrong_type_fails_no_flush(conn):
    writer, buffer = MetricsWriter(), CountBuffer(TelemetrySettings())
    conn.set(keys.metrics_totals(), "not a hash")
    conn.set(keys.events(), "not a stream")
    one_execution(buffer, writer)
    assert buffer.flush(conn, now=NOW) is True
    assert finished(conn) == 1


class ContendedWorker(ConsoleSimpleWorker):
    """Makes RQ's end-of-job transaction fail once with a WatchError (another client adds a dependent while
    it is built), so RQ builds and sends it again."""

    contended = 0

    def cleanup_execution(self, job, pipeline, execution=None):
        super().cleanup_execution(job, pipeline, execution)
        if not self.contended:
            type(self).contended += 1
            redis.Redis(connection_pool=self.connection.connection_pool).sadd(job.dependents_key, "ghost")


def test_a_transaction_rq_retries_is_counted_once(conn):
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 2, 3)
    ContendedWorker([Queue("default", connection=conn)], connection=conn).work(burst=True, logging_level="WARNING")
    assert ContendedWorker.contended == 1
    assert series.read_series(conn, "default", "tests.jobfuncs.add", minutes=2).total().finished == 1
    ends = [e for e in read_events(conn, count=100).events if e.job_id == job.id and e.type == "finished"]
    assert len(ends) == 1


@contextlib.contextmanager
def simple_worker_process(redis_url):
    """`rq worker -w ...ConsoleSimpleWorker default`, running (not in burst mode) until the block ends."""
    command = [sys.executable, "-m", "rq.cli", "worker", "-w", "dashboard.rqlayer.telemetry.worker.ConsoleSimpleWorker"]
    worker = subprocess.Popen([*command, "--url", redis_url, "--logging_level", "WARNING", "default"], cwd=PROJECT_ROOT)
    try:
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_a_running_worker_writes_its_counts_within_seconds(redis_url, conn):
    """Not only at its end: a worker that keeps running (and waits for more jobs) has written them."""
    with simple_worker_process(redis_url) as worker:
        queue = Queue("default", connection=conn)
        for n in range(5):
            queue.enqueue("tests.jobfuncs.add", n, 1)
        wait_until(lambda: queue.count == 0 and queue.finished_job_registry.count == 5, timeout=30)
        ended = time.monotonic()
        wait_until(
            lambda: series.read_series(conn, "default", "tests.jobfuncs.add", minutes=2).total().finished == 5,
            timeout=10,
            message="the counts of a running worker",
        )
        assert time.monotonic() - ended < 5
        assert worker.poll() is None  # still running: written by its flusher, not at its death


def test_a_short_jobs_started_event_comes_with_its_end_at_its_start_time(conn):
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    ConsoleSimpleWorker([Queue("default", connection=conn)], connection=conn).work(burst=True, logging_level="WARNING")
    mine = [e for e in read_events(conn, count=100).events if e.job_id == job.id]
    assert [e.type for e in mine] == ["started", "finished"]
    started, ended = mine
    assert started.function == ended.function == "tests.jobfuncs.add" and started.worker == ended.worker != ""
    assert started.at <= int(ended.extra["started_at"]) + 1000 and started.at <= ended.at


def test_a_long_jobs_started_event_is_written_while_it_runs(redis_url, conn):
    with simple_worker_process(redis_url):
        job = Queue("default", connection=conn).enqueue("tests.jobfuncs.sleep_for", 6)

        def types():
            return [e.type for e in read_events(conn, count=100).events if e.job_id == job.id]

        wait_until(lambda: types() == ["started"], timeout=5, message="the started event of a running job")
        assert job.get_status(refresh=True) == "started"
        wait_until(lambda: types() == ["started", "finished"], timeout=15, message="its end")
