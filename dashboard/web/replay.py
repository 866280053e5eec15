"""Replays (rqlayer/replay.py): the form, its confirmation with the count, the start, the history and one
replay's page (progress, cancel, where the jobs it retried are now)."""

from __future__ import annotations

from collections import Counter

from flask import Blueprint, abort, redirect, render_template, request, url_for

from dashboard import audit
from dashboard.auth import requires
from dashboard.extensions import get_console
from dashboard.permissions import JOBS_ACT
from dashboard.rqlayer.errors import InvalidInput
from dashboard.rqlayer.replay import MAX_JOBS, ReplaySpec
from dashboard.rqlayer.vocabulary import STATES
from dashboard.web.bulk import run_audited
from dashboard.web.params import OPERATION_ID

bp = Blueprint("replay", __name__)
PLACES_READ = 500  # where the touched jobs are now: read for the first this many ids (one round trip)
FIELDS = ("name", "function", "since", "until", "per_second", "queue")


def _values() -> dict[str, str]:
    values = {name: request.values.get(name, "") for name in FIELDS}
    values["states"] = ",".join(request.values.getlist("states")) or ("" if request.method == "POST" else "failed")
    return values


def _page(values: dict[str, str], code: int = 200, **context):
    history = get_console().replay.history()
    return render_template("pages/replays.html", values=values, history=history, **context), code


def _spec(values: dict[str, str]) -> tuple[ReplaySpec | None, InvalidInput | None]:
    try:
        return get_console().replay.parse_spec(values), None
    except InvalidInput as error:
        return None, error


@bp.get("/replays")
def index():
    """The form (prefilled from the query string: links from /failed and /functions) and the history."""
    return _page(_values())


@bp.post("/replays/preview")
@requires(JOBS_ACT)
def preview():
    """How many jobs the replay covers now (the number the operator then confirms); nothing is written."""
    values = _values()
    spec, error = _spec(values)
    if spec is None:
        return _page(values, 422, error=error)
    found = get_console().replay.matching(spec)
    return _page(values, spec=spec, found=found, seconds=-(-len(found.ids) // spec.per_second))


@bp.post("/replays")
@requires(JOBS_ACT)
def start():
    """Start the confirmed replay (at most the confirmed count) on the one runner, then its page."""
    values = _values()
    spec, error = _spec(values)
    if spec is None:
        return _page(values, 422, error=error)
    raw = request.form.get("confirmed", "")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_JOBS:
        return _page(values, 422, error=InvalidInput("Preview the replay and confirm its count first."))
    console, audited = get_console(), audit.auditor()
    op = console.replay.start(spec, audited.actor, int(raw))

    def work(operation):
        console.replay.work(operation, spec, int(raw))

    run_audited(op, "bulk.replay", spec.queue or None, work, audited)
    return redirect(url_for("replay.detail", op_id=op.id), 303)


@bp.get("/replays/<op_id>")
def detail(op_id):
    if not OPERATION_ID.fullmatch(op_id):
        abort(404, description="No such replay.")
    console = get_console()
    replay = console.replay.read(op_id)
    if replay is None:
        abort(404, description="No such replay (replays are kept for a week; the audit log keeps them for good).")
    touched = sorted(console.replay.touched(op_id) or ())
    places: Counter[tuple[str, str]] = Counter()
    for row in console.jobs.rows(touched[:PLACES_READ]):
        state = "failed" if row.status == "stopped" else row.status
        places[(row.origin, state if state in STATES else "")] += 1 if row.exists else 0
    return render_template(
        "pages/replay.html",
        replay=replay,
        touched=len(touched),
        places=sorted((k, v) for k, v in places.items() if v),
        partial_places=len(touched) > PLACES_READ,
    )
