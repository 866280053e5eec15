"""Moving jobs to a queue nobody knows (a typo such as "hihg") asks first, for one job and in bulk."""

from __future__ import annotations

import pytest
from rq import Queue

from dashboard.rqlayer import actions, bulk, keys
from tests.helpers import csrf_token, wait_until


def _post(client, url, htmx=False, **data):
    headers = {"X-CSRFToken": csrf_token(client)}
    if htmx:
        headers.update({"HX-Request": "true", "HX-Target": "bulk-area"})
    return client.post(url, data=data, headers=headers)


def queued_in(conn, queue: str) -> list[str]:
    return [i.decode() for i in conn.lrange(keys.queue(queue), 0, -1)]


@pytest.fixture
def two_queued(conn):
    queue = Queue("default", connection=conn)
    Queue("high", connection=conn).enqueue("tests.jobfuncs.add", 0, 0)  # "high" exists
    return [queue.enqueue("tests.jobfuncs.add", 1, 2).id, queue.enqueue("tests.jobfuncs.add", 2, 3).id]


def test_moving_one_job_to_an_unknown_queue_asks_and_moves_only_when_confirmed(client, conn, two_queued):
    job_id = two_queued[0]
    asked = _post(client, f"/jobs/{job_id}/move", queue="hihg", seen="queued")
    page = asked.get_data(as_text=True)
    assert asked.status_code == 409
    assert "Queue &#39;hihg&#39; does not exist and no worker listens to it. Create it and move?" in page
    assert 'id="move-confirm"' in page and 'name="create_queue" value="1"' in page
    assert job_id in queued_in(conn, "default") and not conn.sismember(keys.queues(), keys.queue("hihg"))

    confirmed = _post(client, f"/jobs/{job_id}/move", queue="hihg", seen="queued", create_queue="1")
    assert confirmed.status_code == 303
    assert queued_in(conn, "hihg") == [job_id] and conn.sismember(keys.queues(), keys.queue("hihg"))


def test_moving_to_an_existing_queue_or_one_a_worker_listens_to_needs_no_confirmation(client, conn, two_queued):
    assert _post(client, f"/jobs/{two_queued[0]}/move", queue="high", seen="queued").status_code == 303
    assert two_queued[0] in queued_in(conn, "high")
    conn.sadd(keys.workers_of_queue("reports"), f"{keys.PREFIX}:worker:w1")  # listened to, not created yet
    assert _post(client, f"/jobs/{two_queued[1]}/move", queue="reports", seen="queued").status_code == 303
    assert queued_in(conn, "reports") == [two_queued[1]]
    assert _post(client, f"/jobs/{two_queued[1]}/move", queue="bad name", seen="queued").status_code == 422


def test_the_move_form_offers_the_existing_queues(client, conn, two_queued):
    page = client.get(f"/jobs/{two_queued[0]}").get_data(as_text=True)
    assert 'list="move-queue-names"' in page and "/actions/queue-names" in page
    options = client.get("/actions/queue-names").get_data(as_text=True)
    assert '<option value="default">' in options and '<option value="high">' in options


def test_bulk_move_to_an_unknown_queue_asks_and_moves_only_when_confirmed(client, conn, two_queued):
    url = "/queues/default/queued/bulk"
    asked = _post(client, url, htmx=True, action="move", target="hihg", ids=two_queued)
    body = asked.get_data(as_text=True)
    assert asked.status_code == 409 and 'id="bulk-move-confirm"' in body
    assert "does not exist and no worker listens to it. Create it and move?" in body
    assert "&#34;create_queue&#34;: &#34;1&#34;" in body or '"create_queue": "1"' in body
    assert conn.zcard(keys.bulk_operations()) == 0, "no operation was started"
    assert queued_in(conn, "default") == two_queued

    started = _post(client, url, htmx=True, action="move", target="hihg", ids=two_queued, create_queue="1")
    assert started.status_code == 202
    wait_until(lambda: queued_in(conn, "hihg") == two_queued, message="jobs moved to the confirmed queue")


def test_the_layer_refuses_unknown_queues_without_create(conn, two_queued):
    with pytest.raises(actions.UnknownQueue):
        actions.move(conn, two_queued[:1], "hihg")
    with pytest.raises(actions.UnknownQueue):
        bulk.create(
            conn,
            "move",
            bulk.Selection(state="queued", queue="default", job_ids=tuple(two_queued)),
            {"target": "hihg"},
            "test",
        )
    assert actions.move(conn, two_queued[:1], "hihg", create=True).outcomes == {two_queued[0]: "ok"}
