"""RQ 3's concurrency limits: /limits (every limit key), /limits/<key> (its slots, stale slots and
held-back line, and the form that changes its concurrency), GET /api/v1/limits[/<key>] and
PUT /api/v1/limits/<key>.

Thin: reads and the change are rqlayer/limits.py's (one atomic script, which also promotes held-back
jobs into slots a raise frees, and appends a `concurrency_changed` event). Every change is audited
(`limit.concurrency`). The API is bearer-only like api.bp (csrf exempt where it is registered).
"""

from __future__ import annotations

import time

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask import make_response as flask_response

from dashboard import audit
from dashboard.auth import requires
from dashboard.errors import layer_status
from dashboard.extensions import get_console
from dashboard.permissions import JOBS_ACT, VIEW
from dashboard.rqlayer import limits
from dashboard.rqlayer.errors import InvalidInput, LayerError, NotFound
from dashboard.web.params import json_object
from dashboard.web.rendering import SUCCESS, notify, page_or_partial, wants_fragment
from dashboard.web.visible import visibility

bp = Blueprint("limits", __name__)
api_bp = Blueprint("limits_api", __name__, url_prefix="/api/v1")


def _page() -> int:
    raw = request.args.get("page", "1") or "1"
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        abort(400, description="page must be a whole number from 1")
    return max(1, int(raw))


def _detail_or_404(key: str) -> limits.LimitDetail:
    detail = get_console().limits.read_limit(key, page=_page())
    if detail is None:
        raise NotFound(
            f"There is no concurrency limit {key[:80]!r}. RQ removes a limit (and its concurrency) once no job "
            "holds or waits for one of its slots; the next enqueue with it creates it again."
        )
    visible = visibility()
    slots = [limits.Slot(visible.row(s.row), s.since, s.stale) for s in detail.slots]
    held = [(n, limits.Held(visible.row(h.row), h.since, h.skipped)) for n, h in detail.held]
    return limits.LimitDetail(detail.summary, detail.registered, slots, held, detail.page, detail.pages, detail.size)


@bp.get("/limits")
@requires(VIEW)
def index():
    """Every limit key, a page at a time: concurrency, slots held, held back, stale slots."""
    found = get_console().limits.read_limits(page=_page())
    return page_or_partial("pages/limits.html", "partials/limits_table.html", found=found, preview=limits.SLOTS_PREVIEW)


@bp.get("/limits/<path:key>")
@requires(VIEW)
def detail(key: str):
    return page_or_partial(
        "pages/limits_detail.html",
        "partials/limits_detail.html",
        limit=_detail_or_404(key),
        max_concurrency=limits.MAX_CONCURRENCY,
    )


def _change(key: str, raw_concurrency, raw_expected) -> limits.ConcurrencyChange:
    """Validate, change, audit. InvalidInput / NotFound / Conflict go to the error handlers."""
    console = get_console()
    concurrency = console.limits.parse_concurrency(raw_concurrency)
    expected = None
    if raw_expected not in (None, ""):
        try:
            expected = console.limits.parse_concurrency(raw_expected)
        except InvalidInput:
            raise InvalidInput("expected must be the concurrency you saw, a whole number") from None
    started = time.monotonic()
    change = console.limits.set_concurrency(key, concurrency, audit.auditor().actor, expected=expected)
    before = "unset" if change.before is None else change.before
    audit.action(
        "limit.concurrency",
        target=key,
        job_count=len(change.promoted),
        detail=f"{before} -> {change.after}; {len(change.promoted)} held-back jobs let through",
        started=started,
    )
    return change


def _message(change: limits.ConcurrencyChange) -> str:
    before = "unset" if change.before is None else change.before
    promoted = f" {len(change.promoted)} held-back job(s) took the freed slots." if change.promoted else ""
    return f"Concurrency of {change.key} set from {before} to {change.after}.{promoted}"


@bp.post("/limits/<path:key>")
@requires(JOBS_ACT)
def set_concurrency(key: str):
    """The form: concurrency, and `seen` (the value shown: 409 when it changed meanwhile). htmx gets the
    form back with the answer (a refusal too, with its status) and the live part out of band."""
    if not wants_fragment():
        change = _change(key, request.form.get("concurrency", ""), request.form.get("seen"))
        notify(_message(change), SUCCESS)
        return redirect(url_for("limits.detail", key=key), code=303)
    try:
        message, ok, status = (
            _message(_change(key, request.form.get("concurrency", ""), request.form.get("seen"))),
            True,
            200,
        )
    except LayerError as error:
        status, _ = layer_status(error)
        if status == 404:
            raise
        message, ok = error.message, False
    html = render_template(
        "partials/limits_answer.html",
        limit=_detail_or_404(key),
        message=message,
        ok=ok,
        max_concurrency=limits.MAX_CONCURRENCY,
    )
    return flask_response(html, status)


# ---------------------------------------------------------------- JSON


def _summary_json(summary: limits.RateLimitSummary) -> dict:
    return {
        "key": summary.key,
        "concurrency": summary.concurrency,
        "holding": summary.allowed,
        "held_back": summary.held_back,
        "broken_keys": list(summary.broken),
        "links": {
            "self": url_for("limits_api.limit", key=summary.key),
            "html": url_for("limits.detail", key=summary.key),
        },
    }


@api_bp.get("/limits")
@requires(VIEW)
def api_index():
    """{"limits": [...], "page", "pages", "total"}: a page of limit keys, sorted."""
    found = get_console().limits.read_limits(page=_page())
    items = [
        dict(_summary_json(i.summary), stale_slots=i.stale, stale_exact=i.stale_exact,
             oldest_held_since=i.oldest_held_since.isoformat() if i.oldest_held_since else None)
        for i in found.items
    ]  # fmt: skip
    return jsonify(limits=items, page=found.page, pages=found.pages, total=found.total, broken_keys=found.broken)


def _row_json(row) -> dict:
    return {"id": row.id, "exists": row.exists, "status": row.status if row.exists else "expired",
            "origin": row.origin, "func_name": row.func_name}  # fmt: skip


@api_bp.get("/limits/<path:key>")
@requires(VIEW)
def limit(key: str):
    """One limit: its slots (stale ones with why) and a page of its held-back line, oldest first."""
    found = _detail_or_404(key)
    return jsonify(
        limit=_summary_json(found.summary),
        registered=found.registered,
        slots=[dict(_row_json(s.row), since=s.since.isoformat() if s.since else None, stale=s.stale or None)
               for s in found.slots],
        slots_truncated=found.slots_truncated,
        held_back=[dict(_row_json(h.row), position=n, since=h.since.isoformat() if h.since else None,
                        skipped=h.skipped) for n, h in found.held],
        page=found.page,
        pages=found.pages,
    )  # fmt: skip


@api_bp.put("/limits/<path:key>")
@requires(JOBS_ACT)
def api_set(key: str):
    """{"concurrency": N} (and optionally "expected": the value you read: 409 when it changed)."""
    body = json_object('{"concurrency": N}')
    if "concurrency" not in body:
        abort(400, description='Send a JSON object: {"concurrency": N}.')
    change = _change(key, body.get("concurrency"), body.get("expected"))
    return jsonify(
        key=change.key, before=change.before, concurrency=change.after, promoted=change.promoted,
        message=_message(change) + " RQ's next enqueue with a RateLimit of this key writes its own value back.",
    )  # fmt: skip
