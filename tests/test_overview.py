"""The overview read model and page, against a real Redis with real jobs and workers."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from rq import Queue
from rq.rate_limit import RateLimit

from dashboard.rqlayer import keys
from dashboard.rqlayer.overview import STATES, read_overview
from tests.conftest import PrivateRedis, free_port
from tests.fixtures import plant_every_state
from tests.helpers import PROJECT_ROOT, build_app, make_env, wait_until


def test_counts_every_state_per_queue(conn):
    planted = plant_every_state(conn, "default")
    Queue("high", connection=conn).enqueue("tests.jobfuncs.add", 1, 1)

    overview = read_overview(conn)

    by_name = {q.name: q for q in overview.queues}
    assert list(by_name) == ["high", "default"], "priority queues come first, in priority order"
    default = by_name["default"]
    for state in ("queued", "deferred", "scheduled", "finished", "failed", "canceled"):
        assert default.counts[state] == planted.count(state), state
    assert default.counts["started"] == 0
    assert by_name["high"].counts["queued"] == 1
    assert overview.totals["queued"] == planted.count("queued") + 1
    assert set(overview.totals) == set(STATES)


def test_latency_is_age_of_oldest_queued_job(conn):
    queue = Queue("low", connection=conn)
    job = queue.enqueue("tests.jobfuncs.add", 1, 2)
    queue.enqueue("tests.jobfuncs.add", 3, 4)
    enqueued_at = job.enqueued_at.replace(tzinfo=UTC)

    overview = read_overview(conn, now=enqueued_at + timedelta(seconds=90))

    low = overview.queues[0]
    assert low.oldest_enqueued_at is not None
    assert abs(low.latency_seconds - 90) < 1
    assert low.unattended, "jobs are queued and no worker listens"
    assert overview.unattended_queues == [low]


def test_empty_redis_is_an_empty_overview(conn):
    overview = read_overview(conn)
    assert overview.is_empty
    assert overview.queues == [] and overview.workers == []
    assert overview.server.version


def test_cost_does_not_grow_with_jobs(conn):
    """Same commands, same count, for 20 and for 20,000 jobs; nothing O(N) is called."""

    def commands_for_one_read():
        conn.config_resetstat()
        read_overview(conn)
        stats = conn.info("commandstats")
        return {name: value["calls"] for name, value in stats.items() if name not in ("cmdstat_config", "cmdstat_info")}

    queue = Queue("default", connection=conn)
    queue.enqueue("tests.jobfuncs.add", 0, 0)
    pipe = conn.pipeline()
    for n in range(19):
        pipe.rpush(keys.queue("default"), f"fake-{n}")
    pipe.execute()
    small = commands_for_one_read()

    for chunk in range(20):
        conn.rpush(keys.queue("default"), *[f"fake-{chunk}-{n}" for n in range(1000)])
        conn.zadd(keys.registry("failed", "default"), {f"failed-{chunk}-{n}": n for n in range(1000)})
    large = commands_for_one_read()

    assert small == large
    forbidden = {"cmdstat_lrange", "cmdstat_keys", "cmdstat_scan", "cmdstat_zrange", "cmdstat_sscan", "cmdstat_hscan"}
    assert not forbidden & set(large), large


def test_rate_limited_jobs_are_counted(conn):
    queue = Queue("default", connection=conn)
    for _ in range(3):
        queue.enqueue("tests.jobfuncs.add", 1, 1, rate_limit=RateLimit("smtp", 1))

    overview = read_overview(conn)

    assert [(r.key, r.concurrency, r.allowed, r.held_back) for r in overview.rate_limits] == [("smtp", 1, 1, 2)]
    assert overview.held_back_jobs == 2
    assert overview.queues[0].counts["queued"] == 1


def test_running_worker_and_its_current_job(conn, redis_url):
    queue = Queue("default", connection=conn)
    job = queue.enqueue("tests.jobfuncs.sleep_for", 3)
    worker = subprocess.Popen(
        [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", redis_url, "default"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        overview = wait_until(
            lambda: (o := read_overview(conn)) and o.totals["started"] == 1 and o.workers and o, message="job started"
        )
        [summary] = overview.workers
        assert summary.state == "busy"
        assert summary.current_job_ids == (job.id,)
        assert summary.queues == ("default",)
        assert summary.pid is not None and summary.hostname
        assert not summary.stale
        assert overview.queues[0].listening_workers == 1
    finally:
        worker.wait(timeout=30)
    after = read_overview(conn)
    assert after.totals["finished"] == 1 and after.totals["started"] == 0


def test_rq2_worker_data_and_stale_heartbeats(conn):
    """A worker hash as RQ 2.x wrote it (current_job field) and one whose heartbeat stopped."""
    now = datetime.now(UTC)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
    conn.sadd(keys.workers(), keys.worker("old-style"), keys.worker("silent"), keys.worker("vanished"))
    conn.hset(
        keys.worker("old-style"),
        mapping={
            "birth": now.strftime(fmt),
            "last_heartbeat": now.strftime(fmt),
            "queues": "high,default",
            "pid": 42,
            "hostname": "box",
            "state": "busy",
            "current_job": "legacy-job",
            "successful_job_count": 7,
            "failed_job_count": 1,
            "total_working_time": 12.5,
        },
    )
    conn.hset(
        keys.worker("silent"),
        mapping={
            "last_heartbeat": (now - timedelta(minutes=20)).strftime(fmt),
            "queues": "low",
            "state": "idle",
        },
    )

    workers = {w.name: w for w in read_overview(conn).workers}

    old = workers["old-style"]
    assert old.current_job_ids == ("legacy-job",)
    assert (old.successful_jobs, old.failed_jobs, old.total_working_seconds) == (7, 1, 12.5)
    assert not old.stale
    assert workers["silent"].stale and not workers["silent"].gone
    assert workers["vanished"].gone and workers["vanished"].state == "gone"


def test_suspension_is_reported(conn):
    from rq.suspension import suspend

    suspend(conn)
    assert read_overview(conn).suspended


def test_overview_page_full_and_partial(client, conn):
    plant_every_state(conn, "default")

    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<html" in html and 'data-queue="default"' in html and "hx-trigger" in html

    fragment = client.get("/", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200
    assert "<html" not in body and 'data-queue="default"' in body
    assert fragment.headers["Cache-Control"] == "no-store"


def test_empty_state_teaches(client):
    html = client.get("/").get_data(as_text=True)
    assert "No queues yet" in html and "make demo" in html


def test_unattended_queue_and_stale_worker_warnings(client, conn):
    Queue("low", connection=conn).enqueue("tests.jobfuncs.add", 1, 1)
    conn.sadd(keys.workers(), keys.worker("ghost"))
    html = client.get("/").get_data(as_text=True)
    assert "no worker listens on it" in html
    assert "ghost" in html and "died without clean-up" in html


def _signed_in_client(app):
    from dashboard import accounts

    with app.app_context():
        user = accounts.find_user("admin") or accounts.create_user("admin", "long-enough-pw", "admin")
        session_id = user.get_id()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
    return client


def test_redis_down_answers_503_quickly_and_recovers(sqlite_url, data_dir):
    port = free_port()
    secret_url = f"redis://:hunter2secret@127.0.0.1:{port}/0"
    client = _signed_in_client(build_app(make_env(secret_url, sqlite_url, data_dir)))

    started = time.monotonic()
    page = client.get("/")
    assert time.monotonic() - started < 3
    assert page.status_code == 503
    html = page.get_data(as_text=True)
    assert "Redis is unreachable" in html and f"127.0.0.1:{port}" in html
    assert "hunter2secret" not in html and "****" in html
    fragment = client.get("/", headers={"HX-Request": "true"})
    assert fragment.status_code == 503 and "<html" not in fragment.get_data(as_text=True)
    assert client.get("/healthz").status_code == 503
    as_json = client.get("/", headers={"Accept": "application/json"})
    assert as_json.status_code == 503 and as_json.json["error"] == "redis_unreachable"

    # Redis starts on that port: the same app recovers by itself, with no restart.
    plain = _signed_in_client(build_app(make_env(f"redis://127.0.0.1:{port}/0", sqlite_url, data_dir)))
    assert plain.get("/").status_code == 503
    server = PrivateRedis(port)
    try:
        wait_until(lambda: plain.get("/").status_code == 200, timeout=10, message="recovery after Redis started")
        assert plain.get("/healthz").json["redis"] == "ok"
    finally:
        server.stop()
