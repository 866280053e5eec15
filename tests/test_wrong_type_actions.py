"""Actions over keys of the wrong type: refused per job, never a WRONGTYPE half-way through a script
(Redis does not roll back a script's earlier writes), and the rest of a bulk operation goes on."""

from __future__ import annotations

from dashboard.rqlayer import actions, keys
from tests.fixtures import BOMB_QUEUE as QUEUE
from tests.fixtures import plant_bombs
from tests.helpers import csrf_token, wait_for_operation


def test_bulk_retry_all_skips_broken_jobs_and_retries_the_rest(client, conn):
    ids = plant_bombs(conn, wrong_types=True)
    good = [i for i in ids if i != "bomb-string-key"]
    response = client.post("/failed/retry-all", headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 202
    wait_for_operation(client, response)
    queued = {member.decode() for member in conn.lrange(keys.queue(QUEUE), 0, -1)}
    assert set(good) <= queued
    assert conn.type(keys.job("bomb-string-key")) == b"string"  # left alone, not "fixed" or lost


def test_each_action_refuses_a_job_key_of_the_wrong_type(conn):
    conn.set(keys.job("strjob"), "not a hash")
    for outcome in (
        actions.retry(conn, ["strjob"]).outcomes,
        actions.cancel(conn, ["strjob"]).outcomes,
        actions.delete(conn, ["strjob"]).outcomes,
        actions.run_now(conn, ["strjob"]).outcomes,
        actions.requeue(conn, ["strjob"], front=True).outcomes,
    ):
        assert outcome == {"strjob": "broken"}
    assert conn.get(keys.job("strjob")) == b"not a hash"


def test_a_registry_or_queue_of_the_wrong_type_is_refused_before_any_write(conn):
    conn.hset(keys.job("j1"), mapping={"status": "failed", "origin": "weird"})
    conn.hset(keys.queue("weird"), "x", "y")  # the origin queue is a hash
    assert actions.retry(conn, ["j1"]).outcomes == {"j1": "broken"}
    assert conn.hget(keys.job("j1"), "status") == b"failed"

    conn.hset(keys.job("j2"), mapping={"status": "queued", "origin": "default"})
    conn.rpush(keys.queue("default"), "j2")
    conn.set(keys.queue("target"), "a string")
    assert actions.move(conn, ["j2"], "target", create=True).outcomes == {"j2": "broken"}
    assert conn.lrange(keys.queue("default"), 0, -1) == [b"j2"]


def test_the_job_action_answers_409_with_a_message(client, conn):
    conn.set(keys.job("strjob"), "not a hash")
    response = client.post("/jobs/strjob/retry", data={"seen": "failed"}, headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 409
    assert "wrong type" in response.get_data(as_text=True)
