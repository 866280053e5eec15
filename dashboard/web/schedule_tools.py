"""Incident tools on a schedule's page: backfill the runs a stopped scheduler missed in a window (the
missed times from history/backfill.py, confirmed by their count) and test-fire it now with a payload.
Both enqueue fresh jobs through the layer's run_now (the schedule itself is not written), audited."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from flask import Blueprint, abort, render_template, request
from flask import make_response as flask_response

from dashboard import audit
from dashboard.auth import requires
from dashboard.extensions import db, get_console
from dashboard.history import backfill, missed_runs
from dashboard.permissions import SCHEDULES_MANAGE
from dashboard.rqlayer.params import validate_call
from dashboard.rqlayer.schedules import Schedule
from dashboard.web.schedule_page import _run_ids, _schedule
from tasks.registry import get_task

bp = Blueprint("schedule_tools", __name__)
MAX_PAYLOAD = 10_000  # characters of JSON


def _answer(code: int = 200, **context):
    return flask_response(render_template("partials/schedule_tools_answer.html", **context), code)


def _runnable(schedule_id: str) -> Schedule:
    schedule = _schedule(schedule_id)
    if schedule.run_refusal:
        abort(409, description=f"The console cannot run this schedule: {schedule.run_refusal}.")
    return schedule


def _moment(name: str) -> datetime:
    raw = request.form.get(name, "").strip()
    try:
        moment = datetime.fromisoformat(raw) if 0 < len(raw) <= 40 else None
    except ValueError:
        moment = None
    if moment is None:
        abort(422, description=f"{name}: a date and time (UTC) like 2026-12-01T09:30.")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _missed(schedule: Schedule) -> tuple[list[datetime], datetime, datetime]:
    since, until = _moment("since"), _moment("until")
    definition = missed_runs.Definition(schedule.cron, schedule.timezone, schedule.interval)
    try:
        times = backfill.missed_times(db.session.connection(), _run_ids(schedule), definition, since, until)
    except ValueError as error:
        abort(422, description=f"{str(error).capitalize()}.")
    return times, since, until


@bp.post("/schedules/<schedule_id>/backfill/preview")
@requires(SCHEDULES_MANAGE)
def backfill_preview(schedule_id: str):
    """The missed times in the window, for the operator to confirm by their count. Writes nothing."""
    schedule = _runnable(schedule_id)
    times, since, until = _missed(schedule)
    return _answer(
        s=schedule,
        times=times[: backfill.MAX_BACKFILL],
        more=len(times) > backfill.MAX_BACKFILL,
        since=since,
        until=until,
        limit=backfill.MAX_BACKFILL,
    )


@bp.post("/schedules/<schedule_id>/backfill")
@requires(SCHEDULES_MANAGE)
def backfill_run(schedule_id: str):
    """Enqueue one run per missed time, oldest first, at most the confirmed count; each run's meta says
    which missed time it stands for."""
    schedule = _runnable(schedule_id)
    raw = request.form.get("confirmed", "")
    if not raw.isdigit() or not 1 <= int(raw) <= backfill.MAX_BACKFILL:
        abort(422, description="Count the missed runs first, then confirm that number.")
    times, since, until = _missed(schedule)
    started, actor = time.monotonic(), audit.auditor().actor
    job_ids = [
        get_console().schedules.run_now(
            schedule.id,
            actor,
            extra_meta={"backfill_for": moment.isoformat()},
            label=f"backfill for {moment:%Y-%m-%d %H:%M} UTC",
        )
        for moment in times[: int(raw)]
    ]
    window = f"{since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC"
    audit.action("schedule.backfill", target=schedule.id, job_count=len(job_ids), detail=window, started=started)
    return _answer(s=schedule, backfilled=job_ids)


@bp.post("/schedules/<schedule_id>/test-fire")
@requires(SCHEDULES_MANAGE)
def test_fire(schedule_id: str):
    """One run now with the given keyword arguments (a JSON object, checked against the task's
    parameters: 422 naming each bad one) instead of the schedule's own."""
    schedule = _runnable(schedule_id)
    raw = request.form.get("payload", "").strip() or "{}"
    try:
        payload = json.loads(raw) if len(raw) <= MAX_PAYLOAD else None
    except (ValueError, RecursionError):
        payload = None
    if not isinstance(payload, dict):
        abort(
            422,
            description=f"The payload must be a JSON object of keyword arguments (at most {MAX_PAYLOAD:,} characters).",
        )
    spec = get_task(schedule.func_name)
    if spec is None:
        abort(409, description="Its task is not registered.")
    kwargs, errors = validate_call(spec, payload)
    if errors:
        return _answer(422, s=schedule, errors=errors)
    started = time.monotonic()
    job_id = get_console().schedules.run_now(
        schedule.id, audit.auditor().actor, kwargs_override=kwargs, extra_meta={"test_fire": "1"}, label="test fire"
    )
    audit.action("schedule.test_fire", target=schedule.id, job_count=1, detail=f"job {job_id}", started=started)
    return _answer(s=schedule, fired=job_id)
