"""RQ 3's per-job webhooks (job field `webhooks`) on the job page and in GET /api/v1/jobs/<id>: URL,
status, method, header names with every value masked (URL passwords and query values too), read
defensively from hostile JSON; roles without job values see scheme and host only."""

from __future__ import annotations

import json

from rq import Queue
from rq.webhook import Webhook

from dashboard import accounts
from dashboard.rqlayer import keys
from dashboard.rqlayer.job_webhooks import MASK, MAX_HEADERS, MAX_HOOKS, MAX_RAW, parse_webhooks
from tests.fixtures import ROLE_USERS, seed_users
from tests.helpers import build_app, make_env, signed_in

SECRET = "sekrit-7731"


def test_hostile_fields_parse_to_a_problem_never_an_error():
    assert not parse_webhooks(None) and not parse_webhooks(b"") and not parse_webhooks(b"[]")
    assert parse_webhooks(b"{not json").problem == "not valid JSON"
    assert parse_webhooks(b"[" * 100_000 + b"]" * 100_000).problem == "not valid JSON"  # nesting: RecursionError
    assert parse_webhooks(b'{"url": "x"}').problem == "not a JSON list of webhooks"
    assert parse_webhooks(b"x" * (MAX_RAW + 1)).problem.startswith("too long to show")
    assert parse_webhooks("\udcff".encode("utf-8", "surrogatepass")).problem == "not valid JSON"
    odd = parse_webhooks(json.dumps([1, {"url": 5, "headers": ["a"], "timeout": True, "method": {"x": 1}}]))
    assert [h.problem for h in odd.hooks] == [
        "not a webhook (not a JSON object)",
        "no URL; headers are not a JSON object",
    ]
    assert odd.hooks[1].timeout is None and odd.hooks[1].method == "GET"
    many = parse_webhooks(
        json.dumps([{"url": "https://h.example/", "headers": {f"H{n}": SECRET for n in range(50)}}] * 25)
    )
    assert (len(many.hooks), many.total) == (MAX_HOOKS, 25)
    assert len(many.hooks[0].header_names) == MAX_HEADERS and many.hooks[0].more_headers == 50 - MAX_HEADERS
    assert SECRET not in repr(many)
    bad_url = parse_webhooks(json.dumps([{"url": "http://[::1", "job_status": "x" * 5000}]))
    assert bad_url.hooks[0].url == MASK and len(bad_url.hooks[0].job_status) == 100


def test_the_job_page_and_api_mask_every_secret(private_redis, redis_url, conn, tmp_path):
    app = build_app(
        make_env(redis_url, f"sqlite:///{tmp_path / 'c.db'}", tmp_path, HIDE_JOB_VALUES_FROM_VIEWERS="true")
    )
    seed_users(app)
    with app.app_context():
        tokens = {role: accounts.create_token(f"hooks-{role}", role)[1] for role in ("viewer", "operator")}
    hooks = [
        Webhook(f"https://ops:{SECRET}@hooks.example/path-{SECRET}?token={SECRET}&v", "failed", method="POST",
                headers={"Authorization": f"Bearer {SECRET}", "X-Team": SECRET}, timeout=5),
        Webhook("https://other.example/done", "finished"),
    ]  # fmt: skip
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2, webhooks=hooks)
    assert SECRET in conn.hget(keys.job(job.id), "webhooks").decode(), "RQ itself stores the headers"

    page = signed_in(app, ROLE_USERS["operator"]).get(f"/jobs/{job.id}").get_data(as_text=True)
    section = page.split('id="job-webhooks"')[1].split("</dd>")[0]
    assert "Authorization: ••••" in section and "X-Team: ••••" in section and "on failed" in section
    assert f"https://ops:••••@hooks.example/path-{SECRET}?token=••••&amp;v" in section, "password and query masked"
    assert section.count(f"{SECRET}") == 1, "only the path, which roles that see values may read"
    viewer = signed_in(app, ROLE_USERS["viewer"]).get(f"/jobs/{job.id}").get_data(as_text=True)
    assert SECRET not in viewer and "https://hooks.example/…" in viewer and "Authorization: ••••" in viewer

    body = app.test_client().get(f"/api/v1/jobs/{job.id}", headers={"Authorization": f"Bearer {tokens['operator']}"})
    first, second = body.json["webhooks"]["hooks"]
    assert first["headers"] == {"Authorization": MASK, "X-Team": MASK} and first["method"] == "POST"
    assert (first["job_status"], first["timeout"], second["url"]) == ("failed", 5, "https://other.example/done")
    assert f"Bearer {SECRET}" not in body.get_data(as_text=True) and "ops:" + SECRET not in body.get_data(as_text=True)
    hidden = app.test_client().get(f"/api/v1/jobs/{job.id}", headers={"Authorization": f"Bearer {tokens['viewer']}"})
    assert SECRET not in hidden.get_data(as_text=True)
    assert [h["url"] for h in hidden.json["webhooks"]["hooks"]] == [
        "https://hooks.example/…",
        "https://other.example/…",
    ]

    conn.hset(keys.job(job.id), "webhooks", '<script>alert("hook")</script>')
    broken = signed_in(app, ROLE_USERS["operator"]).get(f"/jobs/{job.id}")
    assert broken.status_code == 200 and "Cannot be shown: not valid JSON" in broken.get_data(as_text=True)
    assert '<script>alert("hook")' not in broken.get_data(as_text=True)
    with app.app_context():
        from dashboard.extensions import db

        db.engine.dispose()
