"""The worker page: a real worker's queues, state, current job with its function, counters; gone and
hostile workers; the layer's bounded read."""

from __future__ import annotations

import html

from rq import Queue
from rq.command import send_stop_job_command

from dashboard.rqlayer import keys, workers
from tests.helpers import start_job_on_real_worker, wait_until


def text(response) -> str:
    """The markup as sent (tests.helpers.text unescapes it, which hides what escaping did)."""
    return response.get_data(as_text=True)


def _worker_name(conn, job_id: str) -> str:
    return conn.hget(keys.job(job_id), "worker_name").decode()


def test_the_page_of_a_real_busy_worker_shows_its_queues_state_job_and_counters(client, conn, redis_url):
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.sleep_for", 60)
    process = start_job_on_real_worker(conn, redis_url, job.id)
    try:
        name = _worker_name(conn, job.id)
        page = client.get(f"/workers/{name}")
        body = text(page)
        assert page.status_code == 200
        assert f'<span class="mono" id="worker-name">{name}</span>' in body
        assert 'href="/queues/default/queued">default</a>' in body, "its queue links to the queue page"
        assert "data-worker-state>busy<" in body
        assert f'href="/jobs/{job.id}"' in body, "the current job links to its page"
        assert "tests.jobfuncs.sleep_for</a>" in body and "func=tests.jobfuncs.sleep_for" in body
        assert str(process.pid) in body, "the worker's pid (the burst worker runs in that process)"
        assert "RQ version" in body and "3." in body and "Last heartbeat" in body and "<time datetime=" in body
        assert "data-poll" in body and 'hx-trigger="refresh"' in body, "the page refreshes itself (live.js's scheduler)"

        fragment = client.get(f"/workers/{name}", headers={"HX-Request": "true"})
        assert fragment.status_code == 200 and "<html" not in text(fragment) and job.id in text(fragment)
    finally:
        send_stop_job_command(conn, job.id)
        process.wait(timeout=30)
    wait_until(lambda: not conn.exists(keys.worker(name)) or conn.hget(keys.worker(name), "death"), message="exit")


def test_counters_and_idle_state_come_from_the_worker_hash(client, conn):
    name = "idle-worker"
    conn.hset(
        keys.worker(name),
        mapping={
            "birth": "2026-01-02T03:04:05.000000Z",
            "last_heartbeat": "2099-01-01T00:00:00.000000Z",
            "queues": "high,low",
            "pid": "4242",
            "hostname": "box-7",
            "ip_address": "10.0.0.7",
            "version": "3.0.0",
            "python_version": "3.12.1 (main)",
            "state": "idle",
            "successful_job_count": "1234",
            "failed_job_count": "56",
            "total_working_time": "7260.5",
        },
    )
    conn.sadd(keys.workers(), keys.worker(name))
    body = text(client.get(f"/workers/{name}"))
    assert "data-worker-state>idle<" in body and 'id="worker-idle"' in body
    assert "1,234" in body and ">56<" in body and "2 h 1 min" in body
    assert "box-7" in body and "10.0.0.7" in body and "4242" in body and "Python 3.12.1" in body
    assert '<time datetime="2026-01-02T03:04:05Z"' in body, "birth as a <time>"
    assert 'href="/queues/high/queued">high</a>, <a href="/queues/low/queued">low</a>' in body


def test_an_unknown_worker_is_a_clear_404_and_an_expired_registered_one_says_so(client, conn):
    missing = client.get("/workers/nobody-here")
    assert missing.status_code == 404
    assert "No worker named <strong>nobody-here</strong> is registered" in text(missing)
    assert "data-poll" not in text(missing), "a missing worker is not polled"

    conn.sadd(keys.workers(), keys.worker("ghost"))  # in the set, its hash expired
    ghost = client.get("/workers/ghost")
    assert ghost.status_code == 404 and "still listed in RQ's worker set" in text(ghost)

    # A poll (HTMX) that finds the worker gone swaps in the notice instead of failing silently.
    poll = client.get("/workers/nobody-here", headers={"HX-Request": "true"})
    assert poll.status_code == 200 and 'id="worker-missing"' in text(poll)
    assert client.get("/workers/" + "x" * 300).status_code == 404
    assert client.get("/workers/").status_code == 302


