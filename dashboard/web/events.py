"""The live event feed: the /events page, its long poll, and GET /api/v1/events.

The API stays bearer-only (it never accepts cookies, so CSRF cannot apply to it); the page's script
long-polls /events/poll, the same handler behind the session. Both answer
{"events": [...], "cursor": "...", "more": bool, "busy": bool}: pass `cursor` back as `after`.
Events carry ids, queues, functions, types, workers and actors, never job values: every role may read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Blueprint, abort, jsonify, request

from dashboard.auth import requires
from dashboard.extensions import db, get_console
from dashboard.permissions import VIEW
from dashboard.rqlayer import feed
from dashboard.rqlayer.decode import epoch
from dashboard.rqlayer.telemetry.events import WORKER_TYPES, Event
from dashboard.web.rendering import page_or_partial

bp = Blueprint("events", __name__)

FILTER_CHARS = 200


@dataclass(frozen=True)
class Filters:
    types: frozenset[str]
    queue: str | None
    function: str | None

    def as_params(self) -> dict[str, str]:
        params = {"type": ",".join(sorted(self.types)), "queue": self.queue or "", "function": self.function or ""}
        return {k: v for k, v in params.items() if v}


def _filters() -> Filters:
    def text(name: str) -> str | None:
        value = request.args.get(name, "").strip()
        if len(value) > FILTER_CHARS:
            raise feed.BadRequest(f"{name} is at most {FILTER_CHARS} characters")
        return value or None

    raw_types = ",".join(request.args.getlist("type"))
    return Filters(feed.parse_types(raw_types), text("queue"), text("function"))


_EPOCH = datetime.fromtimestamp(0, UTC)


def event_time(event: Event) -> datetime:
    """The event's time; an `at` no datetime can hold (a planted entry) reads as the epoch, not a 500."""
    return epoch(event.at / 1000) or _EPOCH


def event_json(event: Event) -> dict:
    at = event_time(event)
    return {
        "id": event.id,
        "type": event.type,
        "job_id": event.job_id,
        "queue": event.queue,
        "function": event.function,
        "at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "at_ms": event.at,
        "worker": event.worker,
        "exc_type": event.exc_type,
        "actor": event.extra.get("actor", ""),
        "extra": {k: v for k, v in event.extra.items() if k != "actor"},
    }


def _poll():
    try:
        filters = _filters()
        wait = feed.parse_wait(request.args.get("wait"))
        if wait > 0:
            # Authentication is done: a waiting request must not hold a SQL connection (and, on SQLite, a
            # read lock) for its whole wait, or 15 open feeds would empty the process's pool and stall every page.
            db.session.close()
        answer = get_console().events.poll(
            request.args.get("after") or None, wait, filters.types, filters.queue, filters.function
        )
    except feed.BadRequest as error:
        return jsonify(error="bad_request", message=str(error)), 400
    return jsonify(
        events=[event_json(e) for e in answer.events], cursor=answer.cursor, more=answer.more, busy=answer.busy
    )


@bp.get("/api/v1/events")
@requires(VIEW)
def api_events():
    """Job events after `after` (absent: from now), waiting up to `wait` seconds (0-25) for one."""
    return _poll()


@bp.get("/events/poll")
@requires(VIEW)
def poll():
    """The /events page's long poll (session auth): the same answer as GET /api/v1/events."""
    return _poll()


# The badge of each event type: the colour of the job status it leads to (console.css .badge-<status>).
BADGES = {
    "started": "started",
    "finished": "finished",
    "failed": "failed",
    "abandoned": "failed",
    "retry_scheduled": "scheduled",
    "stopped": "stopped",
    "stop_requested": "stopped",
    "canceled": "canceled",
    "deleted": "canceled",
    "enqueued": "queued",
    "retried": "queued",
    "requeued": "queued",
    "moved": "queued",
    "run_now": "queued",
    "schedule_run_now": "queued",
    "queue_paused": "suspended",
    "queue_resumed": "idle",
    "queue_rate_limited": "deferred",
    "queue_rate_limit_cleared": "idle",
    "event_published": "queued",
}


@dataclass(frozen=True)
class Row:
    event: Event
    at: datetime
    badge: str


def rows(found: list[Event]) -> list[Row]:
    return [Row(e, event_time(e), BADGES.get(e.type, "")) for e in found]


@bp.get("/events")
@requires(VIEW)
def page():
    try:
        filters = _filters()
    except feed.BadRequest as error:
        abort(400, description=str(error))
    recent = get_console().events.recent(filters.types, filters.queue, filters.function)
    return page_or_partial(
        "pages/events.html",
        "partials/event_feed.html",
        filters=filters,
        recent=recent,
        rows=rows(recent.events),
        badges=BADGES,
        type_groups=(("Worker", tuple(WORKER_TYPES)), ("Console", tuple(feed.CONSOLE_TYPES))),
    )
