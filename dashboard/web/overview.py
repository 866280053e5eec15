"""The first screen: queues, workers, suspension and Redis health, refreshed live."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, current_app, render_template, request, url_for

from dashboard.auth import current_principal
from dashboard.extensions import get_console
from dashboard.rqlayer.overview import Overview
from dashboard.rqlayer.overview_page import BANNER_ROWS, MAX_QUEUE_FILTER, QUEUE_SHOWS, queue_page, worker_page
from dashboard.rqlayer.vocabulary import STATES
from dashboard.web.functions import overview_charts
from dashboard.web.params import int_arg
from dashboard.web.rendering import wants_fragment
from dashboard.web.shared_render import shared_renders

bp = Blueprint("overview", __name__)


@dataclass(frozen=True)
class SuspensionProgress:
    """How many live workers have seen the suspension. RQ's worker checks the flag only at the top
    of its loop and then sets its own state to "suspended": that state is its acknowledgement."""

    acknowledged: int
    workers: int


def suspension_progress(overview: Overview) -> SuspensionProgress | None:
    if not overview.suspended:
        return None
    live = [w for w in overview.workers if not w.gone and not w.stale]
    return SuspensionProgress(sum(1 for w in live if w.state == "suspended"), len(live))


@dataclass(frozen=True)
class OverviewParams:
    """What the address asks of the overview: a queue name filter, which queues, and the pages."""

    search: str
    show: str
    page: int
    workers_page: int

    def url_args(self, **changes) -> dict[str, str | int]:
        """Query arguments for a link that keeps the others (defaults left out)."""
        values = {"q": self.search, "show": self.show, "page": self.page, "wpage": self.workers_page, **changes}
        defaults = {"q": "", "show": "active", "page": 1, "wpage": 1}
        return {name: value for name, value in values.items() if value != defaults[name]}


def overview_params() -> OverviewParams:
    search = request.args.get("q", "").strip()
    if len(search) > MAX_QUEUE_FILTER:
        abort(400, description=f"The queue filter is at most {MAX_QUEUE_FILTER} characters.")
    show = request.args.get("show", "active")
    if show not in QUEUE_SHOWS:
        abort(400, description=f"show must be one of {', '.join(QUEUE_SHOWS)}.")
    return OverviewParams(search, show, int_arg("page", 1, 1, 1_000_000), int_arg("wpage", 1, 1, 1_000_000))


def queue_base() -> str:
    """The prefix of every queue tab's URL (/queues/<name>/<state>): rows add the quoted name and the state
    instead of calling url_for for each of their cells (dashboard/web/links.py)."""
    return url_for("queues.state", name="-", state="queued")[: -len("-/queued")]


@bp.get("/")
def index():
    params = overview_params()
    overview = get_console().overview.read()
    charts = overview_charts()

    def context() -> dict:
        return {
            "overview": overview,
            "params": params,
            "queue_rows": queue_page(overview, params.search, params.show, params.page),
            "worker_rows": worker_page(overview, params.workers_page),
            "banner_rows": BANNER_ROWS,
            "max_queue_filter": MAX_QUEUE_FILTER,
            "queue_base": queue_base(),
            "suspension": suspension_progress(overview),
            "states": STATES,
            "poll_seconds": current_app.config["CONSOLE"].poll_seconds,
            "charts": charts,
        }

    if wants_fragment():
        # The role decides which controls show (can(...)); nothing else in it is the operator's own.
        role = getattr(current_principal(), "role", None)
        return shared_renders().render("partials/overview.html", (params, role), (overview, charts["metrics"]), context)
    return render_template("pages/overview.html", **context())
