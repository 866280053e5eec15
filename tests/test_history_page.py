"""GET /history and GET /api/v1/history over real SQL (SQLite and PostgreSQL) and a real Redis: rows, live
links vs expired, keyset pages, filters, viewer privacy, hostile names, bad parameters, empty states."""

from __future__ import annotations

import html
import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.history import models
from dashboard.rqlayer import keys
from dashboard.rqlayer.telemetry.consumer import write_status
from tests.fixtures import ROLE_USERS, seed_users
from tests.helpers import build_app, make_env

MARK = "secret-MARK-7f3a"
HOSTILE_QUEUE = "<b>q</b>"
HOSTILE_FUNC = '"><script>alert(1)</script>'
HOSTILE_WORKER = "<img src=x onerror=alert(2)>"
HOSTILE_MESSAGE = f"<script>alert(3)</script> {MARK}"
HX = {"HX-Request": "true"}


@pytest.fixture
def site(redis_url, database_url, data_dir):
    """The app on this backend with values hidden from viewers; a signed-in client and an API token per role."""
    from dashboard import accounts
    from dashboard.accounts import find_user
    from dashboard.extensions import db

    app = build_app(make_env(redis_url, database_url, data_dir, HIDE_JOB_VALUES_FROM_VIEWERS="true"))
    seed_users(app)
    clients, tokens = {}, {}
    with app.app_context():
        for role in ("viewer", "admin"):
            client = app.test_client()
            with client.session_transaction() as session:
                session["_user_id"] = find_user(ROLE_USERS[role]).get_id()
                session["_fresh"] = True
            clients[role] = client
            tokens[role] = {"Authorization": f"Bearer {accounts.create_token(f'{role}-history', role)[1]}"}
    yield app, clients, tokens
    with app.app_context():
        db.engine.dispose()


def insert(app, rows: list[dict], attributes: dict[int, tuple[str, str]] | None = None) -> None:
    from dashboard.extensions import db

    with app.app_context(), db.engine.begin() as sql:
        sql.execute(models.job_outcomes.insert(), rows)
        for index, (name, value) in (attributes or {}).items():
            outcome_id = sql.execute(
                models.job_outcomes.select().where(models.job_outcomes.c.job_id == rows[index]["job_id"])
            ).first()
            sql.execute(
                models.job_outcome_attributes.insert(),
                {"outcome_id": outcome_id.id, "name": name, "value": value, "ended_at": rows[index]["ended_at"]},
            )


def outcome(job_id: str, seconds_ago: float, **fields) -> dict:
    ended = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=seconds_ago)
    row = dict(job_id=job_id, queue="default", function="tests.jobfuncs.add", status="finished", ended_at=ended)
    row.update(enqueued_at=ended - timedelta(seconds=2), started_at=ended - timedelta(seconds=1))
    row.update(wait_us=1_000_000, run_us=250_000, worker="w1", exc_type=None, exc_message=None, fingerprint=None)
    row.update(fields)
    return row


def outcome_ids(body: str) -> list[str]:
    return re.findall(r'data-outcome="(\d+)"', body)


def link(body: str, rel: str) -> str:
    return html.unescape(re.search(rf'href="([^"]+)" rel="{rel}"', body).group(1))


