"""The worker extension with real workers on a real Redis: `rq worker -w ...ConsoleWorker` (forking, through
RQ's CLI) and ConsoleSimpleWorker in process. Counters are exact, retries and stops are counted, events come in
order with their fields, and stock workers keep working with the readers saying "no data"."""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
from datetime import timedelta

from rq import Queue, Retry
from rq.command import send_stop_job_command
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from dashboard.rqlayer import keys
from dashboard.rqlayer.telemetry import layout, series
from dashboard.rqlayer.telemetry.events import read_events
from dashboard.rqlayer.telemetry.funcname import peek_function
from dashboard.rqlayer.telemetry.worker import ConsoleSimpleWorker
from tests.helpers import PROJECT_ROOT, run_burst_worker, wait_until

FORKING = "dashboard.rqlayer.telemetry.worker.ConsoleWorker"


def drain(conn, queues=("default",)):
    worker = ConsoleSimpleWorker([Queue(q, connection=conn) for q in queues], connection=conn)
    worker.work(burst=True, logging_level="WARNING")
    return worker


def window(conn, queue, function=None):
    """The last 5 minutes as one point (a run may straddle a minute boundary)."""
    return series.read_series(conn, queue, function, minutes=5).total()


def by_job(conn):
    found: dict[str, list] = {}
    for event in read_events(conn, count=1000).events:
        found.setdefault(event.job_id, []).append(event)
    return found


def returns_retry():
    """A job that asks to be retried by returning Retry (RQ's handle_job_retry path)."""
    return Retry(max=1)


def test_the_forking_worker_counts_finished_and_failed_exactly(redis_url, conn):
    queue = Queue("default", connection=conn)
    ok = [queue.enqueue("tests.jobfuncs.add", n, 1) for n in range(5)]
    bad = [queue.enqueue("tests.jobfuncs.fail") for _ in range(3)]
    run_burst_worker(redis_url, queues=("-w", FORKING, "default"))

    total, adds, fails = window(conn, "default"), window(conn, "default", "tests.jobfuncs.add"), None
    fails = window(conn, "default", "tests.jobfuncs.fail")
    assert (total.finished, total.failed, total.retried, total.stopped) == (5, 3, 0, 0)
    assert (adds.finished, adds.failed, fails.finished, fails.failed) == (5, 0, 0, 3)
    assert total.run.count == 8 and total.wait.count == 8
    assert 0 < total.run.max_us <= total.run.sum_us and total.run.quantile(0.5) is not None
    ended = Job.fetch(ok[0].id, connection=conn)
    assert total.wait.max_us >= (ended.started_at - ended.enqueued_at).total_seconds() * 1e6 - 1

    events = by_job(conn)
    for job in ok:
        assert [e.type for e in events[job.id]] == ["started", "finished"]
    for job in bad:
        assert [e.type for e in events[job.id]] == ["started", "failed"]
        assert events[job.id][1].exc_type == "RuntimeError"
    started, first = events[ok[0].id]
    assert (first.queue, first.function, first.worker) == ("default", "tests.jobfuncs.add", ended.worker_name)
    assert ended.ended_at.timestamp() * 1000 - 1 <= first.at <= ended.ended_at.timestamp() * 1000 + 1
    # End events carry the times a history row needs; started events only the core fields.
    assert started.extra == {} and (started.function, started.worker) == (first.function, first.worker)
    ms = {name: int(getattr(ended, name).timestamp() * 1000) for name in ("started_at", "enqueued_at")}
    assert {k: int(first.extra[k]) for k in ms} == ms
    assert int(first.extra["run_us"]) == (ended.ended_at - ended.started_at) // timedelta(microseconds=1)
    assert int(first.extra["wait_us"]) == (ended.started_at - ended.enqueued_at) // timedelta(microseconds=1)
    failure = events[bad[0].id][1]
    assert set(failure.extra) == {"started_at", "enqueued_at", "run_us", "wait_us"}  # no exception message
    assert series.telemetry_present(conn)


def test_retries_are_counted_and_reported_in_order(conn):
    queue = Queue("default", connection=conn)
    job = queue.enqueue("tests.jobfuncs.fail", retry=Retry(max=2))
    asked = queue.enqueue(returns_retry)
    drain(conn)

    point = window(conn, "default", "tests.jobfuncs.fail")
    assert (point.finished, point.failed, point.retried) == (0, 1, 2)
    assert [e.type for e in by_job(conn)[job.id]] == [
        "started",
        "retry_scheduled",
        "started",
        "retry_scheduled",
        "started",
        "failed",
    ]
    returned = by_job(conn)[asked.id]
    assert [e.type for e in returned] == ["started", "retry_scheduled", "started", "failed"]
    assert returned[-1].exc_type == "MaxRetriesExceeded"
    point = window(conn, "default", f"{__name__}.returns_retry")
    assert (point.retried, point.failed) == (1, 1)


def test_a_stopped_job_is_counted_as_stopped(redis_url, conn):
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.sleep_for", 60)
    command = [sys.executable, "-m", "rq.cli", "worker", "--burst", "-w", FORKING, "--url", redis_url, "default"]
    worker = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: job.id in by_job(conn), timeout=30, message="the started event")
        wait_until(lambda: Job.fetch(job.id, connection=conn).get_status() == JobStatus.STARTED, timeout=30)
        send_stop_job_command(conn, job.id)
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    point = window(conn, "default")
    assert (point.stopped, point.failed, point.finished) == (1, 0, 0)
    assert [e.type for e in by_job(conn)[job.id]] == ["started", "stopped"]


