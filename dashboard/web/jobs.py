"""One job: everything RQ knows about it, live while it runs; and jumping to a job by id."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, has_request_context, redirect, render_template, request, url_for

from dashboard.extensions import get_console
from dashboard.rqlayer import lookup
from dashboard.rqlayer.fingerprint import traceback_fingerprint
from dashboard.rqlayer.vocabulary import valid_job_id
from dashboard.visibility import is_hidden
from dashboard.web.code import enqueue_snippet, split_traceback
from dashboard.web.rendering import page_or_partial
from dashboard.web.visible import visibility

bp = Blueprint("jobs", __name__)
# `{% if value is hidden %}`: templates style what the visibility policy replaced, without role logic.
bp.add_app_template_test(is_hidden, "hidden")


@bp.app_context_processor
def _job_links() -> dict[str, str]:
    # Rows link to /jobs/<id> and post to /jobs/<id>/<action>: one prefix a page (`job_base ~ id | url_quoted`)
    # instead of two url_for calls a row (a 50-row page spent ~1.3 ms in them).
    return {"job_base": url_for("jobs.detail", job_id="-")[:-1] if has_request_context() else "/jobs/"}


def _missing(job_id: str, message: str):
    return render_template("pages/job_missing.html", job_id=job_id, message=message), 404


@bp.get("/jobs/<job_id>")
def detail(job_id):
    return job_page(job_id)


def job_page(job_id: str) -> tuple[str, int]:
    """The job page (or the fragment HTMX polls), or the missing-job page: (html, status). Not a view:
    the detail route answers with it, and an action that changed nothing shows it with its own status."""
    if not valid_job_id(job_id):
        return _missing(job_id, "That is not a valid job id.")
    console = get_console()
    job = console.jobs.detail(job_id)
    if job is None:
        return _missing(job_id, "No job with this id: it never existed, or it expired and was removed.")
    # Its error group (/errors), from the whole traceback before the role's view of it hides the message.
    error_group = traceback_fingerprint(job.traceback) if job.traceback and job.row.failure else ""
    visible = visibility()
    job = visible.job(job)
    return page_or_partial(
        "pages/job.html",
        "partials/job_detail.html",
        job=job,
        visible=visible,
        snippet=enqueue_snippet(job, console.capabilities.serializer),
        frames=split_traceback(job.traceback),
        error_group=error_group,
        enqueueable=visible.values and console.tasks.is_registered(job.call.func_name) and not job.call.args.value,
        poll_seconds=current_app.config["CONSOLE"].poll_seconds,
    ), 200


@bp.get("/jobs/search")
def search():
    job_id = request.args.get("q", "").strip()
    if not job_id:
        abort(400, description="Type a job id to search for.")
    console = get_console()
    if console.jobs.exists(job_id):
        return redirect(url_for("jobs.detail", job_id=job_id))
    if not lookup.is_prefix_candidate(job_id):
        return _missing(
            job_id,
            f"No job with this id. To search by the start of an id, type at least {lookup.MIN_PREFIX} characters.",
        )
    found = console.jobs.find_by_prefix(job_id)
    if found.unique:
        return redirect(url_for("jobs.detail", job_id=found.unique))
    if found.matches:
        return render_template("pages/job_matches.html", found=found)
    return _missing(
        job_id,
        f"No job id starts with “{job_id}” among the {found.searched:,} ids searched (the "
        f"{found.window:,} newest and oldest of each queue and the {found.window:,} newest of "
        f"each registry). Paste the full id to open an older job.",
    )
