"""Publish an incoming event: validate its payload against every subscribed task, record it, enqueue them.

    published = publish(engine, redis, "order.created", {"order_id": "A-1", ...}, actor="alice", source="api")
    published.event_id, [(j.job_id, j.task, j.queue) for j in published.jobs]

What it guarantees
- All or nothing on input: the payload's keys are each subscriber's keyword arguments; an unknown key or a
  missing / mistyped parameter for ANY subscriber is one InvalidInput (422) naming field and task, and then
  nothing is written anywhere. No subscriber at all is a 422 too ("no task subscribes to X") unless
  `allow_empty` (the event is then recorded with zero jobs): a typo in a name must not vanish silently.
- Jobs go through the console's one enqueue front door (rqlayer/enqueue.py: the task's own queue, timeout,
  retries and TTLs), each with an id chosen up front and written to SQL before Redis is touched. If Redis
  fails part-way the event stays `incomplete` (the page says so) and publishing it again with the same
  idempotency key enqueues exactly the jobs still missing: a job id that already exists is never enqueued
  twice.
- Idempotency: a key (the API's Idempotency-Key header or body `id`) names one event for KEY_HOURS; the same
  key with the same name and payload answers the first event's jobs again (`replayed`), with another
  payload it is a Conflict (409). Concurrent requests with one key are serialised by the unique index.
- After the jobs are enqueued: one `event_published` entry (and an `enqueued` entry per job) in the event
  stream, and one "event.published" webhook through the outbox (its key makes a retry send nothing twice).
  Neither can fail the publish: the jobs exist by then.

Cost: the checks are pure; then 2 short SQL transactions, 1 Redis round trip per subscriber (RQ's enqueue),
1 pipelined round trip for the stream entries. Flask-free.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import sqlalchemy as sa

from dashboard.inbound import store
from dashboard.inbound.subscriptions import subscribers_of
from dashboard.rqlayer import enqueue as enqueuing
from dashboard.rqlayer import feed, serializers
from dashboard.rqlayer.errors import Conflict, InvalidInput
from dashboard.rqlayer.params import check_depth, validate_call
from tasks.registry import EVENT_NAME_RULE, TaskSpec, valid_event_name

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 64 * 1024  # the payload as JSON text (UTF-8); more is PayloadTooLarge (413)
KEY_HOURS = 24
KEY_RE = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII without spaces, like a header value
KEY_RULE = "printable ASCII without spaces, 1 to 200 characters"
# A pending event younger than this is taken to be enqueueing in another request right now; older, its
# request died and a retry with the key resumes it.
PENDING_GRACE = timedelta(seconds=60)

WEBHOOK_TYPE = "event.published"
SOURCES = ("api", "console")


class PayloadTooLarge(InvalidInput):
    """The payload is over MAX_PAYLOAD_BYTES (the API answers 413)."""


@dataclass(frozen=True)
class Published:
    event_id: int
    name: str
    jobs: tuple[store.PlannedJob, ...]
    received_at: datetime
    replayed: bool = False  # an earlier event with the same idempotency key


def check_name(name: object) -> str:
    if not isinstance(name, str) or not valid_event_name(name):
        raise InvalidInput(f"The event name must be {EVENT_NAME_RULE}.", fields={"name": EVENT_NAME_RULE})
    return name


def encode_payload(payload: object) -> tuple[dict[str, Any], str]:
    """The payload and its JSON text as kept in SQL; InvalidInput unless it is an object nested at most
    params.MAX_JSON_DEPTH deep, PayloadTooLarge over MAX_PAYLOAD_BYTES."""
    if not isinstance(payload, dict):
        raise InvalidInput("The payload must be a JSON object.", fields={"payload": "expected a JSON object"})
    try:
        check_depth(payload)
    except ValueError as error:
        raise InvalidInput(f"The payload is {error}.", fields={"payload": str(error)}) from None
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    size = len(text.encode())
    if size > MAX_PAYLOAD_BYTES:
        message = f"at most {MAX_PAYLOAD_BYTES // 1024} KiB of JSON, got {size:,} bytes"
        raise PayloadTooLarge(f"The payload is too large: {message}.", fields={"payload": message})
    return payload, text


def check_payload(
    payload: dict[str, Any], subscribers: list[TaskSpec], serializer: str = serializers.PICKLE
) -> list[dict[str, Any]]:
    """Each subscriber's keyword arguments from the payload, or one InvalidInput for every problem of
    every subscriber (a typed value JSON cannot hold, on a JSON instance, too): fields
    {"payload.<key>": "<message> (<tasks>)"}. Pure."""
    problems: dict[tuple[str, str], list[str]] = {}
    calls = []
    for spec in subscribers:
        kwargs, errors = validate_call(spec, payload)
        try:
            serializers.check(serializer, {} if errors else kwargs)
        except InvalidInput as unfit:
            errors = unfit.fields
        for field, message in errors.items():
            if message.endswith(f"has no parameter {field!r}"):
                message = "not a parameter of this task"  # one wording for every task that lacks it
            problems.setdefault((field, message), []).append(spec.name)
        calls.append(kwargs)
    if problems:
        fields: dict[str, str] = {}
        for (field, message), names in problems.items():
            text = f"{message} ({', '.join(names)})"
            fields[f"payload.{field}"] = (
                f"{fields[f'payload.{field}']}; {text}" if f"payload.{field}" in fields else text
            )
        first = next(iter(fields.items()))
        more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
        raise InvalidInput(f"Nothing was enqueued: {first[0]}: {first[1]}{more}.", fields=fields)
    return calls


def digest_of(name: str, payload: dict[str, Any]) -> str:
    """What tells the same event from another under one idempotency key (key order does not matter)."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{name}\n{canonical}".encode()).hexdigest()


