"""The schedule form, web side: submitted fields -> a validated ScheduleRequest with every field's error
at once, an existing schedule -> the edit form's values, and the cron preview's figures. No Redis, no Flask:
the view hands in the submitted mapping and calls the layer with the result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from dashboard.rqlayer import actions
from dashboard.rqlayer import cron as cronlib
from dashboard.rqlayer.enqueue import parse_run_at
from dashboard.rqlayer.params import PARAM_PREFIX, field_kind, validate_call
from dashboard.rqlayer.schedules import MAX_INTERVAL, MAX_REPEAT, Schedule, ScheduleRequest
from dashboard.rqlayer.vocabulary import FORM_DATETIME_FORMAT
from tasks.registry import get_task

FORM_FIELDS = ("task", "kind", "cron", "interval", "timezone", "queue", "repeat", "start", "end", "description")
PREVIEW_RUNS = 5
MAX_DESCRIPTION = 200


def submitted_values(form: Mapping[str, Any]) -> dict[str, str]:
    """The form as raw strings; an unchecked box is sent as nothing, so it is listed as ""."""
    values = {name: str(form.get(name, "") or "") for name in FORM_FIELDS}
    spec = get_task(values["task"]) if values["task"] else None
    for param in spec.params if spec else ():
        values[PARAM_PREFIX + param.name] = str(form.get(PARAM_PREFIX + param.name, "") or "")
    return values


def parse_form(
    raw: Mapping[str, Any], now: datetime | None = None
) -> tuple[ScheduleRequest, dict[str, str], dict[str, str]]:
    """(request, field errors, parameter errors) from form values. Parameters come as
    `arg-<name>`; every problem is reported at once, each next to its field."""
    now = now or datetime.now(UTC)
    now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    errors: dict[str, str] = {}

    def get(name: str) -> str:
        value = raw.get(name)
        return "" if value is None else str(value).strip()

    request = ScheduleRequest()
    task_name = get("task")
    request.spec = get_task(task_name) if task_name else None
    if request.spec is None:
        errors["task"] = f"{task_name[:100]!r} is not a registered task" if task_name else "choose a registered task"
    param_errors: dict[str, str] = {}
    if request.spec is not None:
        values = {p.name: raw.get(PARAM_PREFIX + p.name) for p in request.spec.params}
        request.kwargs, param_errors = validate_call(request.spec, values, checkbox_form=True)
    request.kind = get("kind") or "cron"
    if request.kind not in ("cron", "interval"):
        errors["kind"] = "choose cron or interval"
    request.timezone = get("timezone") or "UTC"
    tz_error = cronlib.validate_timezone(request.timezone)
    if tz_error:
        errors["timezone"] = tz_error
    _parse_recurrence(request, get, errors)
    try:
        request.queue = actions.validate_queue_name(get("queue") or (request.spec.queue if request.spec else "default"))
    except actions.ActionError as error:
        errors["queue"] = str(error)
    _parse_repeat(request, get("repeat"), errors)
    _parse_dates(request, get, errors, now)
    request.description = get("description")
    if len(request.description) > MAX_DESCRIPTION:
        errors["description"] = f"at most {MAX_DESCRIPTION} characters"
    return request, errors, param_errors


def _parse_recurrence(request: ScheduleRequest, get: Callable[[str], str], errors: dict[str, str]) -> None:
    if request.kind == "cron":
        message = cronlib.validate(get("cron"))
        if message:
            errors["cron"] = message
        request.cron = cronlib.normalize(get("cron"))
    elif request.kind == "interval":
        try:
            seconds = int(get("interval"))
        except ValueError:
            errors["interval"] = "a whole number of seconds, at least 1"
        else:
            if not 1 <= seconds <= MAX_INTERVAL:
                errors["interval"] = f"a whole number of seconds from 1 to {MAX_INTERVAL:,}"
            request.seconds = seconds


def _parse_repeat(request: ScheduleRequest, raw: str, errors: dict[str, str]) -> None:
    if not raw:
        return
    try:
        request.repeat = int(raw)
        if not 1 <= request.repeat <= MAX_REPEAT:
            raise ValueError
    except ValueError:
        errors["repeat"] = f"a whole number from 1 to {MAX_REPEAT:,}, or empty to repeat forever"


def _parse_dates(request: ScheduleRequest, get: Callable[[str], str], errors: dict[str, str], now: datetime) -> None:
    if "timezone" in errors:
        return  # a date means nothing without its zone: the zone's error is the one to fix first
    # A cron schedule starts at its next matching time: a first run typed for an interval is ignored.
    for name in ("start", "end") if request.kind == "interval" else ("end",):
        if get(name):
            try:
                setattr(request, name, parse_run_at(get(name), request.timezone, now))
            except ValueError as error:
                errors[name] = str(error)
    if request.start and request.end and request.end < request.start:
        errors["end"] = "the end date comes before the first run"
    if request.kind == "cron" and request.end and "cron" not in errors:
        try:
            if cronlib.count_runs(request.cron, request.timezone, now, request.end) == 0:
                errors["end"] = "the end date comes before the first run"
        except ValueError as error:
            errors["end"] = str(error)


def form_values(schedule: Schedule) -> dict[str, str]:
    """An existing schedule as the edit form's raw values (parameters as `arg-<name>`)."""
    values = {
        "task": schedule.func_name,
        "kind": schedule.kind if schedule.kind in ("cron", "interval") else "cron",
        "cron": schedule.cron,
        "interval": str(schedule.interval or ""),
        "timezone": schedule.timezone or "UTC",
        "queue": schedule.queue,
        "repeat": "" if schedule.repeats_left is None else str(schedule.repeats_left),
        "description": "" if _is_generated(schedule) else schedule.description,
    }
    if schedule.end is not None:
        values["end"] = schedule.end.astimezone(cronlib.zone(schedule.timezone or "UTC")).strftime(FORM_DATETIME_FORMAT)
    spec = get_task(schedule.func_name)
    for name, value in (schedule.kwargs or {}).items():
        param = spec.param(name) if spec else None
        widget = field_kind(param).widget if param else "text"
        values[PARAM_PREFIX + name] = _raw_text(value, widget)
    return values


