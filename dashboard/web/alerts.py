"""Alerts (/alerts): every rule with the state of its subjects (firing since, value, last notified), the
history of transitions in keyset pages, and for admins the rule form (inline validation per field), enable /
disable, delete (confirmed), "test notification"; GET /api/v1/alerts; the nav's count of firing alerts.

Thin: rules, states and history are dashboard/alerts' (rules.py, reads.py, notify.py); evaluation runs in
the history process, not here. Every change is audited with the change itself (one transaction).
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for
from flask import make_response as flask_response
from sqlalchemy.exc import SQLAlchemyError

from dashboard import audit
from dashboard.alerts import checks, notify, reads, rules
from dashboard.auth import can, requires
from dashboard.extensions import db, get_console
from dashboard.permissions import ALERTS_MANAGE, VIEW
from dashboard.web.rendering import ERROR, SUCCESS, WARNING, wants_fragment
from dashboard.web.rendering import notify as flash_message

bp = Blueprint("alerts", __name__)
api_bp = Blueprint("alerts_api", __name__, url_prefix="/api/v1")

RECENT_EVENTS = 50


def _sql():
    return db.session.connection()


def _unavailable(what: str = "read"):
    current_app.logger.exception("alerts: the database could not be %s", what)
    db.session.rollback()
    abort(503, description=f"The console's database cannot be {what} right now: alerts cannot be shown or changed.")


def _rule(rule_id: int) -> rules.Rule:
    try:
        rule = rules.get_rule(_sql(), rule_id)
    except SQLAlchemyError:
        _unavailable()
    if rule is None:
        abort(404, description="No such alert rule: it may have been deleted.")
    return rule


def _endpoints() -> list[Any]:
    """The webhook endpoints an admin can pick (none when the webhooks part is absent or unreadable)."""
    try:
        from dashboard.webhooks.endpoints import list_endpoints
    except ImportError:
        return []
    try:
        return list(list_endpoints(db.engine))
    except SQLAlchemyError:
        return []


def _page_context() -> dict[str, Any]:
    rule_id = request.args.get("rule", type=int)
    try:
        views = reads.rule_views(_sql())
        page = reads.events_page(_sql(), rule_id, request.args.get("after") or None)
    except reads.BadCursor as error:
        abort(400, description=str(error))
    except SQLAlchemyError:
        _unavailable()
    return {
        "views": views,
        "page": page,
        "rule_filter": rule_id,
        "after": request.args.get("after") or None,
        "smtp_configured": bool(current_app.config["CONSOLE"].alerts.smtp_host),
        "poll_seconds": current_app.config["CONSOLE"].poll_seconds,
        "kinds": rules.KINDS,
    }


@bp.get("/alerts")
@requires(VIEW)
def index():
    context = _page_context()
    if wants_fragment():
        which = request.args.get("fragment")
        template = "partials/alert_history.html" if which == "history" else "partials/alert_rules.html"
        return render_template(template, **context)
    return render_template("pages/alerts.html", **context)


# ---------------------------------------------------------------- the form


def _form_values() -> dict[str, Any]:
    form = request.form
    values: dict[str, Any] = {name: form.get(name, "") for name in rules.FIELDS}
    picked = form.getlist("webhook")
    if picked:
        values["webhooks"] = ", ".join([*picked, values["webhooks"]])
    values["enabled"] = form.get("enabled") == "on"
    return values


def _render_form(rule: rules.Rule | None, values: dict, errors: dict, status: int = 200, message: str = ""):
    html = render_template(
        "pages/alert_form.html",
        rule=rule,
        values=values,
        errors=errors,
        message=message,
        kinds=rules.KINDS,
        spec=rules.KINDS.get(values.get("kind", "")),
        severities=rules.SEVERITIES,
        schedulers=rules.SCHEDULERS,
        endpoints=_endpoints(),
        smtp_configured=bool(current_app.config["CONSOLE"].alerts.smtp_host),
    )
    return flask_response(html, status)


DEFAULTS = {"kind": "queue_depth", "severity": "warning", "cooldown_seconds": "300", "enabled": True}


@bp.get("/alerts/new")
@requires(ALERTS_MANAGE)
def new():
    kind = request.args.get("kind", "queue_depth")
    values = DEFAULTS | {"kind": kind if kind in rules.KINDS else "queue_depth"}
    return _render_form(None, values, {})


@bp.get("/alerts/<int:rule_id>/edit")
@requires(ALERTS_MANAGE)
def edit(rule_id: int):
    rule = _rule(rule_id)
    return _render_form(rule, rules.as_form(rule), {})


@bp.get("/alerts/check")
@requires(ALERTS_MANAGE)
def check():
    """Inline validation of one field (?field=<name>&<name>=<value>&kind=<kind>): its message, "" if valid."""
    name = request.args.get("field", "")
    if name not in rules.FIELDS:
        abort(404, description="No such field.")
    _, message = checks.check_field(name, request.args.get(name, ""), request.args.get("kind", ""))
    return render_template("partials/field_error.html", message=message)


@bp.get("/alerts/kind-fields")
@requires(ALERTS_MANAGE)
def kind_fields():
    """The kind-dependent fields (target, threshold, window) for the kind chosen in the form."""
    kind = request.args.get("kind", "")
    if kind not in rules.KINDS:
        abort(404, description="No such kind of alert rule.")
    values = {name: request.args.get(name, "") for name in ("target", "threshold", "window_minutes")}
    return render_template(
        "partials/alert_kind_fields.html",
        spec=rules.KINDS[kind],
        values=values | {"kind": kind},
        errors={},
        schedulers=rules.SCHEDULERS,
    )


def _save(rule: rules.Rule | None):
    values = _form_values()
    checked = checks.check(values)
    if not checked.ok:
        return _render_form(rule, values, checked.errors, 422, "Nothing saved: correct the fields marked below.")
    started = time.monotonic()
    actor = audit.auditor().actor
    try:
        if rule is None:
            saved = rules.create_rule(_sql(), checked, actor)
        else:
            saved = rules.update_rule(_sql(), rule, checked, actor)
        audit.action(
            "alert.create" if rule is None else "alert.update",
            target=f"alert:{saved.id}",
            job_count=0,
            detail=f"{saved.name}: {saved.condition}; {saved.severity}; {saved.channels} channel(s)",
            started=started,
        )
    except rules.RuleConflict as error:
        db.session.rollback()
        return _render_form(rule, values, {"name": str(error)}, 409, f"Nothing saved: {error}.")
    except SQLAlchemyError:
        _unavailable("written")
    reads.forget_firing_count()
    flash_message(f"Saved the alert rule {saved.name!r}.", SUCCESS)
    return redirect(url_for("alerts.index"), code=303)


@bp.post("/alerts")
@requires(ALERTS_MANAGE)
def create():
    return _save(None)


@bp.post("/alerts/<int:rule_id>")
@requires(ALERTS_MANAGE)
def update(rule_id: int):
    return _save(_rule(rule_id))


# ---------------------------------------------------------------- actions


@bp.post("/alerts/<int:rule_id>/<action>")
@requires(ALERTS_MANAGE)
def act(rule_id: int, action: str):
    if action not in ("enable", "disable", "delete", "test"):
        abort(404, description="No such action on an alert rule: enable, disable, delete or test.")
    rule = _rule(rule_id)
    started = time.monotonic()
    try:
        if action == "test":
            return _test(rule, started)
        if action == "delete":
            rules.delete_rule(_sql(), rule)
            message = f"Deleted the alert rule {rule.name!r} (its history stays)."
        else:
            rules.set_enabled(_sql(), rule, action == "enable", audit.auditor().actor)
            message = f"{'Enabled' if action == 'enable' else 'Disabled'} the alert rule {rule.name!r}."
        audit.action(f"alert.{action}", target=f"alert:{rule.id}", job_count=0, detail=rule.name, started=started)
    except SQLAlchemyError:
        _unavailable("written")
    reads.forget_firing_count()
    flash_message(message, SUCCESS)
    return redirect(url_for("alerts.index"), code=303)


def _test(rule: rules.Rule, started: float):
    """A "test" event on the rule's channels now (the same jobs a real notification enqueues)."""
    if not rule.channels:
        flash_message(
            f"The rule {rule.name!r} has no channel to test: add webhook endpoints or e-mail addresses.", ERROR
        )
        return redirect(url_for("alerts.index"), code=303)
    actor = audit.auditor().actor
    event = reads.test_event(_sql(), rule, actor)
    audit.action("alert.test", target=f"alert:{rule.id}", job_count=0, detail=rule.name, started=started)
    # Alerts are the default instance's (its workers send them).
    channels, errors = notify.send(db.engine, get_console(default=True).connection, event)
    if errors:
        flash_message(f"Test of {rule.name!r}: {'; '.join(errors)}", WARNING if channels else ERROR)
    else:
        flash_message(f"Sent a test notification of {rule.name!r} to {len(channels)} channel(s).", SUCCESS)
    return redirect(url_for("alerts.index"), code=303)


