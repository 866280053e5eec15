"""Saved views (rqlayer/views.py): the list with the built-in ones, save and delete one's own, and the
built-in pages (stuck jobs, failed today, failed in the last hour)."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for

from dashboard import audit
from dashboard.auth import current_principal, requires
from dashboard.extensions import get_console
from dashboard.permissions import VIEW
from dashboard.rqlayer.errors import InvalidInput
from dashboard.rqlayer.search import JobFilter
from dashboard.rqlayer.vocabulary import FAILED_PAGE_SIZE
from dashboard.web.visible import visibility

bp = Blueprint("views", __name__)
BUILT_IN = (
    ("Stuck jobs", "views.stuck", "running longer than their timeout: a dead or hung worker"),
    ("Failed today", "views.failed_today", "failures of every queue since 00:00 UTC"),
    ("Last hour", "views.last_hour", "failures of every queue in the last hour"),
)


def _user() -> str:
    principal = current_principal()
    if principal is None:
        abort(403)
    return principal.audit_name


def _page(code: int = 200, error: InvalidInput | None = None, values: dict | None = None):
    views = get_console().views.saved(_user())
    values = values if values is not None else {"url": request.args.get("url", ""), "name": ""}
    return render_template("pages/views.html", views=views, built_in=BUILT_IN, values=values, error=error), code


@bp.get("/views")
def index():
    """The built-in views and the user's own (`?url=` prefills the save form: the nav's "Save view")."""
    return _page()


@bp.post("/views")
@requires(VIEW)
def save():
    values = {"name": request.form.get("name", ""), "url": request.form.get("url", "")}
    try:
        view = get_console().views.save(_user(), values["name"], values["url"])
    except InvalidInput as error:
        return _page(422, error, values)
    audit.action("view.save", target=view.name, detail=view.url[:500])
    return redirect(url_for("views.index"), 303)


@bp.post("/views/delete")
@requires(VIEW)
def delete():
    name = request.form.get("name", "")
    if not get_console().views.delete(_user(), name):
        abort(404, description="No saved view by that name.")
    audit.action("view.delete", target=name[:200])
    return redirect(url_for("views.index"), 303)


@bp.get("/views/stuck")
def stuck():
    """Running jobs past their timeout, most overdue first."""
    rows = get_console().views.stuck()
    visible = visibility()
    return render_template("pages/view_stuck.html", stuck=[(s, visible.row(s.row)) for s in rows])


def _failures(title: str, since: float):
    matches = get_console().jobs.failed_matching(
        JobFilter(ended_after=since), cursor=request.args.get("cursor") or None, max_rows=FAILED_PAGE_SIZE
    )
    visible = visibility()
    rows = [(queue, visible.row(row)) for queue, row in matches.rows]
    return render_template("pages/view_failures.html", title=title, matches=matches, rows=rows)


@bp.get("/views/failed-today")
def failed_today():
    return _failures("Failed today", get_console().views.since_midnight())


@bp.get("/views/last-hour")
def last_hour():
    return _failures("Failed in the last hour", get_console().views.hour_ago())
