"""Enqueue by hand: a form per registered task, inline validation, batches from a file."""

from __future__ import annotations

import csv
import io
import itertools
import json
import threading
import time

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask import make_response as flask_response

import tasks
from dashboard import audit
from dashboard.auth import current_principal, requires
from dashboard.extensions import get_redis
from dashboard.permissions import JOBS_ENQUEUE
from dashboard.rqlayer import bulk, jobs
from dashboard.rqlayer import enqueue as enqueuing
from dashboard.rqlayer.params import coerce, validate_call

bp = Blueprint("enqueue", __name__)
MAX_BATCH_ROWS = 200_000
MAX_SHOWN_ERRORS = 200


def _spec(name: str):
    spec = tasks.get_task(name)
    if spec is None:
        abort(404, description=f"No registered task named {name[:100]!r}. Only functions registered in tasks/ "
                               "can be enqueued.")
    return spec


def _form_values(spec, source) -> dict[str, str]:
    return {p.name: source.get(p.name, "") for p in spec.params}


def _render_form(spec, values: dict, options: dict, errors: dict, status: int = 200):
    html = render_template("pages/enqueue_form.html", spec=spec, values=values, options=options, errors=errors,
                           queues=jobs.list_queue_names(get_redis()))
    return flask_response(html, status)


@bp.get("/enqueue")
@requires(JOBS_ENQUEUE)
def index():
    return render_template("pages/enqueue_index.html", tasks=tasks.all_tasks())


@bp.get("/enqueue/<task_name>")
@requires(JOBS_ENQUEUE)
def form(task_name):
    spec = _spec(task_name)
    values, options = {}, {"queue": spec.queue}
    source_id = request.args.get("from_job", "")
    if source_id:
        # "Enqueue again" / "duplicate with edits": the source job's arguments, decoded safely.
        detail = jobs.read_job(get_redis(), source_id) if jobs.valid_job_id(source_id) else None
        if detail is None or detail.call.func_name != spec.name or not detail.call.kwargs.safe:
            abort(404, description="That job cannot be copied: it is gone, runs another task, or its arguments "
                                   "cannot be read safely.")
        values = {k: (json.dumps(v) if isinstance(v, list | dict) else "" if v is None else str(v))
                  for k, v in (detail.call.kwargs.value or {}).items()}
        options = {"queue": detail.row.origin or spec.queue, "timeout": detail.timeout or "",
                   "description": "" if detail.row.description.startswith(spec.name) else detail.row.description}
    return _render_form(spec, values, options, {})


@bp.get("/enqueue/<task_name>/check")
@requires(JOBS_ENQUEUE)
def check(task_name):
    """Inline validation of one field: returns its error text (empty when valid)."""
    spec = _spec(task_name)
    name = request.args.get("field", "")
    param = next((p for p in spec.params if p.name == name), None)
    if param is None:
        abort(404, description="No such field.")
    try:
        coerce(param, request.args.get(name, ""))
        message = ""
    except ValueError as error:
        message = str(error)
    if not request.args.get(name, "").strip() and not param.required:
        message = ""
    return render_template("partials/field_error.html", message=message)


@bp.post("/enqueue/<task_name>")
@requires(JOBS_ENQUEUE)
def submit(task_name):
    spec = _spec(task_name)
    connection = get_redis()
    raw = _form_values(spec, request.form)
    kwargs, errors = validate_call(spec, raw, checkbox_form=True)
    options, option_errors = enqueuing.validate_options(connection, spec, request.form)
    errors.update(option_errors)
    if errors:
        return _render_form(spec, raw, request.form.to_dict(), errors, 422)
    try:
        job_id = enqueuing.enqueue(connection, spec, kwargs, options)
    except ValueError as error:
        return _render_form(spec, raw, request.form.to_dict(), {"job_id": str(error)}, 422)
    audit.record(current_principal().audit_name, "job.enqueue", target=job_id, job_count=1,
                 detail=f"{spec.name} on {options.queue}", remote_addr=request.remote_addr)
    target = url_for("jobs.detail", job_id=job_id)
    if request.htmx:
        response = flask_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, code=303)


# ---------------------------------------------------------------- batches