def param_values(values: Mapping[str, str]) -> dict[str, str]:
    """The task's parameters among the form's values, by parameter name (the fields partial's input)."""
    spec = get_task(values.get("task", "")) if values.get("task") else None
    params = spec.params if spec else ()
    return {p.name: values[PARAM_PREFIX + p.name] for p in params if PARAM_PREFIX + p.name in values}


def cron_preview(expression: str, tz_name: str) -> dict[str, Any]:
    """Valid or the error, the expression in words, and its next runs in the zone (wall time, offset, UTC)."""
    expression = (expression or "")[: cronlib.MAX_LENGTH + 50]
    tz_name = (tz_name or "UTC").strip()[:64] or "UTC"
    error = cronlib.validate(expression)
    tz_error = cronlib.validate_timezone(tz_name)
    runs = []
    if not error and not tz_error:
        for run in cronlib.next_runs(expression, tz_name, PREVIEW_RUNS):
            runs.append(
                {
                    "local": run.strftime("%a %Y-%m-%d %H:%M"),
                    "zone": run.strftime("%Z"),
                    "offset": cronlib.format_offset(run),
                    "utc": run.astimezone(UTC).strftime("%H:%M UTC"),
                    "iso": run.isoformat(),
                }
            )
    return {
        "cron": expression,
        "timezone": tz_name,
        "error": error,
        "tz_error": tz_error,
        "words": cronlib.describe(expression) if not error else "",
        "runs": runs,
    }


def _is_generated(schedule: Schedule) -> bool:
    return schedule.description.startswith(f"{schedule.func_name}(")


def _raw_text(value: Any, widget: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime(FORM_DATETIME_FORMAT) if widget == "datetime" else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | dict | tuple):
        return json.dumps(value)
    return str(value)
