"""Webhook endpoints (/webhooks): the list with the create form, an endpoint's page (settings, enable / disable,
secret rotation with an overlap, test event, delete, the delivery log with redeliver).

Who sees what: operators see endpoints (URLs without their query string, where receivers put tokens) and
the delivery log, and may redeliver; admins (webhooks.manage) see full URLs and change endpoints. A secret is
shown once, in the answer that created it (creation or rotation), never again. Thin: everything is
dashboard/webhooks'; every change is audited (webhook.*).
"""

from __future__ import annotations

import time
from datetime import timedelta

from flask import Blueprint, abort, current_app, jsonify, make_response, redirect, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import ServiceUnavailable

from dashboard import audit
from dashboard.auth import can, current_principal, requires
from dashboard.errors import wants_json
from dashboard.extensions import db, get_console
from dashboard.permissions import WEBHOOKS_MANAGE, WEBHOOKS_REDELIVER, WEBHOOKS_VIEW
from dashboard.web.rendering import ERROR, SUCCESS, notify, wants_fragment
from dashboard.webhooks import endpoints, log, outbox, validate
from dashboard.webhooks.models import STATUSES

bp = Blueprint("webhooks", __name__)

FORM_FIELDS = ("url", "events", "queues", "functions", "description")
MAX_OVERLAP_HOURS = 168


def _redis():
    # Webhooks are the default instance's (README, connection profiles): its stream feeds the dispatcher and
    # its workers deliver, so a test event, a redelivery or an endpoint change made on /@other goes there too.
    return get_console(default=True).connection


def _settings():
    return current_app.config["CONSOLE"].webhooks


DATABASE_DOWN = "The console's database cannot be reached right now: webhooks cannot be shown or changed."


def database_down(error: SQLAlchemyError):
    """A 503 page (JSON for the API) instead of the generic 500 when SQL fails."""
    current_app.logger.warning("webhooks: database error: %s", error)
    db.session.rollback()
    if wants_json():
        return jsonify(error="database_unavailable", message=DATABASE_DOWN), 503
    return render_template("pages/error.html", error=ServiceUnavailable(description=DATABASE_DOWN)), 503


bp.register_error_handler(SQLAlchemyError, database_down)


def shown_url(endpoint: endpoints.Endpoint) -> str:
    return endpoint.url if can(WEBHOOKS_MANAGE) else endpoints.masked_url(endpoint.url)


def _endpoint(endpoint_id: int) -> endpoints.Endpoint:
    endpoint = endpoints.get_endpoint(db.engine, endpoint_id)
    if endpoint is None:
        abort(404, description="No such webhook endpoint: it may have been deleted.")
    return endpoint


def _form_values() -> dict:
    form = request.form
    return {
        "url": form.get("url", ""),
        "events": form.getlist("events"),
        "queues": form.get("queues", ""),
        "functions": form.get("functions", ""),
        "description": form.get("description", ""),
    }


def _as_form(endpoint: endpoints.Endpoint) -> dict:
    return {
        "url": endpoint.url,
        "events": list(endpoint.events),
        "queues": ", ".join(endpoint.queues),
        "functions": ", ".join(endpoint.functions),
        "description": endpoint.description,
    }


# ---------------------------------------------------------------- the list


def _index(status: int = 200, values: dict | None = None, errors: dict | None = None):
    found = endpoints.list_endpoints(db.engine)
    html = render_template(
        "pages/webhooks.html",
        endpoints=found,
        latest=log.latest_by_endpoint(db.engine, [e.id for e in found]),
        shown_url=shown_url,
        event_types=outbox.EVENT_TYPES,
        values=values or {"events": ["job.failed"]},
        errors=errors or {},
        queue_name=_settings().queue,
    )
    return make_response(html, status)


@bp.get("/webhooks")
@requires(WEBHOOKS_VIEW)
def index():
    return _index()


@bp.post("/webhooks")
@requires(WEBHOOKS_MANAGE)
def create():
    values = _form_values()
    try:
        clean = validate.clean(values, _settings().allowed_hosts)
    except validate.Invalid as invalid:
        return _index(422, values, invalid.fields)
    started = time.monotonic()
    endpoint, secret = endpoints.create(db.engine, _redis(), created_by=current_principal().audit_name, **clean)
    audit.action("webhook.create", target=f"webhook:{endpoint.id}", job_count=0, detail=endpoint.url, started=started)
    return _detail(endpoint, status=201, new_secret=secret)


# ---------------------------------------------------------------- one endpoint


def _detail(endpoint, status: int = 200, new_secret: str | None = None, values=None, errors=None):
    status_filter = request.args.get("status") or None
    if status_filter is not None and status_filter not in STATUSES:
        abort(400, description=f"status must be one of {', '.join(STATUSES)}")
    after = request.args.get("after") or None
    try:
        page = log.deliveries(db.engine, endpoint.id, after, status=status_filter)
    except ValueError as error:
        abort(400, description=str(error))
    context = dict(
        endpoint=endpoint,
        page=page,
        after=after,
        status_filter=status_filter,
        statuses=STATUSES,
        shown_url=shown_url,
        new_secret=new_secret,
        event_types=outbox.EVENT_TYPES,
        values=values or _as_form(endpoint),
        errors=errors or {},
        poll_seconds=current_app.config["CONSOLE"].poll_seconds,
    )
    if wants_fragment() and status == 200 and not new_secret:
        return render_template("partials/webhook_deliveries.html", **context)
    return make_response(render_template("pages/webhook.html", **context), status)


