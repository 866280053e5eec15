"""The first screen: queues, workers, suspension and Redis health, refreshed live."""

from __future__ import annotations

from flask import Blueprint, current_app

from dashboard.extensions import get_redis
from dashboard.rqlayer.overview import STATES, read_overview
from dashboard.web.rendering import page_or_partial

bp = Blueprint("overview", __name__)


@bp.get("/")
def index():
    overview = read_overview(get_redis())
    return page_or_partial(
        "pages/overview.html",
        "partials/overview.html",
        overview=overview,
        states=STATES,
        poll_seconds=current_app.config["CONSOLE"].poll_seconds,
    )
