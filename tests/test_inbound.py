"""dashboard/inbound (Flask-free) on SQLite and PostgreSQL with a real Redis: an event fans out to every
subscriber through the enqueue front door, all or nothing; idempotency keys; a Redis failure part-way
leaves an incomplete event that a retry finishes without enqueueing anything twice; @task(on=...)."""

from __future__ import annotations

import json

import pytest
import redis
import sqlalchemy as sa

from dashboard.inbound import publish as publishing
from dashboard.inbound import store
from dashboard.inbound.models import incoming_event_jobs, incoming_events
from dashboard.rqlayer import keys
from dashboard.rqlayer.errors import Conflict, InvalidInput
from dashboard.rqlayer.telemetry.events import read_events
from tasks import registry
from tasks.registry import task

ORDER = {"order_id": "A-1", "customer": "ann@example.com", "total": 12.5}
SUBSCRIBERS = ("tasks.orders.record_order", "tasks.orders.send_order_confirmation")


def publish(engine, conn, name="order.created", payload=None, **kwargs):
    kwargs.setdefault("actor", "alice")
    kwargs.setdefault("source", "api")
    return publishing.publish(engine, conn, name, dict(ORDER) if payload is None else payload, **kwargs)


def counts(engine) -> tuple[int, int]:
    with engine.connect() as c:
        return (
            c.execute(sa.select(sa.func.count()).select_from(incoming_events)).scalar_one(),
            c.execute(sa.select(sa.func.count()).select_from(incoming_event_jobs)).scalar_one(),
        )


def job_keys(conn) -> list[bytes]:
    return [k for k in conn.keys(keys.job("*")) if k.count(b":") == 2]


def test_an_event_enqueues_every_subscriber_with_the_payload(engine, conn):
    published = publish(engine, conn)

    assert tuple(j.task for j in published.jobs) == SUBSCRIBERS and not published.replayed
    by_task = {j.task: j for j in published.jobs}
    assert by_task["tasks.orders.send_order_confirmation"].queue == "high"  # the task's own queue
    assert by_task["tasks.orders.record_order"].queue == "default"
    for job in published.jobs:
        assert conn.lpos(keys.queue(job.queue), job.job_id) is not None
        assert conn.hget(keys.job(job.job_id), "status") == b"queued"
    with engine.connect() as c:
        event = store.get(c, published.event_id)
    assert (event.name, event.status, event.source, event.actor, event.job_count) == (
        "order.created",
        "published",
        "api",
        "alice",
        2,
    )
    assert json.loads(event.payload) == ORDER and event.jobs == published.jobs

    stream = read_events(conn, count=1000).events
    (summary,) = [e for e in stream if e.type == "event_published"]
    assert summary.extra["event"] == str(published.event_id) and summary.extra["count"] == "2"
    assert summary.extra["name"] == "order.created" and summary.extra["actor"] == "alice"
    assert {e.job_id for e in stream if e.type == "enqueued"} == {j.job_id for j in published.jobs}


REFUSED = [
    ({**ORDER, "total": "lots"}, "payload.total", "expected a number"),
    ({"order_id": "A-1", "customer": "ann@example.com"}, "payload.total", "required"),
    ({**ORDER, "coupon": "X"}, "payload.coupon", "not a parameter"),
    ({**ORDER, "currency": "JPY"}, "payload.currency", "choose one of"),
]


def test_a_payload_one_subscriber_refuses_enqueues_nothing(engine, conn):
    for payload, field, words in REFUSED:
        with pytest.raises(InvalidInput) as refused:
            publish(engine, conn, payload=payload)

        assert words in refused.value.fields[field]
        assert all(name in refused.value.fields[field] for name in SUBSCRIBERS)  # names each task
        assert field.removeprefix("payload.") in refused.value.message
    assert counts(engine) == (0, 0) and job_keys(conn) == [] and conn.exists(keys.events()) == 0


def test_names_payload_shapes_and_sizes_are_checked_first(engine, conn):
    with pytest.raises(InvalidInput, match="No task subscribes to 'order.shipped'"):
        publish(engine, conn, name="order.shipped")
    for bad in ("Order.Created", "order..created", "", "x" * 101, 7):
        with pytest.raises(InvalidInput) as refused:
            publish(engine, conn, name=bad)
        assert "name" in refused.value.fields
    with pytest.raises(InvalidInput, match="JSON object"):
        publish(engine, conn, payload=["A-1"])
    with pytest.raises(publishing.PayloadTooLarge, match="at most 64 KiB"):
        publish(engine, conn, payload={**ORDER, "customer": "x" * (64 * 1024)})
    assert counts(engine) == (0, 0) and job_keys(conn) == []

    empty = publish(engine, conn, name="order.shipped", allow_empty=True)  # recorded, zero jobs
    assert empty.jobs == () and counts(engine) == (1, 0)


