"""The /alerts page and GET /api/v1/alerts: admins create (inline validation, refused input with its message
and status), edit, disable, delete and test rules, each audited and CSRF-protected; viewers and operators see
state only; the nav counts firing alerts."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from dashboard.alerts import reads
from dashboard.alerts.evaluate import evaluate
from dashboard.alerts.models import alert_rules
from dashboard.models import AuditEvent
from tests.helpers import post, text
from tests.test_alerts_support import smtp_server

RULE = {
    "name": "deep default",
    "kind": "queue_depth",
    "target": "default",
    "threshold": "3",
    "severity": "critical",
    "cooldown_seconds": "60",
    "emails": "ops@example.com",
    "webhooks": "",
    "enabled": "on",
}


@pytest.fixture
def mailbox(monkeypatch):
    yield from smtp_server(monkeypatch)


def audit_actions(app) -> list[str]:
    from dashboard.extensions import db

    with app.app_context():
        return [
            e.action
            for e in db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))
            if e.action.startswith("alert.")
        ]


def rule_ids(app) -> list[int]:
    from dashboard.extensions import db

    with app.app_context():
        return list(db.session.scalars(sa.select(alert_rules.c.id)))


def test_admin_creates_edits_disables_and_deletes_a_rule_audited(app, client):
    assert "No alert rule yet" in text(client.get("/alerts"))
    created = post(client, "/alerts", **RULE)
    assert created.status_code == 303
    (rule_id,) = rule_ids(app)
    page = text(client.get("/alerts"))
    assert "deep default" in page and "queue default: more than 3 jobs waiting" in page and "ops@example.com" in page

    form = text(client.get(f"/alerts/{rule_id}/edit"))
    assert 'value="deep default"' in form
    assert post(client, f"/alerts/{rule_id}", **(RULE | {"threshold": "10"})).status_code == 303
    assert "more than 10 jobs waiting" in text(client.get("/alerts"))
    assert post(client, f"/alerts/{rule_id}/disable").status_code == 303
    assert 'data-status="disabled"' in text(client.get("/alerts"))
    assert post(client, f"/alerts/{rule_id}/delete").status_code == 303
    assert rule_ids(app) == []
    assert audit_actions(app) == ["alert.create", "alert.update", "alert.disable", "alert.delete"]


def test_bad_input_is_refused_with_its_message_and_nothing_saved(app, client):
    bad = post(client, "/alerts", **(RULE | {"threshold": "lots", "emails": "ops@example.com\r\nBcc: x@evil.test"}))
    assert bad.status_code == 422
    body = text(bad)
    assert "a number of jobs" in body and "is not an e-mail address" in body
    assert rule_ids(app) == []
    assert post(client, "/alerts", **RULE).status_code == 303
    twice = post(client, "/alerts", **RULE)
    assert twice.status_code == 409 and "exists already" in text(twice)
    assert post(client, "/alerts", **(RULE | {"kind": "nonsense"})).status_code == 422
    assert post(client, "/alerts/999/delete").status_code == 404
    assert post(client, "/alerts/999/explode").status_code == 404
    assert client.get("/alerts?after=not-a-cursor").status_code == 400


def test_inline_validation_per_field(client):
    ok = client.get("/alerts/check", query_string={"field": "threshold", "threshold": "5", "kind": "queue_depth"})
    assert ok.status_code == 200 and text(ok).strip() == ""
    bad = client.get("/alerts/check", query_string={"field": "threshold", "threshold": "150", "kind": "failure_rate"})
    assert "at most 100" in text(bad)
    scope = client.get("/alerts/check", query_string={"field": "target", "target": "bogus", "kind": "failure_rate"})
    assert "queue:<name>" in text(scope)
    fields = text(client.get("/alerts/kind-fields", query_string={"kind": "failure_rate"}))
    assert 'name="window_minutes"' in fields and 'name="threshold"' in fields
    assert 'name="threshold"' not in text(client.get("/alerts/kind-fields", query_string={"kind": "no_worker"}))


def test_roles_csrf_and_the_nav_count(app, client, client_as, conn, mailbox):
    post(client, "/alerts", **(RULE | {"threshold": "0"}))
    viewer, operator = client_as("viewer"), client_as("operator")
    for other in (viewer, operator):
        page = text(other.get("/alerts"))
        assert "deep default" in page and "ops@example.com" not in page and "New rule" not in page
        assert other.get("/alerts/new").status_code == 403
        assert post(other, "/alerts", **RULE).status_code == 403
        (rule_id,) = rule_ids(app)
        assert post(other, f"/alerts/{rule_id}/delete").status_code == 403
    # No CSRF token: refused, nothing deleted.
    assert client.post(f"/alerts/{rule_id}/delete").status_code == 400
    assert rule_ids(app) == [rule_id]

    conn.rpush("rq:queue:default", "some-job")
    conn.sadd("rq:queues", "rq:queue:default")
    from dashboard.extensions import db

    with app.app_context():
        evaluate(db.engine, conn)
    reads.forget_firing_count()
    nav = text(viewer.get("/alerts"))
    assert re.search(r'id="nav-alerts-firing"[^>]*>1', nav)
    assert 'data-status="firing"' in nav

    api = viewer.get("/api/v1/alerts")  # a session is not a bearer token
    assert api.status_code == 401


def test_test_notification_enqueues_an_email_job(app, client, conn, mailbox):
    from tests.helpers import work_in_process
    from tests.test_alerts_support import MAIL_QUEUE, mail_jobs

    post(client, "/alerts", **RULE)
    (rule_id,) = rule_ids(app)
    sent = post(client, f"/alerts/{rule_id}/test")
    assert sent.status_code == 303
    assert "Sent a test notification" in text(client.get("/alerts"))
    assert len(mail_jobs(conn)) == 1
    work_in_process(conn, [MAIL_QUEUE])
    assert mailbox.subjects() == ["[RQ Console] TEST critical: deep default"]
    assert "alert.test" in audit_actions(app)


def test_api_lists_rules_with_state_and_events(app, client, conn):
    from dashboard.accounts import create_token

    post(client, "/alerts", **(RULE | {"threshold": "0"}))
    conn.rpush("rq:queue:default", "some-job")
    conn.sadd("rq:queues", "rq:queue:default")
    from dashboard.extensions import db

    with app.app_context():
        evaluate(db.engine, conn)
        _, token = create_token("alerts-viewer", "viewer", actor="test")
    answer = app.test_client().get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    body = answer.get_json()
    (rule,) = body["rules"]
    assert rule["status"] == "firing" and rule["channels"]["emails"] is None
    assert rule["subjects"][0]["subject"] == "default" and rule["subjects"][0]["state"] == "firing"
    assert [e["change"] for e in body["events"]] == ["firing"]
