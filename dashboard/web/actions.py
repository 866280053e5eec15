"""Actions on one job, on queues and on workers: one small POST endpoint each.

Each parses the request, calls the RQ layer, writes an audit entry and answers with a clear
message; a job that changed state meanwhile gets 409 and is left untouched."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask import make_response as flask_response
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from dashboard import audit
from dashboard.auth import can, requires, safe_next
from dashboard.extensions import get_console
from dashboard.permissions import JOBS_ACT, WORKERS_CONTROL
from dashboard.rqlayer import actions, catalogue
from dashboard.rqlayer.errors import LayerError
from dashboard.rqlayer.vocabulary import valid_job_id
from dashboard.web import changes
from dashboard.web import jobs as job_views
from dashboard.web.formatting import ago
from dashboard.web.links import naming_job, worker_link
from dashboard.web.rendering import ERROR, SUCCESS, WARNING, notify
from dashboard.web.visible import visibility

bp = Blueprint("actions", __name__)


@bp.app_context_processor
def _catalogue():
    # Templates ask the catalogue which actions a status or a state offers, never a literal status set.
    return {"action_catalogue": catalogue, "row_buttons": row_buttons}


@dataclass(frozen=True)
class RowButton:
    action: catalogue.Action
    css: str
    label: str
    seen_json: Markup  # {"seen": status} as hx-vals JSON, escaped for an HTML attribute


@functools.lru_cache(maxsize=64)  # bounded: a planted status costs one slot, not memory per row
def row_buttons(status: str) -> tuple[RowButton, ...]:
    """The buttons of a row in `status`, worked out once per status instead of once per row (a page of
    500 rows asked the catalogue, built labels and serialised hx-vals 2,000 times)."""
    seen = htmlsafe_json_dumps({"seen": status})  # Markup: quotes, < > & and ' escaped
    return tuple(
        RowButton(a, "danger" if a.destructive else "secondary", a.label_for(status), seen)
        for a in catalogue.for_status(status)
        if a.name != "move"
    )


def _expected(action: catalogue.Action) -> tuple[str, ...]:
    """Only the status the operator saw: `seen` from the job page, or the list's `state` for a row.
    A job that changed meanwhile is left alone (409) instead of being acted on in its new state."""
    seen = request.form.get("seen") or request.form.get("state")
    if not seen:
        return action.statuses
    return action.expected_in(seen) or ("-",)


def _conflict_message(job_id: str, outcome: str, verb: str) -> str:
    if outcome == "missing":
        return "No such job any more: it expired or was deleted."
    if outcome == "broken":
        return (
            "Nothing done: this job's keys in Redis have the wrong type (corrupt, or written by something "
            "other than RQ). Inspect them with redis-cli before removing them by hand."
        )
    state = "somewhere else than shown" if outcome == "moved" else outcome
    message = f"Nothing done: the job is {state} now, so it cannot be {verb}."
    last = audit.latest_for_target(job_id)
    if last is not None:
        message += f" Last action: {last.action} by {last.actor} {ago(last.at_utc)}."
    return message


def _answer(job_id: str, message: str, status: int, ok: bool, gone: bool = False):
    """Row actions (HTMX aimed at a row) get the fresh row plus the message out of band; forms get
    the message flashed and a redirect. HTMX answers also tell the page what changed (changes.py), so
    its counts refresh, the selection clears, and a deleted job's row (`gone`) leaves the list. The
    message names the job as a link (links.naming_job); the page event carries it as plain text."""
    message = naming_job(job_id, message)
    if request.htmx and (request.htmx.target or "").startswith("row-"):
        row = get_console().jobs.rows([job_id], failures=True)[0]
        html = render_template(
            "partials/row_answer.html",
            row=visibility().row(row),
            message=message,
            ok=ok,
            state=request.form.get("state", ""),
        )
        return _told(flask_response(html, status), job_id, message.striptags(), ok, row.origin, gone)
    if request.htmx:
        html = render_template("partials/flash_message.html", message=message, ok=ok)
        return _told(flask_response(html, status), job_id, message.striptags(), ok, "", gone)
    notify(message, SUCCESS if ok else ERROR)
    if not ok:
        # The job page itself, with the message, answered as the conflict it is.
        html, _ = job_views.job_page(job_id)
        return flask_response(html, status)
    target = request.form.get("next") or url_for("jobs.detail", job_id=job_id)
    return redirect(safe_next(target), code=303)


@bp.post("/jobs/<job_id>/<action>")
@requires(JOBS_ACT)
def job_action(job_id, action):
    act = catalogue.find(action)
    if act is None or not act.single or not valid_job_id(job_id):
        abort(404, description="No such action or job.")
    if not can(act.permission):
        abort(403, description=f"Your role may not do this (needs the {act.permission!r} permission).")
    if act.name == "stop":
        return stop(job_id)
    started = time.monotonic()
    target_queue = request.form.get("queue", "")
    try:
        outcome = (
            get_console()
            .actions.perform(
                act.name,
                [job_id],
                _expected(act),
                position=request.form.get("position") or None,
                target=target_queue,
                create=request.form.get("create_queue") == "1",
                actor=audit.auditor().actor,
            )
            .outcomes[job_id]
        )
    except actions.UnknownQueue as error:
        # A confirmation step, not a move: the job page shows a form that confirms creating it.
        g.move_confirm = error.queue
        return _answer(
            job_id,
            f"Queue '{error.queue}' does not exist and no worker listens to it. Create it and "
            "move? Nothing was moved yet.",
            409,
            ok=False,
        )
    except actions.ActionError as error:
        return _answer(job_id, f"Nothing done: {error}.", 422, ok=False)
    detail = f"to queue {target_queue}" if act.name == "move" else request.form.get("position") or None
    if outcome.startswith("ok"):
        audit.action(f"job.{act.name}", target=job_id, job_count=1, detail=detail, started=started)
        message = f"Job {job_id} {act.past}" + (f" to {target_queue}" if act.name == "move" else "") + "."
        if outcome == "ok:rate_limited":
            message += " Its concurrency limit is full: it waits, held back, for a free slot."
        if act.name == "delete" and not (request.htmx and (request.htmx.target or "").startswith("row-")):
            notify(naming_job(job_id, message), SUCCESS)
            return _redirect_after_delete()
        return _answer(job_id, message, 200, ok=True, gone=act.name == "delete")
    audit.action(f"job.{act.name}", target=job_id, job_count=0, outcome="conflict", detail=outcome, started=started)
    return _answer(job_id, _conflict_message(job_id, outcome, act.past), 409 if outcome != "missing" else 404, ok=False)


def _told(response, job_id: str, message: str, ok: bool, queue: str, gone: bool):
    # The body already shows the message (#flash out of band, or the fragment itself): shown=True.
    removed = (job_id,) if gone else ()
    return changes.tell_page(
        response, message=message, affected=int(ok), ok=ok, queue=queue, ids=(job_id,), removed=removed, shown=True
    )


def _redirect_after_delete():
    target = safe_next(request.form.get("next") or url_for("overview.index"))
    if request.htmx:
        response = flask_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, code=303)


def stop(job_id):
    started = time.monotonic()
    try:
        result = get_console().actions.stop_job(job_id, actor=audit.auditor().actor)
    except LayerError as error:
        audit.action("job.stop", target=job_id, job_count=0, outcome="conflict", detail=str(error))
        return _answer(job_id, f"Nothing done: {error}.", error.status, ok=False)
    outcome = "ok" if result.delivered else "undelivered"
    audit.action(
        "job.stop", target=job_id, job_count=1, outcome=outcome, detail=f"worker {result.worker}", started=started
    )
    if not result.delivered:
        return _answer(
            job_id,
            f"No worker received the stop command: worker {result.worker} is not listening "
            "(it may have died). The job was not stopped.",
            409,
            ok=False,
        )
    return _answer(
        job_id,
        f"Stop sent to worker {result.worker}: the job ends as stopped and moves to the failed registry.",
        200,
        ok=True,
    )


@bp.get("/actions/queue-names")
@requires(JOBS_ACT)
def queue_names():
    """The existing queues as <option>s, for the move form's suggestions."""
    return render_template("partials/queue_options.html", names=get_console().queues.names())


