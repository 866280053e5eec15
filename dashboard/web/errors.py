"""Error groups (/errors): failures grouped by fingerprint, their trend, where they happen, their live failed
jobs, and the status an operator gives them (resolve, ignore, reopen); GET /api/v1/error-groups.

Thin: the groups are dashboard/history/error_groups.py's (SQL, written by the collector); the live failed
jobs of a group are the dead-letter view's scan with a fingerprint filter (rqlayer/failures.py), and
"Retry this group" is /failed's retry with its exact count (web/failed.py, the bulk machinery). Viewers
without jobs.view_values see no exception message and only the skeleton of the sample traceback
(dashboard/visibility.py), in the pages and the API alike.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for
from flask import make_response as flask_response
from sqlalchemy.exc import SQLAlchemyError

from dashboard import audit
from dashboard.auth import requires, safe_next
from dashboard.extensions import db, get_console
from dashboard.history import error_groups as groups
from dashboard.history.queries import BadQuery
from dashboard.permissions import JOBS_ACT, VIEW
from dashboard.rqlayer.fingerprint import FINGERPRINT
from dashboard.rqlayer.search import JobFilter
from dashboard.visibility import redact_traceback
from dashboard.web.rendering import SUCCESS, notify, wants_fragment
from dashboard.web.visible import visibility

bp = Blueprint("errors", __name__)
api_bp = Blueprint("errors_api", __name__, url_prefix="/api/v1")

LIVE_ROWS = 20  # live failed jobs shown on a group's page (the rest are on /failed?fingerprint=)
LIST_WINDOW = timedelta(hours=24)  # the list's functions and queues: the same day its sparkline shows
DETAIL_WINDOW = timedelta(days=30)
LIST_SAMPLE = 1_000  # a list's functions and queues: of each group's newest 1,000 failures (50 groups a page)
AUDIT_ACTIONS = {name: f"error_group.{name}" for name in groups.ACTIONS}
PAST = {"resolve": "Resolved", "ignore": "Ignored", "reopen": "Reopened"}


def _checked_fingerprint(fingerprint: str) -> str:
    if not FINGERPRINT.fullmatch(fingerprint):
        abort(404, description="No such error group: an error group's id is 32 hexadecimal digits.")
    return fingerprint


def _sql_unavailable():
    current_app.logger.exception("reading the error groups failed")
    db.session.rollback()
    abort(503, description="The history database cannot be read right now, so error groups cannot be shown.")


def _list_context(status: str, after: str | None) -> dict:
    try:
        sql = db.session.connection()
        page = groups.list_groups(sql, status, after)
        trends, affected = groups.page_summaries(sql, page.groups, datetime.now(UTC) - LIST_WINDOW, LIST_SAMPLE)
    except BadQuery as error:
        abort(400, description=str(error))
    except SQLAlchemyError:
        _sql_unavailable()
    return dict(
        page=page, trends=trends, affected=affected, status=status, tabs=groups.TABS, after=after,
        show_messages=visibility().values,
    )  # fmt: skip


@bp.get("/errors")
@requires(VIEW)
def index():
    """Error groups with a status (or all), newest failure first; keyset pages (`after`), no count."""
    status = request.args.get("status", "all") or "all"
    context = _list_context(status, request.args.get("after") or None)
    if wants_fragment():
        return render_template("partials/error_groups.html", **context)
    return render_template("pages/errors.html", **context)


def _live_jobs(fingerprint: str):
    """The newest live failed jobs of the group (a bounded scan of the failed registries) and, when the
    scan reached the end, their exact number (the retry button then needs no second count)."""
    matches = get_console().jobs.failed_matching(JobFilter(fingerprint=fingerprint), max_rows=LIVE_ROWS)
    visible = visibility()
    rows = [(queue, visible.row(row)) for queue, row in matches.rows]
    exact = matches.matched if matches.done else None
    return rows, matches, exact


def _live_context(fingerprint: str) -> dict:
    """What partials/error_live.html needs: Redis only (its poll reads no SQL)."""
    visible = visibility()
    rows, matches, exact = _live_jobs(fingerprint)
    job_filter = JobFilter(fingerprint=fingerprint)
    return dict(
        fp=fingerprint, rows=rows, matches=matches, exact=exact, show_values=visible.values,
        show_messages=visible.values,
        retry_params={"window": "all", **job_filter.as_params()}, retry_words=job_filter.describe(),
    )  # fmt: skip


def _detail_context(fingerprint: str) -> dict:
    try:
        sql = db.session.connection()
        group = groups.get_group(sql, fingerprint)
        day = groups.trends(sql, [fingerprint], "24h")[fingerprint]
        month = groups.trends(sql, [fingerprint], "30d")[fingerprint]
        where = groups.affected(sql, [fingerprint], datetime.now(UTC) - DETAIL_WINDOW)[fingerprint]
    except SQLAlchemyError:
        _sql_unavailable()
    visible = visibility()
    sample = ""
    if group is not None:
        sample = group.sample_traceback if visible.values else redact_traceback(group.sample_traceback)
    return dict(
        group=group,
        day=day,
        month=month,
        where=where,
        sample=sample,
        sample_size=groups.AFFECTED_SAMPLE,
        **_live_context(fingerprint),
    )


@bp.get("/errors/<fingerprint>")
@requires(VIEW)
def detail(fingerprint: str):
    """One group: what and where, its trend, the sample traceback, its live failed jobs, its actions. A
    fingerprint the history does not hold yet (a job page links to its group before the collector wrote
    it) still shows its live failed jobs."""
    fingerprint = _checked_fingerprint(fingerprint)
    if wants_fragment() and request.args.get("fragment") == "live":
        # The poll: the live jobs only. The group's trends and where it happens read every failure of the
        # group in 30 days (1,000,000 failures: ~1 s of PostgreSQL), not to be repeated at each refresh.
        return render_template("partials/error_live.html", **_live_context(fingerprint))
    context = _detail_context(fingerprint)
    return render_template("pages/error_group.html", **context), 200 if context["group"] or context["rows"] else 404


@bp.post("/errors/<fingerprint>/<action>")
@requires(JOBS_ACT)
def set_status(fingerprint: str, action: str):
    """Resolve, ignore or reopen a group: who and when are stored with it and in the audit log (one
    transaction). HTMX gets the group's fresh status fragment; a plain form a redirect with a message."""
    _checked_fingerprint(fingerprint)
    if action not in groups.ACTIONS:
        abort(404, description=f"No such action on an error group: use one of {', '.join(groups.ACTIONS)}.")
    started = time.monotonic()
    try:
        sql = db.session.connection()
        before = groups.get_group(sql, fingerprint)
        if before is None:
            abort(404, description="No such error group: the history holds no failure with this fingerprint.")
        group = groups.set_status(sql, fingerprint, action, audit.auditor().actor)
        # The audit entry commits the status with it.
        audit.action(
            AUDIT_ACTIONS[action],
            target=fingerprint,
            job_count=0,
            detail=f"{group.exc_type}: {before.status} -> {group.status}",
            started=started,
        )
    except groups.GroupNotFound:
        db.session.rollback()
        abort(404, description="No such error group: it was removed meanwhile.")
    except SQLAlchemyError:
        current_app.logger.exception("changing an error group's status failed")
        db.session.rollback()
        abort(503, description="The history database cannot be written right now: the status is unchanged.")
    message = f"{PAST[action]} the error group {group.exc_type} (now {group.status})."
    if request.htmx:
        html = render_template("partials/error_status.html", g=group, message=message)
        return flask_response(html, 200)
    notify(message, SUCCESS)
    target = request.form.get("next") or url_for("errors.detail", fingerprint=fingerprint)
    return redirect(safe_next(target), code=303)


