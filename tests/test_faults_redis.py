"""Redis killed (SIGKILL) and started again on the same port and data while the console (gunicorn, as the
Procfile runs it) serves a polling page and runs a bulk retry: pages answer 503 with the outage banner
within the Redis timeout and recover by themselves; the bulk retry waits, resumes and reports what it
did; every job ends in exactly one place, none lost or doubled."""

from __future__ import annotations

import re
import subprocess
import tempfile
import time

import pytest
import redis
import requests

from dashboard.rqlayer import keys
from tests.conftest import redis_server_binary
from tests.consoles import ConsoleProcess, console_env, http_sign_in, page_csrf, seed_accounts
from tests.fixtures import plant_failed
from tests.helpers import wait_until, worker_port

REDIS_PORT, CONSOLE_PORT = worker_port(7502), worker_port(7503)
JOBS = 10_000


class DurableRedis:
    """A redis-server that fsyncs every write to its append-only file, so SIGKILL loses nothing."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="rqconsole-durable-")
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                redis_server_binary(),
                *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--save", ""),
                *("--appendonly", "yes", "--appendfsync", "always", "--loglevel", "warning"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        wait_until(lambda: _answers(client), timeout=15, interval=0.02, message="redis-server answering")
        client.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(5)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@pytest.fixture
def durable_redis():
    server = DurableRedis(REDIS_PORT)
    server.start()
    yield server
    server.kill()


def test_redis_restart_during_a_bulk_retry_and_polls(durable_redis, tmp_path):
    conn = redis.Redis.from_url(durable_redis.url)
    env = console_env(durable_redis.url, f"sqlite:///{tmp_path / 'console.db'}", tmp_path)
    console = ConsoleProcess(env, CONSOLE_PORT, tmp_path / "console.log")  # boots while we prepare
    try:
        seed_accounts(env)
        ids = set(plant_failed(conn, JOBS, prefix="f"))
        console.wait_ready()
        base = console.url
        browser = requests.Session()
        assert "whoami" in http_sign_in(browser, base, "oscar").text
        htmx = {"X-CSRFToken": page_csrf(browser.get(f"{base}/", timeout=10).text), "HX-Request": "true"}
        started = browser.post(f"{base}/failed/retry-all", headers=htmx, timeout=10)
        assert started.status_code == 202, started.text[:300]
        op_id = re.search(r'id="bulk-([0-9a-f]+)"', started.text).group(1)

        # Kill Redis as soon as the first chunk is recorded: the operation is then mid-way.
        op_key = keys.bulk_operation(op_id)
        wait_until(lambda: int(conn.hget(op_key, "processed") or 0) > 0, timeout=20, interval=0.001)
        durable_redis.kill()
        conn.close()

        # Pages and fragments answer 503 with the banner, within about REDIS_TIMEOUT (1 s here).
        for path, headers in (("/", {}), (f"/bulk/{op_id}", {"HX-Request": "true"})):
            asked = time.monotonic()
            down = browser.get(f"{base}{path}", headers=headers, timeout=10)
            assert down.status_code == 503 and "Redis is unreachable" in down.text, (path, down.status_code)
            assert down.headers.get("Retry-After") and time.monotonic() - asked < 3

        durable_redis.start()
        wait_until(lambda: browser.get(f"{base}/", timeout=10).status_code == 200, timeout=15, message="recovered")
        wait_until(
            lambda: 'data-status="done"' in browser.get(f"{base}/bulk/{op_id}", timeout=10).text,
            timeout=30,
            message="the bulk retry resumed and done",
        )
        progress = browser.get(f"{base}/bulk/{op_id}", timeout=10).text
    finally:
        console.stop()

    # Every job in exactly one place: all in the queue once, none left failed.
    conn = redis.Redis.from_url(durable_redis.url)
    queued = [job_id.decode() for job_id in conn.lrange(keys.queue("default"), 0, -1)]
    assert len(queued) == JOBS and set(queued) == ids, "a job lost or doubled"
    assert conn.zcard(keys.registry("failed", "default")) == 0
    # The record says what was done: jobs retried by the operation, plus the ones a chunk in flight at
    # the outage may have done (counted as left alone), make every job; and it says Redis went away.
    record = {k.decode(): v.decode() for k, v in conn.hgetall(keys.bulk_operation(op_id)).items()}
    assert int(record["succeeded"]) + int(record["skipped"]) == JOBS, record
    assert int(record["skipped"]) <= 500, record
    assert "Redis was unreachable 1×" in record["message"], record
    assert "Redis was unreachable" in progress and f"{int(record['succeeded']):,} job" in progress
    conn.close()
