"""Actions on one job, on queues and on workers: one small POST endpoint each.

Each parses the request, calls the RQ layer, writes an audit entry and answers with a clear
message; a job that changed state meanwhile gets 409 and is left untouched."""

from __future__ import annotations

import time

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask import make_response as flask_response

from dashboard import audit
from dashboard.auth import current_principal, requires, safe_next
from dashboard.extensions import get_redis
from dashboard.permissions import JOBS_ACT, WORKERS_CONTROL
from dashboard.rqlayer import actions, jobs
from dashboard.web import jobs as job_views
from dashboard.web.formatting import ago
from dashboard.web.visible import visibility

bp = Blueprint("actions", __name__)

# action name -> (RQ-layer call, the statuses it applies to, past tense for the message)
JOB_ACTIONS = {
    "retry": (lambda c, i, f, e: actions.retry(c, [i], e, at_front=f.get("position") == "front"),
              actions.RETRYABLE, "retried"),
    "cancel": (lambda c, i, f, e: actions.cancel(c, [i], e), actions.CANCELABLE, "canceled"),
    "delete": (lambda c, i, f, e: actions.delete(c, [i], e), actions.DELETABLE, "deleted"),
    "requeue": (lambda c, i, f, e: actions.requeue(c, [i], front=f.get("position") != "back"), ("queued",),
                "moved"),
    "move": (lambda c, i, f, e: actions.move(c, [i], f.get("queue", ""), front=f.get("position") == "front",
                                             create=f.get("create_queue") == "1"),
             ("queued",), "moved"),
    "run-now": (lambda c, i, f, e: actions.run_now(c, [i], e), actions.RUNNABLE_NOW, "queued to run now"),
}


def _expected(applies_to: tuple[str, ...]) -> tuple[str, ...]:
    """Only the status the operator saw: `seen` from the job page, or the list's `state` for a row.
    A job that changed meanwhile is left alone (409) instead of being acted on in its new state."""
    seen = request.form.get("seen") or request.form.get("state")
    if not seen:
        return applies_to
    return tuple(s for s in actions.statuses_of(seen) if s in applies_to) or ("-",)


def _actor() -> str:
    return current_principal().audit_name


def _conflict_message(job_id: str, outcome: str, verb: str) -> str:
    if outcome == "missing":
        return "No such job any more: it expired or was deleted."
    if outcome == "broken":
        return ("Nothing done: this job's keys in Redis have the wrong type (corrupt, or written by something "
                "other than RQ). Inspect them with redis-cli before removing them by hand.")
    state = "somewhere else than shown" if outcome == "moved" else outcome
    message = f"Nothing done: the job is {state} now, so it cannot be {verb}."
    last = audit.latest_for_target(job_id)
    if last is not None:
        message += f" Last action: {last.action} by {last.actor} {ago(last.at_utc)}."
    return message


def _answer(job_id: str, message: str, status: int, ok: bool):
    """Row actions (HTMX aimed at a row) get the fresh row plus the message out of band; forms get
    the message flashed and a redirect."""
    if request.htmx and (request.htmx.target or "").startswith("row-"):
        row = jobs.read_rows(get_redis(), [job_id], current_app.config["CONSOLE"].unsafe_unpickle,
                             failures=True)[0]
        html = render_template("partials/row_answer.html", row=visibility().row(row), message=message, ok=ok,
                               state=request.form.get("state", ""))
        return flask_response(html, status)
    if request.htmx:
        html = render_template("partials/flash_message.html", message=message, ok=ok)
        return flask_response(html, status)
    flash(message)
    if not ok:
        # The job page itself, with the message, answered as the conflict it is.
        page = job_views.detail(job_id)
        html = page[0] if isinstance(page, tuple) else page
        return flask_response(html, status)
    target = request.form.get("next") or url_for("jobs.detail", job_id=job_id)
    return redirect(safe_next(target), code=303)


