"""The webhooks API under /api/v1/webhooks: bearer tokens only (CSRF-exempt, like api.bp), the permissions of
the pages (web/webhooks.py): list and read for operators (URLs without their query string unless admin),
create / delete for admins (the secret is in the 201 answer only), redeliver for operators."""

from __future__ import annotations

import time

from flask import Blueprint, abort, current_app, jsonify, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from dashboard import audit
from dashboard.auth import current_principal, requires
from dashboard.extensions import db, get_console
from dashboard.permissions import WEBHOOKS_MANAGE, WEBHOOKS_REDELIVER, WEBHOOKS_VIEW
from dashboard.web.params import json_object
from dashboard.web.webhooks import database_down, redeliver_audited, shown_url
from dashboard.webhooks import endpoints, log, validate
from dashboard.webhooks.models import STATUSES

api_bp = Blueprint("webhooks_api", __name__, url_prefix="/api/v1")
api_bp.register_error_handler(SQLAlchemyError, database_down)

BODY_FIELDS = {"url", "events", "queues", "functions", "description"}


def _time(value) -> str | None:
    return value.isoformat() + "+00:00" if value is not None else None


def endpoint_json(endpoint: endpoints.Endpoint) -> dict:
    return {
        "id": endpoint.id,
        "url": shown_url(endpoint),
        "description": endpoint.description,
        "events": list(endpoint.events),
        "queues": list(endpoint.queues),
        "functions": list(endpoint.functions),
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "created_by": endpoint.created_by,
        "created_at": _time(endpoint.created_at),
        "previous_secret_expires_at": _time(endpoint.previous_expires_at),
        "links": {"html": url_for("webhooks.detail", endpoint_id=endpoint.id)},
    }


def delivery_json(d: log.Delivery) -> dict:
    return {
        "id": d.id,
        "endpoint_id": d.endpoint_id,
        "webhook_id": d.msg_id,
        "type": d.type,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": _time(d.next_attempt_at),
        "response_status": d.last_status,
        "response_ms": d.response_ms,
        "response_body": d.response_body,
        "error": d.error,
        "redelivery_of": d.redelivery_of,
        "created_at": _time(d.created_at),
        "updated_at": _time(d.updated_at),
    }


def _found(endpoint_id: int) -> endpoints.Endpoint:
    endpoint = endpoints.get_endpoint(db.engine, endpoint_id)
    if endpoint is None:
        abort(404, description=f"No webhook endpoint {endpoint_id}.")
    return endpoint


@api_bp.get("/webhooks")
@requires(WEBHOOKS_VIEW)
def list_all():
    return jsonify(webhooks=[endpoint_json(e) for e in endpoints.list_endpoints(db.engine)])


@api_bp.post("/webhooks")
@requires(WEBHOOKS_MANAGE)
def create():
    """{"url", "events": [...], "queues"?: [...], "functions"?: [...], "description"?} -> 201 {id, secret, ...}."""
    body = json_object('{"url": "https://…", "events": ["job.failed"]}')
    unknown = sorted(set(body) - BODY_FIELDS)
    if unknown:
        raise validate.Invalid({name[:40]: "unknown field" for name in unknown[:20]})
    clean = validate.clean(body, current_app.config["CONSOLE"].webhooks.allowed_hosts)
    started = time.monotonic()
    redis = get_console(default=True).connection  # webhooks are the default instance's
    endpoint, secret = endpoints.create(db.engine, redis, created_by=current_principal().audit_name, **clean)
    audit.action("webhook.create", target=f"webhook:{endpoint.id}", job_count=0, detail=endpoint.url, started=started)
    response = jsonify(dict(endpoint_json(endpoint), secret=secret))
    response.status_code = 201
    response.headers["Location"] = url_for("webhooks_api.read", endpoint_id=endpoint.id)
    return response


@api_bp.get("/webhooks/<int:endpoint_id>")
@requires(WEBHOOKS_VIEW)
def read(endpoint_id: int):
    return jsonify(endpoint_json(_found(endpoint_id)))


@api_bp.delete("/webhooks/<int:endpoint_id>")
@requires(WEBHOOKS_MANAGE)
def delete(endpoint_id: int):
    endpoint = _found(endpoint_id)
    started = time.monotonic()
    endpoints.delete(db.engine, get_console(default=True).connection, endpoint.id)
    audit.action("webhook.delete", target=f"webhook:{endpoint.id}", job_count=0, detail=endpoint.url, started=started)
    return "", 204


@api_bp.get("/webhooks/<int:endpoint_id>/deliveries")
@requires(WEBHOOKS_VIEW)
def deliveries(endpoint_id: int):
    """Newest first, keyset pages: ?after=<next>&status=&limit= (1-200, default 50)."""
    endpoint = _found(endpoint_id)
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        abort(400, description=f"status must be one of {', '.join(STATUSES)}")
    limit = request.args.get("limit", type=int, default=log.PAGE)
    try:
        page = log.deliveries(db.engine, endpoint.id, request.args.get("after") or None, limit, status)
    except ValueError as error:
        abort(400, description=str(error))
    return jsonify(deliveries=[delivery_json(d) for d in page.rows], next=page.next_cursor)


@api_bp.post("/webhooks/deliveries/<int:delivery_id>/redeliver")
@requires(WEBHOOKS_REDELIVER)
def redeliver(delivery_id: int):
    _, new_id = redeliver_audited(delivery_id)
    return jsonify(id=new_id, redelivery_of=delivery_id), 202
