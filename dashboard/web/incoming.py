"""Incoming events (dashboard/inbound): the /events/incoming page, its "publish a test event" form, and the
API (POST /api/v1/events beside the lifecycle stream's GET, GET /api/v1/incoming-events).

The API blueprint is bearer-only like api.bp (registered CSRF-exempt); the page's forms carry the CSRF token.
Publishing needs jobs.enqueue (it enqueues jobs), reading the console's view permission; payloads are job
values, shown only to roles that see them (visibility). Every publish is audited ("event.publish").
"""

from __future__ import annotations

import json

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask import make_response as flask_response

from dashboard import audit
from dashboard.auth import requires
from dashboard.extensions import db, get_console
from dashboard.history.queries import BadQuery
from dashboard.inbound import publish as publishing
from dashboard.inbound import store
from dashboard.inbound.outcomes import EventView, event_views
from dashboard.inbound.subscriptions import example_payload, subscriptions
from dashboard.permissions import JOBS_ENQUEUE, VIEW
from dashboard.rqlayer.errors import InvalidInput, LayerError
from dashboard.rqlayer.params import parse_json
from dashboard.web.params import json_object
from dashboard.web.rendering import SUCCESS, notify, page_or_partial, wants_fragment
from dashboard.web.visible import visibility

bp = Blueprint("incoming", __name__)
api_bp = Blueprint("incoming_api", __name__, url_prefix="/api/v1")

BODY_FIELDS = frozenset({"name", "payload", "id", "allow_empty"})
# The request body may hold a little more than the payload (name, key, JSON escapes): past this it is a 413
# before anything is parsed.
MAX_BODY_BYTES = 2 * publishing.MAX_PAYLOAD_BYTES + 4096


def _page_args() -> tuple[str, str | None, int]:
    name = request.args.get("name", "").strip()
    if name:
        publishing.check_name(name)  # InvalidInput: a 422 page naming the rule
    raw = request.args.get("limit", str(store.PAGE_SIZE)).strip()
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= store.MAX_PAGE_SIZE:
        abort(400, description=f"limit must be a whole number from 1 to {store.MAX_PAGE_SIZE}")
    return name, request.args.get("after") or None, int(raw)


def _read(name: str, after: str | None, size: int) -> tuple[list[EventView], str | None, bool]:
    """One page of events with their jobs' outcomes: one SELECT of events, one of their jobs, one pipelined
    Redis read of the job rows, at most one SELECT of the history for the jobs Redis let go."""
    conn = db.session.connection()
    try:
        page = store.recent(conn, after=after, size=size, name=name)
    except BadQuery as error:
        abort(400, description=str(error))
    rows = get_console().jobs.rows([j.job_id for e in page.events for j in e.jobs])
    ever = bool(page.events) or bool(after) or store.any_events(conn)
    return event_views(conn, page.events, rows), page.next_cursor, ever


def _form_context(name: str = "", payload: str | None = None, error: str = "", status_note: str = "") -> dict:
    subs = subscriptions()
    chosen = name or next(iter(subs), "")
    if payload is None:
        payload = example_payload(subs.get(chosen, []))
    return {"subs": subs, "form_name": chosen, "form_payload": payload, "form_error": error, "form_note": status_note}


def _render_page(status: int = 200, **form):
    name, after, size = _page_args()
    views, next_cursor, ever = _read(name, after, size)
    html = page_or_partial(
        "pages/incoming.html",
        "partials/incoming_body.html",
        views=views,
        next_cursor=next_cursor,
        ever=ever,
        name_filter=name,
        after=after,
        show_payloads=visibility().values,
        **(_form_context(**form) if not wants_fragment() else {}),
    )
    return flask_response(html, status)


@bp.get("/events/incoming")
@requires(VIEW)
def page():
    return _render_page()


def _payload_from_form() -> tuple[str, str, object]:
    name = request.form.get("name", "").strip()
    text = request.form.get("payload", "")
    if len(text.encode()) > publishing.MAX_PAYLOAD_BYTES:
        raise publishing.PayloadTooLarge(f"The payload is over {publishing.MAX_PAYLOAD_BYTES // 1024} KiB.")
    try:
        payload = parse_json(text) if text.strip() else {}
    except ValueError as error:
        raise InvalidInput(f"The payload is {error}.", fields={"payload": str(error)}) from None
    return name, text, payload


@bp.post("/events/incoming/check")
@requires(JOBS_ENQUEUE)
def check():
    """Inline validation of the form (no state change): the payload's error for the chosen name, or nothing."""
    try:
        name, _, payload = _payload_from_form()
        publishing.check_name(name)
        checked, _ = publishing.encode_payload(payload)
        subscribers = subscriptions().get(name, [])
        if not subscribers:
            raise InvalidInput(f"No task subscribes to {name!r}.")
        publishing.check_payload(checked, subscribers, get_console().capabilities.serializer)
        message = ""
    except LayerError as error:
        message = _explain(error)
    return render_template("partials/field_error.html", message=message)


