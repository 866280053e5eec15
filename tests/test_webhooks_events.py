"""Job events -> webhooks: real jobs run by the worker extension (in process) write the event stream; the
`webhooks` consumer group turns final outcomes into deliveries exactly once, even when the stream is read
again; the history process runs the dispatcher beside the collector."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import redis
import sqlalchemy as sa
from rq import Queue, Retry

from dashboard.rqlayer import keys
from dashboard.rqlayer.telemetry.worker import ConsoleSimpleWorker
from dashboard.settings import load_webhook_settings
from dashboard.webhooks import endpoints
from dashboard.webhooks.dispatcher import GROUP, Dispatcher
from dashboard.webhooks.models import webhook_deliveries
from tests.helpers import PROJECT_ROOT, make_env, wait_until
from tests.webhook_receiver import Receiver, deliver


class QuickConsoleWorker(ConsoleSimpleWorker):
    """The worker extension without its command channel (its pub/sub thread costs a second per burst)."""

    def subscribe(self) -> None:
        pass

    def unsubscribe(self) -> None:
        pass


def run_jobs(conn, queue="default"):
    QuickConsoleWorker([Queue(queue, connection=conn)], connection=conn).work(burst=True)


def deliveries(engine):
    t = webhook_deliveries
    with engine.connect() as sql:
        return sql.execute(sa.select(t.c.type, t.c.payload, t.c.idem_key, t.c.status).order_by(t.c.id)).all()


def has_group(conn) -> bool:
    try:
        return any(g["name"] == GROUP.encode() for g in conn.xinfo_groups(keys.events()))
    except redis.ResponseError:  # no stream yet
        return False


@pytest.fixture
def receiver(monkeypatch, redis_url, data_dir):
    server = Receiver()
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SECRET_KEY", "test-secret-key-0123456789")
    monkeypatch.setenv("WEBHOOK_ALLOWED_HOSTS", server.host)
    yield server
    server.stop()


def test_a_job_failing_for_good_sends_one_job_failed_even_when_the_stream_is_read_again(both, conn, receiver):
    engine = both
    settings = load_webhook_settings()
    dispatcher = Dispatcher(conn, engine, settings, consumer="t1", block_ms=0)
    endpoints.create(engine, conn, url=receiver.url, events=["job.failed", "job.finished"], queues=["default"])
    queue = Queue("default", connection=conn)
    failing = queue.enqueue("tests.jobfuncs.fail", "boom", retry=Retry(max=1))
    fine = queue.enqueue("tests.jobfuncs.add", 1, 2)
    Queue("low", connection=conn).enqueue("tests.jobfuncs.add", 2, 3)  # another queue: filtered out
    run_jobs(conn)
    run_jobs(conn, "low")
    assert failing.get_status(refresh=True) == "failed"

    assert dispatcher.drain() == 2
    rows = deliveries(engine)
    assert sorted(r.type for r in rows) == ["job.failed", "job.finished"], "the retried attempt sends nothing"
    failed = json.loads(next(r.payload for r in rows if r.type == "job.failed"))
    assert failed["data"]["job_id"] == failing.id and failed["data"]["exc_type"] == "RuntimeError"
    assert failed["data"]["queue"] == "default" and failed["data"]["function"] == "tests.jobfuncs.fail"
    assert failed["data"]["started_at"] and failed["data"]["ended_at"]
    finished = json.loads(next(r.payload for r in rows if r.type == "job.finished"))["data"]
    assert finished["job_id"] == fine.id and "exc_type" not in finished

    # The whole stream read again (the group rewound, as after a lost acknowledgement): nothing new.
    conn.xgroup_setid(keys.events(), GROUP, "0")
    again = Dispatcher(conn, engine, settings, consumer="t2", block_ms=0)
    assert again.drain() == 2, "the same two deliveries"
    assert len(deliveries(engine)) == 2

    # The delivery jobs themselves, run by the worker extension, send no webhook about themselves.
    run_jobs(conn, "webhooks")
    assert len(receiver.received) == 2
    assert again.drain() == 0, "no event of the webhook queue's jobs made a delivery"
    assert [r.status for r in deliveries(engine)] == ["succeeded", "succeeded"]


def test_no_endpoint_no_delivery(both, conn, receiver):
    engine = both
    dispatcher = Dispatcher(conn, engine, load_webhook_settings(), consumer="t", block_ms=0)
    Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    run_jobs(conn)
    assert dispatcher.drain() == 0
    assert deliveries(engine) == []
    pending = conn.xpending(keys.events(), GROUP)
    assert pending["pending"] == 0, "acknowledged all the same"


def test_the_history_process_dispatches_job_events(lite, conn, receiver, redis_url, data_dir):
    engine = lite
    env = make_env(
        redis_url,
        engine.url.render_as_string(hide_password=False),
        data_dir,
        WEBHOOK_ALLOWED_HOSTS=receiver.host,
        PATH="/usr/bin:/bin",
    )
    endpoints.create(engine, conn, url=receiver.url, events=["job.failed"])
    command = [sys.executable, "-m", "dashboard.history", "run", "--block-ms", "200"]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: has_group(conn), 20, message="the webhooks consumer group")
        Queue("default", connection=conn).enqueue("tests.jobfuncs.fail", "x")
        run_jobs(conn)
        wait_until(lambda: len(deliveries(engine)) == 1, 20, message="a job.failed delivery")
        deliver(conn)
        assert len(receiver.received) == 1
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0].decode()
    assert process.returncode == 0, output
