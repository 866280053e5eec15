"""Telling the page what an action changed: one HX-Trigger event static/js/live.js listens to.

The event `rqc:jobs-changed` carries what happened (`{"queue", "affected", "message", "ok", "scope",
"ids", "removed", "shown"}`); the page refreshes its counts (and, for a bulk operation, its job list),
clears the selection, and shows `message` unless the response already put it in #flash (`shown`).
Plain form posts ignore the header: their redirect renders the whole page anew."""

from __future__ import annotations

import json
from collections.abc import Iterable

from flask import Response

JOBS_CHANGED = "rqc:jobs-changed"
ROW, BULK = "row", "bulk"  # a row swapped in place / a background operation over many jobs
MAX_MESSAGE = 500


def tell_page(
    response: Response,
    *,
    message: str,
    affected: int,
    ok: bool = True,
    queue: str = "",
    scope: str = ROW,
    ids: Iterable[str] = (),
    removed: Iterable[str] = (),
    shown: bool = False,
) -> Response:
    """Add the `rqc:jobs-changed` HX-Trigger event to `response` (JSON, ASCII-escaped so any queue name or
    message is a valid header value). Only single-job ids travel in it, never a bulk selection."""
    detail = {
        "queue": queue,
        "affected": affected,
        "message": message[:MAX_MESSAGE],
        "ok": ok,
        "scope": scope,
        "ids": list(ids),
        "removed": list(removed),
        "shown": shown,
    }
    response.headers["HX-Trigger"] = json.dumps({JOBS_CHANGED: detail}, separators=(",", ":"))
    return response
