"""Helpers shared by the tests: real workers, waiting on conditions, building the app."""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import redis

from tests.fixtures import PASSWORD

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


XDIST_PORT_STRIDE = 100


def worker_port(base: int) -> int:
    """`base` moved into this test process's own block of ports: pytest-xdist's gw0 keeps it, gw1 adds
    100, gw2 200... So the fixed ports a few tests need (the cluster's, whose bus ports are port + 10000,
    Sentinel's, the fault and two-console tests') never collide between the processes of one `make test`."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw")) if worker.removeprefix("gw").isdigit() else 0
    return base + XDIST_PORT_STRIDE * index


def make_env(redis_url: str, database_url: str, data_dir: Path, **extra) -> dict:
    env = {
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key-0123456789",
        "CONSOLE_DATA_DIR": str(data_dir),
        "REDIS_TIMEOUT": "1",
        # Tests write Redis directly and read the overview at once: no shared read (test_read_cache.py turns it on).
        "OVERVIEW_CACHE_SECONDS": "0",
    }
    env.update(extra)
    return env


_SCHEMA_TEMPLATE: list[Path] = []  # a SQLite file migrated to head once per test process


def _sqlite_file(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def build_app(env: dict):
    """An app on `env`'s database, migrated to head. A new SQLite file starts as a copy of one migrated
    once per test process (running the nine migrations for each of hundreds of tests cost minutes);
    PostgreSQL and existing files are migrated as before, and tests/test_migrations.py runs them all."""
    from flask_migrate import upgrade

    from dashboard import create_app
    from dashboard.settings import load_settings

    target = _sqlite_file(env["DATABASE_URL"])
    if target is not None and not target.exists():
        if not _SCHEMA_TEMPLATE:
            template = Path(tempfile.mkdtemp(prefix="rqconsole-schema-")) / "console.db"
            migrated = create_app(load_settings(dict(env, DATABASE_URL=f"sqlite:///{template}")), TESTING=True)
            with migrated.app_context():
                from dashboard.extensions import db

                upgrade()
                db.engine.dispose()
            _SCHEMA_TEMPLATE.append(template)
        shutil.copyfile(_SCHEMA_TEMPLATE[0], target)
        return create_app(load_settings(env), TESTING=True)
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


def wait_for_operation(client, started_response, timeout: float = 30) -> str:
    """The id of the background operation (bulk action or batch) a 202 answer started, once its
    progress fragment says it is done."""
    assert started_response.status_code == 202, started_response.status_code
    op_id = re.search(r'id="bulk-([0-9a-f]+)"', started_response.get_data(as_text=True)).group(1)
    wait_until(
        lambda: 'data-status="done"' in client.get(f"/bulk/{op_id}").get_data(as_text=True),
        timeout=timeout,
        message=f"operation {op_id} done",
    )
    return op_id


def signed_in(app, username: str):
    """A test client of `app` whose session belongs to `username` (no sign-in request, no throttling)."""
    from dashboard.accounts import find_user

    client = app.test_client()
    with app.app_context():
        session_id = find_user(username).get_id()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True
    return client


def csrf_token(client) -> str:
    """The CSRF token of the client's session, as the pages embed it for HTMX."""
    page = client.get("/").get_data(as_text=True)
    match = re.search(r'"X-CSRFToken": "([^"]+)"', page) or re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def start_job_on_real_worker(conn, redis_url: str, job_id: str, queue: str = "default"):
    """A forking burst worker in a subprocess, returned once it runs `job_id` and listens for
    commands (so a stop command sent next reaches it). The caller waits for the process."""
    from dashboard.rqlayer import keys

    worker = subprocess.Popen(
        [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", redis_url, queue],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: conn.hget(keys.job(job_id), "status") == b"started", timeout=20, message="job started")
    channel = f"{keys.PREFIX}:pubsub:{conn.hget(keys.job(job_id), 'worker_name').decode()}"
    wait_until(lambda: conn.pubsub_numsub(channel)[0][1], timeout=10, message="worker listening for commands")
    return worker


def post(client, url: str, **data):
    """A form POST as the pages send it: the session's CSRF token in the X-CSRFToken header."""
    return client.post(url, data=data, headers={"X-CSRFToken": csrf_token(client)})


# ---------------------------------------------------------------- signing in through the real form


def form_csrf(response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
    assert match, f"no csrf_token field in the page (status {response.status_code})"
    return match.group(1)


def sign_in(client, username, password=PASSWORD, next_url=None, **request_kwargs):
    """Sign in through the real form: GET /login for the hidden csrf_token, then POST it."""
    token = form_csrf(client.get("/login", **request_kwargs))
    data = {"username": username, "password": password, "csrf_token": token}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/login", data=data, **request_kwargs)


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def location(response) -> str:
    return response.headers.get("Location", "")


def goes_to_login(response) -> bool:
    return response.status_code == 302 and urlsplit(location(response)).path == "/login"


# ---------------------------------------------------------------- `make run`'s runner in a subprocess


class RunnerProcess:
    def __init__(self, env: dict) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dashboard.runner"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    def line_with(self, marker: str) -> str | None:
        return next((line for line in list(self.lines) if marker in line), None)


def start_embedded_runner(data_dir) -> tuple[RunnerProcess, str]:
    env = dict(
        os.environ,
        PORT=str(free_port()),
        CONSOLE_DATA_DIR=str(data_dir),
        EMBEDDED_REDIS="1",
        SECRET_KEY="runner-test-secret-key",
        RUN_WARM_SHUTDOWN_SECONDS="2",
    )
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_URL", None)
    runner = RunnerProcess(env)
    wait_until(
        lambda: runner.line_with("Console:") or runner.proc.poll() is not None, timeout=60, message="the console URL"
    )
    assert runner.proc.poll() is None, runner.output()
    url = runner.line_with("Redis:").split("Redis:")[1].split()[0]
    return runner, url


def ctrl_c(runner: RunnerProcess) -> str:
    """Ctrl-C as a terminal sends it (to the whole foreground group); returns what was logged after it."""
    marker = len(runner.lines)
    os.killpg(runner.proc.pid, signal.SIGINT)
    runner.proc.wait(timeout=30)
    runner.reader.join(timeout=10)  # the pipe closes when the runner and its children are gone
    return "".join(runner.lines[marker:])


class FlakyConnection(redis.connection.Connection):
    """Drops the connection right after Redis answered (`lose_reply`) or right before sending (`lose_request`)
    the next command of that name."""

    lose_reply: set[str] = set()
    lose_request: set[str] = set()

    def send_command(self, *args, **kwargs):
        self.last = str(args[0]).upper()
        if self.last in self.lose_request:
            self.lose_request.discard(self.last)
            self.disconnect()
            raise redis.ConnectionError("request lost")
        super().send_command(*args, **kwargs)

    def read_response(self, *args, **kwargs):
        response = super().read_response(*args, **kwargs)
        if getattr(self, "last", "") in self.lose_reply:
            self.lose_reply.discard(self.last)
            self.disconnect()
            raise redis.ConnectionError("reply lost")
        return response
