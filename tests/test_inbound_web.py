"""Incoming events through the console: POST /api/v1/events enqueues both subscribers of order.created, a
real worker runs them and /events/incoming shows their outcomes (live from Redis, then from the SQL history
once the jobs expired); bad payloads and unknown names are 422 with nothing enqueued (and the OpenAPI document
describes both routes); roles, CSRF, audit, idempotency keys, the inline check, GET /api/v1/incoming-events."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from dashboard.rqlayer import keys
from tests.helpers import csrf_token, text, work_in_process

ORDER = {"order_id": "A-7", "customer": "ann@example.com", "total": 99.5, "currency": "EUR"}
BOTH = {"tasks.orders.record_order", "tasks.orders.send_order_confirmation"}


@pytest.fixture
def tokens(app, accounts):
    from dashboard import accounts as service

    with app.app_context():
        return {role: service.create_token(f"t-{role}", role)[1] for role in ("operator", "viewer")}


def bearer(secret: str, **headers) -> dict:
    return {"Authorization": f"Bearer {secret}", **headers}


def queued(conn) -> int:
    return conn.llen(keys.queue("high")) + conn.llen(keys.queue("default"))


def audit_rows(app, action="event.publish"):
    from dashboard.models import AuditEvent

    with app.app_context():
        return [(e.actor, e.target, e.job_count, e.outcome) for e in AuditEvent.query.filter_by(action=action)]


def test_an_event_runs_both_subscribers_and_the_page_shows_their_outcome(app, client, conn, tokens):
    answer = client.post(
        "/api/v1/events", json={"name": "order.created", "payload": ORDER}, headers=bearer(tokens["operator"])
    )

    assert answer.status_code == 201, answer.json
    jobs = answer.json["jobs"]
    assert {j["task"] for j in jobs} == BOTH and not answer.json["replayed"]
    assert queued(conn) == 2
    assert audit_rows(app) == [("token:t-operator", "order.created", 2, "ok")]

    work_in_process(conn)  # a real RQ worker runs both jobs

    page = client.get("/events/incoming")
    html = text(page)
    assert page.status_code == 200
    row = re.search(rf'<tr data-event="{answer.json["event_id"]}".*?</tr>', html, re.S).group(0)
    for job in jobs:
        assert f'data-job="{job["id"]}" data-outcome="finished"' in row
        assert f"/jobs/{job['id']}" in row  # live: links to the job page
    assert "order.created" in html and '"order_id":"A-7"' in html  # the payload, for a role that sees values
    assert 'id="subscriptions-table"' in html and 'id="publish-form"' in html

    # RQ lets the jobs go; the outcome the history collector kept is shown instead.
    gone = jobs[0]["id"]
    conn.delete(keys.job(gone))
    from dashboard.extensions import db
    from dashboard.history.models import job_outcomes

    with app.app_context(), db.engine.begin() as c:
        c.execute(
            sa.insert(job_outcomes).values(
                job_id=gone, queue=jobs[0]["queue"], function=jobs[0]["task"], status="failed",
                ended_at=datetime.now(UTC).replace(tzinfo=None), exc_type="SMTPError",
            )
        )  # fmt: skip
    html = text(client.get("/events/incoming"))
    assert f'data-job="{gone}" data-outcome="failed"' in html and "SMTPError" in html and "(history)" in html

    listed = client.get("/api/v1/incoming-events", headers=bearer(tokens["viewer"])).json
    (event,) = listed["events"]
    assert event["event_id"] == answer.json["event_id"] and event["payload"] == ORDER
    assert {j["status"] for j in event["jobs"]} == {"finished", "failed"} and listed["next"] is None


def test_a_bad_payload_or_an_unknown_name_enqueues_nothing(client, conn, tokens):
    headers = bearer(tokens["operator"])
    bad = client.post(
        "/api/v1/events", json={"name": "order.created", "payload": {**ORDER, "total": "x", "vip": 1}}, headers=headers
    )
    assert bad.status_code == 422
    assert set(bad.json["fields"]) == {"payload.total", "payload.vip"}
    assert "tasks.orders.record_order" in bad.json["fields"]["payload.total"]

    unknown = client.post("/api/v1/events", json={"name": "order.shipped", "payload": ORDER}, headers=headers)
    assert unknown.status_code == 422 and "No task subscribes to 'order.shipped'" in unknown.json["message"]
    empty = client.post("/api/v1/events", json={"name": "order.shipped", "allow_empty": True}, headers=headers)
    assert empty.status_code == 201 and empty.json["jobs"] == []

    assert client.post("/api/v1/events", data="nope", headers=headers).status_code == 400
    assert client.post("/api/v1/events", json={"name": "order.created", "extra": 1}, headers=headers).status_code == 422
    big = {"name": "order.created", "payload": {**ORDER, "customer": "x" * 70_000}}
    assert client.post("/api/v1/events", json=big, headers=headers).status_code == 413
    assert queued(conn) == 0

    for query, status in (("after=zzz", 400), ("limit=0", 400), ("name=Order.X", 422), ("name=order.x", 200)):
        assert client.get(f"/events/incoming?{query}").status_code == status, query

    document = client.get("/api/v1/openapi.json").json  # documented beside the stream's GET
    assert {"get", "post"} <= set(document["paths"]["/events"]) and "get" in document["paths"]["/incoming-events"]


def test_an_idempotency_key_makes_a_retry_enqueue_nothing(app, client, conn, tokens):
    headers = bearer(tokens["operator"], **{"Idempotency-Key": "order-A-7"})
    body = {"name": "order.created", "payload": ORDER}
    first = client.post("/api/v1/events", json=body, headers=headers)
    again = client.post("/api/v1/events", json=body, headers=headers)

    assert first.status_code == 201 and again.status_code == 200
    assert again.json["replayed"] and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["jobs"] == first.json["jobs"] and queued(conn) == 2
    other = client.post("/api/v1/events", json={**body, "payload": {**ORDER, "total": 1}}, headers=headers)
    assert other.status_code == 409 and queued(conn) == 2
    assert [r[3] for r in audit_rows(app)] == ["ok", "replayed"]


def test_roles_csrf_and_audit_of_the_test_form(app, client_as, conn, tokens):
    viewer_api = bearer(tokens["viewer"])
    assert client_as("viewer").get("/events/incoming").status_code == 200
    assert 'id="publish-form"' not in text(client_as("viewer").get("/events/incoming"))
    assert client_as("viewer").post("/events/incoming/publish", data={}).status_code in (400, 403)
    assert app.test_client().post("/api/v1/events", json={"name": "order.created"}).status_code == 401
    assert (
        app.test_client().post("/api/v1/events", json={"name": "order.created"}, headers=viewer_api).status_code == 403
    )

    operator = client_as("operator")
    form = {"name": "order.created", "payload": '{"order_id": "B-1", "customer": "bob@example.com", "total": 5}'}
    assert operator.post("/events/incoming/publish", data=form).status_code == 400  # no CSRF token
    assert queued(conn) == 0
    done = operator.post("/events/incoming/publish", data=form, headers={"X-CSRFToken": csrf_token(operator)})
    assert done.status_code == 303 and done.headers["Location"].endswith("/events/incoming")
    assert queued(conn) == 2 and audit_rows(app) == [("oscar", "order.created", 2, "ok")]
    assert "Event #1 order.created published: 2 job(s) enqueued." in text(operator.get("/events/incoming"))

    refused = operator.post(
        "/events/incoming/publish",
        data={**form, "payload": '{"order_id": "B-2"}'},
        headers={"X-CSRFToken": csrf_token(operator)},
    )
    assert refused.status_code == 422 and "Nothing was enqueued" in text(refused) and queued(conn) == 2
    check = operator.post(
        "/events/incoming/check", data={**form, "payload": "{"}, headers={"X-CSRFToken": csrf_token(operator)}
    )
    assert check.status_code == 200 and "not valid JSON" in text(check)
    fine = operator.post("/events/incoming/check", data=form, headers={"X-CSRFToken": csrf_token(operator)})
    assert text(fine).strip() == "" and queued(conn) == 2


def test_payloads_are_hidden_from_roles_that_do_not_see_job_values(redis_url, sqlite_url, data_dir, conn):
    from dashboard import accounts as service
    from tests.fixtures import PASSWORD
    from tests.helpers import build_app, make_env, signed_in

    app = build_app(make_env(redis_url, sqlite_url, data_dir, HIDE_JOB_VALUES_FROM_VIEWERS="true"))
    with app.app_context():
        service.create_user("vic", PASSWORD, "viewer", actor="test")
        service.create_user("olga", PASSWORD, "operator", actor="test")
        _, secret = service.create_token("ops", "operator")
        _, reader = service.create_token("reader", "viewer")
    app.test_client().post("/api/v1/events", json={"name": "order.created", "payload": ORDER}, headers=bearer(secret))
    html = text(signed_in(app, "vic").get("/events/incoming"))
    assert "order.created" in html and "ann@example.com" not in html
    listed = app.test_client().get("/api/v1/incoming-events", headers=bearer(reader)).json
    assert listed["events"][0]["payload"] is None