def test_hostile_worker_names_and_fields_are_escaped(client, conn):
    name = '<img/src=x/onerror=alert(1)>"'
    conn.hset(keys.worker(name), mapping={"state": "<b>busy</b>", "queues": "<i>q</i>", "hostname": "<script>"})
    conn.sadd(keys.workers(), keys.worker(name))
    page = client.get("/workers/%3Cimg/src=x/onerror=alert(1)%3E%22")
    body = text(page)
    assert page.status_code == 200
    assert "<img/src=x" not in body and "<script>" not in body and "<b>busy" not in body
    assert body.count("&lt;img/src=x/onerror=alert(1)&gt;&#34;") >= 3, "title, heading and live region"
    assert html.escape("<b>busy</b>") in body or "&lt;b&gt;busy&lt;/b&gt;" in body
    assert "&lt;i&gt;q&lt;/i&gt;" in body


def test_a_worker_key_of_the_wrong_type_shows_as_broken(client, conn):
    conn.set(keys.worker("planted"), "not a hash")
    conn.sadd(keys.workers(), keys.worker("planted"))
    page = client.get("/workers/planted")
    assert page.status_code == 200 and "data-worker-state>broken<" in text(page)


def test_the_read_is_bounded_by_the_running_jobs_it_shows(conn):
    conn.hset(keys.worker("many"), mapping={"state": "busy", "queues": "default"})
    conn.sadd(keys.worker_executions("many"), *[f"job-{i}:exec-{i}" for i in range(5000)])
    detail = workers.read_worker(conn, "many")
    assert detail is not None and detail.found
    assert len(detail.current_jobs) == workers.MAX_CURRENT_JOBS and detail.running_count == 5000
    assert detail.more_running == 5000 - workers.MAX_CURRENT_JOBS
    assert not any(row.exists for row in detail.current_jobs), "planted ids without job hashes read as gone"
    assert workers.read_worker(conn, "with space") is None and workers.read_worker(conn, "") is None


def test_a_viewer_sees_the_worker_page(client_as, conn):
    conn.hset(keys.worker("w-viewer"), mapping={"state": "idle", "queues": "default"})
    conn.sadd(keys.workers(), keys.worker("w-viewer"))
    assert client_as("viewer").get("/workers/w-viewer").status_code == 200


def test_admins_control_the_worker_from_its_page_and_come_back_to_it(client_as, conn):
    from tests.helpers import csrf_token

    conn.hset(keys.worker("w-ctl"), mapping={"state": "busy", "queues": "default"})
    conn.sadd(keys.workers(), keys.worker("w-ctl"))
    conn.sadd(keys.worker_executions("w-ctl"), "job-x:exec-1")
    admin, operator = client_as("admin"), client_as("operator")
    body = text(admin.get("/workers/w-ctl"))
    assert 'action="/workers/w-ctl/shutdown"' in body and 'action="/workers/w-ctl/kill-horse"' in body
    assert 'name="next" value="/workers/w-ctl"' in body
    assert 'id="worker-controls"' not in text(operator.get("/workers/w-ctl")), "only with the permission"

    answer = admin.post(
        "/workers/w-ctl/shutdown", data={"next": "/workers/w-ctl"}, headers={"X-CSRFToken": csrf_token(admin)}
    )
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/workers/w-ctl")
    assert "did not receive the command" in text(admin.get("/workers/w-ctl")), "nobody listens: it says so"
    away = admin.post(
        "/workers/w-ctl/shutdown", data={"next": "https://evil.example/"}, headers={"X-CSRFToken": csrf_token(admin)}
    )
    assert away.headers["Location"].endswith("/"), "never an open redirect"