def test_an_idempotency_key_enqueues_once_and_refuses_another_payload(engine, conn):
    first = publish(engine, conn, key="order-A-1")
    again = publish(engine, conn, key="order-A-1", payload=dict(reversed(list(ORDER.items()))))

    assert again.replayed and again.event_id == first.event_id and again.jobs == first.jobs
    assert counts(engine) == (1, 2) and len(job_keys(conn)) == 2
    with pytest.raises(Conflict, match="another event"):
        publish(engine, conn, key="order-A-1", payload={**ORDER, "total": 13})
    with pytest.raises(InvalidInput):
        publish(engine, conn, key="has space")

    # After 24 hours the key is free again: a new event.
    with engine.begin() as c:
        c.execute(incoming_events.update().values(received_at=first.received_at.replace(year=2000)))
    later = publish(engine, conn, key="order-A-1")
    assert not later.replayed and later.event_id != first.event_id and len(job_keys(conn)) == 4


def test_a_redis_failure_part_way_is_finished_by_a_retry_without_doubles(engine, conn, monkeypatch):
    real = publishing.enqueuing.enqueue
    calls = []

    def fail_second(connection, spec, kwargs, options, actor=None):
        calls.append(spec.name)
        if len(calls) == 2:
            raise redis.ConnectionError("Redis went away")
        return real(connection, spec, kwargs, options, actor)

    monkeypatch.setattr(publishing.enqueuing, "enqueue", fail_second)
    with pytest.raises(redis.ConnectionError):
        publish(engine, conn, key="k-1")
    with engine.connect() as c:
        (event,) = store.recent(c).events
    assert event.status == "incomplete" and len(job_keys(conn)) == 1

    monkeypatch.setattr(publishing.enqueuing, "enqueue", real)
    finished = publish(engine, conn, key="k-1")
    assert finished.replayed and finished.event_id == event.id
    assert sorted(k.decode().rsplit(":", 1)[1] for k in job_keys(conn)) == sorted(j.job_id for j in event.jobs)
    for job in event.jobs:
        assert conn.lrange(keys.queue(job.queue), 0, -1).count(job.job_id.encode()) == 1
    with engine.connect() as c:
        assert store.get(c, event.id).status == "published"


def test_recent_events_page_newest_first_by_cursor(engine, conn):
    ids = [publish(engine, conn, payload={**ORDER, "order_id": f"A-{i}"}).event_id for i in range(5)]
    with engine.connect() as c:
        first = store.recent(c, size=2)
        second = store.recent(c, after=first.next_cursor, size=2)
        last = store.recent(c, after=second.next_cursor, size=2)
    assert [e.id for e in first.events + second.events + last.events] == ids[::-1]
    assert last.next_cursor is None and all(len(e.jobs) == 2 for e in first.events)


def test_task_on_takes_dotted_lowercase_names(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    def handler(order_id: str) -> None: ...

    task(on=["order.created", "order.paid", "order.created"])(handler)
    spec = registry.get_task(f"{__name__}.test_task_on_takes_dotted_lowercase_names.<locals>.handler")
    assert spec.on == ("order.created", "order.paid")
    assert spec in registry.subscribers("order.paid") and "order.paid" in registry.event_names()
    for bad in ("Order.created", "order created", "x" * 101, 5):
        with pytest.raises(TypeError, match="on="):
            task(on=bad)(handler)


def test_a_published_event_queues_one_event_published_webhook(engine, conn):
    from dashboard.webhooks import endpoints
    from dashboard.webhooks.models import webhook_deliveries

    endpoint, _ = endpoints.create(engine, conn, url="https://hooks.example.com/in", events=["event.published"])
    first = publish(engine, conn, key="hook-1")
    publish(engine, conn, key="hook-1")  # a replay sends nothing twice

    with engine.connect() as c:
        rows = c.execute(sa.select(webhook_deliveries)).all()
    (delivery,) = rows
    assert (delivery.endpoint_id, delivery.type) == (endpoint.id, "event.published")
    data = json.loads(delivery.payload)["data"]
    assert data["event_id"] == first.event_id and data["name"] == "order.created"
    assert {j["id"] for j in data["jobs"]} == {j.job_id for j in first.jobs}
    assert "payload" not in data  # values stay in the console, as in the event stream
