"""Viewer privacy across every surface: with HIDE_JOB_VALUES_FROM_VIEWERS=true a viewer fetching any page,
fragment, export or API answer that can show a job never receives the job's values; an operator does
(proof that each surface really carries the values, so the viewer's absence of them means something)."""

from __future__ import annotations

import html
import json
import re
import warnings
import zlib
from datetime import timedelta

import pytest
from rq import Queue, SimpleWorker

from dashboard import accounts
from dashboard.rqlayer import keys
from dashboard.rqlayer.job_webhooks import parse_webhooks
from dashboard.visibility import HIDDEN, Visibility, redact_traceback
from tests.helpers import build_app, make_env

MARK = "zqx-s3cret-7781"
HX = {"HX-Request": "true"}

# A traceback as formatters other than CPython's write them: the value in a source line, a local, a
# multi-line message and a chained exception's message.
HOSTILE_TRACEBACK = f"""Traceback (most recent call last):
  File "/app/tasks/pay.py", line 12, in charge
    api.charge(card="{MARK}")
    card = '{MARK}'
KeyError: '{MARK}'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/app/tasks/pay.py", line 14, in charge
    raise RuntimeError(f"charge failed for {{card}}")
RuntimeError: charge failed for {MARK}
and the rest of the message: {MARK}
"""


