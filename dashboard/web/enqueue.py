"""Enqueue by hand: a form per registered task, inline validation, batches from a file."""

from __future__ import annotations

import json

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask import make_response as flask_response

from dashboard import audit
from dashboard.auth import requires
from dashboard.extensions import get_console
from dashboard.permissions import JOBS_ENQUEUE
from dashboard.rqlayer import batchfile, operations
from dashboard.rqlayer import enqueue as enqueuing
from dashboard.rqlayer.errors import InvalidInput
from dashboard.rqlayer.params import PARAM_PREFIX, coerce, form_values, validate_call
from dashboard.rqlayer.vocabulary import valid_job_id
from dashboard.web.links import job_message
from dashboard.web.queue_fields import unconfirmed_new_queue
from dashboard.web.rendering import SUCCESS, notify

bp = Blueprint("enqueue", __name__)


def _spec(name: str):
    spec = get_console().tasks.get(name)
    if spec is None:
        abort(
            404,
            description=f"No registered task named {name[:100]!r}. Only functions registered in tasks/ "
            "can be enqueued.",
        )
    return spec


def _render_form(
    spec,
    values: dict,
    options: dict,
    errors: dict,
    option_errors: dict,
    status: int = 200,
    new_queue: str | None = None,
):
    # Parameter and option errors stay in two dicts: a parameter may share an option's name.
    html = render_template(
        "pages/enqueue_form.html",
        spec=spec,
        values=values,
        options=options,
        errors=errors,
        option_errors=option_errors,
        queues=get_console().queues.names(),
        param_prefix=PARAM_PREFIX,
        new_queue=new_queue,
    )
    return flask_response(html, status)


@bp.get("/enqueue")
@requires(JOBS_ENQUEUE)
def index():
    return render_template("pages/enqueue_index.html", tasks=get_console().tasks.all())


@bp.get("/enqueue/<task_name>")
@requires(JOBS_ENQUEUE)
def form(task_name):
    spec = _spec(task_name)
    values, options = {}, {"queue": spec.queue}
    source_id = request.args.get("from_job", "")
    if source_id:
        # "Enqueue again" / "duplicate with edits": the source job's arguments, decoded safely.
        detail = get_console().jobs.detail(source_id) if valid_job_id(source_id) else None
        if detail is None or detail.call.func_name != spec.name or not detail.call.kwargs.safe:
            abort(
                404,
                description="That job cannot be copied: it is gone, runs another task, or its arguments "
                "cannot be read safely.",
            )
        values = {
            k: (json.dumps(v) if isinstance(v, list | dict) else "" if v is None else str(v))
            for k, v in (detail.call.kwargs.value or {}).items()
        }
        options = {
            "queue": detail.row.origin or spec.queue,
            "timeout": detail.timeout or "",
            "description": "" if detail.row.description.startswith(spec.name) else detail.row.description,
        }
    return _render_form(spec, values, options, {}, {})


@bp.get("/enqueue/<task_name>/check")
@requires(JOBS_ENQUEUE)
def check(task_name):
    """Inline validation of one parameter (?field=<name>&arg-<name>=<value>): its error text, empty when valid."""
    spec = _spec(task_name)
    param = spec.param(request.args.get("field", ""))
    if param is None:
        abort(404, description="No such field.")
    raw = request.args.get(PARAM_PREFIX + param.name, "")
    try:
        coerce(param, raw)
        message = ""
    except ValueError as error:
        message = str(error)
    if not raw.strip() and not param.required:
        message = ""
    return render_template("partials/field_error.html", message=message)


@bp.post("/enqueue/<task_name>")
@requires(JOBS_ENQUEUE)
def submit(task_name):
    spec = _spec(task_name)
    console = get_console()
    raw = form_values(spec, request.form)
    kwargs, errors = validate_call(spec, raw, checkbox_form=True)
    options, option_errors = console.enqueue.validate_options(spec, request.form)
    if errors or option_errors:
        return _render_form(spec, raw, request.form.to_dict(), errors, option_errors, 422)
    new_queue = unconfirmed_new_queue(options.queue)
    if new_queue:  # a confirmation step, not an error: the form again, with "Create queue X and enqueue"
        return _render_form(spec, raw, request.form.to_dict(), {}, {}, 409, new_queue=new_queue)
    try:
        job_id = console.enqueue.enqueue(spec, kwargs, options, actor=audit.auditor().actor)
    except InvalidInput as error:  # a value this instance's serializer (JSON) cannot hold: shown at its field
        return _render_form(spec, raw, request.form.to_dict(), error.fields, {}, 422)
    except ValueError as error:
        return _render_form(spec, raw, request.form.to_dict(), {}, {"job_id": str(error)}, 422)
    audit.action("job.enqueue", target=job_id, job_count=1, detail=f"{spec.name} on {options.queue}")
    notify(job_message(job_id, "Job ", f" enqueued on queue {options.queue}."), SUCCESS)
    target = url_for("jobs.detail", job_id=job_id)
    if request.htmx:
        response = flask_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, code=303)


