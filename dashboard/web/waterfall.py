"""The waterfall of a job's dependency chain and group (rqlayer/waterfall.py), loaded by the job page."""

from __future__ import annotations

from flask import Blueprint, abort

from dashboard.extensions import get_console
from dashboard.rqlayer.vocabulary import valid_job_id
from dashboard.web.rendering import page_or_partial

bp = Blueprint("waterfall", __name__)


@bp.get("/jobs/<job_id>/waterfall")
def waterfall(job_id):
    if not valid_job_id(job_id):
        abort(404, description="That is not a valid job id.")
    console = get_console()
    if not console.jobs.exists(job_id):
        abort(404, description="No job with this id: it never existed, or it expired and was removed.")
    chart = console.waterfall.read(job_id)
    return page_or_partial("pages/waterfall.html", "partials/waterfall.html", job_id=job_id, chart=chart)
