"""RQ 3's concurrency limits: /limits and /limits/<key> list every limit key with its concurrency, the
jobs holding a slot (stale ones marked), the held-back line oldest first and paged; an operator changes
a concurrency (form with CSRF and confirmation, or PUT /api/v1/limits/<key>), which is audited, appended
to the event stream, lets held-back jobs through at once, and the jobs then all run on a real worker.
One app for the module; Redis flushed per test."""

from __future__ import annotations

import re

import pytest
from rq import Queue, SimpleWorker
from rq.rate_limit import RateLimit

from dashboard import accounts
from dashboard.extensions import db
from dashboard.models import AuditEvent
from dashboard.rqlayer import keys
from dashboard.rqlayer.telemetry.events import read_events
from tests.fixtures import ROLE_USERS, seed_users
from tests.helpers import build_app, csrf_token, make_env, signed_in, text


@pytest.fixture(scope="module")
def site(private_redis, tmp_path_factory):
    base = tmp_path_factory.mktemp("limits")
    app = build_app(make_env(private_redis.url, f"sqlite:///{base / 'console.db'}", base))
    seed_users(app)
    with app.app_context():
        app.tokens = {role: accounts.create_token(f"limits-{role}", role)[1] for role in ("viewer", "operator")}
    return app


def api(site, role: str, method: str, path: str, **kwargs):
    headers = {"Authorization": f"Bearer {site.tokens[role]}"}
    return site.test_client().open(f"/api/v1{path}", method=method, headers=headers, **kwargs)


def limited(conn, key: str = "smtp", concurrency: int = 1, count: int = 3, func: str = "tests.jobfuncs.add"):
    """`count` jobs through RQ's own RateLimit: the first `concurrency` queued, the rest held back."""
    queue = Queue("default", connection=conn)
    return [queue.enqueue(func, n, n, rate_limit=RateLimit(key, concurrency)).id for n in range(count)]


def line(conn, key: str) -> list[str]:
    """The held-back line as RQ keeps it (jobs held in the same millisecond: by id)."""
    return [i.decode() for i in conn.zrange(keys.rate_limited(key), 0, -1)]


def audit_rows(site, action: str) -> list[AuditEvent]:
    with site.app_context():
        return db.session.query(AuditEvent).filter_by(action=action).all()


def test_the_pages_list_slots_stale_slots_and_the_held_back_line(site, conn, redis_url):
    ids = limited(conn)
    done = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 9, 9)
    conn.hset(keys.job(done.id), "status", "finished")
    conn.zadd(keys.rate_limit_allowed("smtp"), {"ghost-job": 1, done.id: 2})  # two leaked slots
    viewer = signed_in(site, ROLE_USERS["viewer"])

    listing = viewer.get("/limits")
    assert listing.status_code == 200
    row = re.search(r'<tr data-limit="smtp".*?</tr>', listing.get_data(as_text=True), re.S).group(0)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[:5] == ["smtp", "1", "3", "2", "2"], cells  # key, concurrency, holding, held back, stale
    assert 'href="/limits/smtp"' in row

    page = viewer.get("/limits/smtp")
    body = text(page)
    assert page.status_code == 200 and "the job no longer exists" in body and "the job is finished" in body
    held = re.findall(r'<tr data-job="([^"]+)">', page.get_data(as_text=True).split('id="limit-held-back"')[1])
    assert held == line(conn, "smtp") and sorted(held) == sorted(ids[1:]), "held back, oldest first (RQ's order)"
    assert f'href="/jobs/{ids[1]}"' in page.get_data(as_text=True)
    assert 'id="limit-form"' not in body, "viewers get no form"
    # The job page links its limit; the overview's table too.
    assert 'href="/limits/smtp"' in viewer.get(f"/jobs/{ids[0]}").get_data(as_text=True)
    assert 'href="/limits/smtp"' in viewer.get("/").get_data(as_text=True)