# ---------------------------------------------------------------- batches


@bp.get("/enqueue/<task_name>/batch")
@requires(JOBS_ENQUEUE)
def batch_form(task_name):
    spec = _spec(task_name)
    return render_template(
        "pages/enqueue_batch.html",
        spec=spec,
        report=None,
        options={"queue": spec.queue},
        errors={},
        max_rows=batchfile.MAX_ROWS,
        queues=get_console().queues.names(),
    )


@bp.post("/enqueue/<task_name>/batch")
@requires(JOBS_ENQUEUE)
def batch_submit(task_name):
    spec = _spec(task_name)
    console = get_console()
    upload = request.files.get("file")

    def refuse(message: str, status: int = 422, report=None, errors=None, new_queue: str | None = None):
        html = render_template(
            "pages/enqueue_batch.html",
            spec=spec,
            report=report,
            options=request.form,
            errors={} if new_queue else errors or {"file": message},
            max_rows=batchfile.MAX_ROWS,
            queues=console.queues.names(),
            new_queue=new_queue,
        )
        return flask_response(html, status)

    if upload is None or not upload.filename:
        return refuse("Choose a CSV or JSON-lines file.")
    options, option_errors = console.enqueue.validate_options(spec, request.form)
    option_errors.pop("job_id", None)
    if options.run_at or options.depends_on or options.job_id:
        option_errors["queue"] = "batches are enqueued now, without dependencies or custom ids"
    if option_errors:
        return refuse("", errors=option_errors)
    new_queue = unconfirmed_new_queue(options.queue)
    if new_queue:  # asked before the file is read: nothing is checked or spooled for a typo
        return refuse("", 409, new_queue=new_queue)
    try:
        # Werkzeug has spooled the upload to a temporary file: it is read as a stream, never whole.
        report, spool = batchfile.check_file(upload.stream, upload.filename, spec, options)
    except batchfile.BatchFileError as error:
        return refuse(f"The file cannot be read: {error}.")
    skip_bad = request.form.get("skip_bad") == "1"
    if report.too_many_rows:
        spool.close()
        return refuse(f"At most {batchfile.MAX_ROWS:,} rows per file.")
    if not report.rows:
        spool.close()
        return refuse("The file has no rows.")
    if (report.error_count and not skip_bad) or not report.valid:
        spool.close()
        return refuse("", 422, report=report, errors={})
    return flask_response(_start_batch(console, spec, report, spool, options), 202)


def _start_batch(
    console, spec, report: batchfile.BatchReport, spool: batchfile.Spool, options: enqueuing.EnqueueOptions
) -> str:
    """Queue pass two (writing the spool to Redis) on the background pool; the page shows its progress."""
    audited = audit.auditor()
    op = console.bulk.start_record(
        "enqueue",
        f"enqueue {report.valid:,} × {spec.name} on {options.queue}",
        report.valid,
        audited.actor,
        status="waiting",
        queue=options.queue,
        function=spec.name,
    )
    skipped = report.rows - report.valid
    # Recorded before the first chunk: if this process dies mid-way, the audit still shows the batch.
    audited(
        "job.enqueue_batch", target=spec.name, job_count=report.valid, outcome="started", detail=f"operation {op.id}"
    )

    def work(operation: operations.Operation) -> None:
        def progress(n: int) -> bool:
            operation.advance(n, n)
            return not operation.cancelled()

        with spool:
            if console.enqueue.write_batch(spec, spool, options, progress=progress) != report.valid:
                operation.finish("cancelled")

    def ended(end: operations.Ended) -> None:
        if not end.ran:
            spool.close()
        audited(
            "job.enqueue_batch",
            target=spec.name,
            job_count=end.status.succeeded,
            outcome=end.status.status,
            detail=f"{skipped} bad rows skipped" if skipped else None,
            duration_ms=end.duration_ms,
        )

    console.operations.submit(op, work, ended, audited.app.app_context)
    return render_template(
        "pages/enqueue_batch.html",
        spec=spec,
        report=report,
        options=request.form,
        errors={},
        op=op,
        max_rows=batchfile.MAX_ROWS,
    )
