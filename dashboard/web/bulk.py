"""Bulk actions: start one (the request returns at once), watch its progress, cancel it."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask import make_response as flask_response

from dashboard import audit
from dashboard.auth import requires
from dashboard.extensions import get_console
from dashboard.permissions import JOBS_ACT, QUEUES_EMPTY
from dashboard.rqlayer import actions, bulk, catalogue, operations
from dashboard.rqlayer.search import JobFilter
from dashboard.rqlayer.vocabulary import valid_job_id
from dashboard.web import changes
from dashboard.web.params import checked_state, filter_fields, touched_fields

bp = Blueprint("bulk", __name__)
MAX_EXPLICIT_IDS = 10_000


def _filter_from_form() -> JobFilter:
    """The filter a bulk form carries (texts and match modes, as the list showed it); 400 when malformed."""
    return JobFilter(**filter_fields(request.form), **touched_fields(request.form))


def _progress(status: bulk.BulkStatus, code: int = 200):
    """The progress fragment; once the operation has ended, it also tells the page what changed (the
    polling that reads it stops there, so the page hears it once): the list and counts refresh."""
    response = flask_response(render_template("partials/bulk_progress.html", op=status), code)
    if status.finished:
        changes.tell_page(
            response,
            message=_ended_message(status),
            affected=status.succeeded,
            ok=status.status == "done",
            scope=changes.BULK,
        )
    return response


def _ended_message(status: bulk.BulkStatus) -> str:
    jobs = f"{status.succeeded:,} job{'s' if status.succeeded != 1 else ''} {status.done_verb}"
    left = f"; {status.skipped:,} left alone (they changed meanwhile)" if status.skipped else ""
    if status.status == "done":
        return f"Finished {status.description}: {jobs}{left}."
    if status.status == "cancelled":
        return f"Cancelled {status.description}: {jobs} before it stopped{left}."
    if status.status == "interrupted":
        return f"Interrupted {status.description} (the console process stopped): {jobs}. Run it again to finish."
    return f"Failed {status.description}: {status.message or 'see the audit log'}. {jobs}."


def start(action: str, selection: bulk.Selection, options: dict):
    """Record the operation (waiting), queue it on the shared background pool, answer 202 with its progress."""
    console = get_console()
    audited = audit.auditor()
    try:
        op = console.bulk.create(action, selection, options, audited.actor, status="waiting")
    except actions.UnknownQueue as error:  # not an error page: a form that confirms creating the queue
        return flask_response(render_template("partials/bulk_move_confirm.html", queue=error.queue), 409)

    def work(_):
        console.bulk.run(op.id, op.action, selection, options)

    run_audited(op, f"bulk.{op.action}", selection.queue, work, audited)
    return _progress(op, 202)


def run_audited(op: bulk.BulkStatus, name: str, target: str | None, work, audited: audit.Auditor):
    """Audit the recorded operation `op` as started, run `work` on the one runner, audit its end (count,
    outcome, duration). Bulk actions and replays start here. The target is the queue (the audit log links
    it; None: every queue); the detail says what it covers."""
    what = f"{op.description[:400]}; operation {op.id}"
    audited(name, target=target, job_count=op.total, outcome="started", detail=what)

    def ended(end: operations.Ended):
        if not end.ran:
            audited(
                name,
                target=target,
                job_count=0,
                outcome=end.status.status,
                detail=f"{what}: cancelled while waiting",
            )
        else:
            audited(
                name,
                target=target,
                job_count=end.status.succeeded,
                outcome=end.status.status,
                detail=f"{what}: {end.status.skipped} left alone",
                duration_ms=end.duration_ms,
            )

    get_console().operations.submit(op, work, ended, audited.app.app_context)


@bp.post("/queues/<name>/<state>/bulk")
@requires(JOBS_ACT)
def queue_bulk(name, state):
    state = checked_state(state)
    get_console().queues.require(name)
    action = catalogue.find(request.form.get("action", ""))
    if action is None or not action.bulk:
        abort(422, description=f"Unknown bulk action {request.form.get('action', '')[:40]!r}.")
    if not action.applies_to_state(state):
        abort(422, description=f"Cannot {action.name.replace('-', ' ')} {state} jobs.")
    if request.form.get("all") == "1":
        selection = bulk.Selection(state=state, queue=name, job_filter=_filter_from_form())
    else:
        ids = tuple(dict.fromkeys(i for i in request.form.getlist("ids") if valid_job_id(i)))
        if not ids:
            abort(422, description="Select at least one job, or all jobs matching the filter.")
        if len(ids) > MAX_EXPLICIT_IDS:
            abort(422, description=f"At most {MAX_EXPLICIT_IDS} selected jobs; use 'all matching' instead.")
        selection = bulk.Selection(state=state, queue=name, job_ids=ids)
    options = {
        "at_front": request.form.get("position") == "front",
        "target": request.form.get("target", ""),
        "create_queue": request.form.get("create_queue") == "1",
    }
    return start(action.name, selection, options)


@bp.post("/failed/retry-all")
@requires(JOBS_ACT)
def retry_all_failed():
    """Retry every failed job of every queue (or one queue), optionally filtered."""
    queue = request.form.get("queue") or None
    if queue:
        get_console().queues.require(queue)
    return start("retry", bulk.Selection(state="failed", queue=queue, job_filter=_filter_from_form()), {})


@bp.post("/queues/<name>/<state>/empty")
@requires(QUEUES_EMPTY)
def empty(name, state):
    state = checked_state(state)
    if state == "started":
        abort(422, description="Running jobs cannot be emptied: stop them first.")
    get_console().queues.require(name)
    if request.form.get("confirm_name", "") != name:
        abort(422, description=f"Type the queue name ({name}) to confirm emptying it.")
    return start("empty", bulk.Selection(state=state, queue=name), {})


@bp.get("/bulk/<op_id>")
def progress(op_id):
    status = get_console().bulk.read(op_id[:64])
    if status is None:
        abort(404, description="No such bulk operation (they are kept for a day).")
    return _progress(status)


@bp.post("/bulk/<op_id>/cancel")
@requires(JOBS_ACT)
def cancel(op_id):
    console = get_console()
    if not console.bulk.request_cancel(op_id[:64]):
        abort(404, description="No such bulk operation.")
    audit.action("bulk.cancel", target=op_id)
    return _progress(console.bulk.read(op_id))
