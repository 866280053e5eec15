"""A page per schedule: its name and description (set by operators), its definition in words, its next
runs, its state and actions, and its run history from SQL with missed runs marked.

The schedule comes from the RQ layer (rq-scheduler by id, else an `rq cron` entry by name); which outcomes
are its runs is the layer's answer too (rqlayer/schedules/entry.py); the history and notes are read with
dashboard/history (schedule_history, missed_runs, schedule_notes) on the request's session.
"""

from __future__ import annotations

import time
from datetime import timedelta

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask import make_response as flask_response

from dashboard import audit
from dashboard.auth import can, requires
from dashboard.extensions import db, get_console
from dashboard.history import missed_runs, schedule_history, schedule_notes
from dashboard.permissions import SCHEDULES_MANAGE, VIEW_JOB_VALUES
from dashboard.rqlayer.schedules import Schedule
from dashboard.web import schedule_forms as forms
from dashboard.web.rendering import ERROR, notify
from dashboard.web.visible import visibility

bp = Blueprint("schedule_page", __name__)

NEXT_RUNS = 5
NOTE_ACTION = "schedule.note"


def _schedule(schedule_id: str) -> Schedule:
    schedule = get_console().schedules.find_schedule(schedule_id)
    if schedule is None:
        abort(404, description="No such schedule: it may have run for the last time, or been deleted.")
    return schedule


def _run_ids(schedule: Schedule) -> list[str]:
    if schedule.source == "rq-cron":
        return list(get_console().schedules.cron_run_ids(schedule.id))
    return [schedule.id]


def _next_runs(schedule: Schedule) -> list:
    """Interval and one-off schedules: the next run and, for intervals, the ones after it as the scheduler
    computes them (each run's enqueue + interval, so later ones drift by the scheduler's lag)."""
    if schedule.next_run is None or schedule.cron:
        return []
    if schedule.kind == "interval" and schedule.interval:
        count = NEXT_RUNS if schedule.repeats_left is None else max(1, min(NEXT_RUNS, schedule.repeats_left + 1))
        return [schedule.next_run + timedelta(seconds=schedule.interval * k) for k in range(count)]
    return [schedule.next_run]


def _context(schedule: Schedule, values: dict | None = None, errors: dict | None = None) -> dict:
    after = request.args.get("after") or None
    try:
        page = schedule_history.run_page(db.session.connection(), _run_ids(schedule), after)
    except ValueError:
        abort(400, description="This page of runs does not exist (the link is broken): start from the newest runs.")
    recurring = schedule.recurring
    definition = missed_runs.Definition(schedule.cron, schedule.timezone, schedule.interval) if recurring else None
    checked = missed_runs.check(
        page.runs,
        definition or missed_runs.Definition(),
        upper=page.upper,
        paused_at=schedule.paused_at if schedule.paused else None,
    )
    note = schedule_notes.get_note(db.session.connection(), schedule.id)
    if values is None:
        values = {"name": note.name if note else "", "description": note.description if note else ""}
    return {
        "s": visibility().schedule(schedule),
        "note": note,
        "values": values,
        "errors": errors or {},
        "preview": forms.cron_preview(schedule.cron, schedule.timezone or "UTC") if schedule.cron else None,
        "next_runs": _next_runs(schedule),
        "page": page,
        "checked": checked,
        "first_page": after is None,
        "definition": definition or missed_runs.Definition(),
        "tolerance": int(missed_runs.TOLERANCE.total_seconds()),
        "show_messages": can(VIEW_JOB_VALUES),
        "back_to_page": True,  # the action buttons bring this page back (web/schedules.py _act)
        "limits_note": (schedule_notes.NAME_MAX, schedule_notes.DESCRIPTION_MAX),
    }


@bp.get("/schedules/<schedule_id>")
def detail(schedule_id: str):
    return render_template("pages/schedule.html", **_context(_schedule(schedule_id)))


@bp.post("/schedules/<schedule_id>/note")
@requires(SCHEDULES_MANAGE)
def save_note(schedule_id: str):
    schedule = _schedule(schedule_id)
    values = {"name": request.form.get("name", ""), "description": request.form.get("description", "")}
    errors = schedule_notes.validate(values["name"], values["description"])
    if errors:
        notify("Nothing saved: correct the fields marked below.", ERROR)
        html = render_template("pages/schedule.html", **_context(schedule, values, errors))
        return flask_response(html, 422)
    started = time.monotonic()
    saved = schedule_notes.save_note(
        db.session.connection(), schedule.id, values["name"], values["description"], audit.auditor().actor
    )
    # The audit entry commits the note with it: one transaction.
    audit.action(
        NOTE_ACTION,
        target=schedule.id,
        job_count=0,
        detail=f"name {saved.name!r}, description {len(saved.description):,} characters",
        started=started,
    )
    notify(f"Saved the name and description of schedule {schedule.id}.")
    return redirect(url_for("schedule_page.detail", schedule_id=schedule.id), code=303)
