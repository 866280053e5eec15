"""The first screen: queues, workers, suspension and Redis health, refreshed live."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, current_app

from dashboard.extensions import get_console
from dashboard.rqlayer.overview import Overview
from dashboard.rqlayer.vocabulary import STATES
from dashboard.web.functions import overview_charts
from dashboard.web.rendering import page_or_partial

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


@bp.get("/")
def index():
    overview = get_console().overview.read()
    return page_or_partial(
        "pages/overview.html",
        "partials/overview.html",
        overview=overview,
        suspension=suspension_progress(overview),
        states=STATES,
        poll_seconds=current_app.config["CONSOLE"].poll_seconds,
        charts=overview_charts(),
    )
