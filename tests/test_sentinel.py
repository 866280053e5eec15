"""Redis Sentinel: redis+sentinel:// URLs, and a real failover the console follows without a restart
(tests/sentinel_fixture.py: a primary, a replica and a sentinel on loopback)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
import sqlalchemy as sa
from rq_scheduler import Scheduler

from dashboard import accounts
from dashboard.history.models import job_outcomes
from dashboard.rqlayer import keys
from dashboard.rqlayer.telemetry.consumer import GROUP
from dashboard.sentinel_url import parse_sentinel_url
from dashboard.settings import SettingsError, mask_url, validate_redis_url
from tests.fixtures import PASSWORD
from tests.helpers import PROJECT_ROOT, build_app, csrf_token, make_env, signed_in, wait_until
from tests.sentinel_fixture import PRIMARY_PORT, REPLICA_PORT, SentinelSetup

EMAIL = "tasks.notifications.send_email_notification"


def test_sentinel_urls_parse_with_defaults_and_credentials():
    spec = parse_sentinel_url("redis+sentinel://app:p%40ss@10.0.0.1,[::1]:26380/main/2?sentinel_password=s3")
    assert spec.sentinels == (("10.0.0.1", 26379), ("::1", 26380))
    assert (spec.service, spec.db, spec.username, spec.password, spec.sentinel_password) == (
        "main",
        2,
        "app",
        "p@ss",
        "s3",
    )
    plain = parse_sentinel_url("redis+sentinel://h:1/main")
    assert (plain.db, plain.username, plain.password, plain.sentinel_password) == (0, None, None, None)
    shown = mask_url("redis+sentinel://:p%40ss@h:1,h:2/main?sentinel_password=s3")
    assert shown == "redis+sentinel://:****@h:1,h:2/main?sentinel_password=****"


@pytest.mark.parametrize(
    "url, message",
    [
        ("redis+sentinel://h:1/", "no service name"),
        ("redis+sentinel:///main", "a sentinel without a host"),
        ("redis+sentinel://h:1,/main", "a sentinel without a host"),
        ("redis+sentinel://h:port/main", "bad sentinel address"),
        ("redis+sentinel://h/main/zero", "the database must be a number"),
        ("redis+sentinel://h/main?ssl=1", "unknown option 'ssl'"),
    ],
)
def test_bad_sentinel_urls_are_refused_naming_the_setting(url, message):
    with pytest.raises(SettingsError, match=f"^REDIS_URL: {message}"):
        validate_redis_url(url)


def test_bad_sentinel_url_messages_never_show_the_password():
    with pytest.raises(SettingsError) as error:
        validate_redis_url("redis+sentinel://:hunter2@h:x/main")
    assert "hunter2" not in str(error.value)


@pytest.fixture
def sentinel_setup():
    setup = SentinelSetup()
    yield setup
    setup.stop()


def _enqueue(client) -> str:
    response = client.post(
        f"/enqueue/{EMAIL}",
        data={"arg-to": "ops@example.com", "arg-subject": "failover", "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 303, response.status_code
    return response.headers["Location"].rsplit("/", 1)[1]


def _run(command: list[str], redis_url: str) -> None:
    """A command line run as the Procfile runs it: REDIS_URL in its environment, the test's data dir."""
    env = dict(os.environ, REDIS_URL=redis_url)
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def _timed_get(client, url: str) -> tuple[int, float]:
    started = time.monotonic()
    status = client.get(url).status_code
    return status, time.monotonic() - started