def _explain(error: LayerError) -> str:
    """Every field's problem in one line (the form shows them all at once, not only the first)."""
    if len(error.fields) < 2:
        return error.message
    return "Nothing was enqueued: " + "; ".join(f"{name}: {text}" for name, text in error.fields.items())


@bp.post("/events/incoming/publish")
@requires(JOBS_ENQUEUE)
def publish_form():
    """The test-event form: publish, audit, then back to the page (303) or the form with its error (422)."""
    name, text = request.form.get("name", "").strip(), request.form.get("payload", "")
    auditor = audit.auditor()
    try:
        name, text, payload = _payload_from_form()
        published = publishing.publish(
            db.engine,
            get_console().connection,
            name,
            payload,
            actor=auditor.actor,
            source="console",
            serializer=get_console().capabilities.serializer,
        )
    except LayerError as error:
        return _render_page(422, name=name, payload=text, error=_explain(error))
    _audit(auditor, published, "console")
    notify(f"Event #{published.event_id} {published.name} published: {len(published.jobs)} job(s) enqueued.", SUCCESS)
    target = url_for("incoming.page")
    if request.htmx:
        response = flask_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, code=303)


def _audit(auditor, published: publishing.Published, source: str) -> None:
    auditor(
        "event.publish",
        target=published.name,
        job_count=len(published.jobs),
        outcome="replayed" if published.replayed else "ok",
        detail=f"event #{published.event_id} ({source})",
    )


# ---------------------------------------------------------------- API


def _job_json(job) -> dict:
    return {"id": job.job_id, "task": job.task, "queue": job.queue}


@api_bp.post("/events")
@requires(JOBS_ENQUEUE)
def api_publish():
    """{"name", "payload", "id"?, "allow_empty"?} (or an Idempotency-Key header) -> 201 with the jobs;
    a replay of a key -> 200 with the first event's jobs and "replayed": true."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return jsonify(error="payload_too_large", message=f"The body is over {MAX_BODY_BYTES:,} bytes."), 413
    body = json_object('{"name": "order.created", "payload": {...}}')
    unknown = sorted(set(body) - BODY_FIELDS)
    if unknown:
        fields = {name[:40]: "unknown field" for name in unknown[:20]}
        return jsonify(error="validation", message="Nothing was enqueued.", fields=fields), 422
    header_key, body_key = request.headers.get("Idempotency-Key"), body.get("id")
    if header_key is not None and body_key is not None and header_key != body_key:
        raise InvalidInput("Idempotency-Key and id differ: send one.", fields={"id": "differs from Idempotency-Key"})
    auditor = audit.auditor()
    try:
        published = publishing.publish(
            db.engine,
            get_console().connection,
            body.get("name"),
            body.get("payload", {}),
            actor=auditor.actor,
            source="api",
            key=body_key if body_key is not None else header_key,
            allow_empty=body.get("allow_empty") is True,
            serializer=get_console().capabilities.serializer,
        )
    except publishing.PayloadTooLarge as error:
        return jsonify(error="payload_too_large", message=error.message, fields=error.fields), 413
    _audit(auditor, published, "api")
    response = jsonify(
        event_id=published.event_id,
        name=published.name,
        jobs=[_job_json(j) for j in published.jobs],
        replayed=published.replayed,
        links={"html": url_for("incoming.page", name=published.name)},
    )
    response.status_code = 200 if published.replayed else 201
    if published.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@api_bp.get("/incoming-events")
@requires(VIEW)
def api_recent():
    """Recent events newest first (?name=, ?after=<next>, ?limit=), each job with its outcome."""
    name, after, size = _page_args()
    views, next_cursor, _ = _read(name, after, size)
    values = visibility().values
    return jsonify(events=[_event_json(v, values) for v in views], next=next_cursor)


def _event_json(view: EventView, values: bool) -> dict:
    e = view.event
    return {
        "event_id": e.id,
        "name": e.name,
        "payload": json.loads(e.payload) if values else None,
        "payload_bytes": e.payload_bytes,
        "actor": e.actor,
        "source": e.source,
        "status": e.status,
        "received_at": e.received_at.isoformat() + "+00:00",
        "jobs": [
            {
                **_job_json(j),
                "status": j.status,
                "live": j.live,
                "from_history": j.from_history,
                "exc_type": j.exc_type or None,
            }
            for j in view.jobs
        ],
    }
