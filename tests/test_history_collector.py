"""The history collector against real workers, real Redis and both SQL databases: outcomes with the right
status, times, worker, exception and fingerprint; nothing written twice (replayed batches, the registry
sweep seeing the same executions, in either order); resolved groups regress, ignored ones stay ignored;
promoted meta attributes; stock workers' outcomes and rollups from the registry sweep; gaps reported."""

from __future__ import annotations

import time
from datetime import UTC

import sqlalchemy as sa
from rq import Queue, Retry

from dashboard.history.collector import Collector, collect_once, drain
from dashboard.history.models import error_groups, job_outcome_attributes, job_outcomes, metric_rollups
from dashboard.rqlayer import keys
from dashboard.rqlayer.fingerprint import traceback_fingerprint
from dashboard.rqlayer.telemetry.consumer import GROUP, collector_status
from dashboard.rqlayer.telemetry.events import append_event
from dashboard.rqlayer.telemetry.worker import ConsoleSimpleWorker
from dashboard.rqlayer.tracebacks import latest_traceback
from dashboard.settings import HistorySettings
from tests import jobfuncs
from tests.helpers import run_burst_worker, work_in_process

CONSOLE_WORKER = ("-w", "dashboard.rqlayer.telemetry.worker.ConsoleWorker")
SETTINGS = HistorySettings(attributes=("tenant", "attempts"))


def rows(engine, table=job_outcomes, *where):
    with engine.connect() as sql:
        return list(sql.execute(sa.select(table).where(*where)))


def one_per_execution(engine) -> None:
    with engine.connect() as sql:
        doubles = sql.execute(
            sa.select(job_outcomes.c.job_id, job_outcomes.c.attempt, sa.func.count())
            .group_by(job_outcomes.c.job_id, job_outcomes.c.attempt)
            .having(sa.func.count() > 1)
        ).all()
    assert doubles == []


def traceback_of(conn, job_id: str) -> str:
    return latest_traceback(conn.hget(keys.job(job_id), "exc_info"), conn.xrevrange(keys.results(job_id), count=1))


def test_console_worker_outcomes_once_each(conn, redis_url, engine):
    q = Queue("default", connection=conn)
    ok = [q.enqueue(jobfuncs.add, i, 1) for i in range(3)]
    tagged = q.enqueue_call(jobfuncs.add, args=(2, 3), meta={"tenant": "acme", "attempts": 2, "other": "x"})
    failing = q.enqueue(jobfuncs.fail, "order 123 not found")
    flaky = q.enqueue(jobfuncs.fail, "order 7 not found", retry=Retry(max=1))
    run_burst_worker(redis_url, queues=(*CONSOLE_WORKER, "default"))

    assert drain(conn, engine, SETTINGS) == 7  # 4 finished, 1 failed, flaky: retried then failed
    by_job = {}
    for row in rows(engine):
        by_job.setdefault(row.job_id, []).append(row)
    for job in [*ok, tagged]:
        (row,) = by_job[job.id]
        job.refresh()
        assert (row.status, row.queue, row.function, row.source) == (
            "finished",
            "default",
            "tests.jobfuncs.add",
            "stream",
        )
        assert row.worker == job.worker_name and row.worker
        assert row.attempt == int(job.started_at.timestamp() * 1000)
        assert row.started_at <= row.ended_at and row.enqueued_at <= row.started_at
        assert row.run_us is not None and row.run_us >= 0 and row.wait_us is not None
        assert row.exc_type is None and row.fingerprint is None
    (failed,) = by_job[failing.id]
    tb = traceback_of(conn, failing.id)
    assert (failed.status, failed.exc_type, failed.exc_message) == ("failed", "RuntimeError", "order 123 not found")
    assert failed.fingerprint == traceback_fingerprint(tb)  # what /failed and /errors compute for the live job
    statuses = sorted(r.status for r in by_job[flaky.id])
    assert statuses == ["failed", "retried"]
    retried = next(r for r in by_job[flaky.id] if r.status == "retried")
    assert retried.exc_type == "RuntimeError" and retried.fingerprint is None
    attrs = {(a.name, a.value) for a in rows(engine, job_outcome_attributes)}
    assert attrs == {("tenant", "acme"), ("attempts", "2")}  # only the promoted keys, as text

    (group,) = rows(engine, error_groups)  # the same bug with other ids: one group; the retry is not counted
    assert group.count == 2 and group.status == "open"
    assert group.exc_type == "RuntimeError" and group.sample_job_id in (failing.id, flaky.id)

    # A replay (the group's position reset) and the registry sweep (the same executions, from the job
    # hashes) write nothing and count nothing again.
    conn.xgroup_setid(keys.events(), GROUP, "0")
    assert drain(conn, engine, SETTINGS) == 0
    assert collect_once(conn, engine, SETTINGS, force=True) == 0
    one_per_execution(engine)
    assert len(rows(engine)) == 7
    assert rows(engine, error_groups)[0].count == 2
    status = collector_status(conn)
    assert status.running and status.lag == 0 and not status.gap_seen and status.written_total == 7

    # Resolved -> regressed by a failure that ended after resolved_at; ignored stays ignored. The sweep
    # runs first this time: the stream then adds nothing for the same executions.
    with engine.begin() as sql:
        sql.execute(sa.update(error_groups).values(status="resolved", resolved_at=sa.func.now()))
    again = q.enqueue(jobfuncs.fail, "order 456 not found")
    ConsoleSimpleWorker([q], connection=conn).work(burst=True)  # the extension again, in this process
    Collector(conn, engine, SETTINGS).run_periodic(force=True)
    assert drain(conn, engine, SETTINGS) == 0
    (row,) = rows(engine, job_outcomes, job_outcomes.c.job_id == again.id)
    assert row.source == "registry" and row.fingerprint == failed.fingerprint and row.worker
    (group,) = rows(engine, error_groups)
    assert (group.status, group.count, group.sample_job_id) == ("regressed", 3, again.id)
    assert group.regressed_at is not None and group.regressed_at >= group.resolved_at
    with engine.begin() as sql:
        sql.execute(sa.update(error_groups).values(status="ignored"))
    q.enqueue(jobfuncs.fail, "order 789 not found")
    work_in_process(conn, ("default",))  # a stock SimpleWorker: the sweep's row
    collect_once(conn, engine, SETTINGS, force=True)
    (group,) = rows(engine, error_groups)
    assert (group.status, group.count) == ("ignored", 4)
    one_per_execution(engine)


