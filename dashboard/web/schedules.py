"""The Schedules area: recurring rq-scheduler schedules, one-offs, RQ's scheduled registries, rq cron
processes and the health of the schedulers; create, edit, run now, pause, resume, delete, reschedule.

Views stay thin: they parse the request (web/schedule_forms.py), call the console's schedules part
(dashboard/rqlayer/schedules), write the audit entry and answer: flash + 303 on success; when nothing was
done, the page with the message and the status of the layer error's family (dashboard/errors.py).
"""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask import make_response as flask_response

from dashboard import audit
from dashboard.alerts import cron_integrity
from dashboard.auth import requires
from dashboard.errors import layer_status
from dashboard.extensions import db, get_console
from dashboard.history import schedule_notes
from dashboard.permissions import SCHEDULES_MANAGE
from dashboard.rqlayer import cron, jobs, schedules
from dashboard.rqlayer.enqueue import parse_run_at
from dashboard.rqlayer.errors import Conflict, LayerError, NotFound
from dashboard.web import schedule_forms as forms
from dashboard.web.links import job_message
from dashboard.web.queue_fields import unconfirmed_new_queue
from dashboard.web.rendering import ERROR, SUCCESS, notify, page_or_partial
from dashboard.web.visible import visibility
from tasks.registry import all_tasks, get_task

bp = Blueprint("schedules", __name__)

COMMON_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
)


@bp.app_template_filter("in_zone")
def in_zone(moment: datetime | None, tz_name: str | None = None) -> str:
    """An aware datetime as wall time in `tz_name` (UTC when empty), with the zone's abbreviation."""
    if moment is None:
        return "—"
    try:
        local = moment.astimezone(cron.zone(tz_name or "UTC"))
    except (ValueError, OverflowError):  # unknown zone, or a moment past year 9999 there
        local = moment.astimezone(UTC)
    return local.strftime("%Y-%m-%d %H:%M %Z").strip()


def _page_context() -> dict:
    part = get_console().schedules
    book = visibility().schedule_book(part.read_schedules())
    return {
        "book": book,
        # Operators' names for the rows (schedule_notes), one primary-key lookup per 500 ids.
        "notes": schedule_notes.get_notes(db.session.connection(), [s.id for s in book.all()]),
        "health": part.health(),
        # Cron integrity warnings (dashboard/alerts/cron_integrity.py; missed runs cached a minute).
        "cron_duplicates": cron_integrity.duplicates(get_console().connection),
        "missed_schedules": cron_integrity.missed_for_page(
            get_console().connection, db.session.connection(), book.all()
        ),
        "poll_seconds": current_app.config["CONSOLE"].poll_seconds,
        "max_schedules": schedules.MAX_SCHEDULES,
        "grace": schedules.OVERDUE_GRACE_SECONDS,
    }


@bp.get("/schedules")
def index():
    return page_or_partial("pages/schedules.html", "partials/schedule_live.html", **_page_context())


@bp.get("/schedules/health")
def health_fragment():
    return render_template(
        "partials/schedule_health.html", health=get_console().schedules.health(), grace=schedules.OVERDUE_GRACE_SECONDS
    )


def _answer_page(error: LayerError, message: str = ""):
    """Nothing was done: the Schedules page with the reason, answered with the status of the error's
    family (dashboard/errors.py: not found 404, conflict 409, invalid input 422)."""
    notify(message or f"Nothing done: {error}.", ERROR)
    return flask_response(render_template("pages/schedules.html", **_page_context()), layer_status(error)[0])


# ---------------------------------------------------------------- the form


