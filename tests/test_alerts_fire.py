"""An alert fires once and resolves once, with real queues, a real worker, a real SMTP server and both SQL
databases: no storm while it stays firing, the cooldown bounds re-fires of a flapping condition, and two
evaluators running at once notify once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import redis
import sqlalchemy as sa
from rq import Queue

from dashboard.alerts import reads
from dashboard.alerts.evaluate import evaluate
from dashboard.alerts.models import alert_events, alert_states
from tests import jobfuncs
from tests.helpers import wait_until, work_in_process
from tests.test_alerts_support import MAIL_QUEUE, mail_jobs, make_rule, smtp_server

QUEUE = "alerts-depth"


@pytest.fixture
def mailbox(monkeypatch):
    yield from smtp_server(monkeypatch)


def events(engine, change=None):
    with engine.connect() as sql:
        query = sa.select(alert_events).order_by(alert_events.c.id)
        if change:
            query = query.where(alert_events.c.change == change)
        return list(sql.execute(query))


def state_of(engine, rule_id, subject=QUEUE):
    with engine.connect() as sql:
        return sql.execute(
            sa.select(alert_states).where(alert_states.c.rule_id == rule_id, alert_states.c.subject == subject)
        ).first()


def test_queue_depth_fires_once_and_resolves_once_by_email(conn, engine, mailbox):
    rule = make_rule(engine, name="depth", kind="queue_depth", target=QUEUE, threshold="2", emails="ops@example.com")
    q = Queue(QUEUE, connection=conn)
    for n in range(5):
        q.enqueue(jobfuncs.add, n, 1)

    for _ in range(4):  # breached at every pass: one firing, no storm
        evaluate(engine, conn)
    fired = events(engine)
    assert [(e.change, e.subject, e.value) for e in fired] == [("firing", QUEUE, 5.0)]
    assert len(mail_jobs(conn)) == 1
    assert state_of(engine, rule.id).state == "firing"

    work_in_process(conn, [QUEUE])  # a real worker drains the queue
    for _ in range(3):
        evaluate(engine, conn)
    assert [e.change for e in events(engine)] == ["firing", "resolved"]
    assert state_of(engine, rule.id).state == "ok"
    assert len(mail_jobs(conn)) == 2

    work_in_process(conn, [MAIL_QUEUE])  # the e-mail jobs run on a worker, as in production
    wait_until(lambda: len(mailbox.subjects()) == 2, timeout=10, message="two e-mails")
    assert mailbox.subjects() == [
        f"[RQ Console] FIRING warning: depth — {QUEUE}",
        f"[RQ Console] RESOLVED warning: depth — {QUEUE}",
    ]
    body = mailbox.messages[0].get_content()
    assert "more than 2 jobs waiting" in body and "5 jobs waiting" in body
    assert mailbox.messages[0]["To"] == "ops@example.com"
    recorded = reads.events_page(engine.connect()).events
    assert recorded[0].channels[0]["type"] == "email" and not recorded[0].errors


def test_cooldown_holds_a_flapping_alert(conn, engine):
    rule = make_rule(engine, name="flap", kind="queue_depth", target=QUEUE, threshold="0", cooldown_seconds="600")
    q = Queue(QUEUE, connection=conn)
    t0 = datetime.now(UTC)
    q.enqueue(jobfuncs.add, 1, 1)
    evaluate(engine, conn, now=t0)
    q.empty()
    evaluate(engine, conn, now=t0 + timedelta(seconds=30))
    q.enqueue(jobfuncs.add, 1, 1)  # breached again within the cooldown: held, not fired
    evaluate(engine, conn, now=t0 + timedelta(seconds=60))
    assert [e.change for e in events(engine)] == ["firing", "resolved"]
    held = state_of(engine, rule.id)
    assert held.state == "ok" and held.breached
    evaluate(engine, conn, now=t0 + timedelta(seconds=601))  # the cooldown is over: fires once more
    assert [e.change for e in events(engine)] == ["firing", "resolved", "firing"]


def test_two_evaluators_at_once_notify_once(conn, engine, database_url, redis_url, mailbox):
    make_rule(engine, name="race", kind="queue_depth", target=QUEUE, threshold="0", emails="ops@example.com")
    Queue(QUEUE, connection=conn).enqueue(jobfuncs.add, 1, 1)
    engines = [sa.create_engine(database_url) for _ in range(3)]
    start = threading.Barrier(len(engines))
    failures = []

    def run(own):
        try:
            start.wait(timeout=10)
            for _ in range(3):
                evaluate(own, redis.Redis.from_url(redis_url))
        except Exception as error:  # collected: an assertion below names it
            failures.append(error)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for e in engines:
        e.dispose()
    assert not failures, failures
    assert [e.change for e in events(engine)] == ["firing"]
    assert len(mail_jobs(conn)) == 1