# ---------------------------------------------------------------- the nav and the API


@bp.app_context_processor
def _firing_alerts() -> dict[str, Any]:
    def firing_alerts() -> int:
        """How many alerts fire (the nav's badge): one cached COUNT; 0 when it cannot be read."""
        if not can(VIEW):
            return 0
        try:
            return reads.firing_count(_sql(), str(db.engine.url))
        except SQLAlchemyError:
            db.session.rollback()
            return 0

    return {"firing_alerts": firing_alerts}


def _state_json(view: reads.RuleView, state: Any) -> dict[str, Any]:
    held = view.held_until(state) if state.state == "ok" and state.breached else None
    return {
        "subject": state.subject,
        "state": state.state,
        "breached": state.breached,
        "value": state.value,
        "detail": state.detail,
        "since": state.since.isoformat(),
        "last_fired_at": state.last_fired_at.isoformat() if state.last_fired_at else None,
        "last_resolved_at": state.last_resolved_at.isoformat() if state.last_resolved_at else None,
        "last_notified_at": state.last_notified_at.isoformat() if state.last_notified_at else None,
        "held_until": held.isoformat() if held else None,
    }


def _rule_json(view: reads.RuleView, show_addresses: bool) -> dict[str, Any]:
    rule = view.rule
    return {
        "id": rule.id,
        "name": rule.name,
        "kind": rule.kind,
        "target": rule.target,
        "threshold": rule.threshold,
        "window_minutes": rule.window_minutes,
        "condition": rule.condition,
        "severity": rule.severity,
        "cooldown_seconds": rule.cooldown_seconds,
        "enabled": rule.enabled,
        "status": view.status,
        "channels": {"webhooks": list(rule.webhook_ids), "emails": list(rule.emails) if show_addresses else None},
        "evaluated_at": rule.evaluated_at.isoformat() if rule.evaluated_at else None,
        "error": rule.eval_error or None,
        "subjects": [_state_json(view, s) for s in view.states],
    }