def _form_page(
    values: dict,
    *,
    schedule: schedules.Schedule | None = None,
    errors: dict | None = None,
    param_errors: dict | None = None,
    message: str = "",
    status: int = 200,
    new_queue: str | None = None,
):
    spec = get_task(values.get("task", "")) if values.get("task") else None
    cron_text = values.get("cron", "")
    context = dict(
        tasks=all_tasks(),
        spec=spec,
        values=values,
        param_values=forms.param_values(values),
        errors=errors or {},
        param_errors=param_errors or {},
        schedule=schedule,
        message=message,
        queue_names=get_console().queues.names(),
        new_queue=new_queue,
        zones=COMMON_ZONES,
        preview=forms.cron_preview(cron_text, values.get("timezone", "UTC")) if cron_text else None,
    )
    return flask_response(render_template("pages/schedule_form.html", **context), status)


@bp.get("/schedules/new")
@requires(SCHEDULES_MANAGE)
def new():
    task = request.args.get("task", "")
    spec = get_task(task) if task else None
    values = {"kind": "cron", "timezone": "UTC", "task": spec.name if spec else ""}
    return _form_page(values)


@bp.get("/schedules/fields")
@requires(SCHEDULES_MANAGE)
def task_fields():
    """The parameter fields of the chosen task (the form swaps them in when the task changes)."""
    spec = get_task(request.args.get("task", ""))
    if spec is None:
        return render_template("partials/schedule_no_task.html")
    return render_template(
        "partials/task_fields.html", spec=spec, values={}, errors={}, field_prefix=forms.PARAM_PREFIX
    )


def _existing(schedule_id: str) -> schedules.Schedule:
    schedule = get_console().schedules.get_schedule(schedule_id)
    if schedule is None:
        abort(404, description="No such schedule: it may have run for the last time, or been deleted.")
    return schedule


@bp.get("/schedules/<schedule_id>/edit")
@requires(SCHEDULES_MANAGE)
def edit(schedule_id):
    schedule = _existing(schedule_id)
    if schedule.edit_refusal:
        return _answer_page(
            schedules.ScheduleConflict(schedule.edit_refusal),
            f"Nothing done: schedule {schedule_id} cannot be edited here. {schedule.edit_refusal}",
        )
    return _form_page(forms.form_values(schedule), schedule=schedule)


@bp.post("/schedules")
@requires(SCHEDULES_MANAGE)
def create():
    return _submit(None)


@bp.post("/schedules/<schedule_id>")
@requires(SCHEDULES_MANAGE)
def update(schedule_id):
    schedule = _existing(schedule_id)
    if schedule.edit_refusal:
        return _answer_page(
            schedules.ScheduleConflict(schedule.edit_refusal),
            f"Nothing done: schedule {schedule_id} cannot be edited here. {schedule.edit_refusal}",
        )
    return _submit(schedule)


def _submit(schedule: schedules.Schedule | None):
    values = forms.submitted_values(request.form)
    parsed, errors, param_errors = forms.parse_form(values)
    if errors or param_errors:
        return _form_page(
            values,
            schedule=schedule,
            errors=errors,
            param_errors=param_errors,
            message="Nothing saved: correct the fields marked below.",
            status=422,
        )
    new_queue = unconfirmed_new_queue(parsed.queue, known=schedule.queue if schedule else "")
    if new_queue:  # a confirmation step: the form again, with "Create queue X and save"; nothing saved
        return _form_page(values, schedule=schedule, status=409, new_queue=new_queue)
    action = "schedule.update" if schedule else "schedule.create"
    started = time.monotonic()
    try:
        schedule_id = get_console().schedules.save(parsed, schedule.id if schedule else None)
    except schedules.ScheduleError as error:
        return _form_page(values, schedule=schedule, message=f"Nothing saved: {error}.", status=layer_status(error)[0])
    except ValueError as error:  # a zone or date the form checked, refused deeper down (e.g. out of range)
        return _form_page(values, schedule=schedule, message=f"Nothing saved: {error}.", status=422)
    what = f"cron {parsed.cron!r} in {parsed.timezone}" if parsed.kind == "cron" else f"every {parsed.seconds} s"
    audit.action(
        action, target=schedule_id, job_count=1, detail=f"{parsed.spec.name} on {parsed.queue}, {what}", started=started
    )
    notify(
        f"Schedule {schedule_id} {'saved' if schedule else 'created'}: {parsed.spec.title}, "
        f"{cron.describe(parsed.cron) if parsed.kind == 'cron' else cron.to_words(parsed.seconds or 0)}."
    )
    return redirect(url_for("schedules.index"), code=303)


