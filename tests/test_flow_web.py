"""Pause, resume and rate-limit a queue through the API and the queue page's forms: status codes, roles,
CSRF, validation messages, audit rows, stream events, and the marks on every page that shows queues."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue

from dashboard.rqlayer import feed, keys
from dashboard.rqlayer.flow import state
from tests.helpers import csrf_token, post, text


@pytest.fixture
def tokens(app, accounts):
    from dashboard.accounts import create_token

    with app.app_context():
        return {role: create_token(f"flow-{role}", role, actor="test")[1] for role in ("viewer", "operator", "admin")}


@pytest.fixture
def api(app, tokens):
    client = app.test_client()

    def call(method: str, path: str, role: str = "operator", **kwargs):
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    return call


@pytest.fixture
def mail(conn):
    queue = Queue("mail", connection=conn)
    for i in range(3):
        queue.enqueue("tests.jobfuncs.add", 1, i)
    return "mail"


def audit_rows(app, action: str):
    from sqlalchemy import select

    from dashboard.extensions import db
    from dashboard.models import AuditEvent

    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def stream_types(conn) -> list[str]:
    return [fields[b"type"].decode() for _, fields in conn.xrange(keys.events())]


def test_the_api_pauses_limits_and_resumes_audited_and_in_the_stream(app, api, conn, mail):
    until = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0).isoformat()
    paused = api("POST", "/queues/mail/pause", json={"until": until})
    assert paused.status_code == 200, paused.get_json()
    body = paused.get_json()
    assert body["paused"] and body["pause"]["until"] == until and body["pause"]["by"] == "token:flow-operator"
    assert body["workers_told"] == 0 and "ConsoleWorker" in body["note"]
    limited = api("PUT", "/queues/mail/rate-limit", json={"per_minute": 600})
    assert limited.get_json()["rate_limit"] == {
        **limited.get_json()["rate_limit"],
        "per_second": 10.0,
        "amount": 600,
        "unit": "minute",
        "words": "600/min",
    }
    listed = {q["name"]: q for q in api("GET", "/queues", role="viewer").get_json()["queues"]}
    assert listed["mail"]["paused"] and listed["mail"]["rate_limit"]["words"] == "600/min"
    flow = api("GET", "/queues/mail/flow", role="viewer").get_json()
    assert flow["paused"] and flow["waiting"] == 3 and flow["queued"] == 3 and flow["workers"] == 0
    assert api("POST", "/queues/mail/resume").get_json()["changed"] is True
    assert api("POST", "/queues/mail/resume").get_json()["changed"] is False  # idempotent
    assert api("DELETE", "/queues/mail/rate-limit").get_json()["rate_limit"] is None
    assert not state.read_book(conn).queues
    paused_, resumed, limited_, cleared = feed.QUEUE_FLOW_TYPES
    assert stream_types(conn) == [paused_, limited_, resumed, cleared]  # one event per real change, in order
    assert [r.outcome for r in audit_rows(app, "queue.resume")] == ["ok", "unchanged"]
    (pause_row,) = audit_rows(app, "queue.pause")
    assert pause_row.actor == "token:flow-operator" and pause_row.target == "mail" and until[:10] in pause_row.detail
    assert "600/min" in audit_rows(app, "queue.rate-limit")[0].detail


BAD = [
    ("PUT", "/queues/mail/rate-limit", {"per_second": 0}, 422, "per_second"),
    ("PUT", "/queues/mail/rate-limit", {"per_second": "10"}, 422, "per_second"),
    ("PUT", "/queues/mail/rate-limit", {"per_second": 1, "per_minute": 60}, 422, "per_second"),
    ("PUT", "/queues/mail/rate-limit", {"per_second": 5000}, 422, "per_second"),
    ("PUT", "/queues/mail/rate-limit", {"per_minute": True}, 422, "per_minute"),
    ("PUT", "/queues/mail/rate-limit", {"rate": 5}, 422, "rate"),
    ("PUT", "/queues/mail/rate-limit", {}, 422, "per_second"),
    ("POST", "/queues/mail/pause", {"until": "2001-01-01T00:00:00Z"}, 422, "until"),
    ("POST", "/queues/mail/pause", {"until": "next tuesday"}, 422, "until"),
    ("POST", "/queues/mail/pause", {"until": 12}, 422, "until"),
    ("POST", "/queues/mail/pause", [1], 400, None),
    ("POST", "/queues/nosuch/pause", {}, 404, None),
    ("PUT", "/queues/nosuch/rate-limit", {"per_second": 1}, 404, None),
    ("POST", "/queues/bad%0Aname/pause", {}, 404, None),
]


def test_bad_requests_get_a_message_and_change_nothing_and_viewers_may_only_read(api, conn, mail):
    for method, path, body, status, field in BAD:
        answer = api(method, path, json=body)
        assert answer.status_code == status, (path, body, answer.get_json())
        data = answer.get_json()
        assert data["message"] and (field is None or field in data["fields"]), data
    assert not conn.exists(keys.flow_state()) and not conn.exists(keys.events())
    for method, path in (
        ("POST", "/queues/mail/pause"),
        ("POST", "/queues/mail/resume"),
        ("PUT", "/queues/mail/rate-limit"),
        ("DELETE", "/queues/mail/rate-limit"),
    ):
        assert api(method, path, role="viewer", json={"per_second": 1}).status_code == 403
    assert api("GET", "/queues/mail/flow", role="viewer").status_code == 200
    assert api("GET", "/queues/nosuch/flow", role="viewer").status_code == 404
    assert api("POST", "/queues/mail/pause", role="admin").status_code == 200
    paths = api("GET", "/openapi.json").get_json()["paths"]
    assert {"post"} <= set(paths["/queues/{queue}/pause"]) and {"put", "delete"} <= set(
        paths["/queues/{queue}/rate-limit"]
    )
    assert "422" in paths["/queues/{queue}/rate-limit"]["put"]["responses"]


def test_the_queue_page_forms_pause_limit_and_resume_with_csrf_and_roles(app, client_as, conn, mail):
    operator = client_as("operator")
    page = text(operator.get("/queues/mail/queued"))
    assert 'id="flow-panel"' in page and "Not paused, no rate limit" in page and "Pause or rate-limit" in page
    assert operator.post("/queues/mail/pause", data={}).status_code == 400  # no CSRF token: refused
    assert not conn.exists(keys.flow_state())
    answer = post(operator, "/queues/mail/pause", until="", timezone="UTC")
    assert answer.status_code == 303
    page = text(operator.get("/queues/mail/queued"))
    assert 'id="queue-paused-badge"' in page and "Paused</strong> by oscar" in page and "3 queued jobs wait" in page
    assert "No worker listens on this queue" in page and "ConsoleWorker" in page
    # HTMX: the panel comes back with the message; a bad limit is a 422 with the field's message, nothing set.
    htmx = {"HX-Request": "true", "X-CSRFToken": csrf_token(operator)}
    bad = operator.post("/queues/mail/rate-limit", data={"amount": "-2", "unit": "second"}, headers=htmx)
    assert bad.status_code == 422 and "positive number" in text(bad) and 'id="flow-panel"' in text(bad)
    good = operator.post("/queues/mail/rate-limit", data={"amount": "30", "unit": "minute"}, headers=htmx)
    assert good.status_code == 200 and "limited to 30/min" in text(good) and "no worker running" in text(good)
    assert state.read_book(conn).get("mail").limit.per_second == 0.5
    status = text(operator.get("/queues/mail/flow", headers={"HX-Request": "true"}))
    assert "Rate limit 30/min" in status and "Paused" in status
    resumed = operator.post("/queues/mail/resume", data={}, headers=htmx)
    assert resumed.status_code == 200 and "resumed" in text(resumed)
    assert [r.actor for r in audit_rows(app, "queue.pause")] == ["oscar"]
    viewer = client_as("viewer")
    assert "Pause or rate-limit" not in text(viewer.get("/queues/mail/queued"))
    assert post(viewer, "/queues/mail/pause").status_code == 403
    assert post(operator, "/queues/mail/nosuch").status_code == 404


def test_a_pause_until_a_local_time_in_a_zone_and_in_the_past(client_as, conn, mail):
    operator = client_as("operator")
    day = (datetime.now(UTC) + timedelta(days=40)).date().isoformat()
    assert post(operator, "/queues/mail/pause", until=f"{day}T09:00", timezone="Asia/Tokyo").status_code == 303
    pause = state.read_book(conn).get("mail").pause
    assert pause.ends.isoformat() == f"{day}T00:00:00+00:00"  # 09:00 in Tokyo (UTC+9, no summer time)
    past = post(operator, "/queues/mail/pause", until="2001-01-01T00:00", timezone="UTC")
    assert past.status_code == 422 and "past" in text(past)


def test_paused_and_limited_queues_are_marked_on_the_overview(client_as, conn, mail):
    state.pause(conn, "mail", "oscar", until=time.time() + 600)
    state.set_limit(conn, "mail", 5, "second", "oscar")
    page = text(client_as("viewer").get("/"))
    row = re.search(r'<tr data-queue="mail".*?</tr>', page, re.S).group(0)
    assert 'data-flow="paused"' in row and "≤ 5/s" in row
    assert 'data-paused-queue="mail"' in page and "is paused by oscar" in page and "until" in page
    # Hostile data: keys of another type never break a page, and a change is refused with a message.
    conn.delete(keys.flow_state())
    conn.set(keys.flow_state(), "planted")
    conn.set(keys.flow_limiter("mail"), "planted")
    operator = client_as("operator")
    assert operator.get("/").status_code == 200 and operator.get("/queues/mail/queued").status_code == 200
    assert "Not paused, no rate limit" in text(operator.get("/queues/mail/flow", headers={"HX-Request": "true"}))
    htmx = {"HX-Request": "true", "X-CSRFToken": csrf_token(operator)}
    refused = operator.post("/queues/mail/pause", data={}, headers=htmx)
    assert refused.status_code == 409 and "another type" in text(refused) and conn.get(keys.flow_state()) == b"planted"
