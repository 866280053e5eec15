"""Jumping to a job by the short id prefix the tables show (regression: an 8-character prefix gave 404)."""

from __future__ import annotations

from rq import Queue

from dashboard.rqlayer import keys, lookup
from tests.fixtures import plant_every_state


def test_unique_prefix_redirects_to_the_job(conn, client):
    planted = plant_every_state(conn)
    for state, ids in planted.ids.items():
        job_id = ids[0]
        response = client.get(f"/jobs/search?q={job_id[:8]}")
        assert response.status_code == 302, state
        assert response.headers["Location"].endswith(f"/jobs/{job_id}"), state


def test_full_id_still_redirects(conn, client):
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2, job_id="exact-id-1")
    response = client.get("/jobs/search?q=exact-id-1")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/jobs/{job.id}")


def test_ambiguous_prefix_lists_the_matches(conn, client):
    queue = Queue("default", connection=conn)
    queue.enqueue("tests.jobfuncs.add", 1, 2, job_id="same-start-a")
    queue.enqueue("tests.jobfuncs.add", 1, 2, job_id="same-start-b")
    response = client.get("/jobs/search?q=same-st")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "/jobs/same-start-a" in html and "/jobs/same-start-b" in html


def test_no_match_says_what_was_searched(conn, client):
    Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    response = client.get("/jobs/search?q=zzzzzzzz")
    assert response.status_code == 404
    assert "ids searched" in response.get_data(as_text=True)


def test_short_or_odd_prefixes_are_refused_clearly(conn, client):
    Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2, job_id="abcdef-1")
    response = client.get("/jobs/search?q=abc")
    assert response.status_code == 404
    assert "at least 4 characters" in response.get_data(as_text=True)
    assert client.get("/jobs/search?q=a%0d%0ab").status_code == 404


def test_started_registry_members_resolve_to_the_job_id(conn):
    # RQ 3 started-registry members are "<job id>:<execution id>".
    conn.sadd(keys.queues(), keys.queue("default"))
    conn.zadd(keys.registry("started", "default"), {"running-job-1:exec123": 1})
    found = lookup.find_by_prefix(conn, "running-j")
    assert found.unique == "running-job-1"


def test_wrong_type_keys_do_not_break_the_search(conn):
    conn.sadd(keys.queues(), keys.queue("broken"), keys.queue("default"))
    conn.set(keys.queue("broken"), "not a list")
    conn.set(keys.registry("failed", "broken"), "not a zset")
    conn.rpush(keys.queue("default"), "findme-123")
    assert lookup.find_by_prefix(conn, "findme").unique == "findme-123"


def test_read_is_bounded_with_many_queues(conn):
    pipe = conn.pipeline()
    for n in range(300):
        pipe.sadd(keys.queues(), keys.queue(f"q{n}"))
        pipe.rpush(keys.queue(f"q{n}"), *[f"job-{n}-{i}" for i in range(200)])
    pipe.execute()
    found = lookup.find_by_prefix(conn, "nothing")
    assert found.searched <= lookup.MAX_IDS_READ * 2  # each queue read from both ends
    assert found.window < lookup.WINDOW_PER_KEY
