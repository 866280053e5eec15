"""The worker page's history section: the jobs a worker ran recently and its throughput over the last hour,
from SQL (dashboard/history/worker_history.py), for a running worker and for one that is gone."""

from __future__ import annotations

from flask import current_app, url_for

from dashboard.extensions import db
from dashboard.history import worker_history
from dashboard.rqlayer.vocabulary import lookup_queue_name

CHART_HEIGHT = 40
BAR_WIDTH, BAR_GAP = 4, 1


def worker_history_context(name: str) -> dict | None:
    """What partials/worker_history.html shows, or None for a name no worker can have. Cost: two indexed
    queries (worker_history's docstring); exception types only, never messages (viewer privacy)."""
    if not lookup_queue_name(name):
        return None
    conn = db.session.connection()
    recent = worker_history.recent_jobs(conn, name)
    throughput = worker_history.throughput(conn, name)
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
