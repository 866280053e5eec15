"""Function pages (/functions, /functions/<name>), the charts' reads for the overview and queue pages, and
GET /api/v1/metrics. Thin: the data is dashboard/history/timeline.py's and function_stats.py's.

Function names are data (any string): links are `function_base ~ name | url_quoted`, the page escapes them,
and a name the console never saw (series index, outcomes, rollups) is a 404.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, has_request_context, jsonify, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.routing import PathConverter

from dashboard.auth import requires
from dashboard.extensions import db, get_console
from dashboard.history import timeline
from dashboard.history.function_stats import function_seen, list_functions
from dashboard.permissions import VIEW
from dashboard.rqlayer.vocabulary import MAX_FILTER_CHARS
from dashboard.web import chartdata, links

bp = Blueprint("functions", __name__)
bp.add_app_template_global(links.function_link)


class NameConverter(PathConverter):
    """Any non-empty string, slashes included, even a leading one (Werkzeug's path refuses "/a")."""

    regex = r"[\s\S]+?"
    part_isolating = False


# Recorded before the routes below, so the converter exists when their rules are added.
bp.record_once(lambda state: state.app.url_map.converters.setdefault("name", NameConverter))
api_bp = Blueprint("metrics_api", __name__, url_prefix="/api/v1")

WINDOW_WORDS = {"1h": "last hour", "24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days"}


@bp.app_context_processor
def _function_links() -> dict[str, str]:
    # /functions/<name> is this prefix + the quoted name: rows never call url_for per row.
    return {"function_base": url_for("functions.index") + "/" if has_request_context() else "/functions/"}


def checked_window(default: str = "1h") -> str:
    window = request.args.get("window", default) or default
    if window not in timeline.WINDOWS:
        abort(400, description=f"window must be one of {', '.join(timeline.WINDOWS)}")
    return window


def _telemetry():
    return current_app.config["CONSOLE"].telemetry


def read_or_none(queue: str | None = None, function: str | None = None, window: str = "1h"):
    """The timeline, or None when the SQL database fails (the page still shows Redis' live state)."""
    try:
        return timeline.read_timeline(
            get_console(), db.session.connection(), queue, function, window, settings=_telemetry()
        )
    except SQLAlchemyError:
        current_app.logger.exception("reading the chart's rollups failed")
        db.session.rollback()
        return None


class LazySparklines:
    """Each queue's sparkline, drawn when a row asks for it (`.get(name)`): a poll shows one page of queues,
    so it draws at most that many, however many queues have metrics."""

    def __init__(self, lines: dict) -> None:
        self._lines = lines

    def get(self, name: str) -> chartdata.Sparkline | None:
        return chartdata.sparkline(self._lines.get(name))


def overview_charts() -> dict:
    """The overview's throughput chart (every queue, last hour) and a sparkline per queue: one read."""
    try:
        console = get_console()
        total, per_queue = console.overview.shared.alongside(
            "timelines", lambda: timeline.read_queue_timelines(console, db.session.connection(), settings=_telemetry())
        )
    except SQLAlchemyError:
        current_app.logger.exception("reading the overview's rollups failed")
        db.session.rollback()
        return {"throughput": None, "sparklines": {}, "metrics": None}
    return {
        "throughput": chartdata.throughput(total),
        "sparklines": LazySparklines(per_queue),
        "metrics": total,
    }


def queue_charts(queue: str) -> dict:
    line = read_or_none(queue=queue)
    if line is None:
        return {"metrics": None, "charts": []}
    charts = [chartdata.throughput(line), chartdata.wait_time(line), chartdata.run_time(line)]
    return {"metrics": line, "charts": charts + chartdata.depth_and_latency(line)}


@bp.get("/charts/queue")
def queue_charts_fragment():
    """The queue page's charts, a fragment its page loads once shown (GET ?queue=<name>: any string)."""
    name = request.args.get("queue")
    if not name:
        abort(400, description="Say which queue: ?queue=<name>.")
    queue = get_console().queues.require(name)
    return render_template("partials/chart_queue.html", queue=queue, queue_charts=queue_charts(queue))


@bp.get("/functions")
def index():
    console = get_console()
    listing = list_functions(console, db.session.connection(), settings=_telemetry())
    return render_template("pages/functions.html", listing=listing)


@bp.get("/functions/<name:name>", merge_slashes=False)  # a name is data: "a//b" is not "a/b"
def detail(name: str):
    window = checked_window()
    console = get_console()
    sql = db.session.connection()
    if not function_seen(console, sql, name, console.queues.names()):
        abort(404, description="No job of this function has run as far as the console knows (metrics, history).")
    line = timeline.read_timeline(console, sql, function=name, window=window, settings=_telemetry())
    charts = [
        chartdata.throughput(line),
        chartdata.failure_rate(line),
        chartdata.run_time(line),
        chartdata.wait_time(line),
    ]
    failed_href = None
    if len(name) <= MAX_FILTER_CHARS:
        failed_href = url_for("queues.failed", func=name, func_match="is", window="all")
    return render_template(
        "pages/function.html",
        name=name,
        window=window,
        windows=WINDOW_WORDS,
        metrics=line,
        charts=charts,
        # /history is the history page's (another area): linked by path, whether or not it is registered yet.
        history_href=request.script_root + "/history?" + urlencode({"function": name}),
        failed_href=failed_href,
    )


@api_bp.get("/metrics")
@requires(VIEW)
def metrics():
    """GET /api/v1/metrics?queue=&function=&window=1h|24h|7d|30d (bearer token, like every /api/v1 route)."""
    window = checked_window()
    queue = request.args.get("queue") or None
    function = request.args.get("function") or None
    line = timeline.read_timeline(
        get_console(), db.session.connection(), queue, function, window, settings=_telemetry()
    )
    return jsonify(
        window=line.window,
        step_seconds=line.step_seconds,
        source=line.source,
        missing=line.missing,
        queue=queue,
        function=function,
        points=[p.as_json() for p in line.points],
    )
