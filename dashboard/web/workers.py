"""The worker page: one worker's queues, state, running jobs, counters and heartbeat, refreshed live.

Links to a worker are built from one prefix per page (`worker_base`, this blueprint's index URL), so
a list of 500 rows does not call url_for 500 times: `{{ worker_base ~ name | url_quoted }}`."""

from __future__ import annotations

from flask import Blueprint, current_app, has_request_context, redirect, render_template, request, url_for
from flask import make_response as flask_response

from dashboard.extensions import get_console
from dashboard.web import links
from dashboard.web.rendering import page_or_partial, wants_fragment
from dashboard.web.visible import visibility
from dashboard.web.worker_history import worker_history_context

bp = Blueprint("workers", __name__)
for _helper in (links.job_link, links.total_href, links.audit_target_href, links.here_url):
    bp.add_app_template_global(_helper)
bp.add_app_template_filter(links.url_quoted)


@bp.app_context_processor
def _worker_links() -> dict[str, str]:
    # The prefix every worker URL starts with: /workers/<name> is index URL + the quoted name.
    return {"worker_base": url_for("workers.index") if has_request_context() else "/workers/"}


@bp.get("/workers/")
def index():
    """The workers list is the overview's: there is no second one to keep in step."""
    return redirect(url_for("overview.index") + "#workers", code=302)


@bp.get("/workers/<path:name>")
def detail(name: str):
    if request.args.get("part") == "history" and wants_fragment():  # the history section's poll: SQL only
        return render_template("partials/worker_history.html", name=name, history=worker_history_context(name))
    worker = get_console().workers.read(name)
    found = worker is not None and worker.found
    history = worker_history_context(name) if worker is not None and not wants_fragment() else None
    html = page_or_partial(
        "pages/worker.html",
        "partials/worker_detail.html",
        name=name,
        worker=worker if found else None,
        registered=worker is not None and worker.registered,
        current_jobs=visibility().rows(list(worker.current_jobs)) if found and worker else [],
        poll_seconds=current_app.config["CONSOLE"].poll_seconds,
        history=history,
    )
    # A poll that finds the worker gone swaps in the "gone" notice (200: htmx swaps only 2xx); a page
    # asked for a worker that does not exist is a 404, unless the history knows it (a worker that is gone).
    known = found or wants_fragment() or bool(history and history["recent"])
    return flask_response(html, 200 if known else 404)