# ---------------------------------------------------------------- workers


@bp.post("/workers/suspend")
@requires(WORKERS_CONTROL)
def suspend():
    get_console().actions.suspend_workers()
    audit.action("workers.suspend")
    notify(
        "Workers suspended. RQ workers check this only between jobs: running jobs finish, and a worker that "
        "was waiting for a job still takes the next one that arrives before it stops. The worker list shows "
        "each worker's acknowledgement."
    )
    return redirect(url_for("overview.index"), code=303)


@bp.post("/workers/resume")
@requires(WORKERS_CONTROL)
def resume():
    get_console().actions.resume_workers()
    audit.action("workers.resume")
    notify("Workers resumed.", SUCCESS)
    return redirect(url_for("overview.index"), code=303)


@bp.post("/workers/<name>/<command>")
@requires(WORKERS_CONTROL)
def worker_command(name, command):
    console = get_console()
    calls = {"shutdown": console.actions.shutdown_worker, "kill-horse": console.actions.kill_horse}
    if command not in calls:
        abort(404, description="Worker commands: shutdown, kill-horse.")
    if not console.workers.exists(name):
        abort(404, description=f"No worker named {name[:80]!r} is registered.")
    result = calls[command](name)
    audit.action(f"worker.{command}", target=name, outcome="ok" if result.delivered else "undelivered")
    if not result.delivered:
        notify(
            Markup("Worker {} did not receive the command: it is not listening (gone or stale).").format(
                worker_link(name)
            ),
            WARNING,
        )
        return redirect(safe_next(request.form.get("next")), code=303)
    notify(
        (
            Markup("Warm shutdown sent to {}: it finishes its current job, then exits.")
            if command == "shutdown"
            else Markup("Kill sent to {}: its current job fails as &#39;work-horse terminated&#39;; it goes on.")
        ).format(worker_link(name))
    )
    return redirect(safe_next(request.form.get("next")), code=303)  # the overview, or the worker page