def _group_json(group: groups.ErrorGroup, where: groups.Affected, show_messages: bool) -> dict:
    return {
        "fingerprint": group.fingerprint,
        "exc_type": group.exc_type,
        "message": group.message if show_messages else None,
        "count": group.count,
        "first_seen": group.first_seen.isoformat(),
        "last_seen": group.last_seen.isoformat(),
        "status": group.status,
        "status_changed_at": group.status_changed_at.isoformat() if group.status_changed_at else None,
        "status_changed_by": group.status_changed_by or None,
        "resolved_at": group.resolved_at.isoformat() if group.resolved_at else None,
        "regressed_at": group.regressed_at.isoformat() if group.regressed_at else None,
        "functions": [name for name, _ in where.functions],
        "queues": [name for name, _ in where.queues],
    }


@api_bp.get("/error-groups")
@requires(VIEW)
def api_list():
    """{"groups": [...], "next": cursor or null}: a page of groups (status=open|regressed|resolved|ignored|all,
    after=<next of the previous page>). `message` is null for roles that may not see exception text;
    functions and queues are those of the last 24 hours (of each group's newest LIST_SAMPLE failures)."""
    status = request.args.get("status", "all") or "all"
    try:
        sql = db.session.connection()
        page = groups.list_groups(sql, status, request.args.get("after") or None)
        fps = [g.fingerprint for g in page.groups]
        where = groups.affected(sql, fps, datetime.now(UTC) - LIST_WINDOW, sample=LIST_SAMPLE)
    except BadQuery as error:
        return jsonify(error="bad_request", message=str(error)), 400
    except SQLAlchemyError:
        current_app.logger.exception("reading the error groups failed")
        db.session.rollback()
        return jsonify(error="unavailable", message="The history database cannot be read right now."), 503
    show = visibility().values
    return jsonify(groups=[_group_json(g, where[g.fingerprint], show) for g in page.groups], next=page.next_cursor)