def test_empty_state_and_unknown_limit(site, conn, redis_url):
    viewer = signed_in(site, ROLE_USERS["viewer"])
    page = viewer.get("/limits")
    assert page.status_code == 200 and 'id="no-limits"' in page.get_data(as_text=True)
    assert viewer.get("/limits/nope").status_code == 404
    assert api(site, "viewer", "GET", "/limits").json["limits"] == []
    assert api(site, "operator", "PUT", "/limits/nope", json={"concurrency": 2}).status_code == 404


def test_an_operator_raises_a_limit_and_every_held_back_job_then_runs(site, conn, redis_url):
    ids = limited(conn, count=4)
    waiting = line(conn, "smtp")
    operator = signed_in(site, ROLE_USERS["operator"])
    form = operator.get("/limits/smtp").get_data(as_text=True)
    assert 'data-confirm="Set the concurrency of smtp?' in form and "writes its own N back" in text(
        operator.get("/limits/smtp")
    )
    answer = operator.post(
        "/limits/smtp", data={"concurrency": "3", "seen": "1"}, headers={"X-CSRFToken": csrf_token(operator)}
    )
    assert answer.status_code == 303
    assert conn.hget(keys.rate_limit_config("smtp"), "concurrency") == b"3"
    assert conn.zcard(keys.rate_limit_allowed("smtp")) == 3 and conn.zcard(keys.rate_limited("smtp")) == 1
    assert conn.lrange(keys.queue("default"), 0, -1) == [i.encode() for i in [ids[0], *waiting[:2]]], "oldest first"
    (row,) = [r for r in audit_rows(site, "limit.concurrency") if r.target == "smtp"]
    assert (row.actor, row.target, row.job_count, row.detail) == (
        ROLE_USERS["operator"],
        "smtp",
        2,
        "1 -> 3; 2 held-back jobs let through",
    )
    (event,) = [e for e in read_events(conn, "0-0").events if e.type == "concurrency_changed"]
    assert dict(event.extra) == {
        "actor": ROLE_USERS["operator"],
        "limit": "smtp",
        "from": "1",
        "to": "3",
        "promoted": "2",
    }
    SimpleWorker([Queue("default", connection=conn)], connection=conn).work(burst=True)
    assert [conn.hget(keys.job(i), "status") for i in ids] == [b"finished"] * 4


def test_refusals_change_nothing(site, conn, redis_url):
    limited(conn, key="mail")
    operator = signed_in(site, ROLE_USERS["operator"])
    token = {"X-CSRFToken": csrf_token(operator)}
    for value in ("0", "abc", "1.5", "100001", ""):
        assert operator.post("/limits/mail", data={"concurrency": value}, headers=token).status_code == 422, value
    stale = operator.post(
        "/limits/mail", data={"concurrency": "5", "seen": "2"}, headers={**token, "HX-Request": "true"}
    )
    assert stale.status_code == 409 and "changed meanwhile" in text(stale) and 'id="limit-form"' in text(stale)
    assert operator.post("/limits/mail", data={"concurrency": "5"}).status_code == 400, "no CSRF token"
    viewer = signed_in(site, ROLE_USERS["viewer"])
    assert (
        viewer.post("/limits/mail", data={"concurrency": "5"}, headers={"X-CSRFToken": csrf_token(viewer)}).status_code
        == 403
    )
    assert api(site, "viewer", "PUT", "/limits/mail", json={"concurrency": 5}).status_code == 403
    assert api(site, "operator", "PUT", "/limits/mail", json={"concurrency": True}).status_code == 422
    assert api(site, "operator", "PUT", "/limits/mail", data="not json").status_code == 400
    assert api(site, "operator", "PUT", "/limits/mail", json={"concurrency": 5, "expected": 4}).status_code == 409
    assert conn.hget(keys.rate_limit_config("mail"), "concurrency") == b"1"
    assert [r for r in audit_rows(site, "limit.concurrency") if r.target == "mail"] == []


