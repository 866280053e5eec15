"""Job history from SQL (/history and /api/v1/history's parsing): a window first, filters, keyset pages.

Links into history use query parameters other pages build (keep them stable): `/history?queue=q&status=failed`,
`?function=`, `?fingerprint=`, `?worker=`, `?attr=name:value`, with `window=15m|1h|6h|24h|7d|30d` or
`from=`/`to=` (ISO 8601, UTC unless an offset is given) and `after=<cursor>` for older pages.
Each row links to the live job while it still exists in Redis (one pipelined EXISTS for the page).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from flask import Blueprint, abort, current_app, request

from dashboard.extensions import db, get_console
from dashboard.history import models
from dashboard.history.queries import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    WINDOW_WORDS,
    WINDOWS,
    BadQuery,
    Filters,
    HistoryPage,
    OutcomeRow,
    Window,
    any_outcomes,
    history_page,
    parse_filters,
    resolve_window,
)
from dashboard.visibility import Visibility, is_hidden
from dashboard.web.rendering import page_or_partial
from dashboard.web.visible import visibility

bp = Blueprint("history", __name__)


@dataclass(frozen=True)
class HistoryQuery:
    """A request's window, filters and cursor; `params` rebuild it in a URL (without the cursor)."""

    window: Window
    filters: Filters
    after: str | None
    params: dict[str, str]
    texts: dict[str, str]  # what the form's fields show

    @property
    def relative(self) -> bool:
        return self.window.name != "custom"


@dataclass(frozen=True)
class HistoryResult:
    page: HistoryPage
    store_empty: bool  # nothing written at all yet (vs nothing in this window)


def history_query(source: Mapping[str, str]) -> HistoryQuery:
    """The window, filters and cursor of a query string; 400 for anything that cannot be used, 403 for
    an attribute filter a role that may not see job values asked for (attributes are job meta)."""
    texts = {name: (source.get(name) or "").strip() for name in ("window", "from", "to", "attr", *FILTER_FIELDS)}
    try:
        window = resolve_window(texts["window"] or None, texts["from"] or None, texts["to"] or None)
        filters = parse_filters(texts)
    except BadQuery as error:
        abort(400, description=str(error))
    if filters.attribute and not visibility().values:
        abort(403, description="Job meta is hidden for your role, so its attributes cannot be searched either.")
    if window.name == "custom":
        params = {name: texts[name] for name in ("from", "to") if texts[name]}
        if not texts["from"]:
            params["window"] = texts["window"] or "1h"
    else:
        params = {"window": window.name}
    return HistoryQuery(window, filters, source.get("after") or None, {**params, **filters.as_params()}, texts)


FILTER_FIELDS = ("queue", "function", "status", "fingerprint", "worker")


def read_history(query: HistoryQuery, size: int = PAGE_SIZE) -> HistoryResult:
    """One page from SQL (the request's session connection); a bad cursor is a 400."""
    conn = db.session.connection()
    try:
        page = history_page(conn, query.window, query.filters, after=query.after, size=size)
    except BadQuery as error:
        abort(400, description=str(error))
    store_empty = not page.rows and not query.after and not any_outcomes(conn)
    return HistoryResult(page, store_empty)


def visible_rows(rows: list[OutcomeRow], visible: Visibility) -> list[OutcomeRow]:
    """The exception message only for roles that see job values (the type is shown to every role)."""
    if visible.values:
        return rows
    return [replace(r, failure=visible.failure(r.failure)) for r in rows]


@bp.get("/history")
def index():
    query = history_query(request.args)
    result = read_history(query)
    rows = visible_rows(result.page.rows, visibility())
    live = get_console().jobs.existing([r.id for r in rows])
    return page_or_partial(
        "pages/history.html",
        "partials/history_body.html",
        query=query,
        rows=rows,
        live=live,
        next_cursor=result.page.next_cursor,
        store_empty=result.store_empty,
        collector=get_console().collector_status(),
        windows=WINDOWS,
        window_words=WINDOW_WORDS,
        statuses=models.STATUSES,
        poll_seconds=current_app.config["CONSOLE"].poll_seconds,
    )


def api_page(source: Mapping[str, str]) -> dict:
    """GET /api/v1/history's answer: {"outcomes": [...], "next": cursor | null} (api.py routes it)."""
    raw = (source.get("limit") or str(PAGE_SIZE)).strip()
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        abort(400, description=f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}")
    query = history_query(source)
    result = read_history(query, size=int(raw))
    rows = visible_rows(result.page.rows, visibility())
    live = get_console().jobs.existing([r.id for r in rows])
    return {"outcomes": [_outcome_json(r, r.id in live) for r in rows], "next": result.page.next_cursor}


def _outcome_json(row: OutcomeRow, live: bool) -> dict:
    message = row.failure.message if row.failure and not is_hidden(row.failure.message) else None
    return {
        "outcome_id": row.outcome_id,
        "job_id": row.id,
        "queue": row.origin,
        "function": row.func_name,
        "status": row.status,
        "enqueued_at": _iso(row.enqueued_at),
        "started_at": _iso(row.started_at),
        "ended_at": _iso(row.ended_at),
        "wait_seconds": row.wait_seconds,
        "run_seconds": row.duration_seconds,
        "worker": row.worker_name,
        "exc_type": row.failure.exc_type if row.failure else None,
        "exc_message": message,
        "fingerprint": row.fingerprint or None,
        "source": row.source,
        "job_exists": live,
    }


def _iso(moment: datetime | None) -> str | None:
    """SQL keeps naive UTC: said as such (+00:00)."""
    return None if moment is None else moment.replace(tzinfo=UTC).isoformat()
