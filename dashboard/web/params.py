"""Parsing of list parameters shared by the pages and the API: one place, one set of errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from flask import abort, request

from dashboard.extensions import get_console
from dashboard.rqlayer.errors import NotFound
from dashboard.rqlayer.fingerprint import FINGERPRINT
from dashboard.rqlayer.search import MATCH_MODES, JobFilter
from dashboard.rqlayer.vocabulary import DEFAULT_PAGE_SIZE, MAX_FILTER_CHARS, ORDERS, PAGE_SIZES, STATES
from dashboard.web.visible import visibility

OPERATION_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class ListParams:
    page: int
    size: int
    order: str
    job_filter: JobFilter
    offset: int  # where a filtered scan continues


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(400, description=f"{name} must be a whole number, got {raw[:40]!r}")
    if not low <= value <= high:
        abort(400, description=f"{name} must be between {low} and {high}")
    return value


def list_params() -> ListParams:
    size = int_arg("size", DEFAULT_PAGE_SIZE, 1, 10_000)
    # Capped to the largest offered size: a bigger page would be a slow request in disguise.
    size = min((s for s in PAGE_SIZES if s >= size), default=PAGE_SIZES[-1])
    order = request.args.get("order", "oldest")
    if order not in ORDERS:
        abort(400, description=f"order must be one of {', '.join(ORDERS)}")
    texts = filter_fields(request.args)
    visible = visibility()
    if texts["args"] and not visible.values:
        # Matching on hidden values would reveal them one guess at a time.
        abort(403, description="Argument values are hidden for your role, so they cannot be searched either.")
    return ListParams(
        page=int_arg("page", 1, 1, 10**9),
        size=size,
        order=order,
        # The exception filter too matches only what the role sees (the type, not the hidden message).
        job_filter=visible.job_filter(JobFilter(**texts, **touched_fields(request.args))),
        offset=int_arg("offset", 0, 0, 10**12),
    )


def filter_fields(source: Mapping[str, str]) -> dict[str, str]:
    """The filter's texts and match modes from a query string or a form, checked: a text over
    MAX_FILTER_CHARS or a mode that is not one of MATCH_MODES is a 400 naming the field."""
    fields = {}
    for name in ("func", "exc", "args"):
        value = source.get(name, "").strip()
        if len(value) > MAX_FILTER_CHARS:
            abort(400, description=f"{name} filter is limited to {MAX_FILTER_CHARS} characters")
        fields[name] = value
    for name in ("func_match", "exc_match"):
        mode = source.get(name, "") or "contains"
        if mode not in MATCH_MODES:
            abort(400, description=f"{name} must be one of {', '.join(MATCH_MODES)}, got {mode[:40]!r}")
        fields[name] = mode
    fields["fingerprint"] = fingerprint_param(source)
    return fields


def touched_fields(source: Mapping[str, str]) -> dict:
    """The "touched by this operation" filter (`op`, a replay's id) with the job ids that replay
    retried; {} without one. A malformed id is a 400, an unknown (or expired) replay a 404."""
    op = source.get("op", "").strip()
    if not op:
        return {}
    if not OPERATION_ID.fullmatch(op):
        abort(400, description="op must be an operation's id (32 hexadecimal digits)")
    touched = get_console().replay.touched(op)
    if touched is None:
        abort(404, description="No such replay (replays are kept for a week).")
    return {"op": op, "touched": touched}


def fingerprint_param(source: Mapping[str, str]) -> str:
    """An error group's fingerprint (32 lowercase hex digits, rqlayer/fingerprint.py) or ""; else 400."""
    value = source.get("fingerprint", "").strip()
    if value and not FINGERPRINT.fullmatch(value):
        abort(400, description="fingerprint must be 32 hexadecimal digits (an error group's id)")
    return value


def checked_state(state: str) -> str:
    """`state` when it names one of the states pages show; else the layer's NotFound (404)."""
    if state not in STATES:
        raise NotFound(f"There is no job state called {state[:40]!r}. States: {', '.join(STATES)}.")
    return state


def json_object(shape: str, empty_ok: bool = False) -> dict:
    """The request's JSON object body, or a 400 that shows `shape` (e.g. '{"concurrency": N}'). A body
    that is not JSON, not an object, or nested past the parser's depth is refused alike; `empty_ok`
    takes no body at all as {}."""
    if empty_ok and not request.content_length:
        return {}
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        body = None
    if not isinstance(body, dict):
        abort(400, description=f"Send a JSON object: {shape}." + (" (or no body)" if empty_ok else ""))
    return body