@bp.get("/webhooks/<int:endpoint_id>")
@requires(WEBHOOKS_VIEW)
def detail(endpoint_id: int):
    return _detail(_endpoint(endpoint_id))


@bp.post("/webhooks/<int:endpoint_id>")
@requires(WEBHOOKS_MANAGE)
def update(endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    values = _form_values()
    try:
        clean = validate.clean(values, _settings().allowed_hosts)
    except validate.Invalid as invalid:
        return _detail(endpoint, 422, values=values, errors=invalid.fields)
    started = time.monotonic()
    if not endpoints.update(db.engine, _redis(), endpoint.id, **clean):
        abort(404, description="No such webhook endpoint: it was deleted meanwhile.")
    audit.action("webhook.update", target=f"webhook:{endpoint.id}", job_count=0, detail=clean["url"], started=started)
    notify("Endpoint saved.", SUCCESS)
    return redirect(url_for("webhooks.detail", endpoint_id=endpoint.id), 303)


def _overlap() -> timedelta:
    raw = request.form.get("overlap_hours", "24").strip() or "24"
    try:
        hours = float(raw)
    except ValueError:
        hours = -1
    if not 0 <= hours <= MAX_OVERLAP_HOURS:
        abort(422, description=f"The overlap is a number of hours between 0 and {MAX_OVERLAP_HOURS}.")
    return timedelta(hours=hours)


@bp.post("/webhooks/<int:endpoint_id>/<any(delete, disable, enable, rotate, test):action>")
@requires(WEBHOOKS_MANAGE)
def act(endpoint_id: int, action: str):
    endpoint = _endpoint(endpoint_id)
    started = time.monotonic()
    target = f"webhook:{endpoint.id}"
    if action == "rotate":
        overlap = _overlap()
        secret = endpoints.rotate(db.engine, _redis(), endpoint.id, overlap)
        if secret is None:
            abort(404, description="No such webhook endpoint: it was deleted meanwhile.")
        detail = f"previous secret signs for {overlap.total_seconds() / 3600:g} h"
        audit.action("webhook.rotate", target=target, job_count=0, detail=detail, started=started)
        return _detail(_endpoint(endpoint.id), new_secret=secret)
    if action == "delete":
        endpoints.delete(db.engine, _redis(), endpoint.id)
        audit.action("webhook.delete", target=target, job_count=0, detail=endpoint.url, started=started)
        notify(f"Endpoint {endpoint.id} deleted, with its delivery log.", SUCCESS)
        return redirect(url_for("webhooks.index"), 303)
    if action == "test":
        if not endpoint.enabled:
            abort(409, description="The endpoint is disabled: enable it to send a test event.")
        data = {
            "endpoint_id": endpoint.id,
            "message": "A test event from the RQ Console.",
            "sent_by": current_principal().name,
        }
        ids = outbox.send(db.engine, _redis(), outbox.TEST_TYPE, data, endpoint_ids=[endpoint.id], settings=_settings())
        audit.action(
            "webhook.test", target=target, job_count=0, detail=f"delivery {ids[0] if ids else '-'}", started=started
        )
        notify("Test event queued: its delivery is at the top of the log.", SUCCESS if ids else ERROR)
    else:
        endpoints.update(db.engine, _redis(), endpoint.id, enabled=action == "enable")
        audit.action(f"webhook.{action}", target=target, job_count=0, detail=endpoint.url, started=started)
        notify(f"Endpoint {action}d.", SUCCESS)
    return redirect(url_for("webhooks.detail", endpoint_id=endpoint.id), 303)


def redeliver_audited(delivery_id: int) -> tuple[log.Delivery, int]:
    """Send a delivery's message again as a new delivery, audited: (the original, the new id); 404 when the
    delivery does not exist (pruned, or its endpoint deleted). The page and the API share it."""
    started = time.monotonic()
    original = log.get_delivery(db.engine, delivery_id)
    new_id = log.redeliver(db.engine, _redis(), _settings(), delivery_id) if original is not None else None
    if original is None or new_id is None:
        abort(404, description=f"No delivery {delivery_id}: it may have been pruned or its endpoint deleted.")
    audit.action(
        "webhook.redeliver",
        target=f"webhook:{original.endpoint_id}",
        job_count=0,
        detail=f"delivery {delivery_id} -> {new_id}",
        started=started,
    )
    return original, new_id


@bp.post("/webhooks/deliveries/<int:delivery_id>/redeliver")
@requires(WEBHOOKS_REDELIVER)
def redeliver(delivery_id: int):
    original, new_id = redeliver_audited(delivery_id)
    notify(f"Delivery {delivery_id} sent again as delivery {new_id}.", SUCCESS)
    return redirect(url_for("webhooks.detail", endpoint_id=original.endpoint_id), 303)
