"""The JSON API under /api/v1/: bearer tokens only (no cookies, hence no CSRF), same permissions."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from flask import Blueprint, jsonify

from dashboard.auth import requires
from dashboard.extensions import get_redis
from dashboard.permissions import VIEW
from dashboard.rqlayer.overview import read_overview

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def to_json(value):
    """Read models (dataclasses) as JSON-ready data; datetimes as ISO 8601 UTC."""
    if dataclasses.is_dataclass(value):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@bp.get("/queues")
@requires(VIEW)
def queues():
    overview = read_overview(get_redis())
    items = [dict(to_json(q), total=q.total, unattended=q.unattended) for q in overview.queues]
    return jsonify(queues=items, totals=overview.totals, rate_limits=to_json(overview.rate_limits),
                   suspended=overview.suspended, read_at=overview.read_at.isoformat())


@bp.get("/workers")
@requires(VIEW)
def workers():
    overview = read_overview(get_redis())
    return jsonify(workers=to_json(overview.workers), read_at=overview.read_at.isoformat())
