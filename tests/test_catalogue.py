"""The action catalogue is the one place that says which action applies to which status: the row
buttons, the job page, the bulk toolbar, the single-job routes and the bulk routes offer exactly
what it says, for every status and state."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from flask import render_template

from dashboard.rqlayer import actions, catalogue, keys, scripts
from dashboard.rqlayer.vocabulary import JOB_STATUSES, STATES
from tests.fixtures import plant_raw
from tests.helpers import csrf_token

# Statuses a job can be planted in and then acted on by the console (started needs a worker: stop is
# tested with a real one in test_actions.py).
PLANTABLE = [s for s in JOB_STATUSES if s != "started"]


def _plant(conn, status: str, job_id: str) -> None:
    """One job where RQ keeps a job of `status`."""
    fields = {
        "status": status,
        "origin": "default",
        "description": "tasks.reports.x()",
        "data": b"x",
        "created_at": "2026-01-01T00:00:00.000000Z",
    }
    if status == "rate_limited":
        fields["rate_limit_key"] = "lim"
        conn.hset(keys.rate_limit_config("lim"), "concurrency", 1)
        conn.zadd(keys.rate_limited("lim"), {job_id: 1})
    conn.hset(keys.job(job_id), mapping=fields)
    if status == "queued":
        conn.rpush(keys.queue("default"), job_id)
    elif status in catalogue.STATUS_REGISTRY:
        conn.zadd(keys.registry(catalogue.STATUS_REGISTRY[status], "default"), {job_id: 1})
    conn.sadd(keys.queues(), keys.queue("default"))


def _offered(html: str, where: str) -> set[str]:
    names = set(re.findall(r'data-action="([\w-]+)"', html))
    # The job page names position variants "retry-front", "requeue-back"; the confirm step is the move.
    return {re.sub(r"-(front|back)$", "", n) for n in names} - {"confirm-move"} if where == "page" else names


@pytest.mark.parametrize("status", (*JOB_STATUSES, "planted-status", ""))
def test_row_buttons_are_the_catalogues(app, status):
    with app.test_request_context():
        html = render_template("partials/row_actions.html", row=SimpleNamespace(id="j1", status=status))
    expected = catalogue.names_for_status(status) - {"move"}  # a row has no room for the move field
    assert _offered(html, "row") == expected
    for action in catalogue.for_status(status):
        if action.confirm and action.name != "move":
            assert action.confirm_for("j1") in html


@pytest.mark.parametrize("status", PLANTABLE)
def test_job_page_offers_the_catalogues_actions(client, conn, status):
    _plant(conn, status, "page-job")
    html = client.get("/jobs/page-job").get_data(as_text=True)
    block = html[html.index('id="job-actions"') :]
    block = block[: block.index("</div>")]
    assert _offered(block, "page") == catalogue.names_for_status(status)


@pytest.mark.parametrize("state", STATES)
def test_bulk_toolbar_offers_the_catalogues_actions(client, conn, state):
    plant_raw(conn, "default", state, 1, prefix="bulk")
    html = client.get(f"/queues/default/{state}").get_data(as_text=True)
    toolbar = html[html.index('id="bulk-form"') :]
    toolbar = toolbar[: toolbar.index("</form>")]
    assert set(re.findall(r'name="action" value="([\w-]+)"', toolbar)) == catalogue.names_for_state(state)


@pytest.mark.parametrize("status", PLANTABLE)
def test_single_job_routes_act_exactly_where_the_catalogue_says(client, conn, status):
    token = csrf_token(client)
    for action in catalogue.ACTIONS.values():
        if not action.single or action.name == "stop":
            continue
        job_id = f"route-{action.name}-{status}"
        _plant(conn, status, job_id)
        data = {"csrf_token": token, "seen": status, "queue": "default", "create_queue": "1"}
        response = client.post(f"/jobs/{job_id}/{action.name}", data=data)
        if action.applies_to(status):
            assert response.status_code in (200, 303), (action.name, status, response.status_code)
        else:
            assert response.status_code == 409, (action.name, status, response.status_code)
            assert conn.hget(keys.job(job_id), "status").decode() == status


@pytest.mark.parametrize("state", [s for s in STATES if s != "started"])
def test_bulk_route_accepts_exactly_the_catalogues_actions(client, conn, state):
    ids = plant_raw(conn, "default", state, 1, prefix=f"b-{state}-")
    token = csrf_token(client)
    for action in catalogue.ACTIONS.values():
        response = client.post(
            f"/queues/default/{state}/bulk",
            data={"csrf_token": token, "action": action.name, "ids": ids, "target": "high", "create_queue": "1"},
        )
        expected = 202 if action.name in catalogue.names_for_state(state) else 422
        assert response.status_code == expected, (action.name, state, response.status_code)


def test_a_job_of_an_unknown_status_gets_a_delete_button_that_is_refused(client, conn):
    assert catalogue.names_for_status("planted-status") == {"delete"}
    conn.hset(keys.job("odd"), mapping={"status": "planted-status", "origin": "default"})
    conn.zadd(keys.registry("failed", "default"), {"odd": 1})
    answer = client.post("/jobs/odd/delete", data={"csrf_token": csrf_token(client), "seen": "planted-status"})
    assert answer.status_code == 409 and conn.exists(keys.job("odd"))


def test_one_spelling_and_the_old_one_still_accepted():
    assert catalogue.get("run_now") is catalogue.get("run-now")
    assert catalogue.past_tense("run_now") == "queued to run now"
    assert all("_" not in name for name in catalogue.ACTIONS)
    with pytest.raises(catalogue.UnknownAction):
        catalogue.get("explode")


def test_every_script_action_has_its_lua_script_and_a_way_to_run_it(conn):
    for action in catalogue.ACTIONS.values():
        if action.script is not None:
            assert (scripts.LUA_DIR / f"{action.script}.lua").exists()
            # Every script action runs through the one entry point (a missing job is simply "missing").
            result = actions.perform(conn, action.name, ["no-such-job"], target="default", create=True)
            assert result.outcomes == {"no-such-job": "missing"}
    with pytest.raises(actions.ActionError):
        actions.perform(conn, "stop", ["x"])