@bp.post("/jobs/<job_id>/<action>")
@requires(JOBS_ACT)
def job_action(job_id, action):
    if action == "stop":
        return stop(job_id)
    if action not in JOB_ACTIONS or not jobs.valid_job_id(job_id):
        abort(404, description="No such action or job.")
    call, applies_to, verb = JOB_ACTIONS[action]
    started = time.monotonic()
    try:
        outcome = call(get_redis(), job_id, request.form, _expected(applies_to)).outcomes[job_id]
    except actions.UnknownQueue as error:
        # A confirmation step, not a move: the job page shows a form that confirms creating it.
        g.move_confirm = error.queue
        return _answer(job_id, f"Queue '{error.queue}' does not exist and no worker listens to it. Create it and "
                               "move? Nothing was moved yet.", 409, ok=False)
    except actions.ActionError as error:
        return _answer(job_id, f"Nothing done: {error}.", 422, ok=False)
    duration = actions.monotonic_ms(started)
    target_queue = request.form.get("queue", "")
    detail = f"to queue {target_queue}" if action == "move" else request.form.get("position") or None
    if outcome.startswith("ok"):
        audit.record(_actor(), f"job.{action}", target=job_id, job_count=1, detail=detail,
                     remote_addr=request.remote_addr, duration_ms=duration)
        message = f"Job {job_id} {verb}" + (f" to {target_queue}" if action == "move" else "") + "."
        if outcome == "ok:rate_limited":
            message += " Its concurrency limit is full: it waits, held back, for a free slot."
        if action == "delete" and not (request.htmx and (request.htmx.target or "").startswith("row-")):
            flash(message)
            return _redirect_after_delete()
        return _answer(job_id, message, 200, ok=True)
    audit.record(_actor(), f"job.{action}", target=job_id, job_count=0, outcome="conflict", detail=outcome,
                 remote_addr=request.remote_addr, duration_ms=duration)
    return _answer(job_id, _conflict_message(job_id, outcome, verb), 409 if outcome != "missing" else 404, ok=False)


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
        result = actions.stop_job(get_redis(), job_id)
    except actions.ActionError as error:
        audit.record(_actor(), "job.stop", target=job_id, job_count=0, outcome="conflict", detail=str(error),
                     remote_addr=request.remote_addr)
        return _answer(job_id, f"Nothing done: {error}.", 409, ok=False)
    outcome = "ok" if result.delivered else "undelivered"
    audit.record(_actor(), "job.stop", target=job_id, job_count=1, outcome=outcome, detail=f"worker {result.worker}",
                 remote_addr=request.remote_addr, duration_ms=actions.monotonic_ms(started))
    if not result.delivered:
        return _answer(job_id, f"No worker received the stop command: worker {result.worker} is not listening "
                               "(it may have died). The job was not stopped.", 409, ok=False)
    return _answer(job_id, f"Stop sent to worker {result.worker}: the job ends as stopped and moves to the "
                           "failed registry.", 200, ok=True)


@bp.get("/actions/queue-names")
@requires(JOBS_ACT)
def queue_names():
    """The existing queues as <option>s, for the move form's suggestions."""
    return render_template("partials/queue_options.html", names=jobs.list_queue_names(get_redis()))


# ---------------------------------------------------------------- workers

@bp.post("/workers/suspend")
@requires(WORKERS_CONTROL)
def suspend():
    actions.suspend_workers(get_redis())
    audit.record(_actor(), "workers.suspend", remote_addr=request.remote_addr)
    flash("Workers suspended. RQ workers check this only between jobs: running jobs finish, and a worker that "
          "was waiting for a job still takes the next one that arrives before it stops. The worker list shows "
          "each worker's acknowledgement.")
    return redirect(url_for("overview.index"), code=303)


@bp.post("/workers/resume")
@requires(WORKERS_CONTROL)
def resume():
    actions.resume_workers(get_redis())
    audit.record(_actor(), "workers.resume", remote_addr=request.remote_addr)
    flash("Workers resumed.")
    return redirect(url_for("overview.index"), code=303)


@bp.post("/workers/<name>/<command>")
@requires(WORKERS_CONTROL)
def worker_command(name, command):
    calls = {"shutdown": actions.shutdown_worker, "kill-horse": actions.kill_horse}
    if command not in calls:
        abort(404, description="Worker commands: shutdown, kill-horse.")
    if not jobs.worker_exists(get_redis(), name):
        abort(404, description=f"No worker named {name[:80]!r} is registered.")
    result = calls[command](get_redis(), name)
    audit.record(_actor(), f"worker.{command}", target=name, outcome="ok" if result.delivered else "undelivered",
                 remote_addr=request.remote_addr)
    if not result.delivered:
        flash(f"Worker {name} did not receive the command: it is not listening (gone or stale).")
        return redirect(url_for("overview.index"), code=303)
    flash(f"Warm shutdown sent to {name}: it finishes its current job, then exits." if command == "shutdown"
          else f"Kill sent to {name}: its current job fails as 'work-horse terminated'; the worker goes on.")
    return redirect(url_for("overview.index"), code=303)