def test_stock_worker_sweep_and_rollups(conn, engine):
    q = Queue("default", connection=conn)
    done = [q.enqueue(jobfuncs.add, i, 2) for i in range(2)]
    broken = q.enqueue(jobfuncs.fail, "disk /var/x full")
    work_in_process(conn, ("default",))  # RQ's own SimpleWorker: no events, no metrics

    assert collect_once(conn, engine, None, force=True) == 3
    assert collect_once(conn, engine, None, force=True) == 0  # the cursor moved on; the key dedups anyway
    found = {r.job_id: r for r in rows(engine)}
    assert set(found) == {j.id for j in [*done, broken]}
    for job in done:
        job.refresh()
        row = found[job.id]
        assert (row.status, row.source, row.function, row.worker) == (
            "finished",
            "registry",
            job.func_name,
            job.worker_name,
        )
        assert row.attempt == int(job.started_at.timestamp() * 1000) and row.run_us >= 0
    row = found[broken.id]
    assert (row.status, row.exc_type, row.exc_message) == ("failed", "RuntimeError", "disk /var/x full")
    assert row.fingerprint == traceback_fingerprint(traceback_of(conn, broken.id))
    (group,) = rows(engine, error_groups)
    assert group.count == 1 and group.fingerprint == row.fingerprint

    minutes = rows(engine, metric_rollups, metric_rollups.c.resolution == "m")
    counted = [m for m in minutes if m.source == "registry" and (m.finished or m.failed)]
    total = {m.function: (m.finished, m.failed) for m in counted}
    assert total == {"": (2, 1), "tests.jobfuncs.add": (2, 0), "tests.jobfuncs.fail": (0, 1)}
    depth = [m for m in minutes if m.function == "" and m.depth is not None]
    assert depth and depth[0].depth == 0  # the queue's depth sampled on its total row
    hours = rows(engine, metric_rollups, metric_rollups.c.resolution == "h", metric_rollups.c.function == "")
    assert [(h.finished, h.failed) for h in hours] == [(2, 1)]


