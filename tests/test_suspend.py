"""Suspending workers, with a real `rq worker`: the console says what RQ's suspension really does
(checked between jobs only) and shows each worker's acknowledgement."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from rq import Queue

from dashboard.rqlayer import keys
from tests.helpers import PROJECT_ROOT, csrf_token, wait_until


@pytest.fixture
def real_worker(conn, redis_url):
    """A long-running forking `rq worker` on "default", stopped (by its pid) at the end."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "rq.cli", "worker", "--url", redis_url, "default"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        name = wait_until(
            lambda: [k.decode() for k in conn.smembers(keys.workers())], timeout=20, message="worker registered"
        )[0]
        wait_until(lambda: conn.hget(name, "state") == b"idle", timeout=20, message="worker idle")
        yield keys.worker_name_from_key(name)
    finally:
        worker.terminate()
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)


def overview_text(client) -> str:
    return client.get("/", headers={"HX-Request": "true"}).get_data(as_text=True)


def worker_state(conn, name: str) -> bytes | None:
    return conn.hget(keys.worker(name), "state")


def test_suspension_is_explained_and_each_worker_acknowledges_it(client, conn, real_worker):
    before = client.get("/").get_data(as_text=True)
    assert "a worker waiting for a job still takes the next one that arrives" in before, "the confirmation says so"

    response = client.post("/workers/suspend", headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 303 and conn.exists(keys.suspended())
    page = overview_text(client)
    assert "0 of 1 worker has stopped taking jobs" in page
    assert 'data-suspension="pending"' in page and "takes at most one more job" in page

    # RQ's worker is blocked waiting for a job: it takes the next one and runs it, as the banner says.
    queue = Queue("default", connection=conn)
    taken = queue.enqueue("tests.jobfuncs.record_run")
    wait_until(lambda: conn.hget(keys.job(taken.id), "status") == b"finished", timeout=20, message="job ran")
    wait_until(lambda: worker_state(conn, real_worker) == b"suspended", timeout=20, message="acknowledged")
    page = overview_text(client)
    assert "1 of 1 worker has stopped taking jobs" in page
    assert re.search(r'data-suspension="acknowledged">acknowledged suspension<', page)

    # Once acknowledged it takes nothing: the job stays queued while the worker goes round its loop.
    waiting = queue.enqueue("tests.jobfuncs.record_run")
    beat = conn.hget(keys.worker(real_worker), "last_heartbeat")
    wait_until(
        lambda: conn.hget(keys.worker(real_worker), "last_heartbeat") != beat,
        timeout=10,
        message="the suspended worker checked the flag again",
    )
    assert conn.hget(keys.job(waiting.id), "status") == b"queued"

    client.post("/workers/resume", headers={"X-CSRFToken": csrf_token(client)})
    wait_until(lambda: conn.hget(keys.job(waiting.id), "status") == b"finished", timeout=20, message="resumed")
    assert "Workers are suspended" not in overview_text(client)
