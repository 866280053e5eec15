"""The other kinds against real data: no worker on a queue with jobs (a real worker's registration ends it),
the oldest waiting job's age, a missing rq cron scheduler, and a regressed error group (resolving it in the
console resolves the alert)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from rq import Queue, SimpleWorker

from dashboard.alerts.evaluate import evaluate
from dashboard.alerts.models import alert_events
from dashboard.history import error_groups
from dashboard.history.models import error_groups as groups_table
from tests import jobfuncs
from tests.test_alerts_support import make_rule

QUEUE = "alerts-kinds"


def changes(engine) -> list[tuple[str, str, str]]:
    with engine.connect() as sql:
        rows = sql.execute(sa.select(alert_events).order_by(alert_events.c.id))
        return [(r.rule_name, r.change, r.subject) for r in rows]


def test_no_worker_oldest_age_and_missing_cron(conn, engine):
    make_rule(engine, name="unattended", kind="no_worker", target="")
    make_rule(engine, name="old", kind="oldest_job_age", target=QUEUE, threshold="300")
    make_rule(engine, name="cron", kind="scheduler_missing", target="rq-cron", threshold="300")
    q = Queue(QUEUE, connection=conn)
    q.enqueue(jobfuncs.add, 1, 1)
    now = datetime.now(UTC)
    evaluate(engine, conn, now=now)
    assert changes(engine) == [("cron", "firing", "rq-cron"), ("unattended", "firing", QUEUE)]

    worker = SimpleWorker([q], connection=conn)
    worker.register_birth()  # a live worker now listens on the queue
    try:
        evaluate(engine, conn, now=now + timedelta(seconds=400))  # and the job has waited 400 s
    finally:
        worker.register_death()
    assert changes(engine)[2:] == [("old", "firing", QUEUE), ("unattended", "resolved", QUEUE)]


def test_a_regressed_error_group_fires_and_resolving_it_resolves(conn, engine):
    make_rule(engine, name="errors", kind="error_group", window_minutes="60")
    seen = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=5)
    fingerprint = "ab" * 16
    with engine.begin() as sql:
        sql.execute(
            sa.insert(groups_table).values(
                fingerprint=fingerprint,
                exc_type="KeyError",
                message="'<id>'",
                first_seen=seen - timedelta(days=3),
                last_seen=seen,
                count=7,
                status="regressed",
            )  # fmt: skip
        )
    evaluate(engine, conn)
    evaluate(engine, conn)
    assert changes(engine) == [("errors", "firing", fingerprint)]
    with engine.begin() as sql:
        error_groups.set_status(sql, fingerprint, "resolve", "test")
    evaluate(engine, conn)
    assert changes(engine) == [("errors", "firing", fingerprint), ("errors", "resolved", fingerprint)]
