"""Webhook deliveries end to end: outbox.send -> RQ job on the webhook queue -> a real local HTTP receiver that
verifies the Standard Webhooks signature (the package's Webhook.verify and an independent HMAC), retries
after a 500, a redirect not followed, refused private destinations, rotation overlap, 410 Gone."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from dashboard.settings import load_webhook_settings
from dashboard.webhooks import endpoints, log, outbox
from dashboard.webhooks.models import webhook_deliveries
from tests.webhook_receiver import Receiver, deliver


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def hook_env(monkeypatch, redis_url, data_dir, receiver):
    """The delivery job reads its settings from the environment, as in a worker."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SECRET_KEY", "test-secret-key-0123456789")
    monkeypatch.setenv("WEBHOOK_ALLOWED_HOSTS", receiver.host)
    monkeypatch.setenv("WEBHOOK_RETRY_BASE", "0")  # retry at once: the burst worker runs it next
    monkeypatch.setenv("WEBHOOK_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("WEBHOOK_TIMEOUT", "3")
    return load_webhook_settings()


def rows(engine):
    with engine.connect() as sql:
        return sql.execute(sa.select(webhook_deliveries).order_by(webhook_deliveries.c.id)).all()


def own_hmac(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def test_a_signed_delivery_retries_after_a_500_and_then_succeeds(both, conn, hook_env, receiver):
    engine = both
    receiver.statuses = [500, 200]
    endpoint, secret = endpoints.create(engine, conn, url=receiver.url, events=["job.failed"], queues=["default"])
    ids = outbox.send(
        engine, conn, "job.failed", {"job_id": "j1"}, queue="default", key="j1:1:failed", settings=hook_env
    )
    assert len(ids) == 1
    deliver(conn)

    assert len(receiver.received) == 2, "one retry after the 500"
    first, second = receiver.received
    assert first.path == "/hook?token=abc" and first.body == second.body
    assert first.headers["webhook-id"] == second.headers["webhook-id"], "the same message id on every attempt"
    for got in receiver.received:
        payload = Webhook(secret).verify(got.body, got.headers)
        assert payload["type"] == "job.failed" and payload["data"] == {"job_id": "j1"}
        assert set(payload) == {"type", "timestamp", "data"}
        assert got.headers["webhook-signature"] == own_hmac(
            secret, got.headers["webhook-id"], got.headers["webhook-timestamp"], got.body
        )
        assert got.headers["content-type"] == "application/json"
        assert got.headers["host"] == receiver.host
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(endpoints.signing.new_secret()).verify(first.body, first.headers)

    (row,) = rows(engine)
    assert (row.status, row.attempts, row.last_status) == ("succeeded", 2, 200)
    assert row.response_body.startswith("<b>answer 200</b>") and len(row.response_body) == 1024
    assert row.response_ms is not None and row.error == ""

    # The same event again (a replayed stream entry) sends nothing.
    again = outbox.send(
        engine, conn, "job.failed", {"job_id": "j1"}, queue="default", key="j1:1:failed", settings=hook_env
    )
    assert again == ids
    deliver(conn)
    assert len(receiver.received) == 2


def test_after_the_last_attempt_the_delivery_is_failed(lite, conn, hook_env, receiver):
    engine = lite
    receiver.statuses = [503]
    endpoint, _ = endpoints.create(engine, conn, url=receiver.url, events=["job.finished"])
    outbox.send(engine, conn, "job.finished", {"job_id": "j"}, settings=hook_env)
    deliver(conn)
    assert len(receiver.received) == 3
    (row,) = rows(engine)
    assert (row.status, row.attempts, row.last_status) == ("failed", 3, 503)
    assert "gave up after 3 attempts" in row.error and row.next_attempt_at is None


def test_the_backoff_schedules_the_next_attempt_through_rq(lite, conn, hook_env, receiver, monkeypatch):
    engine = lite
    from rq import Queue

    monkeypatch.setenv("WEBHOOK_RETRY_BASE", "30")
    receiver.statuses = [500]
    endpoints.create(engine, conn, url=receiver.url, events=["job.finished"])
    (delivery_id,) = outbox.send(engine, conn, "job.finished", {}, settings=hook_env)
    deliver(conn)
    assert len(receiver.received) == 1
    (row,) = rows(engine)
    assert row.status == "retrying" and row.attempts == 1 and "answered 500" in row.error
    scheduled = Queue("webhooks", connection=conn).scheduled_job_registry.get_job_ids()
    assert scheduled == [f"webhook-delivery-{delivery_id}-2"]
    assert timedelta(seconds=25) < row.next_attempt_at - row.updated_at <= timedelta(seconds=30)


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(lite, conn, hook_env, receiver):
    engine = lite
    receiver.statuses = [302]
    receiver.location = f"http://127.0.0.1:{receiver.port}/followed"
    endpoints.create(engine, conn, url=receiver.url, events=["job.stopped"])
    outbox.send(engine, conn, "job.stopped", {}, settings=hook_env)
    deliver(conn)
    assert [r.path for r in receiver.received] == ["/hook?token=abc"] * 3, "never /followed"
    (row,) = rows(engine)
    assert row.status == "failed" and row.last_status == 302 and "redirect: not followed" in row.error


REFUSED = {
    "http://127.0.0.1:{port}/x": "127.0.0.1, a loopback address",
    "http://localhost:{port}/x": "localhost resolves to",
    "http://[::1]:{port}/x": "::1, a loopback address",
    "http://10.1.2.3/x": "10.1.2.3, a private address",
    "http://169.254.169.254/latest/meta-data": "a cloud metadata address",
}


def test_private_destinations_are_refused_at_send_time(lite, conn, hook_env, receiver, monkeypatch):
    engine = lite
    monkeypatch.setenv("WEBHOOK_ALLOWED_HOSTS", "")  # the receiver is no longer allowed
    for url in REFUSED:
        endpoints.create(engine, conn, url=url.format(port=receiver.port), events=["job.finished"])
    assert len(outbox.send(engine, conn, "job.finished", {}, settings=hook_env)) == len(REFUSED)
    deliver(conn)
    assert receiver.received == [], "no request reached the receiver"
    for row, reason in zip(rows(engine), REFUSED.values(), strict=True):
        assert row.status == "failed" and row.attempts == 1 and row.last_status is None
        assert row.error.startswith("destination refused: ") and reason in row.error
        assert "WEBHOOK_ALLOWED_HOSTS" in row.error


def test_rotation_signs_with_both_secrets_during_the_overlap(lite, conn, hook_env, receiver):
    engine = lite
    endpoint, old = endpoints.create(engine, conn, url=receiver.url, events=["job.finished"])
    new = endpoints.rotate(engine, conn, endpoint.id, timedelta(hours=24))
    assert new and new != old
    outbox.send(engine, conn, "job.finished", {"n": 1}, settings=hook_env)
    deliver(conn)
    got = receiver.received[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(got.body, got.headers)["data"] == {"n": 1}

    # Overlap over: only the new secret signs.
    endpoints.rotate(engine, conn, endpoint.id, timedelta(0))
    current = endpoints.signing_secrets(engine.connect(), endpoint.id, endpoints.utcnow())
    assert current is not None and len(current) == 1


def test_410_gone_fails_the_delivery_and_disables_the_endpoint(lite, conn, hook_env, receiver):
    engine = lite
    receiver.statuses = [410]
    endpoint, _ = endpoints.create(engine, conn, url=receiver.url, events=["job.finished"])
    outbox.send(engine, conn, "job.finished", {}, settings=hook_env)
    deliver(conn)
    assert len(receiver.received) == 1
    (row,) = rows(engine)
    assert row.status == "failed" and "410" in row.error
    after = endpoints.get_endpoint(engine, endpoint.id)
    assert after is not None and not after.enabled and "410 Gone" in after.disabled_reason
    assert outbox.send(engine, conn, "job.finished", {}, settings=hook_env) == [], "a disabled endpoint gets nothing"


def test_redeliver_sends_the_same_message_again(both, conn, hook_env, receiver):
    engine = both
    receiver.statuses = [200]
    endpoints.create(engine, conn, url=receiver.url, events=["job.finished"])
    (first,) = outbox.send(engine, conn, "job.finished", {"x": 1}, settings=hook_env)
    deliver(conn)
    second = log.redeliver(engine, conn, hook_env, first)
    deliver(conn)
    assert second and second != first
    a, b = receiver.received
    assert a.body == b.body and a.headers["webhook-id"] == b.headers["webhook-id"]
    assert [r.status for r in rows(engine)] == ["succeeded", "succeeded"]
    assert log.get_delivery(engine, second).redelivery_of == first
    assert log.redeliver(engine, conn, hook_env, 999_999) is None


def test_a_job_run_twice_sends_once(both, conn, hook_env, receiver):
    engine = both
    from dashboard.webhooks import jobs

    endpoints.create(engine, conn, url=receiver.url, events=["job.finished"])
    (delivery_id,) = outbox.send(engine, conn, "job.finished", {}, settings=hook_env)
    conn.delete(f"rq:job:{jobs.job_id(delivery_id, 1)}")  # as if the enqueue never happened...
    jobs.enqueue(conn, hook_env, delivery_id, 1)  # ...and twice
    jobs.enqueue(conn, hook_env, delivery_id, 1)
    deliver(conn)
    assert len(receiver.received) == 1


def test_filters_choose_the_endpoints(both, conn, hook_env):
    engine = both
    a, _ = endpoints.create(engine, conn, url="https://a.example/h", events=["job.failed"], queues=["default"])
    b, _ = endpoints.create(engine, conn, url="https://b.example/h", events=["job.failed"], functions=["reports.*"])
    c, _ = endpoints.create(engine, conn, url="https://c.example/h", events=["alert.firing"])

    def chosen(type_, **kw):
        return {e.id for e in outbox.targets(engine, conn, type_, **kw)}

    assert chosen("job.failed", queue="default", function="x.y") == {a.id}
    assert chosen("job.failed", queue="low", function="reports.daily") == {b.id}
    assert chosen("job.failed", queue="default", function="reports.daily") == {a.id, b.id}
    assert chosen("job.finished", queue="default") == set()
    assert chosen("alert.firing", endpoint_ids=[a.id, c.id]) == {a.id, c.id}, "explicit ids, whatever they subscribe"
    endpoints.update(engine, conn, c.id, enabled=False)
    assert chosen("alert.firing", endpoint_ids=[a.id, c.id]) == {a.id}
    with pytest.raises(ValueError, match="unknown webhook event type"):
        outbox.send(engine, conn, "job.exploded", {})
    body = json.loads(outbox.body("job.failed", {"k": "v"}))
    assert body["timestamp"].endswith("Z") and body["data"] == {"k": "v"}


def test_the_webhooks_package_loads_no_web_framework():
    """Workers and the history process import it: SQLAlchemy yes, Flask / Werkzeug / Jinja never."""
    import subprocess
    import sys

    from tests.helpers import PROJECT_ROOT
    from tests.test_flask_free_layer import WEB

    modules = sorted(p.stem for p in (PROJECT_ROOT / "dashboard" / "webhooks").glob("*.py") if p.stem != "__init__")
    probe = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module('dashboard.webhooks.' + m)\n"
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1].split(',')))))"
    )
    web = [m for m in WEB if m not in ("sqlalchemy", "alembic")]
    result = subprocess.run(
        [sys.executable, "-c", probe, ",".join(web)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert len(modules) >= 10 and result.stdout.strip() == ""
