"""Failure rate counts final failures, not retried attempts (a real extension worker runs a job with Retry);
the webhook channel creates one delivery per transition through the outbox; hostile queue names never
reach an e-mail header."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from rq import Queue, Retry

from dashboard.alerts import mail
from dashboard.alerts.evaluate import evaluate
from dashboard.alerts.models import alert_events
from dashboard.rqlayer.telemetry.worker import ConsoleSimpleWorker
from dashboard.settings import AlertSettings
from dashboard.webhooks import endpoints
from dashboard.webhooks.models import webhook_deliveries
from tests import jobfuncs
from tests.test_alerts_support import make_rule

QUEUE = "alerts-rate"


def fired(engine) -> list:
    with engine.connect() as sql:
        return list(sql.execute(sa.select(alert_events).order_by(alert_events.c.id)))


def test_failure_rate_counts_final_failures_not_retries(conn, engine):
    q = Queue(QUEUE, connection=conn)
    for n in range(3):
        q.enqueue(jobfuncs.add, n, 1)
    q.enqueue(jobfuncs.fail, "boom", retry=Retry(max=2))  # two retried attempts, then one final failure
    ConsoleSimpleWorker([q], connection=conn).work(burst=True)
    assert len(q.failed_job_registry) == 1 and len(q.finished_job_registry) == 3

    # 1 final failure of 4 jobs = 25 %; counting the retried attempts would make it 3 of 6 = 50 %.
    make_rule(
        engine, name="above 30", kind="failure_rate", target=f"queue:{QUEUE}", threshold="30", window_minutes="15"
    )
    make_rule(
        engine, name="above 20", kind="failure_rate", target=f"queue:{QUEUE}", threshold="20", window_minutes="15"
    )
    make_rule(engine, name="all jobs", kind="failure_rate", target="", threshold="20", window_minutes="60")
    evaluate(engine, conn)
    events = fired(engine)
    assert sorted((e.rule_name, e.subject, e.value) for e in events) == [
        ("above 20", f"queue:{QUEUE}", 25.0),
        ("all jobs", "all", 25.0),
    ]
    assert "2 attempts retried, not counted" in events[0].detail


def test_the_webhook_channel_makes_one_delivery_per_transition(conn, engine):
    endpoint, _secret = endpoints.create(engine, conn, url="https://hooks.example.com/alerts", events=["alert.firing"])
    make_rule(engine, name="hooked", kind="queue_depth", target=QUEUE, threshold="0", webhooks=str(endpoint.id))
    q = Queue(QUEUE, connection=conn)
    q.enqueue(jobfuncs.add, 1, 1)
    evaluate(engine, conn)
    evaluate(engine, conn)
    q.empty()
    evaluate(engine, conn)
    with engine.connect() as sql:
        rows = list(sql.execute(sa.select(webhook_deliveries).order_by(webhook_deliveries.c.id)))
    assert [r.type for r in rows] == ["alert.firing", "alert.resolved"]
    body = json.loads(rows[0].payload)
    assert body["data"]["rule"]["name"] == "hooked" and body["data"]["subject"] == QUEUE
    assert body["data"]["state"] == "firing" and body["data"]["value"] == 1.0
    channels = [json.loads(e.channels) for e in fired(engine)]
    assert [c[0]["deliveries"] for c in channels] == [[rows[0].id], [rows[1].id]]


def test_no_header_injection_from_data():
    settings = AlertSettings(smtp_host="127.0.0.1", email_from="alerts@console.test")
    message = mail.build_message(settings, ["ops@example.com"], "FIRING: queue a\r\nBcc: thief@evil.test", "body")
    assert message["Subject"] == "FIRING: queue a Bcc: thief@evil.test" and message["Bcc"] is None
    with pytest.raises(ValueError):
        mail.build_message(settings, ["ops@example.com\r\nBcc: thief@evil.test"], "s", "b")
