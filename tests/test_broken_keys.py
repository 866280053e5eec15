"""Keys of the wrong type are named on the overview, and the rest of it still shows."""

from __future__ import annotations

from rq import Queue

from dashboard.rqlayer import keys
from dashboard.rqlayer.overview import read_overview


def test_wrong_type_queue_and_registry_keys_are_named_and_the_rest_reads(conn, client):
    Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    conn.sadd(keys.queues(), keys.queue("hashq"), keys.queue("listreg"))
    conn.hset(keys.queue("hashq"), "x", "y")
    conn.rpush(keys.registry("failed", "listreg"), "x")

    overview = read_overview(conn)
    assert keys.queue("hashq") in overview.broken_keys
    assert keys.registry("failed", "listreg") in overview.broken_keys
    assert {q.name: q.counts["queued"] for q in overview.queues}["default"] == 1

    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="broken-keys"' in html and keys.registry("failed", "listreg") in html


def test_no_banner_when_every_key_is_fine(conn, client):
    Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    assert 'id="broken-keys"' not in client.get("/").get_data(as_text=True)
