"""Action endpoints tell the page what changed: the `rqc:jobs-changed` HX-Trigger event live.js listens to."""

from __future__ import annotations

import json

from dashboard.rqlayer import keys
from tests.fixtures import plant_failed
from tests.helpers import csrf_token, wait_for_operation


def _event(response) -> dict:
    return json.loads(response.headers["HX-Trigger"])["rqc:jobs-changed"]


def _row_post(client, job_id: str, action: str, **data):
    headers = {"X-CSRFToken": csrf_token(client), "HX-Request": "true", "HX-Target": f"row-{job_id}"}
    return client.post(f"/jobs/{job_id}/{action}", data={"state": "failed", **data}, headers=headers)


def test_a_row_action_names_its_job_and_says_the_message_is_shown(client, conn):
    [job_id] = plant_failed(conn, 1)
    answer = _row_post(client, job_id, "retry")
    assert answer.status_code == 200
    event = _event(answer)
    assert event["ids"] == [job_id] and event["affected"] == 1 and event["ok"] is True
    assert event["queue"] == "default" and event["scope"] == "row" and event["removed"] == []
    assert event["shown"] is True, "the answer's body puts the message in #flash itself"
    assert job_id in event["message"] and "retried" in event["message"]

    # Again: the job is queued now, so nothing is done; the page still hears it (its counts were stale).
    again = _row_post(client, job_id, "retry")
    assert again.status_code == 409
    assert _event(again)["ok"] is False and _event(again)["affected"] == 0


def test_a_deleted_row_is_named_for_removal(client, conn):
    [job_id] = plant_failed(conn, 1)
    event = _event(_row_post(client, job_id, "delete"))
    assert event["removed"] == [job_id] and event["ok"] is True


def test_a_plain_form_post_redirects_without_the_event(client, conn):
    [job_id] = plant_failed(conn, 1)
    answer = client.post(f"/jobs/{job_id}/retry", data={"seen": "failed"}, headers={"X-CSRFToken": csrf_token(client)})
    assert answer.status_code == 303 and "HX-Trigger" not in answer.headers


def test_a_bulk_operation_tells_the_page_once_it_has_ended(client, conn):
    ids = plant_failed(conn, 4)
    headers = {"X-CSRFToken": csrf_token(client), "HX-Request": "true"}
    started = client.post(
        "/queues/default/failed/bulk", data={"action": "retry", "ids": ids[:3], "all": "0"}, headers=headers
    )
    assert "HX-Trigger" not in started.headers, "nothing has changed yet when it starts"
    op_id = wait_for_operation(client, started)
    event = _event(client.get(f"/bulk/{op_id}", headers={"HX-Request": "true"}))
    assert event["scope"] == "bulk" and event["affected"] == 3 and event["ok"] is True and event["shown"] is False
    assert event["message"] == "Finished retry 3 selected job(s): 3 jobs retried."
    assert conn.llen(keys.queue("default")) == 3


def test_the_header_is_ascii_whatever_the_names(client, conn):
    [job_id] = plant_failed(conn, 1, queue="files-ü")
    answer = _row_post(client, job_id, "retry")
    raw = answer.headers["HX-Trigger"]
    assert raw.isascii() and _event(answer)["queue"] == "files-ü"