@pytest.fixture
def world(redis_url, sqlite_url, data_dir, conn):
    """The app with values hidden from viewers, a client per role, and jobs carrying MARK everywhere."""
    app = build_app(make_env(redis_url, sqlite_url, data_dir, HIDE_JOB_VALUES_FROM_VIEWERS="true"))
    clients, tokens = {}, {}
    with app.app_context():
        for role in ("viewer", "operator"):
            session_id = accounts.create_user(f"{role}-p", "long-enough-pw", role).get_id()
            tokens[role] = accounts.create_token(f"{role}-token", role)[1]
            client = app.test_client()
            with client.session_transaction() as session:
                session["_user_id"] = session_id
                session["_fresh"] = True
            clients[role] = client

    queue = Queue("default", connection=conn)
    hooks = json.dumps(
        [{"url": f"https://hooks.example/{MARK}?token={MARK}", "job_status": "finished", "headers": {"X-Token": MARK}}]
    )
    finished = queue.enqueue(
        "tests.jobfuncs.add",
        f"{MARK}-a",
        b=f"{MARK}-b",
        description=f"add('{MARK}')",
        meta={"progress": 40, "customer": MARK},
    )
    failed = queue.enqueue("tests.jobfuncs.fail", message=f"boom {MARK}", description=f"fail('{MARK}')")
    SimpleWorker([queue], connection=conn).work(burst=True)
    conn.hset(keys.job(finished.id), "webhooks", hooks)
    conn.hset(keys.job(failed.id), mapping={"exc_info": zlib.compress(HOSTILE_TRACEBACK.encode()), "webhooks": hooks})
    queued = queue.enqueue("tests.jobfuncs.add", MARK, 1, meta={"progress": {"done": 3, "total": 9}})
    scheduled = queue.enqueue_in(timedelta(hours=1), "tests.jobfuncs.add", MARK, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from rq_scheduler import Scheduler

        recurring = Scheduler(connection=conn).cron(
            "*/5 * * * *", func="tests.jobfuncs.add", args=[MARK, "x"], kwargs={"b": MARK}, id="sched-privacy"
        )
    assert conn.hget(keys.job(failed.id), "status") == b"failed"
    from dashboard.extensions import db
    from dashboard.history.collector import drain
    from dashboard.history.models import error_groups

    with app.app_context():  # the stock worker's outcomes into SQL (registry sweep): history, error groups
        assert drain(conn, db.engine) >= 2
        with db.engine.connect() as sql:
            group = sql.execute(error_groups.select()).one().fingerprint
    return {
        "group": group,
        "app": app,
        "clients": clients,
        "tokens": tokens,
        "finished": finished.id,
        "failed": failed.id,
        "queued": queued.id,
        "scheduled": scheduled.id,
        "recurring": recurring.id,
    }


def surfaces(w) -> list[tuple[str, dict, bool]]:
    """(url, headers, shows values to an operator) for every surface that can show these jobs."""
    f, bad, q, s = w["finished"], w["failed"], w["queued"], w["scheduled"]
    out = []
    for job_id in (f, bad, q, s, w["recurring"]):
        out += [(f"/jobs/{job_id}", {}, True), (f"/jobs/{job_id}", HX, True), (f"/api/v1/jobs/{job_id}", "api", True)]
    for state in ("finished", "failed", "queued", "scheduled"):
        base = f"/queues/default/{state}"
        out += [
            (base, {}, True),
            (base, HX, True),
            (f"{base}?func=jobfuncs", {}, True),
            (f"{base}?func=tests.", HX, True),
            (f"{base}?func=jobfuncs&fragment=scan", HX, True),
            (f"{base}/export.csv", {}, True),
            (f"{base}/export.jsonl", {}, True),
            (f"{base}/export.jsonl?func=jobfuncs", {}, True),
            (f"/api/v1/queues/default/jobs/{state}", "api", True),
            (f"/api/v1/queues/default/jobs/{state}?func=jobfuncs", "api", True),
            (f"{base}/tabs", HX, False),
        ]
    out += [
        ("/queues/default/failed?exc=RuntimeError", {}, True),
        ("/failed", {}, True),
        ("/failed", HX, True),
        ("/failed?window=all", {}, True),
        ("/schedules", {}, True),
        ("/schedules", HX, True),
        (f"/schedules/{w['recurring']}", {}, True),
        ("/", {}, False),
        ("/", HX, False),
        ("/api/v1/queues", "api", False),
        ("/api/v1/workers", "api", False),
        ("/history?window=30d", {}, True),
        ("/history?status=failed", HX, True),
        ("/api/v1/history?window=30d", "api", True),
        ("/errors", {}, False),  # messages there are normalised (the MARK's digits replaced)
        ("/errors", HX, False),
        ("/api/v1/error-groups", "api", False),
        (f"/errors/{w['group']}", {}, True),
        (f"/errors/{w['group']}", HX, True),
        ("/events", {}, False),
        ("/api/v1/events?after=0-0", "api", False),
        ("/functions/tests.jobfuncs.fail", {}, False),
        ("/functions/tests.jobfuncs.fail?window=24h", HX, False),
        (f"/jobs/search?q={f}", {}, False),
    ]
    return out


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_hidden_values_never_reach_a_viewer_anywhere(world, role):
    client = world["clients"][role]
    leaks, missing, fragments = [], [], set()
    for url, headers, shows_values in surfaces(world):
        if headers == "api":
            headers = {"Authorization": f"Bearer {world['tokens'][role]}"}
        response = client.get(url, headers=headers, follow_redirects=True)
        assert response.status_code == 200, (url, response.status_code)
        body = response.get_data(as_text=True)
        if MARK in body:
            leaks.append(url)
        elif shows_values:
            missing.append(url)
        # Fragments the pages load or poll (hx-get), including any added later: they must hide as much.
        fragments.update(html.unescape(link) for link in re.findall(r'hx-get="(/[^"]*)"', body))
    assert fragments, "the pages poll or load fragments"
    for url in sorted(fragments):
        response = client.get(url, headers=HX)
        assert response.status_code < 500, (url, response.status_code)
        if MARK in response.get_data(as_text=True):
            leaks.append(url)
    if role == "viewer":
        assert leaks == [], f"hidden values reached a viewer on: {leaks}"
    else:
        assert missing == [], f"an operator should see the values on: {missing}"


def test_viewer_job_page_keeps_what_a_viewer_may_see(world):
    body = html.unescape(world["clients"]["viewer"].get(f"/jobs/{world['failed']}").get_data(as_text=True))
    for visible in (
        "tests.jobfuncs.fail",
        "RuntimeError",
        "KeyError",
        'File "/app/tasks/pay.py", line 14, in charge',
        "hooks.example",
        "X-Token",
    ):
        assert visible in body, visible
    api = (
        world["clients"]["viewer"]
        .get(f"/api/v1/jobs/{world['finished']}", headers={"Authorization": f"Bearer {world['tokens']['viewer']}"})
        .json
    )
    assert api["args"] == api["kwargs"] == api["meta"] == api["result"] == {"hidden": True}
    assert api["progress"]["percent"] == 40.0 and api["job"]["description"] is None
    assert api["job"]["func_name"] == "tests.jobfuncs.add"


def test_viewers_cannot_find_jobs_by_hidden_exception_text(world):
    url = f"/queues/default/failed?exc={MARK}"
    assert world["failed"] in world["clients"]["operator"].get(url).get_data(as_text=True)
    assert world["failed"] not in world["clients"]["viewer"].get(url).get_data(as_text=True)
    by_type = world["clients"]["viewer"].get("/queues/default/failed?exc=RuntimeError").get_data(as_text=True)
    assert world["failed"] in by_type, "the exception type stays searchable"


def test_traceback_keeps_its_skeleton_only():
    redacted = redact_traceback(HOSTILE_TRACEBACK)
    assert MARK not in redacted
    assert redacted.splitlines() == [
        "Traceback (most recent call last):",
        '  File "/app/tasks/pay.py", line 12, in charge',
        f"KeyError: {HIDDEN}",
        "During handling of the above exception, another exception occurred:",
        "Traceback (most recent call last):",
        '  File "/app/tasks/pay.py", line 14, in charge',
        f"RuntimeError: {HIDDEN}",
    ]


def test_webhooks_show_host_and_header_names_only():
    raw = json.dumps(
        [
            {
                "url": f"https://user:{MARK}@hooks.example:8443/{MARK}?t={MARK}",
                "headers": {"A": MARK},
                "job_status": "failed",
                "secret": MARK,
            },
            "junk",
        ]
    )
    parsed = parse_webhooks(raw)
    (hook, junk) = parsed.hooks
    assert hook.url == f"https://user:••••@hooks.example:8443/{MARK}?t=••••", "only the path stays (values roles)"
    assert MARK not in repr(parsed).replace(hook.url, ""), "header values and secrets never leave the layer"
    assert junk.problem
    hosts = Visibility(values=False).webhooks(parsed)
    assert [h.url for h in hosts.hooks] == ["https://hooks.example/…", HIDDEN]
    assert hosts.hooks[0].header_names == ("A",) and hosts.hooks[0].job_status == "failed"
    assert Visibility.everything().webhooks(parsed) == parsed


def test_viewers_cannot_search_hidden_argument_values(redis_url, sqlite_url, data_dir, conn):
    from dashboard import accounts

    app = build_app(make_env(redis_url, sqlite_url, data_dir, HIDE_JOB_VALUES_FROM_VIEWERS="true"))
    with app.app_context():
        session_id = accounts.create_user("v1", "long-enough-pw", "viewer").get_id()
    Queue("default", connection=conn).enqueue("tests.jobfuncs.add", "s3cr3t", 1)
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
    assert client.get("/queues/default/queued?args=s3cr3t").status_code == 403
    assert client.get("/queues/default/queued/export.csv?args=s3cr3t").status_code == 403
