"""GET /api/v1/jobs/<id>?wait=<seconds>: the answer comes within 1 s of the job's end on a real worker —
woken by the worker extension's event (the status fallback pushed out of reach proves it), or, for a
stock worker (no events), by the status re-read every jobwait.FALLBACK s; a console cancel and a delete
end the wait too; a quiet job times out; bad values are 400s; a full process answers at once (busy,
Retry-After). One app for the module; Redis flushed per test."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from rq import Queue, SimpleWorker

from dashboard import accounts
from dashboard.extensions import get_console
from dashboard.rqlayer import actions, jobwait, keys
from dashboard.rqlayer.decode import timestamp
from dashboard.rqlayer.feed import EventFeed
from dashboard.rqlayer.telemetry.worker import ConsoleSimpleWorker
from tests.fixtures import seed_users
from tests.helpers import build_app, make_env, wait_until


@pytest.fixture(scope="module")
def site(private_redis, tmp_path_factory):
    base = tmp_path_factory.mktemp("long-poll")
    app = build_app(make_env(private_redis.url, f"sqlite:///{base / 'console.db'}", base))
    seed_users(app)
    with app.app_context():
        _, app.secret = accounts.create_token("long-poll", "viewer")
    return app


def get(site, job_id: str, query: str = ""):
    return site.test_client().get(f"/api/v1/jobs/{job_id}{query}", headers={"Authorization": f"Bearer {site.secret}"})


def in_background(site, job_id: str, query: str):
    """The request in a thread (the worker runs in this one); returns (answers, thread)."""
    answers: dict = {}

    def run():
        response = get(site, job_id, query)
        answers["at"] = datetime.now(UTC)
        answers["response"] = response

    thread = threading.Thread(target=run)
    thread.start()
    wait_until(lambda: site_waiting(site), timeout=5, message="the request waiting")
    return answers, thread


def site_waiting(site) -> bool:
    with site.app_context():
        feed = get_console().events
    return feed._slots._value < feed.waiters  # a waiting slot is held


def latency(conn, answers: dict, job_id: str) -> float:
    ended = timestamp(conn.hget(keys.job(job_id), "ended_at"))
    return (answers["at"] - ended).total_seconds()


@pytest.mark.parametrize("worker_class", [ConsoleSimpleWorker, SimpleWorker], ids=["extension-event", "stock-fallback"])
def test_the_answer_comes_within_a_second_of_the_end(site, conn, redis_url, monkeypatch, worker_class):
    if worker_class is ConsoleSimpleWorker:
        monkeypatch.setattr(jobwait, "FALLBACK", 30.0)  # out of reach: only the end event can wake it in time
    queue = Queue("default", connection=conn)
    job = queue.enqueue("tests.jobfuncs.sleep_for", 0.3)
    answers, thread = in_background(site, job.id, "?wait=20")
    worker_class([queue], connection=conn).work(burst=True, logging_level="WARNING")
    thread.join(25)
    body = answers["response"].json
    assert answers["response"].status_code == 200
    assert body["job"]["status"] == "finished" and body["result"]["text"] == "0.3"
    assert body["wait"]["ended"] and not body["wait"]["timed_out"] and not body["wait"]["busy"]
    took = latency(conn, answers, job.id)
    assert 0 <= took < 1.0, f"answered {took:.3f} s after the job ended"
    print(f"\n{worker_class.__name__}: answered {took * 1000:.0f} ms after the job ended")


def test_a_cancel_and_a_delete_end_the_wait(site, conn, redis_url):
    queue = Queue("default", connection=conn)
    canceled = queue.enqueue("tests.jobfuncs.add", 1, 2)
    answers, thread = in_background(site, canceled.id, "?wait=20")
    started = time.monotonic()
    assert actions.cancel(conn, [canceled.id]).succeeded == [canceled.id]
    thread.join(5)
    assert answers["response"].json["job"]["status"] == "canceled" and time.monotonic() - started < 1.5

    deleted = queue.enqueue("tests.jobfuncs.add", 1, 2)
    answers, thread = in_background(site, deleted.id, "?wait=20")
    actions.delete(conn, [deleted.id])
    thread.join(5)
    assert answers["response"].status_code == 404 and "deleted or expired" in answers["response"].json["message"]


def test_a_job_that_does_not_end_times_out_and_an_ended_one_answers_at_once(site, conn, redis_url):
    queue = Queue("default", connection=conn)
    job = queue.enqueue("tests.jobfuncs.add", 1, 2)
    started = time.monotonic()
    body = get(site, job.id, "?wait=0.6").json
    assert 0.6 <= time.monotonic() - started < 1.5
    assert body["job"]["status"] == "queued" and body["wait"]["timed_out"] and not body["wait"]["ended"]
    SimpleWorker([queue], connection=conn).work(burst=True)
    started = time.monotonic()
    body = get(site, job.id, "?wait=60").json
    assert time.monotonic() - started < 0.5 and body["wait"]["ended"] and body["wait"]["seconds"] == 0
    assert get(site, job.id).json["wait"] is None, "no wait asked: the plain answer"
    assert get(site, "no-such-job", "?wait=5").status_code == 404


def test_bad_waits_are_400s(site, conn, redis_url):
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    for bad in ("abc", "-1", "61", "nan", "inf", "1e400", "%00"):
        response = get(site, job.id, f"?wait={bad}")
        assert response.status_code == 400 and "0 to 60" in response.json["message"], bad


def test_a_full_process_answers_at_once_with_retry_after(site, conn, redis_url):
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    with site.app_context():
        console = get_console()
        own = console.events
        console.events = EventFeed(conn, waiters=1)
        try:
            with console.events.waiting_slot() as held:  # the one slot is taken
                assert held
                started = time.monotonic()
                response = get(site, job.id, "?wait=30")
        finally:
            console.events = own
    assert time.monotonic() - started < 0.5
    assert response.status_code == 200 and response.headers["Retry-After"] == "1"
    assert response.json["wait"]["busy"] and response.json["job"]["status"] == "queued"