def test_console_and_workers_follow_a_failover(request, sentinel_setup, sqlite_url, data_dir):
    env = make_env(sentinel_setup.url, sqlite_url, data_dir)
    app = build_app(env)
    with app.app_context():
        accounts.create_user("sam", PASSWORD, "admin", actor="test")
    client = signed_in(app, "sam")
    assert client.get("/").status_code == 200
    before = _enqueue(client)
    primary = sentinel_setup.client(PRIMARY_PORT)
    assert primary.lrange(keys.queue("high"), 0, -1) == [before.encode()]
    # The event feed's blocking client opens its own pooled connection to this primary.
    cursor = client.get("/events/poll?wait=0.1").json["cursor"]
    # The history process (SQL job outcomes from the event stream), started on the first primary.
    log = (data_dir / "history.log").open("w")
    history = subprocess.Popen(
        [sys.executable, "-m", "dashboard.history", "run", "--block-ms", "200"],
        cwd=PROJECT_ROOT,
        env=dict(os.environ, **env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    request.addfinalizer(lambda: (history.terminate(), history.wait(10), log.close()))

    def collecting() -> bool:
        try:
            return bool(primary.xinfo_consumers(keys.events(), GROUP))
        except redis.ResponseError:  # no stream or group yet
            return False

    wait_until(collecting, timeout=20, message="the history process reading the stream")
    # Sentinel replication is asynchronous: wait for the replica to have the job before the crash.
    assert primary.wait(1, 2000) == 1

    sentinel_setup.kill(PRIMARY_PORT)
    answers = [_timed_get(client, "/")]
    assert answers[0][0] == 503  # the primary is gone and no other is named yet
    started = time.monotonic()

    def serves() -> bool:
        answers.append(_timed_get(client, "/"))
        return answers[-1][0] == 200

    wait_until(serves, timeout=30, interval=0.2, message="the overview on the new primary")
    followed = time.monotonic() - started
    assert sentinel_setup.current_primary() == REPLICA_PORT
    # While there was no primary every page said so at once: 503 within the 1 s Redis timeout.
    assert {status for status, _ in answers[:-1]} == {503}
    assert max(seconds for _, seconds in answers) < 1.5, answers
    assert followed < 30
    slowest = max(seconds for _, seconds in answers) * 1000
    print(f"followed the failover in {followed:.1f} s; {len(answers) - 1} answers 503, slowest {slowest:.0f} ms")

    after = _enqueue(client)  # an action, on the new primary
    promoted = sentinel_setup.client(REPLICA_PORT)
    assert promoted.lrange(keys.queue("high"), 0, -1) == [before.encode(), after.encode()]

    # The Procfile's scheduler (rqscheduler's command line) and a stock worker (`rq worker -c
    # dashboard.rqconfig`) reach the new primary through the sentinel too.
    due = Scheduler(queue_name="high", connection=promoted).enqueue_at(
        datetime.now(UTC) - timedelta(seconds=1), EMAIL, "ops@example.com", "scheduled"
    )
    _run(
        [sys.executable, "-m", "dashboard.rqlayer.schedules.atomic", "--url", sentinel_setup.url, "--burst"],
        sentinel_setup.url,
    )
    assert promoted.lrange(keys.queue("high"), 0, -1)[-1] == due.id.encode()
    worker = ["rq.cli", "worker", "--burst", "-c", "dashboard.rqconfig", "high"]
    _run([sys.executable, "-m", *worker, "-w", "dashboard.rqlayer.telemetry.worker.ConsoleWorker"], sentinel_setup.url)
    jobs = (before, after, due.id)
    assert [promoted.hget(keys.job(j), "status") for j in jobs] == [b"finished"] * 3

    # The feed's blocking wait recovers as well: its stale connection fails one poll (503), no more.
    def finished_events():
        response = client.get(f"/events/poll?after={cursor}&wait=5&type=finished")
        assert response.status_code in (200, 503), response.status_code
        return response.status_code == 200 and {e["job_id"] for e in response.json["events"]}

    assert wait_until(finished_events, timeout=10, message="finished events through the feed") >= set(jobs)

    # ... and the history process, which kept its connection object through the failover, records them.
    engine = sa.create_engine(sqlite_url)
    request.addfinalizer(engine.dispose)

    def recorded() -> set[str]:
        with engine.connect() as sql:
            query = sa.select(job_outcomes.c.job_id).where(job_outcomes.c.status == "finished")
            return set(sql.scalars(query))

    wait_until(lambda: recorded() >= set(jobs), timeout=20, message="the history process's outcomes")
