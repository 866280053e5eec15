"""Helpers shared by the tests: real workers, waiting on conditions, building the app."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def make_env(redis_url: str, database_url: str, data_dir: Path, **extra) -> dict:
    env = {
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key-0123456789",
        "CONSOLE_DATA_DIR": str(data_dir),
        "REDIS_TIMEOUT": "1",
    }
    env.update(extra)
    return env


def build_app(env: dict):
    from flask_migrate import upgrade

    from dashboard import create_app
    from dashboard.settings import load_settings

    app = create_app(load_settings(env), TESTING=True)
    with app.app_context():
        upgrade()
    return app


def run_burst_worker(redis_url: str, queues=("high", "default", "low"), timeout: float = 120, env=None):
    """A real forking `rq worker --burst` in a subprocess; returns when the queues are drained."""
    command = [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", redis_url, *queues]
    full_env = dict(os.environ, **(env or {}))
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def work_in_process(connection, queues=("high", "default", "low")):
    """Drain the queues with RQ's SimpleWorker in this process (no fork: fast, same data dir)."""
    from rq import Queue, SimpleWorker

    worker = SimpleWorker([Queue(q, connection=connection) for q in queues], connection=connection)
    worker.work(burst=True)
    return worker


def wait_until(predicate, timeout: float = 15, interval: float = 0.05, message: str = "condition"):
    """Poll `predicate` until it is truthy; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def csrf_token(client) -> str:
    """The CSRF token of the client's session, as the pages embed it for HTMX."""
    import re

    html = client.get("/").get_data(as_text=True)
    match = re.search(r'"X-CSRFToken": "([^"]+)"', html) or re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def start_job_on_real_worker(conn, redis_url: str, job_id: str, queue: str = "default"):
    """A forking burst worker in a subprocess, returned once it runs `job_id` and listens for
    commands (so a stop command sent next reaches it). The caller waits for the process."""
    from dashboard.rqlayer import keys

    worker = subprocess.Popen([sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", redis_url, queue],
                              cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: conn.hget(keys.job(job_id), "status") == b"started", timeout=20, message="job started")
    channel = f"{keys.PREFIX}:pubsub:{conn.hget(keys.job(job_id), 'worker_name').decode()}"
    wait_until(lambda: conn.pubsub_numsub(channel)[0][1], timeout=10, message="worker listening for commands")
    return worker