def read_rows(upload: bytes, filename: str):
    """(line number, row) pairs from a CSV (header = parameter names) or JSON-lines file."""
    text = upload.decode("utf-8-sig", errors="strict")
    if filename.lower().endswith((".jsonl", ".ndjson", ".json")):
        for number, line in enumerate(io.StringIO(text), 1):  # lazily: no list of every line
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as error:
                yield number, {"__row__": f"not valid JSON: {error.msg}"}
                continue
            yield number, row if isinstance(row, dict) else {"__row__": "each line must be a JSON object"}
        return
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        yield reader.line_num, {k: v for k, v in row.items() if k is not None and v not in (None, "")}


def _validate_row(spec, raw):
    if "__row__" in raw:
        return {}, {"row": raw["__row__"]}
    return validate_call(spec, raw)


@bp.get("/enqueue/<task_name>/batch")
@requires(JOBS_ENQUEUE)
def batch_form(task_name):
    spec = _spec(task_name)
    return render_template("pages/enqueue_batch.html", spec=spec, report=None, options={"queue": spec.queue},
                           errors={})


@bp.post("/enqueue/<task_name>/batch")
@requires(JOBS_ENQUEUE)
def batch_submit(task_name):
    spec = _spec(task_name)
    connection = get_redis()
    upload = request.files.get("file")

    def refuse(message: str, status: int = 422, report=None, errors=None):
        html = render_template("pages/enqueue_batch.html", spec=spec, report=report, options=request.form,
                               errors=errors or {"file": message})
        return flask_response(html, status)

    if upload is None or not upload.filename:
        return refuse("Choose a CSV or JSON-lines file.")
    try:
        # At most one row past the limit is ever built: a huge file is refused, not held in memory.
        rows = list(itertools.islice(read_rows(upload.read(), upload.filename), MAX_BATCH_ROWS + 1))
    except UnicodeDecodeError:
        return refuse("The file is not UTF-8 text.")
    except csv.Error as error:
        return refuse(f"Unreadable CSV: {error}")
    if not rows:
        return refuse("The file has no rows.")
    if len(rows) > MAX_BATCH_ROWS:
        return refuse(f"At most {MAX_BATCH_ROWS:,} rows per file.")
    options, option_errors = enqueuing.validate_options(connection, spec, request.form)
    option_errors.pop("job_id", None)
    if options.run_at or options.depends_on or options.job_id:
        option_errors["queue"] = "batches are enqueued now, without dependencies or custom ids"
    report = enqueuing.validate_rows(spec, rows, _validate_row)
    skip_bad = request.form.get("skip_bad") == "1"
    if option_errors or (report.errors and not skip_bad) or not report.valid:
        return refuse("", 422, report=report, errors=option_errors)

    actor = current_principal().audit_name
    op = bulk.start_record(connection, "enqueue", f"enqueue {len(report.valid):,} × {spec.name} on {options.queue}",
                           len(report.valid), actor)
    app = current_app._get_current_object()
    address = request.remote_addr
    skipped = report.rows - len(report.valid)
    # Recorded before the first chunk: if this process dies mid-way, the audit still shows the batch.
    audit.record(actor, "job.enqueue_batch", target=spec.name, job_count=len(report.valid), outcome="started",
                 detail=f"operation {op.id}", remote_addr=address)

    def work():
        began = time.monotonic()

        def progress(n: int) -> bool:
            bulk.advance(connection, op.id, n, n, 0)
            return not bulk.cancel_requested(connection, op.id)

        try:
            done = enqueuing.enqueue_batch(connection, spec, report.valid, options, progress=progress)
            bulk.finish(connection, op.id, "done" if done == len(report.valid) else "cancelled")
        except Exception as error:  # recorded on the operation, logged with its traceback
            app.logger.exception("batch enqueue %s failed", op.id)
            bulk.finish(connection, op.id, "failed", f"{type(error).__name__}: {error}"[:500])
            done = bulk.read(connection, op.id).succeeded
        with app.app_context():
            audit.record(actor, "job.enqueue_batch", target=spec.name, job_count=done,
                         detail=f"{skipped} bad rows skipped" if skipped else None, remote_addr=address,
                         duration_ms=int((time.monotonic() - began) * 1000))

    threading.Thread(target=work, name=f"batch-{op.id}", daemon=True).start()
    html = render_template("pages/enqueue_batch.html", spec=spec, report=report, options=request.form, errors={},
                           op=op)
    return flask_response(html, 202)
