"""The dead-letter view's filters (exact or containing, within a failure window), their match count, and
"retry this group": a number is shown as exact only when it was counted to the end, and a retry runs
only if the group still holds the number the operator confirmed.

The list itself is queues.failed (/failed); this module parses what it and its fragments share.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

from flask import Blueprint, abort, render_template, request
from flask import make_response as flask_response

from dashboard.auth import requires
from dashboard.extensions import get_console
from dashboard.permissions import JOBS_ACT
from dashboard.rqlayer import bulk
from dashboard.rqlayer.failures import FailedMatches
from dashboard.rqlayer.search import JobFilter
from dashboard.web.bulk import start
from dashboard.web.params import filter_fields
from dashboard.web.visible import visibility

bp = Blueprint("failed", __name__)

FAILURE_WINDOWS = {"hour": 3600, "day": 86400, "week": 7 * 86400, "all": None}
WINDOW_WORDS = {"hour": "the last hour", "day": "the last day", "week": "the last week", "all": "all time"}


@dataclass(frozen=True)
class FailedQuery:
    """What /failed shows: a window (groups, and filtered lists) and a filter. `params` rebuild it in a
    URL or a form; `job_filter` carries the window as `ended_after` when a text filter is set."""

    window: str
    job_filter: JobFilter
    params: dict[str, str]

    @property
    def active(self) -> bool:
        return self.job_filter.active

    @property
    def window_words(self) -> str:
        return WINDOW_WORDS[self.window]

    def describe(self) -> str:
        """ "exception is 'ValueError', ended in the last day" (the window only when it limits)."""
        words = self.job_filter.describe()
        if self.window != "all":
            words += f", ended in {self.window_words}"
        return words


def failure_window(source: Mapping[str, str]) -> str:
    window = source.get("window", "day") or "day"
    if window not in FAILURE_WINDOWS:
        abort(400, description=f"window must be one of {', '.join(FAILURE_WINDOWS)}")
    return window


def failed_query(source: Mapping[str, str] | None = None) -> FailedQuery:
    """The window and filter from the query string (or a form); 400 for a bad mode, window or length."""
    source = request.args if source is None else source
    window = failure_window(source)
    fields = filter_fields(source)
    visible = visibility()
    if fields["args"] and not visible.values:
        abort(403, description="Argument values are hidden for your role, so they cannot be searched either.")
    base = JobFilter(**fields)
    params = {"window": window, **base.as_params()}
    seconds = FAILURE_WINDOWS[window]
    if base.active and seconds is not None:
        base = replace(base, ended_after=time.time() - seconds)
    return FailedQuery(window, visible.job_filter(base), params)


def group_query(window: str, field: str, key: str) -> FailedQuery:
    """The exact filter of one failure group ("exc" or "func" is `key`), for its link and its retry form."""
    job_filter = JobFilter(**{field: key, f"{field}_match": "is"})
    return FailedQuery(window, job_filter, {"window": window, **job_filter.as_params()})


def _count_context(query: FailedQuery, counted: FailedMatches, found: int, scanned: int) -> dict:
    return dict(query=query, counted=counted, found=found + counted.matched, scanned=scanned + counted.scanned)


@bp.get("/failed/count")
def count():
    """The filtered list's match count, counted in steps of about a second that continue from a cursor:
    "≥ N so far" while it counts, the exact number once it reached the end."""
    query = failed_query()
    if not query.active:
        abort(400, description="Counting needs a filter (exc or func).")
    found, scanned = _int_arg("found"), _int_arg("scanned")
    counted = get_console().jobs.count_failed(query.job_filter, cursor=request.args.get("cursor") or None)
    return render_template("partials/failed_count.html", **_count_context(query, counted, found, scanned))


@bp.get("/failed/retry")
def retry_confirm():
    """The retry form for a filter (a failure group), with the number counted exactly now (or, when the
    count could not finish within its budget, a form that says so and claims no number)."""
    query = failed_query()
    counted = get_console().jobs.count_failed(query.job_filter, exact=True)
    return render_template("partials/failed_retry.html", **_retry_context(query, counted))


@bp.post("/failed/retry")
@requires(JOBS_ACT)
def retry():
    """Retry the failures matching the form's filter (a group). With `expected` (the number the
    operator confirmed), the group is counted again first: a different number answers 409 with the new
    one and retries nothing; then at most that many are retried, each chunk re-filtered when it runs,
    so a job that left the group meanwhile is left alone."""
    query = failed_query(request.form)
    expected = request.form.get("expected", "")
    limit = None
    if expected:
        if not expected.isdigit():
            abort(400, description="expected must be a whole number of jobs")
        limit = int(expected)
        counted = get_console().jobs.count_failed(query.job_filter, exact=True)
        if not counted.done or counted.matched != limit:
            changed = render_template(
                "partials/failed_retry.html", **_retry_context(query, counted), changed_from=limit
            )
            return flask_response(changed, 409)
    return start("retry", bulk.Selection(state="failed", queue=None, job_filter=query.job_filter, limit=limit), {})


def _retry_context(query: FailedQuery, counted: FailedMatches) -> dict:
    """What failed_retry.html needs: the exact count when counting finished, else the lower bound."""
    exact = counted.matched if counted.done else None
    lower = None if counted.done else counted.matched
    return dict(
        rp=query.params,
        rdesc=query.describe(),
        rn=exact,
        lower=lower,
        lower_scanned=counted.scanned,
        lower_total=counted.total,
    )


def _int_arg(name: str) -> int:
    raw = request.args.get(name, "0") or "0"
    if not raw.isdigit() or len(raw) > 12:
        abort(400, description=f"{name} must be a whole number")
    return int(raw)
