"""Bulk actions: start one (the request returns at once), watch its progress, cancel it."""

from __future__ import annotations

import time

from flask import Blueprint, abort, current_app, render_template, request
from flask import make_response as flask_response

from dashboard import audit, background
from dashboard.auth import current_principal, requires
from dashboard.extensions import get_redis
from dashboard.permissions import JOBS_ACT, QUEUES_EMPTY
from dashboard.rqlayer import actions, bulk, jobs
from dashboard.rqlayer.search import JobFilter
from dashboard.web.params import checked_state

bp = Blueprint("bulk", __name__)
MAX_EXPLICIT_IDS = 10_000


def _filter_from_form() -> JobFilter:
    return JobFilter(**{name: request.form.get(name, "").strip()[:200] for name in ("func", "exc", "args")})


def _progress(status: bulk.BulkStatus, code: int = 200):
    return flask_response(render_template("partials/bulk_progress.html", op=status), code)


def start(action: str, selection: bulk.Selection, options: dict):
    """Record the operation (waiting), queue it on the shared background pool, answer 202 with its progress."""
    connection = get_redis()
    actor = current_principal().audit_name
    address = request.remote_addr
    unsafe = current_app.config["CONSOLE"].unsafe_unpickle
    try:
        op = bulk.create(connection, action, selection, options, actor, status="waiting")
    except actions.UnknownQueue as error:
        return flask_response(render_template("partials/bulk_move_confirm.html", queue=error.queue), 409)
    except actions.ActionError as error:
        abort(422, description=str(error))
    audit.record(actor, f"bulk.{action}", target=op.description[:500], job_count=op.total, outcome="started",
                 detail=f"operation {op.id}", remote_addr=address)
    app = current_app._get_current_object()

    def work():
        began = time.monotonic()
        if not bulk.begin(connection, op.id):
            final = bulk.read(connection, op.id)
            with app.app_context():
                audit.record(actor, f"bulk.{action}", target=op.description[:500], job_count=0,
                             outcome=final.status, detail=f"operation {op.id}: cancelled while waiting",
                             remote_addr=address)
            return
        try:
            final = bulk.run(connection, op.id, action, selection, options, unsafe)
        except Exception:  # recorded in the operation's status by bulk.run; log it with the traceback
            app.logger.exception("bulk operation %s failed", op.id)
            final = bulk.read(connection, op.id)
        with app.app_context():
            audit.record(actor, f"bulk.{action}", target=op.description[:500], job_count=final.succeeded,
                         outcome=final.status, detail=f"operation {op.id}: {final.skipped} left alone",
                         remote_addr=address, duration_ms=actions.monotonic_ms(began))

    background.submit(work)
    return _progress(op, 202)


@bp.post("/queues/<name>/<state>/bulk")
@requires(JOBS_ACT)
def queue_bulk(name, state):
    state = checked_state(state)
    if not jobs.queue_exists(get_redis(), name):
        abort(404, description=f"There is no queue named {name[:80]!r}.")
    action = request.form.get("action", "")
    if action not in bulk.BULK_ACTIONS or action == "empty":
        abort(422, description=f"Unknown bulk action {action[:40]!r}.")
    allowed_states = bulk.BULK_ACTIONS[action][1]
    if state not in allowed_states and not (state == "failed" and action == "retry"):
        abort(422, description=f"Cannot {action.replace('_', ' ')} {state} jobs.")
    if request.form.get("all") == "1":
        selection = bulk.Selection(state=state, queue=name, job_filter=_filter_from_form())
    else:
        ids = tuple(dict.fromkeys(i for i in request.form.getlist("ids") if jobs.valid_job_id(i)))
        if not ids:
            abort(422, description="Select at least one job, or all jobs matching the filter.")
        if len(ids) > MAX_EXPLICIT_IDS:
            abort(422, description=f"At most {MAX_EXPLICIT_IDS} selected jobs; use 'all matching' instead.")
        selection = bulk.Selection(state=state, queue=name, job_ids=ids)
    options = {"at_front": request.form.get("position") == "front", "target": request.form.get("target", ""),
               "create_queue": request.form.get("create_queue") == "1"}
    return start(action, selection, options)


@bp.post("/failed/retry-all")
@requires(JOBS_ACT)
def retry_all_failed():
    """Retry every failed job of every queue (or one queue), optionally filtered."""
    queue = request.form.get("queue") or None
    if queue and not jobs.queue_exists(get_redis(), queue):
        abort(404, description=f"There is no queue named {queue[:80]!r}.")
    return start("retry", bulk.Selection(state="failed", queue=queue, job_filter=_filter_from_form()), {})


@bp.post("/queues/<name>/<state>/empty")
@requires(QUEUES_EMPTY)
def empty(name, state):
    state = checked_state(state)
    if state == "started":
        abort(422, description="Running jobs cannot be emptied: stop them first.")
    if not jobs.queue_exists(get_redis(), name):
        abort(404, description=f"There is no queue named {name[:80]!r}.")
    if request.form.get("confirm_name", "") != name:
        abort(422, description=f"Type the queue name ({name}) to confirm emptying it.")
    return start("empty", bulk.Selection(state=state, queue=name), {})


@bp.get("/bulk/<op_id>")
def progress(op_id):
    status = bulk.read(get_redis(), op_id[:64])
    if status is None:
        abort(404, description="No such bulk operation (they are kept for a day).")
    return _progress(status)


@bp.post("/bulk/<op_id>/cancel")
@requires(JOBS_ACT)
def cancel(op_id):
    connection = get_redis()
    if not bulk.request_cancel(connection, op_id[:64]):
        abort(404, description="No such bulk operation.")
    audit.record(current_principal().audit_name, "bulk.cancel", target=op_id, remote_addr=request.remote_addr)
    return _progress(bulk.read(connection, op_id))
