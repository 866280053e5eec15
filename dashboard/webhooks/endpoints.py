"""Webhook endpoints: read models, create / update / rotate / delete, and the cached list outbox.send filters.
Flask-free: takes a SQLAlchemy Engine and the Redis client (for the change counter).

Every change sets keys.webhook_endpoints_version() to a new random value after its commit, so the cache
(`enabled`) costs one Redis GET per call and reads SQL only when an endpoint changed (or after CACHE_MAX_AGE,
in case someone edited the table by hand). Validation of what an operator types lives in validate.py; these
functions trust it.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

import sqlalchemy as sa
from redis import Redis

from dashboard.rqlayer import keys
from dashboard.webhooks import signing
from dashboard.webhooks.models import webhook_deliveries, webhook_endpoints

CACHE_MAX_AGE = 60.0  # seconds: the list is read again at least this often even without a change


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The primary key an INSERT just created."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the INSERT returned no primary key")
    return int(key[0])


def utcnow() -> datetime:
    """Now as the naive UTC datetime the tables store."""
    return datetime.now(UTC).replace(tzinfo=None)


def _list(raw: Any) -> tuple[str, ...]:
    """A JSON array of strings from the table; anything else (hand-edited, hostile) reads as empty."""
    try:
        value = json.loads(raw or "[]")
    except (ValueError, TypeError):
        return ()
    return tuple(str(v) for v in value if isinstance(v, str)) if isinstance(value, list) else ()


@dataclass(frozen=True)
class Endpoint:
    """One endpoint as pages and the outbox see it: never its secrets."""

    id: int
    url: str
    description: str
    events: tuple[str, ...]
    queues: tuple[str, ...]
    functions: tuple[str, ...]
    enabled: bool
    disabled_reason: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    previous_expires_at: datetime | None  # a rotation's overlap ends then (None: no previous secret)

    def matches(self, type_: str, queue: str | None, function: str | None) -> bool:
        """Subscribed to `type_`, and the event's queue and function pass the filters (empty = any;
        function filters may use shell-style wildcards, e.g. `reports.*`)."""
        if type_ not in self.events:
            return False
        if self.queues and queue not in self.queues:
            return False
        return not self.functions or any(fnmatchcase(function or "", pattern) for pattern in self.functions)

    def overlapping(self, now: datetime | None = None) -> bool:
        """The previous secret still signs."""
        return self.previous_expires_at is not None and self.previous_expires_at > (now or utcnow())


def masked_url(url: str) -> str:
    """The URL without its query string (where receivers often put a token): what non-admins see."""
    base, sep, _ = url.partition("?")
    return f"{base}?…" if sep else base


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        id=row.id,
        url=row.url,
        description=row.description or "",
        events=_list(row.events),
        queues=_list(row.queues),
        functions=_list(row.functions),
        enabled=bool(row.enabled),
        disabled_reason=row.disabled_reason or "",
        created_by=row.created_by or "",
        created_at=row.created_at,
        updated_at=row.updated_at,
        previous_expires_at=row.previous_expires_at if row.previous_secret else None,
    )


_PUBLIC = [c for c in webhook_endpoints.c if c.name not in ("secret",)]


def list_endpoints(engine: sa.Engine) -> list[Endpoint]:
    """Every endpoint, oldest first. One SELECT (endpoints are few: an operator registers each)."""
    with engine.connect() as sql:
        rows = sql.execute(sa.select(*_PUBLIC).order_by(webhook_endpoints.c.id)).all()
    return [_endpoint(r) for r in rows]


def get_endpoint(engine: sa.Engine, endpoint_id: int) -> Endpoint | None:
    with engine.connect() as sql:
        row = sql.execute(sa.select(*_PUBLIC).where(webhook_endpoints.c.id == endpoint_id)).first()
    return _endpoint(row) if row is not None else None


# ---------------------------------------------------------------- the cache outbox.send reads

_cache: weakref.WeakKeyDictionary[sa.Engine, tuple[bytes | None, float, tuple[Endpoint, ...]]] = (
    weakref.WeakKeyDictionary()
)
_cache_lock = threading.Lock()


def enabled(engine: sa.Engine, redis: Redis) -> tuple[Endpoint, ...]:
    """The enabled endpoints: one GET of the change counter, plus one SELECT when it moved or the copy is
    older than CACHE_MAX_AGE. Safe from several threads (the worst case is two identical SELECTs)."""
    version = redis.get(keys.webhook_endpoints_version())
    version = version if isinstance(version, bytes) else None
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(engine)
    if cached is not None and cached[0] == version and now - cached[1] < CACHE_MAX_AGE:
        return cached[2]
    with engine.connect() as sql:
        rows = sql.execute(
            sa.select(*_PUBLIC).where(webhook_endpoints.c.enabled.is_(True)).order_by(webhook_endpoints.c.id)
        ).all()
    found = tuple(_endpoint(r) for r in rows)
    with _cache_lock:
        _cache[engine] = (version, now, found)
    return found


def changed(redis: Redis) -> None:
    """Tell every process's cache that an endpoint changed (after the commit). A random value, not a counter:
    after a Redis flush or restart a counter would start again at 1 and match a stale copy."""
    redis.set(keys.webhook_endpoints_version(), secrets.token_hex(8))


# ---------------------------------------------------------------- writes


def create(
    engine: sa.Engine,
    redis: Redis,
    *,
    url: str,
    events: Sequence[str],
    queues: Sequence[str] = (),
    functions: Sequence[str] = (),
    description: str = "",
    created_by: str = "",
) -> tuple[Endpoint, str]:
    """Insert an endpoint (validated by the caller) with a new secret; returns it and the secret, which is
    shown once and never again."""
    secret = signing.new_secret()
    now = utcnow()
    with engine.begin() as sql:
        new_id = inserted_id(
            sql.execute(
                sa.insert(webhook_endpoints).values(
                    url=url,
                    description=description,
                    events=json.dumps(list(events)),
                    queues=json.dumps(list(queues)),
                    functions=json.dumps(list(functions)),
                    enabled=True,
                    secret=secret,
                    created_by=created_by[:72],
                    created_at=now,
                    updated_at=now,
                )
            )
        )
    changed(redis)
    endpoint = get_endpoint(engine, new_id)
    if endpoint is None:  # deleted between the commit and the read: as if never created
        raise LookupError(f"webhook endpoint {new_id} vanished")
    return endpoint, secret


def update(engine: sa.Engine, redis: Redis, endpoint_id: int, **values: Any) -> bool:
    """Change some of url, description, events, queues, functions, enabled (list values as sequences).
    False when the endpoint does not exist."""
    row: dict[str, Any] = {"updated_at": utcnow()}
    for name, value in values.items():
        if name in ("events", "queues", "functions"):
            row[name] = json.dumps(list(value))
        elif name in ("url", "description", "enabled"):
            row[name] = value
        else:
            raise TypeError(f"not an endpoint setting: {name}")
    if "enabled" in values:
        row["disabled_reason"] = ""
    with engine.begin() as sql:
        done = sql.execute(
            sa.update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id).values(**row)
        ).rowcount
    if done:
        changed(redis)
    return bool(done)


def disable_for(engine: sa.Engine, redis: Redis, endpoint_id: int, reason: str) -> None:
    """The console disables an endpoint itself (it answered 410 Gone), saying why."""
    with engine.begin() as sql:
        sql.execute(
            sa.update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(enabled=False, disabled_reason=reason[:500], updated_at=utcnow())
        )
    changed(redis)


def rotate(engine: sa.Engine, redis: Redis, endpoint_id: int, overlap: timedelta) -> str | None:
    """A new current secret; the old one keeps signing (a second signature) for `overlap` (zero: it stops
    at once). Returns the new secret (shown once), None when the endpoint does not exist."""
    secret = signing.new_secret()
    t = webhook_endpoints
    now = utcnow()
    with engine.begin() as sql:
        done = sql.execute(
            sa.update(t)
            .where(t.c.id == endpoint_id)
            .values(previous_secret=t.c.secret, previous_expires_at=now + overlap, secret=secret, updated_at=now)
        ).rowcount
    if not done:
        return None
    changed(redis)
    return secret


def delete(engine: sa.Engine, redis: Redis, endpoint_id: int) -> bool:
    """Delete an endpoint and its delivery log (explicitly: SQLite does not enforce the cascade unless asked).
    A delivery job still queued for it finds no row and does nothing."""
    with engine.begin() as sql:
        sql.execute(sa.delete(webhook_deliveries).where(webhook_deliveries.c.endpoint_id == endpoint_id))
        done = sql.execute(sa.delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)).rowcount
    if done:
        changed(redis)
    return bool(done)


def signing_secrets(sql: sa.Connection, endpoint_id: int, now: datetime) -> list[str] | None:
    """The secrets a delivery is signed with now: the current one, then the previous one during its
    overlap. None when the endpoint is gone."""
    t = webhook_endpoints
    row = sql.execute(
        sa.select(t.c.secret, t.c.previous_secret, t.c.previous_expires_at).where(t.c.id == endpoint_id)
    ).first()
    if row is None:
        return None
    found = [row.secret]
    if row.previous_secret and row.previous_expires_at is not None and row.previous_expires_at > now:
        found.append(row.previous_secret)
    return found


def by_ids(endpoints: Iterable[Endpoint], ids: Iterable[int]) -> list[Endpoint]:
    wanted = {int(i) for i in ids}
    return [e for e in endpoints if e.id in wanted]
