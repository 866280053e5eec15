"""GET /api/v1/events (bearer) and /events/poll (session): long polls that answer when a real worker
finishes a job, cursors that never repeat or lose an event, server-side filters, 400s, who may read, and
the per-process bound on waiting requests. One app for the module; Redis flushed per test."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from rq import Queue

from dashboard import accounts
from dashboard.rqlayer import feed
from dashboard.rqlayer.feed import EventFeed
from tests.fixtures import ROLE_USERS, seed_users
from tests.helpers import build_app, make_env, run_burst_worker, signed_in, wait_until

FORKING = "dashboard.rqlayer.telemetry.worker.ConsoleWorker"
SECRET_ARG = "s3cret-argument-value"


@pytest.fixture(scope="module")
def site(private_redis, tmp_path_factory):
    base = tmp_path_factory.mktemp("event-feed")
    app = build_app(make_env(private_redis.url, f"sqlite:///{base / 'console.db'}", base))
    seed_users(app)
    with app.app_context():
        _, app.viewer_secret = accounts.create_token("feed-viewer", "viewer")
    return app


@pytest.fixture
def api(site, redis_url):
    headers = {"Authorization": f"Bearer {site.viewer_secret}"}
    client = site.test_client()

    def get(query: str = "", **kwargs):
        return client.get(f"/api/v1/events{query}", headers=headers, **kwargs)

    return get


def session_client(site, role: str):
    return signed_in(site, ROLE_USERS[role])


def append(conn, count: int, type_: str = "retried", queue: str = "default", function: str = "f.g") -> None:
    feed.record_many(
        conn, [(type_, {"job_id": f"job-{n}", "queue": queue, "function": function}) for n in range(count)], "t"
    )


def test_a_long_poll_answers_when_a_real_worker_finishes_a_job(site, api, conn, redis_url):
    start = api().json
    assert start["events"] == [] and start["cursor"] == "0-0"
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 2, 3, description=SECRET_ARG)
    answers = {}

    def wait():
        answers["finished"] = api(f"?after={start['cursor']}&wait=20&type=finished")

    poller = threading.Thread(target=wait)
    poller.start()
    run_burst_worker(redis_url, queues=("-w", FORKING, "default"))
    poller.join(25)
    response = answers["finished"]
    assert response.status_code == 200
    (event,) = response.json["events"]
    assert (event["type"], event["job_id"], event["queue"], event["function"]) == (
        "finished",
        job.id,
        "default",
        "tests.jobfuncs.add",
    )
    assert event["worker"] and event["at"].endswith("Z") and event["id"] == response.json["cursor"]
    # Everything since the start, unfiltered: started then finished, and never a job value.
    everything = api(f"?after={start['cursor']}")
    assert [e["type"] for e in everything.json["events"]] == ["started", "finished"]
    assert SECRET_ARG not in everything.get_data(as_text=True) and "2, 3" not in everything.get_data(as_text=True)


def test_wait_zero_and_no_cursor_answer_at_once_from_now(api, conn):
    append(conn, 3)
    now = api("?wait=0").json
    assert now["events"] == [] and now["cursor"] != "0-0", "no `after`: the feed starts now"
    assert api(f"?after={now['cursor']}&wait=0").json["events"] == []
    append(conn, 1, "canceled")
    assert [e["type"] for e in api(f"?after={now['cursor']}").json["events"]] == ["canceled"]


def test_cursors_page_through_without_repeating_or_losing_an_event(api, conn):
    append(conn, 250)
    seen, cursor = [], "0-0"
    for _ in range(10):
        answer = api(f"?after={cursor}").json
        seen += [e["id"] for e in answer["events"]]
        cursor = answer["cursor"]
        if not answer["events"]:
            break
    assert len(seen) == len(set(seen)) == 250
    assert seen == sorted(seen, key=lambda i: tuple(map(int, i.split("-"))))
    assert api(f"?after={cursor}&wait=0.2").json["events"] == []


def test_filters_apply_on_the_server_and_the_cursor_moves_past_what_they_leave_out(api, conn):
    append(conn, 1500, "retried", queue="other")  # more than one scan step of entries that do not match
    append(conn, 2, "canceled", queue="default", function="tasks.a")
    append(conn, 1, "canceled", queue="default", function="tasks.b")
    append(conn, 1, "deleted", queue="default", function="tasks.a")
    answer = api("?after=0-0&type=canceled,deleted&queue=default&function=tasks.a").json
    assert [(e["type"], e["function"]) for e in answer["events"]] == [("canceled", "tasks.a")] * 2 + [
        ("deleted", "tasks.a")
    ]
    assert api(f"?after={answer['cursor']}").json["events"] == [], "the cursor is past every entry read"
    only_b = api("?after=0-0&function=tasks.b").json["events"]
    assert [e["job_id"] for e in only_b] == ["job-0"]
    assert api("?after=0-0&type=retried&queue=nowhere").json["events"] == []


@pytest.mark.parametrize(
    "query",
    ["?after=yesterday", "?after=1-2-3", "?wait=-1", "?wait=26", "?wait=soon", "?wait=nan", "?type=exploded"]
    + ["?after=1700000000000-99999999999999999999", "?after=18446744073709551615-0"],  # beyond a stream id
)
def test_bad_cursor_wait_or_type_is_a_400_with_a_message(api, query):
    response = api(query)
    assert response.status_code == 400
    assert response.json["message"]


def test_who_may_read_the_feed(site, api, redis_url):
    assert api().status_code == 200, "a viewer's token"
    anonymous = site.test_client()
    assert anonymous.get("/api/v1/events").status_code == 401
    assert anonymous.get("/events/poll").status_code == 302, "the page's poll wants a session"
    viewer = session_client(site, "viewer")
    assert viewer.get("/events/poll?wait=0").status_code == 200
    assert viewer.get("/events").status_code == 200
    assert viewer.get("/api/v1/events").status_code == 401, "the API never takes a session cookie"


def test_more_waiting_requests_than_the_cap_all_answer_correctly(site, api, conn):
    console = site.extensions["console"]
    original = console.events
    console.events = EventFeed(console.connection, waiters=2)
    try:
        cursor = api().json["cursor"]
        with ThreadPoolExecutor(max_workers=6) as pool:
            calls = [pool.submit(api, f"?after={cursor}&wait=8") for _ in range(6)]
            # The four beyond the cap answer at once (busy); the two others wait for the event.
            wait_until(lambda: sum(c.done() for c in calls) >= 4, timeout=8, message="the requests beyond the cap")
            append(conn, 1, "canceled")
            answers = [c.result(timeout=15) for c in calls]
    finally:
        console.events = original
    assert all(a.status_code == 200 for a in answers)
    waited = [a.json for a in answers if not a.json["busy"]]
    refused = [a.json for a in answers if a.json["busy"]]
    assert len(waited) == 2 and len(refused) == 4
    for answer in waited:
        assert [e["type"] for e in answer["events"]] == ["canceled"]
    for answer in refused:
        assert answer["events"] == [] and answer["cursor"] == cursor
        assert [e["type"] for e in api(f"?after={answer['cursor']}").json["events"]] == ["canceled"]


def test_waiting_polls_hold_no_sql_connection(site, api, conn):
    """16 waiting polls (more than the SQL pool's 5 + 10 connections of a process): pages still answer."""
    viewer = session_client(site, "viewer")
    cursor = api().json["cursor"]
    with ThreadPoolExecutor(max_workers=16) as pool:
        calls = [pool.submit(api, f"?after={cursor}&wait=10") for _ in range(16)]
        wait_until(lambda: _blocked(conn) >= 16, message="16 polls waiting in XREAD BLOCK")
        assert viewer.get("/events").status_code == 200
        assert not any(c.done() for c in calls), "they were still waiting"
        append(conn, 1, "canceled")
        answers = [c.result(timeout=15).json for c in calls]
    assert all([e["type"] for e in a["events"]] == ["canceled"] for a in answers)


def _blocked(conn) -> int:
    return sum(1 for client in conn.client_list() if client.get("cmd") == "xread")
