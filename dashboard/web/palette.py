"""The command palette (Ctrl-K) and the jump box's suggestions: what the typed text names, as options.

GET /palette?q=...            queues, tasks (for roles that may enqueue), pages and jobs (full id or id
                              prefix), at most PER_KIND of each, as the listbox's options
GET /palette?q=...&for=jump   the same job matches only, for the topbar's jump box

The pages (and the letter of their `g` shortcut) are declared once here: the palette, the shortcut help
and keys.js's `g` navigation all read GO_PAGES, filtered by the principal's permissions.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, render_template, request, url_for

from dashboard import permissions
from dashboard.auth import can
from dashboard.extensions import get_console
from dashboard.rqlayer.vocabulary import JOB_ID_MAX
from dashboard.web.visible import visibility

bp = Blueprint("palette", __name__)

PER_KIND = 8  # options per kind (jobs, queues, tasks, pages): bounded work and a short list
MAX_QUERY = JOB_ID_MAX  # the longest text worth matching: a full job id
SCOPES = {"palette": "pal", "jump": "jump"}  # `for=` -> the prefix of the options' element ids


@dataclass(frozen=True)
class GoPage:
    key: str  # the letter after `g`
    label: str
    endpoint: str
    permission: str

    @property
    def url(self) -> str:
        return url_for(self.endpoint)


GO_PAGES = (
    GoPage("o", "Overview", "overview.index", permissions.VIEW),
    GoPage("f", "Failed jobs", "queues.failed", permissions.VIEW),
    GoPage("s", "Schedules", "schedules.index", permissions.VIEW),
    GoPage("e", "Enqueue", "enqueue.index", permissions.JOBS_ENQUEUE),
    GoPage("a", "Audit log", "admin.audit_log", permissions.AUDIT_VIEW),
    GoPage("u", "Users", "admin.users", permissions.USERS_MANAGE),
)


def go_pages() -> list[GoPage]:
    """The pages the current principal may open (shortcut help, `g` keys, palette)."""
    return [page for page in GO_PAGES if can(page.permission)]


@bp.app_context_processor
def _shortcut_context() -> dict:
    return {"go_pages": go_pages}  # a function: nothing is computed unless a template calls it


@bp.get("/palette")
def results():
    """Options for the typed text. Bounded: at most PER_KIND of each kind; reads at most one SMEMBERS
    and the bounded job lookup (rqlayer/matching.py). Never changes anything."""
    raw = request.args.get("q", "")
    if len(raw) > MAX_QUERY:
        abort(400, description=f"Type at most {MAX_QUERY} characters.")
    scope = request.args.get("for", "palette")
    if scope not in SCOPES:
        abort(400, description="Unknown suggestion list.")
    text = raw.strip()
    console = get_console()
    everything = scope == "palette"
    needle = text.casefold()
    pages = [page for page in go_pages() if needle in page.label.casefold()] if everything else []
    queues = console.queues.matching(text, PER_KIND) if everything else None
    tasks = []
    if everything and can(permissions.JOBS_ENQUEUE):
        tasks = [t for t in console.tasks.all() if needle in t.name.casefold() or needle in t.title.casefold()]
    jobs = console.jobs.matching(text, PER_KIND) if text else None
    visible = visibility()
    return render_template(
        "partials/palette_results.html",
        text=text,
        scope=SCOPES[scope],
        pages=pages,
        queues=queues,
        tasks=tasks[:PER_KIND],
        more_tasks=len(tasks) > PER_KIND,
        jobs=jobs,
        job_rows=[visible.row(row) for row in jobs.rows] if jobs else [],
    )
