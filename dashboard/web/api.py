"""The JSON API under /api/v1/: bearer tokens only (no cookies, hence no CSRF), same permissions."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from flask import Blueprint, jsonify, request, url_for

from dashboard import audit
from dashboard.auth import requires
from dashboard.extensions import db, get_console
from dashboard.permissions import JOBS_ENQUEUE, VIEW
from dashboard.rqlayer import feed, jobs, jobwait
from dashboard.rqlayer.errors import InvalidInput, NotFound
from dashboard.rqlayer.job_webhooks import MASK, JobWebhooks
from dashboard.rqlayer.params import validate_call
from dashboard.rqlayer.payloads import Shown
from dashboard.rqlayer.vocabulary import valid_job_id
from dashboard.visibility import is_hidden
from dashboard.web.flow import flow_json
from dashboard.web.openapi import openapi_document
from dashboard.web.params import checked_state, json_object, list_params
from dashboard.web.visible import visibility

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def to_json(value):
    """Read models (dataclasses) as JSON-ready data; datetimes as ISO 8601 UTC."""
    if dataclasses.is_dataclass(value):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@bp.get("/queues")
@requires(VIEW)
def queues():
    overview = get_console().overview.read()
    items = [
        dict(
            to_json(q),
            total=q.total,
            unattended=q.unattended,
            workers_honouring_flow=overview.honouring(q.name),  # they honour its pause and rate limit
            **flow_json(overview.flow.get(q.name)),
        )
        for q in overview.queues
    ]
    return jsonify(
        queues=items,
        totals=overview.totals,
        rate_limits=to_json(overview.rate_limits),
        suspended=overview.suspended,
        read_at=overview.read_at.isoformat(),
    )


@bp.get("/workers")
@requires(VIEW)
def workers():
    overview = get_console().overview.read()
    return jsonify(workers=to_json(overview.workers), read_at=overview.read_at.isoformat())


def _shown(value: Shown | None):
    if value is None:
        return None
    if is_hidden(value):
        return {"hidden": True}
    return {"text": value.text, "safe": value.safe, "format": value.format, "note": value.note or None}


def _row(row: jobs.JobRow) -> dict:
    """A row the visibility policy has already redacted: hidden texts are null, never the marker."""
    data = to_json(row)
    data["duration_seconds"] = row.duration_seconds
    data["status"] = row.status if row.exists else "expired"
    for name in ("args_preview", "description"):
        if is_hidden(data[name]):
            data[name] = None
    if data.get("failure") and is_hidden(data["failure"]["message"]):
        data["failure"]["message"] = None
    return data


@bp.get("/queues/<name>/jobs/<state>")
@requires(VIEW)
def state_page(name, state):
    console = get_console()
    name = console.queues.require(name)
    state = checked_state(state)
    params = list_params()
    visible = visibility()
    if params.job_filter.active:
        scan = console.jobs.scan(
            name, state, params.job_filter, offset=params.offset, order=params.order, max_rows=params.size
        )
        return jsonify(
            queue=name,
            state=state,
            filter=params.job_filter.as_params(),
            total=scan.total,
            scanned=scan.scanned,
            done=scan.done,
            next_offset=None if scan.done else scan.next_offset,
            jobs=[_row(visible.row(r)) for r in scan.rows],
        )
    page = console.jobs.page(name, state, params.page, params.size, params.order)
    return jsonify(
        queue=name,
        state=state,
        total=page.total,
        page=page.page,
        pages=page.pages,
        size=page.size,
        order=page.order,
        jobs=[_row(visible.row(r)) for r in page.rows],
    )


def _webhooks(hooks: JobWebhooks):
    """RQ's shape, with every header value masked (the layer never kept them)."""
    if not hooks:
        return None
    return {
        "problem": hooks.problem or None,
        "total": hooks.total,
        "hooks": [
            {
                "url": h.url,
                "job_status": h.job_status,
                "method": h.method,
                "headers": dict.fromkeys(h.header_names, MASK),
                "timeout": h.timeout,
                "problem": h.problem or None,
            }
            for h in hooks.hooks
        ],
    }


@bp.get("/jobs/<job_id>")
@requires(VIEW)
def job(job_id):
    """The job; with `wait=<seconds>` (0-60), first waits for it to end (rqlayer/jobwait.py)."""
    if not valid_job_id(job_id):
        raise NotFound("That is not a valid job id.")
    console = get_console()
    try:
        wait = jobwait.parse_wait(request.args.get("wait"))
    except feed.BadRequest as error:
        return jsonify(error="bad_request", message=str(error)), 400
    waited = None
    if wait:
        db.session.close()  # authenticated: a waiting request holds no SQL connection (see events._poll)
        waited = console.jobs.wait(job_id, wait)
    detail = console.jobs.detail(job_id)
    if detail is None:
        gone = " (it was deleted or expired while the request waited)" if waited and waited.waited_seconds else ""
        raise NotFound(f"No job with id {job_id!r}{gone}.")
    response = jsonify(_job_json(job_id, visibility().job(detail), waited))
    if waited and waited.busy:
        response.headers["Retry-After"] = "1"
    return response


