"""The worker page's history section: the jobs a worker ran recently and its throughput over the last hour,
from SQL (dashboard/history/worker_history.py), for a running worker and for one that is gone."""

from __future__ import annotations

import threading
import time

from flask import current_app, url_for
from sqlalchemy.engine import Connection

from dashboard.extensions import db
from dashboard.history import worker_history
from dashboard.rqlayer.vocabulary import lookup_queue_name

CHART_HEIGHT = 40
BAR_WIDTH, BAR_GAP = 4, 1
# The hour's aggregate reads every outcome the worker ended in it (a 50 jobs/s worker: 180,000 rows,
# 0.1-0.3 s on PostgreSQL here), so a polled page reuses it for a few seconds, per console process.
THROUGHPUT_TTL_SECONDS = 15.0
THROUGHPUT_CACHE_SIZE = 256
_cache: dict[tuple[str, str], tuple[float, worker_history.Throughput]] = {}
_cache_lock = threading.Lock()


def _throughput(conn: Connection, name: str) -> worker_history.Throughput:
    key, now = (str(conn.engine.url), name), time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit and now - hit[0] < THROUGHPUT_TTL_SECONDS:
        return hit[1]
    value = worker_history.throughput(conn, name)
    with _cache_lock:
        if len(_cache) >= THROUGHPUT_CACHE_SIZE:
            _cache.clear()
        _cache[key] = (now, value)
    return value


def worker_history_context(name: str) -> dict | None:
    """What partials/worker_history.html shows, or None for a name no worker can have. Cost: two indexed
    queries (worker_history's docstring), the throughput one at most every THROUGHPUT_TTL_SECONDS per
    worker and process; exception types only, never messages (viewer privacy)."""
    if not lookup_queue_name(name):
        return None
    conn = db.session.connection()
    recent = worker_history.recent_jobs(conn, name)
    throughput = _throughput(conn, name)
    return {
        "recent": recent,
        "throughput": throughput,
        "bars": throughput.bars(CHART_HEIGHT, BAR_WIDTH, BAR_GAP),
        "chart_width": len(throughput.minutes) * (BAR_WIDTH + BAR_GAP),
        "chart_height": CHART_HEIGHT,
        "busy_minutes": [m for m in throughput.minutes if m.total],
        # The /history page (its own blueprint) takes ?worker=; no link while it is not there.
        "history_url": url_for("history.index", worker=name, window="30d")
        if "history.index" in current_app.view_functions
        else None,
    }