def test_minutes_copied_from_redis_and_gap_reported(conn, engine):
    from dashboard.rqlayer.telemetry.metrics import MetricsWriter

    writer = MetricsWriter()
    ended = time.time() - 120
    for outcome, run_s in (("finished", 0.02), ("finished", 0.3), ("failed", 1.5)):
        writer.record_end(conn, queue="q1", function="f", outcome=outcome, ended_at=ended, run_s=run_s, wait_s=0.01)
    collect_once(conn, engine, None, force=True)
    minute = int(ended // 60 * 60)
    (row,) = rows(engine, metric_rollups, metric_rollups.c.function == "f", metric_rollups.c.resolution == "m")
    assert (row.bucket, row.finished, row.failed, row.source) == (minute, 2, 1, "extension")
    assert row.run_sum_us == 1_820_000 and row.run_max_us == 1_500_000
    assert sum(int(c) for c in row.run_buckets.split(",")) == 3

    # Events trimmed before the group read them: reported, and the collector reads on.
    append_event(conn, "finished", job_id="first", queue="q1", function="f")
    drain(conn, engine, None)
    assert not collector_status(conn).gap_seen
    for n in range(300):
        append_event(conn, "finished", job_id=f"j{n}", queue="q1", function="f")
    conn.xtrim(keys.events(), maxlen=10, approximate=False)
    drain(conn, engine, None)
    status = collector_status(conn)
    assert status.gap_seen and "trimmed" in status.gap and status.lag == 0


def test_retention_prunes_outcomes_and_rollups(conn, engine):
    from datetime import datetime, timedelta

    now = datetime.now(UTC).replace(tzinfo=None)
    old, recent = now - timedelta(days=31), now - timedelta(days=1)
    with engine.begin() as sql:
        for n, ended in enumerate((old, old, recent)):
            row = {"job_id": f"j{n}", "attempt": n, "queue": "q", "status": "finished", "ended_at": ended}
            outcome_id = sql.execute(sa.insert(job_outcomes).values(row)).inserted_primary_key[0]
            sql.execute(
                sa.insert(job_outcome_attributes).values(outcome_id=outcome_id, name="a", value="v", ended_at=ended)
            )
        stamp = int(time.time())
        for resolution, age in (("m", 3 * 86400), ("m", 3600), ("h", 91 * 86400), ("h", 86400)):
            key = {"resolution": resolution, "queue": "q", "function": "", "bucket": (stamp - age) // 60 * 60}
            sql.execute(sa.insert(metric_rollups).values(key))
    collect_once(conn, engine, None, force=True)
    assert [r.job_id for r in rows(engine)] == ["j2"] and len(rows(engine, job_outcome_attributes)) == 1
    ages = {(r.resolution, (stamp - r.bucket) // 86400) for r in rows(engine, metric_rollups)}
    assert ("m", 2) not in ages and ("h", 90) not in ages  # past 48 h of minutes and 90 d of hours
    assert {("m", 0), ("h", 1), ("h", 0)} <= ages  # the 1-h-old minute (and its hour, rolled now), the 1-day-old hour


def test_retention_prunes_incoming_events_with_their_jobs_and_alert_history(conn, engine):
    from datetime import datetime, timedelta

    from dashboard.alerts.models import alert_events
    from dashboard.inbound.models import incoming_event_jobs, incoming_events

    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as sql:
        for n, at in enumerate((now - timedelta(days=31), now - timedelta(days=1))):
            values = {"name": "order.created", "payload": "{}", "digest": f"d{n}", "actor": "t", "source": "api"}
            event_id = sql.execute(sa.insert(incoming_events).values(**values, received_at=at)).inserted_primary_key[0]
            job = {"event_id": event_id, "position": 0, "job_id": f"j{n}", "task": "t", "queue": "q"}
            sql.execute(sa.insert(incoming_event_jobs).values(job))
            alert = {"rule_id": 1, "rule_name": "r", "severity": "info", "change": "firing", "at": at}
            sql.execute(sa.insert(alert_events).values(alert))
    collect_once(conn, engine, None, force=True)
    assert [r.digest for r in rows(engine, incoming_events)] == ["d1"]
    assert [r.job_id for r in rows(engine, incoming_event_jobs)] == ["j1"]
    assert [r.at.date() for r in rows(engine, alert_events)] == [(now - timedelta(days=1)).date()]