# ---------------------------------------------------------------- the cron preview


@bp.get("/schedules/preview")
def preview():
    """Inline validation: valid or the error, the expression in words, its next runs in the zone."""
    return render_template(
        "partials/cron_preview.html",
        preview=forms.cron_preview(request.args.get("cron", ""), request.args.get("timezone", "UTC")),
    )


# ---------------------------------------------------------------- actions on one schedule


def _act(schedule_id: str, action: str, call, success):
    if not jobs.valid_job_id(schedule_id):
        abort(404, description="No such schedule.")
    started = time.monotonic()
    try:
        result = call(schedule_id)
    except schedules.ScheduleError as error:
        outcome = "missing" if isinstance(error, NotFound) else "conflict" if isinstance(error, Conflict) else ""
        if outcome:  # a refused state is worth a line in the audit log; a malformed request is not
            audit.action(action, target=schedule_id, job_count=0, outcome=outcome, detail=str(error))
        return _answer_page(error)
    message, detail = success(result)
    audit.action(action, target=schedule_id, job_count=1, detail=detail, started=started)
    notify(message, SUCCESS)
    # Buttons on the schedule's own page (back=page) bring it back, unless the schedule is gone.
    if request.form.get("back") == "page" and action != "schedule.delete":
        return redirect(url_for("schedule_page.detail", schedule_id=schedule_id), code=303)
    return redirect(url_for("schedules.index"), code=303)


@bp.post("/schedules/<schedule_id>/run-now")
@requires(SCHEDULES_MANAGE)
def run_now(schedule_id):
    return _act(
        schedule_id,
        "schedule.run_now",
        functools.partial(get_console().schedules.run_now, actor=audit.auditor().actor),
        lambda job_id: (
            job_message(job_id, f"Run of schedule {schedule_id} queued now as job ", "; the schedule is unchanged."),
            f"job {job_id}",
        ),
    )


@bp.post("/schedules/<schedule_id>/pause")
@requires(SCHEDULES_MANAGE)
def pause(schedule_id):
    return _act(
        schedule_id,
        "schedule.pause",
        get_console().schedules.pause,
        lambda when: (
            f"Schedule {schedule_id} paused: it keeps its definition and does not run until resumed.",
            f"next run was {when.isoformat() if when else '?'}",
        ),
    )


@bp.post("/schedules/<schedule_id>/resume")
@requires(SCHEDULES_MANAGE)
def resume(schedule_id):
    return _act(
        schedule_id,
        "schedule.resume",
        get_console().schedules.resume,
        lambda when: (f"Schedule {schedule_id} resumed: next run {in_zone(when)}.", f"next run {when.isoformat()}"),
    )


@bp.post("/schedules/<schedule_id>/delete")
@requires(SCHEDULES_MANAGE)
def delete(schedule_id):
    return _act(
        schedule_id,
        "schedule.delete",
        get_console().schedules.delete,
        lambda _: (f"Schedule {schedule_id} deleted.", None),
    )


@bp.post("/schedules/<schedule_id>/reschedule")
@requires(SCHEDULES_MANAGE)
def reschedule(schedule_id):
    raw, tz_name = request.form.get("run_at", ""), request.form.get("timezone", "") or "UTC"
    try:
        when = parse_run_at(raw, tz_name, datetime.now(UTC))
    except ValueError as error:
        return _answer_page(schedules.ScheduleInvalid(str(error)))
    return _act(
        schedule_id,
        "schedule.reschedule",
        lambda i: get_console().schedules.reschedule(i, when),
        lambda where: (
            job_message(schedule_id, "Job ", f" rescheduled to {in_zone(when, tz_name)}."),
            f"{where}: {when.isoformat()}",
        ),
    )
