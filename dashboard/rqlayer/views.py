"""Saved views and the built-in incident views.

A saved view is a console page with its filters, kept as its relative URL (a plain list per user in a
Redis hash, name -> URL): sharing one is sharing its link, and the page checks its own parameters
when it is opened, so nothing here has to understand them. The built-in views are pages of their
own: stuck jobs (started longer ago than their timeout), failures since midnight UTC, failures of the
last hour. Flask-free.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis

from dashboard.rqlayer import keys
from dashboard.rqlayer.decode import integer, text
from dashboard.rqlayer.errors import InvalidInput
from dashboard.rqlayer.jobs import count_state, ids_at, list_queue_names, read_rows
from dashboard.rqlayer.rows import JobRow

MAX_VIEWS = 50  # per user
MAX_URL = 2000
MAX_NAME = 80
DEFAULT_TIMEOUT = 180  # RQ's DEFAULT_JOB_TIMEOUT: a job saved without one runs under it
STUCK_SCAN = 2000  # running jobs read per queue at most (a started registry is as big as the workers)


@dataclass(frozen=True)
class SavedView:
    name: str
    url: str


def saved(connection: redis.Redis, user: str) -> list[SavedView]:
    """The user's saved views, by name. One HGETALL (at most MAX_VIEWS entries)."""
    raw = connection.hgetall(keys.saved_views(user))
    return sorted((SavedView(text(k), text(v)) for k, v in raw.items()), key=lambda v: v.name.lower())


def checked_url(url: str) -> str:
    """A console-relative URL (path and query), or InvalidInput: never another site or a scheme."""
    url = url.strip()
    if not url.startswith("/") or url.startswith("//") or "\\" in url or len(url) > MAX_URL:
        raise InvalidInput("url: a page of this console (a path starting with /).", fields={"url": "a console path"})
    if any(ord(c) < 32 for c in url):
        raise InvalidInput("url: no control characters.", fields={"url": "a console path"})
    return url


def save(connection: redis.Redis, user: str, name: str, url: str) -> SavedView:
    """Save (or replace) the view `name`. InvalidInput for an empty or long name, a URL that is not a
    console path, or past MAX_VIEWS. Two round trips."""
    name = " ".join(name.split())
    if not 1 <= len(name) <= MAX_NAME:
        raise InvalidInput(f"name: 1 to {MAX_NAME} characters.", fields={"name": f"1-{MAX_NAME} characters"})
    url = checked_url(url)
    key = keys.saved_views(user)
    if not connection.hexists(key, name) and connection.hlen(key) >= MAX_VIEWS:
        raise InvalidInput(f"At most {MAX_VIEWS} saved views: delete one first.", fields={"name": "too many views"})
    connection.hset(key, name, url)
    return SavedView(name, url)


def delete(connection: redis.Redis, user: str, name: str) -> bool:
    """Delete the view `name`; False when there was none. One HDEL."""
    return bool(connection.hdel(keys.saved_views(user), name))


@dataclass(frozen=True)
class StuckJob:
    queue: str
    row: JobRow
    timeout: int  # seconds
    overdue: float  # seconds past started_at + timeout


def _timeouts(connection: redis.Redis, ids: list[str]) -> list[int]:
    pipe = connection.pipeline(transaction=False)
    for job_id in ids:
        pipe.hget(keys.job(job_id), "timeout")
    replies = pipe.execute(raise_on_error=False)
    return [
        t if (t := integer(r) if not isinstance(r, Exception) else None) and t > 0 else DEFAULT_TIMEOUT for r in replies
    ]


def stuck(connection: redis.Redis, now: float | None = None, unsafe: bool = False) -> list[StuckJob]:
    """Running jobs that started longer ago than their timeout (a worker should have stopped them: it
    died, or hangs), most overdue first. Cost: per queue, one ZCARD, then three round trips per 500
    running jobs, at most STUCK_SCAN of them. Never writes."""
    now = time.time() if now is None else now
    found: list[StuckJob] = []
    for queue in list_queue_names(connection):
        total = min(count_state(connection, queue, "started"), STUCK_SCAN)
        for offset in range(0, total, 500):
            ids = ids_at(connection, queue, "started", offset, 500, "oldest")
            for row, timeout in zip(read_rows(connection, ids, unsafe), _timeouts(connection, ids), strict=True):
                if row.exists and row.started_at is not None:
                    overdue = now - row.started_at.timestamp() - timeout
                    if overdue > 0:
                        found.append(StuckJob(queue, row, timeout, overdue))
    return sorted(found, key=lambda s: -s.overdue)


def since_midnight(now: datetime | None = None) -> float:
    """00:00 UTC today, as epoch seconds (the "failed today" view)."""
    now = now or datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def hour_ago(now: datetime | None = None) -> float:
    return ((now or datetime.now(UTC)) - timedelta(hours=1)).timestamp()