def test_an_abandoned_job_is_reported(conn):
    queue = Queue("default", connection=conn)
    job = queue.enqueue("tests.jobfuncs.add", 1, 2)
    # As a worker that died mid-job leaves it: off the queue, STARTED, its heartbeat long expired.
    conn.lrem(keys.queue("default"), 0, job.id)
    conn.hset(keys.job(job.id), mapping={"status": "started", "started_at": "2026-01-01T00:00:00.000000Z"})
    conn.zadd(keys.registry("started", "default"), {f"{job.id}:dead-execution": 1})
    drain(conn)

    assert Job.fetch(job.id, connection=conn).get_status() == JobStatus.FAILED
    abandoned = by_job(conn)[job.id]
    assert [(e.type, e.exc_type) for e in abandoned] == [("abandoned", "AbandonedJobError")]
    assert window(conn, "default").failed == 1


def test_hostile_function_names_are_bounded(conn):
    hostile = "tests.jobfuncs." + "x" * 5000 + '\x1f:*\n"]'
    job = Queue("default", connection=conn).enqueue(hostile)
    drain(conn)

    assert Job.fetch(job.id, connection=conn).get_status() == JobStatus.FAILED  # it cannot be imported
    (queue_name, function), *_ = [n for n in series.known_series(conn) if n[1] is not None]
    assert queue_name == "default" and function == layout.bound(hostile) and len(function) == layout.NAME_LIMIT
    assert window(conn, "default", hostile).failed == 1
    assert all(len(e.function) <= layout.NAME_LIMIT for e in by_job(conn)[job.id])


def test_broken_telemetry_keys_never_fail_a_job(conn):
    conn.set(keys.events(), "not a stream")
    minute = layout.minute_of(time.time())
    total = layout.series_id(layout.series_member("default", None))
    for m in (minute, minute + 1):
        conn.set(keys.metrics_minute(m, total), "not a hash")
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 2, 3)
    drain(conn)
    fetched = Job.fetch(job.id, connection=conn)
    assert fetched.get_status() == JobStatus.FINISHED and fetched.return_value() == 5
    assert window(conn, "default", "tests.jobfuncs.add").finished == 1


def test_a_stock_worker_still_works_and_the_readers_say_no_data(redis_url, conn):
    queue = Queue("default", connection=conn)
    job = queue.enqueue("tests.jobfuncs.add", 1, 1)
    run_burst_worker(redis_url, queues=("default",))

    assert Job.fetch(job.id, connection=conn).get_status() == JobStatus.FINISHED
    assert series.telemetry_present(conn) is False
    assert series.read_queues(conn) == []
    assert window(conn, "default").ended == 0 and not series.read_series(conn, "default").has_data
    assert read_events(conn).events == []


def test_make_run_and_the_procfile_start_the_extension_worker():
    line = next(x for x in (PROJECT_ROOT / "Procfile").read_text().splitlines() if x.startswith("worker:"))
    assert f"-w {FORKING} " in line


def test_the_function_name_is_read_from_job_data_without_unpickling(conn):
    queue = Queue("default", connection=conn)
    for name in ("tests.jobfuncs.add", "x" * 300, "ünï.cödé", "x" * 70_000):
        job = Job.fetch(queue.enqueue(name, 1, k=2).id, connection=conn)
        assert peek_function(job.data) == name == job.func_name
    for protocol in (2, 3, 4, 5):
        assert peek_function(pickle.dumps(("a.b", None, (), {}), protocol=protocol)) == "a.b"

    class Boom:
        def __reduce__(self):
            return (print, ("unpickled!",))

    # Data whose first element is not a string (or is not pickle at all) gives None; nothing is run.
    for data in (pickle.dumps((Boom(), None, (), {})), b'["a.b", null, [], {}]', b"", b"\x80\x05", None):
        assert peek_function(data) is None
    assert peek_function(pickle.dumps(("a" * 300, None), protocol=5)[:20]) is None  # cut short


def test_a_job_whose_function_name_cannot_be_read_before_it_runs_is_recorded_by_the_horse(conn):
    # JSON job data is not peeked before the job runs: the started event and the end's arguments are then
    # built while it runs, from RQ's own decoding.
    queue = Queue("default", connection=conn, serializer=JSONSerializer)
    job = queue.enqueue("tests.jobfuncs.add", 1, 2)
    assert peek_function(Job.fetch(job.id, connection=conn, serializer=JSONSerializer).data) is None
    worker = ConsoleSimpleWorker([queue], connection=conn, serializer=JSONSerializer)
    worker.work(burst=True, logging_level="WARNING")
    started, finished = by_job(conn)[job.id]
    assert (started.type, started.function, finished.type, finished.function) == (
        "started",
        "tests.jobfuncs.add",
        "finished",
        "tests.jobfuncs.add",
    )
    assert window(conn, "default", "tests.jobfuncs.add").finished == 1


def test_connections_of_a_url_client_share_one_driver_info_and_still_name_the_library(redis_url):
    import redis
    from redis.driver_info import DriverInfo
    from redis.utils import get_lib_version

    client = redis.Redis.from_url(redis_url)
    assert "driver_info" not in client.connection_pool.connection_kwargs  # each connection would resolve it
    ConsoleSimpleWorker([Queue("default", connection=client)], connection=client)
    shared = client.connection_pool.connection_kwargs["driver_info"]
    assert shared.lib_version == get_lib_version()
    fresh = client.connection_pool.make_connection()  # as in a new work horse
    assert fresh.driver_info is shared and shared.formatted_name == "redis-py"  # the same CLIENT SETINFO
    fresh.disconnect()
    assert client.ping()

    mine = DriverInfo(name="my-app", lib_version="1.0")
    given = redis.Redis.from_url(redis_url, driver_info=mine)
    ConsoleSimpleWorker([Queue("default", connection=given)], connection=given)
    assert given.connection_pool.connection_kwargs["driver_info"] is mine  # what the caller chose stays