def test_the_api_lists_and_changes_limits(site, conn, redis_url):
    limited(conn, key="pdf", concurrency=2, count=5)
    waiting = line(conn, "pdf")
    listing = api(site, "viewer", "GET", "/limits").json
    (item,) = listing["limits"]
    assert (item["key"], item["concurrency"], item["holding"], item["held_back"], item["stale_slots"]) == (
        "pdf",
        2,
        2,
        3,
        0,
    )
    one = api(site, "viewer", "GET", "/limits/pdf").json
    assert [h["id"] for h in one["held_back"]] == waiting and [h["position"] for h in one["held_back"]] == [1, 2, 3]
    changed = api(site, "operator", "PUT", "/limits/pdf", json={"concurrency": 3, "expected": 2})
    assert changed.status_code == 200 and changed.json["promoted"] == waiting[:1] and changed.json["before"] == 2
    assert "writes its own value back" in changed.json["message"]
    assert [r.detail for r in audit_rows(site, "limit.concurrency") if r.target == "pdf"] == [
        "2 -> 3; 1 held-back jobs let through"
    ]
    lowered = api(site, "operator", "PUT", "/limits/pdf", json={"concurrency": 1})
    assert lowered.json["promoted"] == [] and conn.zcard(keys.rate_limit_allowed("pdf")) == 3, (
        "running jobs keep their slots"
    )


def test_a_big_raise_lets_every_held_back_job_through_in_chunks(site, conn, redis_url):
    limited(conn, key="bulk", count=1)
    pipe = conn.pipeline(transaction=False)
    for n in range(1200):
        pipe.hset(
            keys.job(f"held-{n:05d}"), mapping={"status": "rate_limited", "origin": "default", "rate_limit_key": "bulk"}
        )
        pipe.zadd(keys.rate_limited("bulk"), {f"held-{n:05d}": n})
    pipe.execute()
    changed = api(site, "operator", "PUT", "/limits/bulk", json={"concurrency": 5000})
    assert changed.status_code == 200 and len(changed.json["promoted"]) == 1200
    assert conn.llen(keys.queue("default")) == 1201 and conn.zcard(keys.rate_limited("bulk")) == 0
    assert conn.hget(keys.job("held-01199"), "status") == b"queued"


def test_hostile_limit_data_never_breaks_a_page(site, conn, redis_url):
    script = '<script>alert("rl")</script>'
    conn.sadd(keys.rate_limit_keys(), script, "strings", "huge")
    conn.set(keys.rate_limit_config("strings"), "x")  # config of another type
    conn.rpush(keys.rate_limit_allowed("strings"), "a")  # a list where a zset belongs
    conn.hset(keys.rate_limited("strings"), "a", "b")
    conn.hset(keys.rate_limit_config(script), "concurrency", "lots")
    conn.set(keys.job("planted"), "not a hash")
    conn.zadd(keys.rate_limit_allowed(script), {"planted": 1})
    conn.zadd(keys.rate_limited("huge"), {f"h{n:06d}": n for n in range(20_000)})
    conn.hset(keys.rate_limit_config("huge"), "concurrency", "1")
    viewer = signed_in(site, ROLE_USERS["viewer"])
    listing = viewer.get("/limits")
    assert listing.status_code == 200 and script not in listing.get_data(as_text=True)
    assert 'id="limits-broken"' in listing.get_data(as_text=True)
    for url in ("/limits/strings", "/limits/%3Cscript%3Ealert(%22rl%22)%3C/script%3E", "/limits/huge?page=400"):
        page = viewer.get(url)
        assert page.status_code == 200 and script not in page.get_data(as_text=True), url
    deep = viewer.get("/limits/huge?page=400").get_data(as_text=True)
    assert deep.count('<tr data-job="h') == 50 and 'data-job="h019999"' in deep and "page 400 of 400" in deep
    assert viewer.get("/limits/huge?page=x").status_code == 400
    assert api(site, "operator", "PUT", "/limits/strings", json={"concurrency": 2}).status_code == 409
    conn.delete(keys.rate_limit_keys())
    conn.set(keys.rate_limit_keys(), "x")
    assert viewer.get("/limits").status_code == 200 and api(site, "viewer", "GET", "/limits").json["broken_keys"]
