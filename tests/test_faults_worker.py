"""A forking ConsoleWorker SIGKILLed mid-job (the worker and its work horse, as when a machine dies):
once RQ notices — the dead worker's heartbeat deadlines pass and another worker's maintenance cleans the
registries — the console shows the job failed as abandoned and the worker gone, and a retry from the
console runs the job again, once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rq import Queue
from rq.registry import StartedJobRegistry

from dashboard.rqlayer import keys
from tests.helpers import PROJECT_ROOT, post, text, wait_until

WORKER_CLASS = "dashboard.rqlayer.telemetry.worker.ConsoleWorker"


def nap_on_first_run():
    """Sleeps through its first run (the one the test kills); returns at once when run again."""
    from rq import get_current_job

    job = get_current_job()
    if job.connection.hincrby("test:naps", job.id, 1) == 1:
        time.sleep(60)
    return "rested"


def _burst(conn) -> None:
    from dashboard.rqlayer.telemetry.worker import ConsoleSimpleWorker

    ConsoleSimpleWorker([Queue("default", connection=conn)], connection=conn).work(burst=True)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def test_a_worker_killed_mid_job_leaves_it_abandoned_and_retryable(conn, redis_url, client):
    job = Queue("default", connection=conn).enqueue(f"{__name__}.nap_on_first_run", job_timeout=120)
    command = [sys.executable, "-m", "rq.cli", "worker", "-w", WORKER_CLASS, "--url", redis_url, "default"]
    worker = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: conn.hget("test:naps", job.id) == b"1", timeout=20, message="the job running")
        name = conn.hget(keys.job(job.id), "worker_name").decode()
        horses = _children(worker.pid)
        assert horses, "a forking worker runs the job in a work horse"
    finally:
        # The machine dies: the work horse (its own process group) and the worker, no clean-up at all.
        for pid in (*_children(worker.pid), worker.pid):
            os.kill(pid, signal.SIGKILL)
        worker.wait(10)
    assert conn.hget(keys.job(job.id), "status") == b"started"
    assert client.get(f"/workers/{name}").status_code == 200

    # Time passes as RQ measures it: the execution's heartbeat deadline in the started registry and the
    # dead worker's key TTL both lapse (set here rather than waited for: RQ's clocks are minutes long).
    registry = StartedJobRegistry("default", connection=conn)
    for member in conn.zrange(registry.key, 0, -1):
        conn.zadd(registry.key, {member: time.time() - 1})
    conn.pexpire(keys.worker(name), 1)
    wait_until(lambda: not conn.exists(keys.worker(name)), timeout=5, message="the dead worker's key expired")

    # Another worker's maintenance notices, as it does when it starts (RQ's registry clean-up, with the
    # extension's exception handler reporting the abandoned job). In process: RQ's own code, no fork needed.
    _burst(conn)
    assert conn.hget(keys.job(job.id), "status") == b"failed"
    page = text(client.get(f"/jobs/{job.id}"))
    assert "AbandonedJobError" in page and "failed" in page
    events = [fields for _, fields in conn.xrange(keys.events())]
    assert any(b"abandoned" in fields.values() for fields in events), events
    gone = text(client.get(f"/workers/{name}"))
    assert "is no longer registered" in gone or "No worker named" in gone
    assert name not in text(client.get("/"))

    # A retry from the console runs it again, exactly once.
    retried = post(client, f"/jobs/{job.id}/retry")
    assert retried.status_code in (200, 303), retried.status_code
    _burst(conn)
    assert conn.hget(keys.job(job.id), "status") == b"finished"
    assert conn.hget("test:naps", job.id) == b"2"