def test_rows_live_links_filters_pages_privacy_and_the_api(site, conn):
    app, clients, tokens = site
    rows = [outcome(f"job-{i:02d}", 60 + i) for i in range(53)]
    rows.append(outcome("live-job", 30))
    rows.append(
        outcome(
            "hostile",
            10,
            queue=HOSTILE_QUEUE,
            function=HOSTILE_FUNC,
            worker=HOSTILE_WORKER,
            status="failed",
            exc_type="ValueError",
            exc_message=HOSTILE_MESSAGE,
            fingerprint="f" * 32,
        )
    )
    insert(app, rows, attributes={54: ("tenant", "acme")})
    conn.hset(keys.job("live-job"), mapping={"status": "finished", "origin": "default"})

    admin, viewer = clients["admin"], clients["viewer"]
    first = admin.get("/history")
    assert first.status_code == 200
    body = first.get_data(as_text=True)
    assert len(outcome_ids(body)) == 50
    assert 'href="/jobs/live-job"' in body and 'href="/jobs/job-00"' not in body
    assert body.count("data-expired") == 49  # every row but the live one
    assert 'aria-current="page">History</a>' in body
    # Hostile names are escaped text, never markup; the admin sees the message.
    assert "<script>alert" not in body and "<img src=x" not in body and "<b>q</b>" not in body
    assert "&lt;script&gt;alert(3)&lt;/script&gt; " + MARK in body and "&lt;b&gt;q&lt;/b&gt;" in body

    second = admin.get(link(body, "next"))
    assert second.status_code == 200
    second_body = second.get_data(as_text=True)
    assert 'rel="next"' not in second_body and 'rel="first"' in second_body
    seen = outcome_ids(body) + outcome_ids(second_body)
    assert len(seen) == len(set(seen)) == 55

    fragment = admin.get("/history?window=6h", headers=HX).get_data(as_text=True)
    assert "<html" not in fragment and len(outcome_ids(fragment)) == 50

    def count(client, query):
        response = client.get("/history?" + query)
        assert response.status_code == 200, (query, response.status_code)
        return len(outcome_ids(response.get_data(as_text=True)))

    assert count(admin, "queue=%3Cb%3Eq%3C%2Fb%3E&status=failed") == 1
    assert count(admin, "status=failed&window=15m") == 1
    assert count(admin, "fingerprint=" + "f" * 32) == 1
    assert count(admin, "worker=w1") == 50
    assert count(admin, "function=nope") == 0
    assert count(admin, "attr=tenant:acme") == 1

    # A viewer (values hidden) sees the exception type, never its message, and cannot search meta.
    seen_by_viewer = viewer.get("/history").get_data(as_text=True)
    assert "ValueError" in seen_by_viewer and MARK not in seen_by_viewer
    assert viewer.get("/history?attr=tenant:acme").status_code == 403

    for bad in (
        "after=not-a-cursor",
        "after=MTIz",
        "window=2h",
        "status=done",
        "from=2026-12-02&to=2026-12-01",
        "queue=" + "x" * 201,
        "attr=novalue",
        "from=yesterday",
    ):
        assert admin.get("/history?" + bad).status_code == 400, bad
        api = admin.get("/api/v1/history?" + bad, headers=tokens["admin"])
        assert api.status_code == 400 and api.get_json()["error"], bad
    for bad in ("limit=0", "limit=501", "limit=ten", "limit=%C2%B2"):
        assert admin.get("/api/v1/history?" + bad, headers=tokens["admin"]).status_code == 400, bad

    # The API: the same rows, keyset pages through `next`, messages null for a viewer.
    api_rows, cursor = [], ""
    while True:
        answer = admin.get(f"/api/v1/history?limit=20&after={cursor}", headers=tokens["admin"])
        assert answer.status_code == 200
        data = answer.get_json()
        assert set(data) == {"outcomes", "next"}
        api_rows += data["outcomes"]
        cursor = data["next"]
        if not cursor:
            break
    assert len({r["outcome_id"] for r in api_rows}) == len(api_rows) == 55
    newest = api_rows[0]
    assert (newest["job_id"], newest["queue"], newest["status"], newest["exc_message"]) == (
        "hostile",
        HOSTILE_QUEUE,
        "failed",
        HOSTILE_MESSAGE,
    )
    assert newest["ended_at"].endswith("+00:00") and newest["run_seconds"] == 0.25 and newest["wait_seconds"] == 1.0
    assert [r["job_exists"] for r in api_rows].count(True) == 1
    as_viewer = admin.get("/api/v1/history?status=failed", headers=tokens["viewer"]).get_json()["outcomes"]
    assert as_viewer[0]["exc_type"] == "ValueError" and as_viewer[0]["exc_message"] is None
    assert admin.get("/api/v1/history", headers={}).status_code == 401
    assert "/history" in admin.get("/api/v1/openapi.json").get_json()["paths"]


def test_empty_states_and_the_collector_status(site, conn):
    app, clients, _tokens = site
    admin = clients["admin"]
    never = admin.get("/history").get_data(as_text=True)
    assert 'data-empty="store"' in never and "python -m dashboard.history run" in never
    assert 'data-collector="never"' in never
    write_status(conn, {"heartbeat_at": time.time() - 600})
    assert 'data-collector="stopped"' in admin.get("/history", headers=HX).get_data(as_text=True)
    write_status(conn, {"heartbeat_at": time.time(), "lag": 1200})
    behind = admin.get("/history").get_data(as_text=True)
    assert 'data-collector="behind"' in behind and "1,200 events behind" in behind
    write_status(conn, {"lag": 0})
    assert "data-collector" not in admin.get("/history").get_data(as_text=True)
    insert(app, [outcome("two-days-old", 2 * 86400)])
    quiet = admin.get("/history?queue=default").get_data(as_text=True)
    assert 'data-empty="window"' in quiet and "No outcomes in the last hour matching these filters" in quiet
    assert "window=30d" in quiet
    assert len(outcome_ids(admin.get("/history?window=7d").get_data(as_text=True))) == 1
