"""The worker page's history (from SQL): the jobs a worker ran recently and its throughput over the last hour,
for a running worker and for one that is gone. Queries on SQLite and PostgreSQL; pages on the app's SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from rq import Queue, Worker

from dashboard.core_tables import create_all
from dashboard.history import worker_history
from dashboard.history.models import job_outcomes

EVIL = '<script>alert("w")</script>'
ESCAPED = "&lt;script&gt;alert("
HX = {"HX-Request": "true"}


def outcome(job_id: str, ended: datetime, worker: str, status: str = "finished", **extra) -> dict:
    naive = ended.astimezone(UTC).replace(tzinfo=None)
    row = {
        "job_id": job_id,
        "attempt": int(naive.timestamp() * 1000),
        "queue": "default",
        "function": "tasks.reports.generate_sales_report",
        "status": status,
        "enqueued_at": naive - timedelta(seconds=2),
        "started_at": naive - timedelta(seconds=1),
        "ended_at": naive,
        "run_us": 1_000_000,
        "worker": worker,
        "exc_type": None,  # every row has every key: an executemany takes its columns from the first
        "exc_message": None,
    }
    row.update(extra)
    return row


def plant(conn, now: datetime, worker: str = "w1", prefix: str = "") -> None:
    """Three minutes with work in the last hour (2+1 failed, 3, 1 failed), one row just outside it, another
    worker's rows, and 25 older rows so the recent list is capped at 20."""
    base = now.replace(second=10, microsecond=0)
    rows = [
        outcome("a1", base - timedelta(minutes=5), worker),
        outcome("a2", base - timedelta(minutes=5, seconds=5), worker),
        outcome("a3", base - timedelta(minutes=5, seconds=8), worker, "failed", exc_type="KeyError"),
        *(outcome(f"b{i}", base - timedelta(minutes=30, seconds=i), worker) for i in range(3)),
        outcome("c1", base - timedelta(minutes=59), worker, "failed", exc_type="ValueError"),
        outcome("retried", base - timedelta(minutes=2), worker, "retried"),  # neither finished nor failed
        outcome("old", base - timedelta(minutes=61), worker),
        *(outcome(f"z{i}", base - timedelta(hours=3, seconds=i), worker) for i in range(25)),
        *(outcome(f"o{i}", base - timedelta(minutes=5), "other-worker") for i in range(4)),
    ]
    conn.execute(sa.insert(job_outcomes), [{**r, "job_id": prefix + r["job_id"]} for r in rows])


def test_recent_jobs_and_throughput_per_minute(database_url):
    engine = sa.create_engine(database_url)
    create_all(engine)  # every Core table: the periodic tasks touch them all
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            plant(conn, now)
        with engine.connect() as conn:
            recent = worker_history.recent_jobs(conn, "w1")
            tp = worker_history.throughput(conn, "w1", now=now)
            nothing = worker_history.throughput(conn, "nobody", now=now)
    finally:
        engine.dispose()
    assert len(recent) == 20 and recent[0].id == "retried" and recent[1].id == "a1"
    assert {r.worker_name for r in recent} == {"w1"}
    assert len(tp.minutes) == 60 and tp.minutes[-1].start == now.replace(second=0, microsecond=0)
    busy = {
        int((tp.minutes[-1].start - m.start).total_seconds() // 60): (m.finished, m.failed)
        for m in tp.minutes
        if m.total
    }
    assert busy == {5: (2, 1), 30: (3, 0), 59: (0, 1)}
    assert (tp.finished, tp.failed, tp.peak) == (5, 2, 3)
    bars = tp.bars(height=30)
    assert bars[-31]["done_h"] == 30 and bars[-6]["done_h"] == 20 and bars[-6]["fail_h"] == 10
    assert bars[-6]["fail_y"] == 0 and bars[0]["fail_h"] == 10 and bars[1]["done_h"] == bars[1]["fail_h"] == 0
    assert nothing.peak == 0 and nothing.bars()[0]["done_h"] == 0


@pytest.fixture
def planted(app, conn):
    from dashboard.extensions import db

    now = datetime.now(UTC)
    with app.app_context(), db.engine.begin() as sql:
        plant(sql, now, "w-live")
        plant(sql, now, "w-gone", prefix="g-")
        sql.execute(sa.insert(job_outcomes), [outcome("evil-1", now - timedelta(minutes=1), EVIL, exc_type=EVIL)])
    Worker([Queue("default", connection=conn)], connection=conn, name="w-live").register_birth()
    return now


def test_worker_pages_show_history_for_running_and_gone_workers(client_as, planted):
    viewer = client_as("viewer")
    live = viewer.get("/workers/w-live")
    body = live.get_data(as_text=True)
    assert live.status_code == 200 and 'id="worker-facts"' in body
    assert 'id="worker-throughput"' in body and body.count('class="bar-failed"') == 2
    assert body.count("<tr data-outcome=") == 20 and 'href="/jobs/a1"' in body and "KeyError" in body
    assert "5 finished · 2 failed" in body and 'id="worker-throughput-table"' in body
    assert 'hx-get="/workers/w-live?part=history"' in body

    gone = viewer.get("/workers/w-gone")
    body = gone.get_data(as_text=True)
    assert gone.status_code == 200, "a worker the history knows is not a 404"
    assert "no longer registered" in body and 'id="worker-recent"' in body and 'id="worker-facts"' not in body

    fragment = viewer.get("/workers/w-gone?part=history", headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    assert 'id="worker-recent"' in fragment.get_data(as_text=True)

    assert viewer.get("/workers/never-seen").status_code == 404
    hostile = viewer.get("/workers/" + EVIL.replace("/", "%2F"))
    body = hostile.get_data(as_text=True)
    assert hostile.status_code == 200 and EVIL not in body and ESCAPED in body
