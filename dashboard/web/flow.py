"""Pause, resume and rate-limit one queue: the queue page's flow panel (forms with CSRF) and the JSON API.

    POST   /queues/<q>/<action>              forms (pause, resume, rate-limit, clear-rate-limit)
    GET    /queues/<q>/flow                  the panel's live status (polled)
    POST   /api/v1/queues/<q>/pause          {"until": ISO 8601}? (a time without offset is UTC)
    POST   /api/v1/queues/<q>/resume
    PUT    /api/v1/queues/<q>/rate-limit     {"per_second": 10} or {"per_minute": 600}
    DELETE /api/v1/queues/<q>/rate-limit
    GET    /api/v1/queues/<q>/flow           the queue's state, rate, waiting jobs, honouring workers

Thin: the layer (rqlayer/flow/actions.py) checks the queue, writes, notifies the workers and appends the
event; here the request is parsed, the operator audited (queue.<action>) and the answer rendered.
Changes need the queues.flow permission (operators and admins); reads are for every role.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask import make_response as flask_response

from dashboard import audit
from dashboard.auth import requires
from dashboard.extensions import get_console
from dashboard.permissions import QUEUES_FLOW, VIEW
from dashboard.rqlayer.enqueue import parse_run_at
from dashboard.rqlayer.errors import InvalidInput, LayerError
from dashboard.rqlayer.flow.model import QueueFlow
from dashboard.rqlayer.flow.state import Change, QueueFlowView
from dashboard.web.params import json_object
from dashboard.web.rendering import ERROR, SUCCESS, WARNING, notify

bp = Blueprint("flow", __name__)
api_bp = Blueprint("flow_api", __name__, url_prefix="/api/v1")

STOCK_NOTE = (
    "Only workers started with -w dashboard.rqlayer.telemetry.worker.ConsoleWorker (or ConsoleSimpleWorker) "
    "honour pauses and rate limits; stock RQ workers take every job."
)


@bp.app_context_processor
def _panel():
    # The queue page asks for its panel's read model itself (one pipelined read), so the queue views
    # stay as they are: pages/queue.html includes partials/flow_panel.html with queue_flow(queue).
    return {"queue_flow": _view, "flow_actions": get_console().flow.ACTIONS}


def _view(queue: str) -> QueueFlowView:
    return get_console().flow.read_queue(queue)


# ---------------------------------------------------------------- JSON (API and GET /api/v1/queues)


def flow_json(flow: QueueFlow, now: float | None = None) -> dict:
    """One queue's pause and limit as the API shows them (GET /api/v1/queues too)."""
    now = time.time() if now is None else now
    pause, limit = flow.active_pause(now), flow.limit
    return {
        "paused": pause is not None,
        "pause": None
        if pause is None
        else {"by": pause.by, "at": _iso(pause.since), "until": _iso(pause.ends) if pause.ends else None},
        "rate_limit": None
        if limit is None
        else {
            "per_second": limit.per_second,
            "amount": limit.amount,
            "unit": limit.unit,
            "words": limit.words,
            "by": limit.by,
            "at": _iso(limit.since),
        },
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _view_json(view: QueueFlowView) -> dict:
    stats = view.stats
    return {
        "queue": view.flow.queue,
        **flow_json(view.flow, view.now),
        "current_rate_per_second": stats.rate_per_second if stats else None,
        "throttled": bool(stats and stats.throttled),
        "waiting": view.waiting,
        "queued": view.queued,
        "workers": view.workers,
        "workers_honouring": view.honouring,
        "note": STOCK_NOTE,
    }


def _change_json(change: Change) -> dict:
    return {
        "queue": change.flow.queue,
        **flow_json(change.flow),
        "changed": change.changed,
        "workers_told": change.told,
        "note": STOCK_NOTE,
    }


def _until(raw: object, zone: str = "UTC") -> datetime | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or len(raw) > 64:
        raise InvalidInput("until must be an ISO 8601 date and time.", fields={"until": "an ISO 8601 date-time"})
    try:
        return parse_run_at(raw, zone, datetime.now(UTC))
    except ValueError as error:
        raise InvalidInput(f"until: {error}.", fields={"until": str(error)}) from None


def _audited(action: str, queue: str, change: Change, started: float, detail: str = "") -> None:
    told = f"{change.told} worker(s) told"
    audit.action(
        f"queue.{action}",
        target=queue,
        outcome="ok" if change.changed else "unchanged",
        detail=f"{detail}; {told}" if detail else told,
        started=started,
    )


def _perform(action: str, queue: str, values: dict, zone: str = "UTC") -> Change:
    """The one path of both the forms and the API: the layer call, then the audit row."""
    flow = get_console().flow
    actor = audit.auditor().actor
    started = time.monotonic()
    if action == "pause":
        until = _until(values.get("until"), zone)
        change = flow.pause(queue, actor, until)
        _audited(action, queue, change, started, f"until {until.isoformat()}" if until else "until resumed")
    elif action == "resume":
        change = flow.resume(queue, actor)
        _audited(action, queue, change, started)
    elif action == "rate-limit":
        change = flow.set_limit(queue, actor, values.get("per_second"), values.get("per_minute"))
        _audited(action, queue, change, started, change.flow.limit.words if change.flow.limit else "")
    else:
        change = flow.clear_limit(queue, actor)
        _audited(action, queue, change, started)
    return change


@api_bp.post("/queues/<name>/pause")
@requires(QUEUES_FLOW)
def api_pause(name):
    body = json_object('{"until": "<ISO 8601 date-time>"}', empty_ok=True)
    return jsonify(_change_json(_perform("pause", name, body)))


@api_bp.post("/queues/<name>/resume")
@requires(QUEUES_FLOW)
def api_resume(name):
    return jsonify(_change_json(_perform("resume", name, {})))


@api_bp.put("/queues/<name>/rate-limit")
@requires(QUEUES_FLOW)
def api_set_limit(name):
    body = json_object('{"per_second": N} or {"per_minute": N}', empty_ok=True)
    unknown = sorted(set(body) - {"per_second", "per_minute"})
    if unknown:
        raise InvalidInput(
            'Send {"per_second": N} or {"per_minute": N}.', fields={k[:40]: "unknown field" for k in unknown[:10]}
        )
    return jsonify(_change_json(_perform("rate-limit", name, body)))


@api_bp.delete("/queues/<name>/rate-limit")
@requires(QUEUES_FLOW)
def api_clear_limit(name):
    return jsonify(_change_json(_perform("clear-rate-limit", name, {})))


@api_bp.get("/queues/<name>/flow")
@requires(VIEW)
def api_flow(name):
    console = get_console()
    return jsonify(_view_json(console.flow.read_queue(console.queues.require(name))))


# ---------------------------------------------------------------- the queue page's panel


@bp.get("/queues/<name>/flow")
@requires(VIEW)
def status(name):
    """The panel's live status line (polled): state, rate, waiting jobs, honouring workers."""
    console = get_console()
    view = console.flow.read_queue(console.queues.require(name))
    return render_template("partials/flow_status.html", flow=view, queue=view.flow.queue)


def _message(action: str, change: Change) -> tuple[str, str]:
    queue = change.flow.queue
    if not change.changed:
        return {
            "resume": f"Queue {queue} was not paused.",
            "clear-rate-limit": f"Queue {queue} had no rate limit.",
        }.get(action, f"Queue {queue} unchanged."), WARNING
    what = {
        "pause": f"Queue {queue} paused"
        + (
            f" until {change.flow.pause.ends:%Y-%m-%d %H:%M} UTC"
            if change.flow.pause and change.flow.pause.ends
            else ""
        ),
        "resume": f"Queue {queue} resumed",
        "rate-limit": f"Queue {queue} limited to {change.flow.limit.words if change.flow.limit else ''}",
        "clear-rate-limit": f"Queue {queue} is no longer rate limited",
    }[action]
    if change.told == 0:
        return f"{what}, but no worker running the console's extension is listening: {STOCK_NOTE}", WARNING
    return f"{what}; {change.told} worker(s) running the extension were told.", SUCCESS


@bp.post("/queues/<name>/<action>")
@requires(QUEUES_FLOW)
def act(name, action):
    console = get_console()
    if action not in console.flow.ACTIONS:
        abort(404, description="Queue actions: pause, resume, rate-limit, clear-rate-limit.")
    values = dict(request.form)
    if action == "rate-limit":
        unit = values.get("unit", "second")
        values = {"per_minute" if unit == "minute" else "per_second": _form_number(values.get("amount", ""))}
    try:
        change = _perform(action, name, values, (request.form.get("timezone") or "UTC").strip()[:64])
    except LayerError as error:
        # HTMX: the panel shows why, with the right status (422, 409); a plain form gets the error page.
        if request.htmx and error.status in (409, 422):
            return _answer(name, error.message, ERROR, error.status)
        raise
    message, category = _message(action, change)
    return _answer(change.flow.queue, message, category, 200)


def _form_number(raw: str) -> float | str:
    """A form field as a number; the text itself when it is none (the layer refuses it with its message)."""
    try:
        return float(raw.strip()[:40])
    except ValueError:
        return raw


def _answer(queue: str, message: str, category: str, status: int):
    """HTMX: the panel again, with the message in it; a plain form: the message flashed, back to the page."""
    if request.htmx:
        html = render_template(
            "partials/flow_panel.html", flow=_view(queue), queue=queue, message=message, category=category
        )
        return flask_response(html, status)
    notify(message, category)
    return redirect(url_for("queues.state", name=queue, state="queued"), code=303)