def check_key(key: object) -> str | None:
    if key is None or key == "":
        return None
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise InvalidInput(f"The idempotency key must be {KEY_RULE}.", fields={"id": KEY_RULE})
    return key


def publish(
    engine: sa.Engine,
    connection: redis.Redis,
    name: object,
    payload: object,
    *,
    actor: str,
    source: str,
    key: object = None,
    allow_empty: bool = False,
    now: datetime | None = None,
    serializer: str = serializers.PICKLE,
) -> Published:
    """Validate, record and enqueue one event (see the module docstring for the guarantees). Raises
    InvalidInput (422), PayloadTooLarge (413), Conflict (409: a key reused with another event, or its
    first request still enqueueing) and Redis' own errors (503) after marking the event incomplete.
    Jobs are written with `serializer`, the instance's (console.capabilities.serializer)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    name = check_name(name)
    payload, text = encode_payload(payload)
    subscribers = subscribers_of(name)
    if not subscribers and not allow_empty:
        raise InvalidInput(f"No task subscribes to {name!r}: nothing was enqueued.", fields={"name": "no subscriber"})
    calls = check_payload(payload, subscribers, serializer)
    key = check_key(key)
    digest = digest_of(name, payload)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    if key is not None:
        with engine.begin() as conn:
            store.release_stale_key(conn, key, now, KEY_HOURS)
            existing = store.by_key(conn, key)
        if existing is not None:
            return _again(engine, connection, existing, digest, now, serializer)
    planned = [store.PlannedJob(i, uuid.uuid4().hex, spec.name, spec.queue) for i, spec in enumerate(subscribers)]
    try:
        with engine.begin() as conn:
            event_id = store.insert_event(
                conn, name=name, payload=text, digest=digest, actor=actor, source=source, key=key,
                received_at=now, planned=planned,
            )  # fmt: skip
    except sa.exc.IntegrityError:
        # Another request inserted this key between our read and our write: answer as its retry.
        with engine.begin() as conn:
            existing = store.by_key(conn, key) if key else None
        if existing is None:
            raise
        return _again(engine, connection, existing, digest, now, serializer)
    specs = {spec.name: (spec, kwargs) for spec, kwargs in zip(subscribers, calls, strict=True)}
    return _complete(engine, connection, event_id, name, tuple(planned), specs, now, actor, source, serializer)


def _again(
    engine: sa.Engine,
    connection: redis.Redis,
    event: store.EventRecord,
    digest: str,
    now: datetime,
    serializer: str = serializers.PICKLE,
) -> Published:
    """A request with the key of `event`: its answer again, or the rest of its jobs when it is unfinished."""
    if event.digest != digest:
        raise Conflict(
            f"The idempotency key was used for another event (#{event.id}, {event.name}) with a different "
            "payload in the last 24 hours: nothing was enqueued.",
            fields={"id": "already used for another event"},
        )
    if event.status == "published":
        return Published(event.id, event.name, event.jobs, event.received_at, replayed=True)
    if event.status == "pending" and now - event.received_at < PENDING_GRACE:
        raise Conflict(f"Event #{event.id} is being published by another request: try again in a minute.")
    # Unfinished (Redis failed, or the request died): enqueue what is missing, with the same job ids.
    payload = json.loads(event.payload)
    specs: dict[str, tuple[TaskSpec, dict[str, Any]]] = {}
    for spec in subscribers_of(event.name):
        kwargs, errors = validate_call(spec, payload)
        if not errors:
            specs[spec.name] = (spec, kwargs)
    jobs = tuple(j for j in event.jobs if j.task in specs)
    published = _complete(
        engine, connection, event.id, event.name, jobs, specs, event.received_at, event.actor, event.source, serializer
    )
    return replace(published, replayed=True)


def _complete(
    engine: sa.Engine,
    connection: redis.Redis,
    event_id: int,
    name: str,
    jobs: tuple[store.PlannedJob, ...],
    specs: dict[str, tuple[TaskSpec, dict[str, Any]]],
    received_at: datetime,
    actor: str,
    source: str,
    serializer: str = serializers.PICKLE,
) -> Published:
    """Enqueue the planned jobs (an id that exists already is left alone), mark the event published, tell
    the stream and the webhooks. On a Redis error the event is marked incomplete and the error raised."""
    try:
        for job in jobs:
            spec, kwargs = specs[job.task]
            # The task's defaults, no I/O.
            options, errors = enqueuing.validate_options(connection, spec, {}, serializer=serializer)
            if errors:
                raise InvalidInput(f"{spec.name} cannot be enqueued: {errors}")
            # ValueError: the id exists, so an earlier attempt of this same event enqueued it.
            with contextlib.suppress(ValueError):
                enqueuing.enqueue(connection, spec, kwargs, replace(options, job_id=job.job_id))
    except (redis.RedisError, OSError, InvalidInput):
        with engine.begin() as conn:
            store.set_status(conn, event_id, "incomplete")
        raise
    try:
        with engine.begin() as conn:
            store.set_status(conn, event_id, "published")
    except sa.exc.SQLAlchemyError:
        # The jobs exist: answer with them. The event stays pending; a retry with its key after
        # PENDING_GRACE finds every id enqueued and only marks it published.
        log.warning("event %s: jobs enqueued, but its status could not be saved", event_id, exc_info=True)
    published = Published(event_id, name, jobs, received_at)
    _announce(engine, connection, published, actor, source)
    return published


def _announce(engine: sa.Engine, connection: redis.Redis, published: Published, actor: str, source: str) -> None:
    """The stream entries and the webhook; logged, never raised (the jobs are enqueued already)."""
    extra = {"event": published.event_id, "name": published.name, "count": len(published.jobs), "source": source}
    items: list[tuple[str, dict[str, Any]]] = [(feed.EVENT_PUBLISHED, {"extra": extra})]
    items += [(feed.ENQUEUED, {"job_id": j.job_id, "queue": j.queue, "function": j.task}) for j in published.jobs]
    feed.record_many(connection, items, actor)
    data = {
        "event_id": published.event_id,
        "name": published.name,
        "source": source,
        "actor": actor,
        "received_at": published.received_at.replace(tzinfo=UTC).isoformat(),
        "jobs": [{"id": j.job_id, "task": j.task, "queue": j.queue} for j in published.jobs],
    }
    try:
        from dashboard.webhooks import outbox
    except ImportError:  # the webhooks part is not installed: there is nobody to tell
        log.info("no webhooks outbox: event.published for event %s not sent", published.event_id)
        return
    try:
        outbox.send(engine, connection, WEBHOOK_TYPE, data, key=f"event:{published.event_id}")
    except Exception:  # a webhook must never undo or fail a publish whose jobs already exist
        log.warning("could not queue the event.published webhook of event %s", published.event_id, exc_info=True)