def _job_json(job_id: str, detail, waited: jobwait.Waited | None) -> dict:
    return dict(
        job=_row(detail.row),
        func_name=detail.call.func_name,
        args=_shown(detail.call.args),
        kwargs=_shown(detail.call.kwargs),
        meta=_shown(detail.meta),
        result=_shown(detail.result),
        progress=to_json(detail.progress),
        traceback=detail.traceback or None,
        timeout=detail.timeout,
        result_ttl=detail.result_ttl,
        failure_ttl=detail.failure_ttl,
        ttl_seconds=detail.ttl_seconds,
        retries_left=detail.retries_left,
        retry_intervals=detail.retry_intervals,
        callbacks=detail.callbacks,
        group_id=detail.group_id or None,
        in_registries=detail.in_registries,
        dependencies=to_json(detail.dependencies),
        dependents=to_json(detail.dependents),
        dependents_total=detail.dependents_total,
        attempts=[dict(to_json(a), result=_shown(a.result)) for a in detail.attempts],
        webhooks=_webhooks(detail.webhooks),
        rate_limit_key=detail.rate_limit_key or None,
        wait=None
        if waited is None
        else {
            "seconds": waited.waited_seconds,
            "ended": waited.ended,
            "timed_out": waited.timed_out,
            "busy": waited.busy,
        },
        links={"html": url_for("jobs.detail", job_id=job_id)},
    )


ENQUEUE_OPTIONS = frozenset(
    {
        "queue",
        "at_front",
        "run_at",
        "timezone",
        "delay",
        "timeout",
        "retry_max",
        "retry_intervals",
        "result_ttl",
        "failure_ttl",
        "job_id",
        "depends_on",
        "description",
    }
)


@bp.post("/jobs")
@requires(JOBS_ENQUEUE)
def enqueue_job():
    """Enqueue a registered task: {"task": "...", "params": {...}, "options": {...}}."""
    body = json_object('{"task": ..., "params": {...}, "options": {...}}')
    console = get_console()
    spec = console.tasks.get(str(body.get("task", "")))
    if spec is None:
        return jsonify(
            error="validation",
            message="Only registered tasks can be enqueued.",
            fields={"task": f"no registered task named {str(body.get('task'))[:100]!r}"},
        ), 422
    params, options = body.get("params") or {}, body.get("options") or {}
    if not isinstance(params, dict) or not isinstance(options, dict):
        return jsonify(
            error="validation",
            message="params and options must be JSON objects.",
            fields={"params": "expected an object"},
        ), 422
    unknown = sorted(set(options) - ENQUEUE_OPTIONS)
    if unknown:
        return jsonify(
            error="validation",
            message="Nothing was enqueued.",
            fields={f"options.{name}": "unknown option" for name in unknown[:20]},
        ), 422
    kwargs, errors = validate_call(spec, params)
    parsed, option_errors = console.enqueue.validate_options(spec, options)
    errors.update({f"options.{name}": message for name, message in option_errors.items()})
    if errors:
        return jsonify(error="validation", message="Nothing was enqueued.", fields=errors), 422
    try:
        job_id = console.enqueue.enqueue(spec, kwargs, parsed, actor=audit.auditor().actor)
    except InvalidInput as error:  # a value this instance's serializer (JSON) cannot hold
        return jsonify(error="validation", message=error.message, fields=error.fields), 422
    except ValueError as error:
        return jsonify(error="validation", message="Nothing was enqueued.", fields={"options.job_id": str(error)}), 422
    audit.action("job.enqueue", target=job_id, job_count=1, detail=f"{spec.name} on {parsed.queue} (API)")
    response = jsonify(
        id=job_id,
        queue=parsed.queue,
        links={"self": url_for("api.job", job_id=job_id), "html": url_for("jobs.detail", job_id=job_id)},
    )
    response.status_code = 201
    response.headers["Location"] = url_for("api.job", job_id=job_id)
    return response


@bp.get("/history")
@requires(VIEW)
def history():
    """Job outcomes from SQL by window and filters, newest first, keyset pages (web/history.py)."""
    from dashboard.web.history import api_page

    return jsonify(api_page(request.args))


@bp.get("/openapi.json")
def openapi():
    """The API's description; public, like any API documentation (it holds no data)."""
    return jsonify(openapi_document())
