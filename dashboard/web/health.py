"""A health check for load balancers and `make run`: Redis and the database, no login needed."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from dashboard.auth import current_principal
from dashboard.extensions import db, get_console

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    console = get_console()
    redis_ok = console.ping()
    try:
        db.session.execute(text("SELECT 1"))
        db_ok = True
    except Exception:  # any driver error means "not healthy"; the detail goes to the log
        current_app.logger.exception("database health check failed")
        db_ok = False
    healthy = redis_ok and db_ok
    body = {"status": "ok" if healthy else "not ok"}
    # Anyone may ask, so an anonymous caller learns nothing about the deployment (no URL, no host).
    if current_principal() is not None:
        body.update(
            {
                "redis": "ok" if redis_ok else "unreachable",
                "redis_url": console.redis_url,
                "database": "ok" if db_ok else "unreachable",
            }
        )
    return jsonify(body), 200 if healthy else 503
