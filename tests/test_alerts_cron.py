"""Cron integrity: two real `rq cron` processes started with the same config are found (the Schedules page
warns, a cron_duplicate rule fires, and resolves once one of them stops); a recurring schedule whose runs
stopped is found missing runs (the page warns, a missed_runs rule fires)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from dashboard.alerts import cron_integrity
from dashboard.alerts.evaluate import evaluate
from dashboard.alerts.models import alert_events
from dashboard.history.outcomes import write_outcomes
from dashboard.rqlayer import keys, schedules
from dashboard.rqlayer.telemetry.outcome import Outcome
from tasks.registry import get_task
from tests.fixtures import CLEANUP_TASK
from tests.helpers import PROJECT_ROOT, text, wait_until
from tests.test_alerts_support import make_rule

CONFIG = """
from rq import cron
from tests import jobfuncs

cron.register(jobfuncs.add, queue_name="cron-q", args=(1, 2), interval=3600, name="hourly-add")
cron.register(jobfuncs.add, queue_name="cron-q", args=(3, 4), cron="0 3 * * *", name="nightly-add")
"""


def changes(engine) -> list[tuple[str, str]]:
    with engine.connect() as sql:
        return [(r.change, r.subject) for r in sql.execute(sa.select(alert_events).order_by(alert_events.c.id))]


def start_cron(redis_url: str, config) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rq.cli", "cron", "--url", redis_url, str(config)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_two_rq_cron_processes_with_one_config_are_flagged(conn, redis_url, engine, tmp_path):
    config = tmp_path / "cron_config.py"
    config.write_text(CONFIG)
    make_rule(engine, name="dup cron", kind="cron_duplicate", severity="critical")
    first, second = start_cron(redis_url, config), start_cron(redis_url, config)
    try:
        wait_until(lambda: conn.zcard(keys.cron_schedulers()) == 2, timeout=20, message="two rq cron processes")
        wait_until(
            lambda: (
                len(cron_integrity.live_processes(conn)) == 2
                and all(p.jobs for p in cron_integrity.live_processes(conn))
            ),
            timeout=10,
            message="their entries",
        )
        (duplicate,) = cron_integrity.duplicates(conn)
        assert duplicate.entries == ("hourly-add", "nightly-add")
        assert len(duplicate.processes) == 2 and duplicate.config_file == str(config)
        assert "enqueued 2 times" in duplicate.text
        for _ in range(3):
            evaluate(engine, conn)
        assert changes(engine) == [("firing", f"config {config}")]

        second.terminate()
        second.wait(timeout=20)
        wait_until(lambda: conn.zcard(keys.cron_schedulers()) == 1, timeout=20, message="one process left")
        assert cron_integrity.duplicates(conn) == []
        evaluate(engine, conn)
        assert changes(engine) == [("firing", f"config {config}"), ("resolved", f"config {config}")]
    finally:
        for process in (first, second):
            process.terminate()
            process.wait(timeout=20)


def test_the_schedules_page_warns_of_duplicates_and_missed_runs(conn, client, redis_url, tmp_path, app):
    config = tmp_path / "cron_config.py"
    config.write_text(CONFIG)
    sid = schedules.create_interval(conn, get_task(CLEANUP_TASK), {"dry_run": True}, 60, "low")
    now = datetime.now(UTC)
    runs = [now - timedelta(minutes=30), now - timedelta(minutes=29)]  # then it stopped firing
    outcomes = [
        Outcome(
            job_id=sid,
            attempt=n + 1,
            queue="low",
            function=CLEANUP_TASK,
            status="finished",
            ended_ms=int(at.timestamp() * 1000) + 500,
            started_ms=int(at.timestamp() * 1000),
            enqueued_ms=int(at.timestamp() * 1000),
        )  # fmt: skip
        for n, at in enumerate(runs)
    ]
    from dashboard.extensions import db

    with app.app_context():
        with db.engine.begin() as sql:
            write_outcomes(sql, outcomes)
        with db.engine.connect() as sql:
            (found,) = cron_integrity.missed(conn, sql, timedelta(hours=1), now=now)
        assert found.schedule.id == sid and found.missed >= 25
        make_rule(db.engine, name="missed", kind="missed_runs", threshold="3", window_minutes="60")
        evaluate(db.engine, conn)
        assert changes(db.engine) == [("firing", sid)]

    processes = [start_cron(redis_url, config), start_cron(redis_url, config)]
    try:
        wait_until(lambda: len(cron_integrity.duplicates(conn)) == 1, timeout=20, message="the duplicate")
        cron_integrity.forget_cache()
        page = text(client.get("/schedules"))
        assert "2 rq cron processes" in page and "hourly-add, nightly-add" in page
        assert f"Schedule {sid} ({CLEANUP_TASK}) missed" in page
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)
