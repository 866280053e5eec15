"""One error family raised by the layer (dashboard/rqlayer/errors.py), mapped to a status in one place
(dashboard/errors.py) for pages, HTMX fragments and the API; flash messages carry their category."""

from __future__ import annotations

import re

import pytest

from dashboard.errors import layer_status
from dashboard.rqlayer import actions, keys
from dashboard.rqlayer.errors import Conflict, InvalidInput, LayerError, NotFound
from dashboard.rqlayer.schedules import ScheduleConflict, ScheduleNotFound
from tests.helpers import post


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (InvalidInput("x"), 422),
        (actions.UnknownQueue("nowhere"), 409),  # a confirmation is asked for: the queue does not exist yet
        (actions.ActionError("bad name"), 422),
        (ScheduleNotFound("x"), 404),
        (ScheduleConflict("x"), 409),
    ],
)
def test_each_layer_error_has_one_status(error, status):
    assert isinstance(error, LayerError) and isinstance(error, ValueError), "old `except ValueError` still catch"
    assert layer_status(error)[0] == status


def _app_with_refusals(app):
    """Routes that raise each family member, on a fresh app (before its first request)."""

    def refuse(kind):
        error = {
            "missing": NotFound("no <queue> called x"),
            "busy": Conflict("it is running"),
            "bad": InvalidInput("a bad name", fields={"queue": "letters only"}),
        }[kind]
        raise error

    app.add_url_rule("/refuse/<kind>", "refuse_html", refuse)
    app.add_url_rule("/api/v1/refuse/<kind>", "refuse_api", refuse)
    return app


def test_layer_errors_answer_with_their_status_on_pages_fragments_and_the_api(app, client_as):
    from dashboard import accounts as service

    _app_with_refusals(app)
    client = client_as("viewer")
    with app.app_context():
        _, secret = service.create_token("ci", "viewer", actor="test")
    bearer = {"Authorization": f"Bearer {secret}"}
    for kind, status, word in (("missing", 404, "not_found"), ("busy", 409, "conflict"), ("bad", 422, "validation")):
        page = client.get(f"/refuse/{kind}")
        assert page.status_code == status, kind
        html = page.get_data(as_text=True)
        assert "Traceback" not in html and f"<h1>{status}" in html
        fragment = client.get(f"/refuse/{kind}", headers={"HX-Request": "true"})
        assert fragment.status_code == status and 'class="banner banner-danger"' in fragment.get_data(as_text=True)
        api = app.test_client().get(f"/api/v1/refuse/{kind}", headers=bearer)
        assert api.status_code == status and api.json["error"] == word, api.json
    assert "no &lt;queue&gt; called x" in client.get("/refuse/missing").get_data(as_text=True), "escaped"
    assert app.test_client().get("/api/v1/refuse/bad", headers=bearer).json["fields"] == {"queue": "letters only"}


def test_a_missing_queue_answers_404_json_from_the_api(client_as, accounts, conn, app):
    from dashboard import accounts as service

    with app.app_context():
        _, secret = service.create_token("ci", "viewer", actor="test")
    response = app.test_client().get("/api/v1/queues/nope/jobs/queued", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 404
    assert response.json == {"error": "not_found", "message": "There is no queue named 'nope'."}


def _banners(html: str) -> list[tuple[str, str]]:
    flash = re.search(r'<div id="flash"[^>]*>(.*?)</div>\s*</main>|<div id="flash"[^>]*>(.*?)\n', html, re.S)
    body = (flash.group(1) or flash.group(2)) if flash else ""
    found = re.findall(r'class="banner (banner-\w+)"[^>]*>(.*?)</div>', body, re.S)
    return [(banner, re.sub(r"<[^>]+>", "", text)) for banner, text in found]  # messages may hold links


def test_flash_messages_are_coloured_by_their_category_not_their_words(client_as, conn):
    admin = client_as("admin")
    conn.sadd(keys.workers(), keys.worker("nobody"))  # registered, but its process is gone
    assert post(admin, "/workers/nobody/shutdown").status_code == 303
    banners = _banners(admin.get("/").get_data(as_text=True))
    assert [b for b, m in banners if "did not receive the command" in m] == ["banner-warn"], banners

    assert post(admin, "/workers/suspend").status_code == 303
    assert [b for b, m in _banners(admin.get("/").get_data(as_text=True)) if "Workers suspended" in m] == ["banner-ok"]


def test_a_views_own_abort_answers_the_same_api_words_as_the_layer(app, accounts):
    from flask import abort

    from dashboard import accounts as service

    def refuse_by_hand(code):
        abort(int(code), description="refused by the view")

    app.add_url_rule("/api/v1/abort/<code>", "abort_api", refuse_by_hand)
    with app.app_context():
        _, secret = service.create_token("ci2", "viewer", actor="test")
    bearer = {"Authorization": f"Bearer {secret}"}
    for code, word in ((404, "not_found"), (409, "conflict"), (422, "validation"), (400, "bad_request")):
        response = app.test_client().get(f"/api/v1/abort/{code}", headers=bearer)
        assert response.status_code == code and response.json["error"] == word, response.json