def _event_json(event: reads.AlertEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "rule_id": event.rule_id,
        "rule_name": event.rule_name,
        "severity": event.severity,
        "subject": event.subject,
        "change": event.change,
        "value": event.value,
        "detail": event.detail,
        "at": event.at.isoformat(),
        "channels": [{"type": c.get("type")} | {k: v for k, v in c.items() if k != "to"} for c in event.channels],
        "errors": event.errors,
    }


@api_bp.get("/alerts")
@requires(VIEW)
def api_list():
    """{"rules": [...with their subjects' states], "events": [the newest RECENT_EVENTS], "next": cursor}.
    `after` pages the events (the `next` of the previous answer); e-mail addresses only for admins."""
    try:
        views = reads.rule_views(_sql())
        page = reads.events_page(_sql(), None, request.args.get("after") or None, RECENT_EVENTS)
    except reads.BadCursor as error:
        return jsonify(error="bad_request", message=str(error)), 400
    except SQLAlchemyError:
        current_app.logger.exception("alerts: the database could not be read")
        db.session.rollback()
        return jsonify(error="unavailable", message="The console's database cannot be read right now."), 503
    show = can(ALERTS_MANAGE)
    return jsonify(
        rules=[_rule_json(v, show) for v in views],
        events=[_event_json(e) for e in page.events],
        next=page.next_cursor,
    )
