"""Queue pages: a tab per state, pages at any depth, filters, export; the dead-letter view."""

from __future__ import annotations

import csv
import functools
import io
import json
from dataclasses import replace
from urllib.parse import quote

from flask import Blueprint, Response, abort, render_template, request, stream_with_context

from dashboard.extensions import get_console
from dashboard.rqlayer import jobs
from dashboard.rqlayer.vocabulary import FAILED_PAGE_SIZE, STATES
from dashboard.web.failed import FAILURE_WINDOWS, WINDOW_WORDS, failed_query, failure_window, group_query
from dashboard.web.params import checked_state, list_params
from dashboard.web.rendering import page_or_partial, wants_fragment
from dashboard.web.visible import visibility

bp = Blueprint("queues", __name__)


@bp.get("/queues/<name>/<state>")
def state(name, state):
    """The jobs of one state. The HTMX fragments (the list, or the next rows of a filtered scan) read only
    what they render: the queue's existence and the page (3 round trips); the full page adds the tab
    counts and the queue names of the move field."""
    console = get_console()
    queue = console.queues.require(name)
    state = checked_state(state)
    params = list_params()
    visible = visibility()
    if params.job_filter.active:
        scan = console.jobs.scan(
            queue, state, params.job_filter, offset=params.offset, order=params.order, max_rows=params.size
        )
        scan, page = replace(scan, rows=visible.rows(scan.rows)), None
    else:
        page = console.jobs.page(queue, state, params.page, params.size, params.order)
        scan, page = None, replace(page, rows=visible.rows(page.rows))
    partial = "partials/scan_rows.html" if request.args.get("fragment") == "scan" else "partials/job_list.html"
    context = dict(queue=queue, state=state, states=STATES, page=page, scan=scan, params=params)
    if wants_fragment():
        return render_template(partial, **context)
    return render_template(
        "pages/queue.html",
        counts=console.queues.counts(queue),
        queue_names=console.queues.names(),
        **context,
    )


@bp.get("/queues/<name>/<state>/tabs")
def tabs(name, state):
    """The state tabs with live counts: a small fragment polled every few seconds."""
    console = get_console()
    queue = console.queues.require(name)
    state = checked_state(state)
    counts = console.queues.counts(queue)
    return page_or_partial(
        "pages/queue_tabs_only.html",
        "partials/state_tabs.html",
        queue=queue,
        state=state,
        states=STATES,
        counts=counts,
        params=list_params(),
    )


@bp.get("/queues/<name>/<state>/export.<fmt>")
def export(name, state, fmt):
    if fmt not in ("csv", "jsonl"):
        abort(404, description="Export formats: csv, jsonl.")
    console = get_console()
    queue = console.queues.require(name)
    state = checked_state(state)
    params = list_params()
    visible = visibility()
    columns = (
        "id",
        "status",
        "function",
        "args",
        "origin",
        "enqueued_at",
        "started_at",
        "ended_at",
        "duration_s",
        "worker",
        "exc_type",
        "exc_message",
    )

    def record(row: jobs.JobRow) -> dict:
        row = visible.row(row)
        return {
            "id": row.id,
            "status": row.status if row.exists else "expired",
            "function": row.func_name,
            "args": row.args_preview,
            "origin": row.origin,
            "enqueued_at": row.enqueued_at.isoformat() if row.enqueued_at else "",
            "started_at": row.started_at.isoformat() if row.started_at else "",
            "ended_at": row.ended_at.isoformat() if row.ended_at else "",
            "duration_s": row.duration_seconds if row.duration_seconds is not None else "",
            "worker": row.worker_name,
            "exc_type": row.failure.exc_type if row.failure else "",
            "exc_message": row.failure.message if row.failure else "",
        }

    def generate():
        rows = console.jobs.each(queue, state, params.job_filter, params.order)
        if fmt == "jsonl":
            for row in rows:
                yield json.dumps(record(row), ensure_ascii=False) + "\n"
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_safe(v) for k, v in record(row).items()})
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    mimetype = "text/csv" if fmt == "csv" else "application/x-ndjson"
    response = Response(stream_with_context(generate()), mimetype=mimetype)
    # An ASCII name for every client, the real one (any script) for those that read filename*.
    filename = f"{queue}-{state}.{fmt}"
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in filename)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
    )
    return response


def _csv_safe(value):
    # A cell starting with = + - @ is a formula in spreadsheets: job data must not become one.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@bp.get("/failed")
def failed():
    """The dead-letter view: failures of every queue, newest first. Unfiltered it is O(page) (keyset
    cursor), the groups by exception and function being their own fragment (failed_groups); filtered
    (exactly or containing, within the window) it scans from the cursor in bounded steps, and the
    fragment=scan requests continue filling the page."""
    query = failed_query()
    cursor = request.args.get("cursor") or None
    visible = visibility()
    console = get_console()
    listing = matches = None
    if query.active:
        found = int(request.args.get("found", "0")) if request.args.get("found", "").isdigit() else 0
        matches = console.jobs.failed_matching(
            query.job_filter, cursor=cursor, max_rows=max(1, FAILED_PAGE_SIZE - found)
        )
        rows = [(queue, visible.row(row)) for queue, row in matches.rows]
    else:
        listing = console.jobs.failed(cursor=cursor, size=FAILED_PAGE_SIZE)
        rows = [(queue, visible.row(row)) for queue, row in listing.rows]
    context = dict(
        listing=listing,
        matches=matches,
        rows=rows,
        query=query,
        window=query.window,
        windows=list(FAILURE_WINDOWS),
        window_words=WINDOW_WORDS,
        cursor=cursor,
        page_size=FAILED_PAGE_SIZE,
        show_values=visible.values,
    )
    if request.args.get("fragment") == "scan" and wants_fragment():
        return render_template("partials/failed_scan.html", **context)
    return page_or_partial("pages/failed.html", "partials/failed_body.html", **context)


@bp.get("/failed/groups")
def failed_groups():
    """Failures grouped by exception and by function: computed at most every few seconds for all
    console process's threads (cached in its memory for a few seconds), so loading it often reads nothing."""
    window = failure_window(request.args)
    groups = visibility().failure_groups(get_console().jobs.failure_groups(window, FAILURE_WINDOWS[window]))
    return render_template(
        "partials/failed_groups.html",
        groups=groups,
        window=window,
        window_words=WINDOW_WORDS,
        group_query=functools.partial(group_query, window),
    )
