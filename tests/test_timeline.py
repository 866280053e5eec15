"""Charts' data (dashboard/history/timeline.py): Redis minutes from a real worker and from the writer, SQL
rollups on both backends, windows and steps, zeros after the first data point, percentiles from histograms."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from rq import Queue

from dashboard.core_tables import create_all
from dashboard.history import timeline
from dashboard.history.function_stats import function_seen, list_functions
from dashboard.history.models import job_outcomes, metric_rollups
from dashboard.history.timeline_items import parse_counts
from dashboard.rqlayer.telemetry import layout
from dashboard.rqlayer.telemetry.metrics import MetricsWriter
from dashboard.rqlayer.telemetry.worker import ConsoleSimpleWorker

NOW = (int(time.time()) // 3600) * 3600 + 1830  # half past some hour: buckets are easy to name


@pytest.fixture
def sql(engine):
    with engine.connect() as connection:
        yield connection


def rollup(sql, resolution, bucket, queue="default", function="", **fields):
    row = dict(resolution=resolution, queue=queue, function=function, bucket=bucket, source="extension")
    row.update(fields)
    sql.execute(metric_rollups.insert().values(**row))
    sql.commit()


def buckets(counts):
    return ",".join(str(c) for c in counts)


def test_a_real_worker_burst_shows_in_the_last_hour(conn, sqlite_url):
    queue = Queue("default", connection=conn)
    for n in range(4):
        queue.enqueue("tests.jobfuncs.add", n, 1)
    queue.enqueue("tests.jobfuncs.fail")
    ConsoleSimpleWorker([queue], connection=conn).work(burst=True, logging_level="WARNING")
    engine = sa.create_engine(sqlite_url)
    create_all(engine)  # every Core table: the periodic tasks touch them all
    with engine.connect() as sql:
        line = timeline.read_timeline(conn, sql, window="1h")
        one = timeline.read_timeline(conn, sql, queue="default", function="tests.jobfuncs.add")
    engine.dispose()
    assert line.step_seconds == 60 and len(line.points) == 60 and line.source == "extension"
    assert line.totals()["finished"] == 4 and line.totals()["failed"] == 1
    assert one.totals() == {"finished": 4, "failed": 0, "retried": 0, "stopped": 0}
    assert line.points[-1].has_data or line.points[-2].has_data  # the burst is in the newest minute(s)
    assert line.points[-1].run_p95 is not None or line.points[-2].run_p95 is not None
    assert line.missing is None


def test_redis_minutes_zeros_after_the_first_point_and_p95_from_histograms(conn, sql):
    writer = MetricsWriter()
    for n in range(20):  # 18 quick runs and two slow ones, 10 minutes ago
        run = 4.0 if n < 2 else 0.02
        writer.record_end(conn, queue="q", function="f", outcome="finished", ended_at=NOW - 600, run_s=run, wait_s=0.5)
    writer.record_end(conn, queue="q", function="f", outcome="failed", ended_at=NOW - 120, run_s=0.2)
    line = timeline.read_timeline(conn, sql, queue="q", window="1h", now=NOW)
    minute = (NOW - 600) // 60 * 60
    points = {p.bucket: p for p in line.points}
    assert line.points[-1].bucket == NOW // 60 * 60 and line.points[0].bucket == NOW // 60 * 60 - 3540
    assert not points[minute - 60].has_data and points[minute - 60].finished == 0  # before the first point
    assert points[minute].has_data and points[minute].finished == 20
    assert 0.01 < points[minute].run_p50 <= 0.025  # in the (0.01, 0.025] bucket
    assert 2.5 < points[minute].run_p95 <= 4.0 and points[minute].run_max == pytest.approx(4.0)
    assert points[minute].wait_p50 is not None and points[minute].wait_p50 <= 0.5
    gap = points[minute + 60]
    assert gap.has_data and (gap.finished, gap.failed, gap.run_p95) == (0, 0, None)  # zeros, not a gap
    assert points[(NOW - 120) // 60 * 60].failed == 1
    assert line.failure_rate() == pytest.approx(1 / 21)
    assert [p["bucket"] for p in [line.points[0].as_json()]] == [line.points[0].bucket]
    assert line.points[0].as_json()["finished"] is None and points[minute].as_json()["finished"] == 20


def test_sql_minutes_fill_what_redis_lacks_and_redis_wins_where_it_has_data(conn, sql):
    minute = NOW // 60 * 60
    rollup(sql, "m", minute - 1800, finished=7, failed=1, depth=12, oldest_age_s=30.0)
    rollup(sql, "m", minute - 600, finished=99)  # the collector copied this minute; Redis has it too
    MetricsWriter().record_end(conn, queue="default", function="f", outcome="finished", ended_at=minute - 590)
    line = timeline.read_timeline(conn, sql, queue="default", window="1h", now=NOW)
    points = {p.bucket: p for p in line.points}
    assert (points[minute - 1800].finished, points[minute - 1800].failed) == (7, 1)
    assert (points[minute - 1800].depth, points[minute - 1800].oldest_age_s) == (12, 30.0)
    assert points[minute - 600].finished == 1
    assert line.source == "extension"


def test_windows_and_steps_from_sql_rows(conn, sql):
    hour = NOW // 3600 * 3600
    counts = [0] * (len(layout.RUN_EDGES) + 1)
    counts[6] = 10  # ten runs in (0.25, 0.5]
    for offset in (0, 60, 120):  # three minutes of one 10-minute bucket, two hours ago
        rollup(sql, "m", hour - 7200 + offset, finished=2, failed=1, run_buckets=buckets(counts), run_max_us=400_000)
    rollup(sql, "h", hour - 3 * 86400, finished=50, failed=5, source="registry")
    rollup(sql, "h", hour - 40 * 86400, finished=1000)  # beyond 30 days
    rollup(sql, "m", hour - 60, finished=3)  # not rolled into an hour yet
    rollup(sql, "m", hour - 7200, queue="other", finished=100)  # another queue's total

    day = timeline.read_timeline(conn, sql, queue="default", window="24h", now=NOW)
    assert day.step_seconds == 600 and len(day.points) == 144
    bucket = next(p for p in day.points if p.bucket == hour - 7200)
    assert (bucket.finished, bucket.failed) == (6, 3)
    assert 0.25 < bucket.run_p95 <= 0.4
    week = timeline.read_timeline(conn, sql, queue="default", window="7d", now=NOW)
    assert week.step_seconds == 3600 and len(week.points) == 168
    assert week.totals()["finished"] == 50 + 6 + 3  # the hour row, plus the minutes newer than the newest hour
    month = timeline.read_timeline(conn, sql, queue="default", window="30d", now=NOW)
    assert len(month.points) == 720 and month.totals()["finished"] == 59 and month.source == "extension"
    everything = timeline.read_timeline(conn, sql, window="24h", now=NOW)
    assert everything.totals()["finished"] == 6 + 3 + 100
    assert timeline.read_timeline(conn, sql, queue="nothing-here", window="7d", now=NOW).source == "none"
    with pytest.raises(ValueError):
        timeline.read_timeline(conn, sql, window="2h")


def test_missing_says_what_to_run(conn, sql):
    line = timeline.read_timeline(conn, sql, window="7d", now=NOW)
    assert line.source == "none" and not line.has_data
    assert timeline.EXTENSION_HINT in line.missing and timeline.COLLECTOR_HINT in line.missing
    rollup(sql, "h", NOW // 3600 * 3600 - 7200, finished=1, source="registry")
    line = timeline.read_timeline(conn, sql, window="7d", now=NOW)
    assert line.source == "registry" and line.missing == timeline.EXTENSION_HINT


def test_the_function_list_and_whether_a_function_was_seen(conn, sql):
    writer = MetricsWriter()
    writer.record_end(conn, queue="a", function="f1", outcome="finished", ended_at=NOW - 60)
    writer.record_end(conn, queue="b", function="f1", outcome="failed", ended_at=NOW - 60)
    rollup(sql, "m", NOW // 60 * 60 - 300, queue="c", function="f2", finished=5)
    rollup(sql, "h", NOW // 3600 * 3600 - 86400, queue="c", function="f3", finished=5)
    listed = list_functions(conn, sql, now=NOW)
    by_name = {f.name: f for f in listed.functions}
    assert [f.name for f in listed.functions] == ["f2", "f1", "f3"]
    assert by_name["f1"].queues == {"a", "b"} and by_name["f1"].failure_rate == 0.5
    assert by_name["f2"].finished == 5 and by_name["f3"].ended == 0 and listed.extension
    assert function_seen(conn, sql, "f1") and function_seen(conn, sql, "f3", queues=["c"])
    assert not function_seen(conn, sql, "f3") and not function_seen(conn, sql, "never")
    outcome = dict(job_id="j", queue="x", function="f4", status="finished", ended_at=sa.func.now())
    sql.execute(job_outcomes.insert().values(**outcome))
    assert function_seen(conn, sql, "f4")


def test_one_read_gives_every_queue_and_hostile_rows_never_break_it(conn, sql):
    writer = MetricsWriter()
    for queue, n in (("a", 2), ("b", 3)):
        for _ in range(n):
            writer.record_end(conn, queue=queue, function="f", outcome="finished", ended_at=NOW - 300, run_s=0.01)
    rollup(sql, "m", NOW // 60 * 60 - 1200, queue="c", finished=4, run_buckets="1,x,-3,,9" * 40, wait_buckets="junk")
    total, per_queue = timeline.read_queue_timelines(conn, sql, now=NOW)
    assert total.totals()["finished"] == 9 and set(per_queue) == {"a", "b", "c"}
    assert per_queue["b"].totals()["finished"] == 3 and per_queue["c"].totals()["finished"] == 4
    assert parse_counts("1,x,-3", layout.RUN_EDGES) == (1, 0, 0) + (0,) * (len(layout.RUN_EDGES) - 2)
    assert parse_counts(None, layout.WAIT_EDGES) == (0,) * (len(layout.WAIT_EDGES) + 1)
