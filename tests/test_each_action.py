"""One test per single-job action of the RQ layer (retry, requeue, move, run now, cancel, delete), each on
real jobs planted through RQ and, where it matters, run again by a real worker."""

from __future__ import annotations

from dashboard.rqlayer import actions, keys
from tests.fixtures import places, plant_every_state
from tests.helpers import work_in_process


def test_retry_queues_a_failed_job_once_and_keeps_it(conn):
    failed = plant_every_state(conn).ids["failed"][0]
    assert actions.retry(conn, [failed]).outcomes == {failed: "ok"}
    assert places(conn, failed) == ["queued"] and conn.ttl(keys.job(failed)) == -1
    assert actions.retry(conn, [failed]).outcomes == {failed: "queued"}, "a second retry changes nothing"


def test_requeue_a_queued_job_at_the_front(conn):
    failed = plant_every_state(conn).ids["failed"][0]
    actions.retry(conn, [failed])  # now at the back of the queue
    assert actions.requeue(conn, [failed], front=True).outcomes == {failed: "ok"}
    assert conn.lindex(keys.queue("default"), 0).decode() == failed


def test_move_to_a_new_queue_and_run_there(conn):
    failed = plant_every_state(conn).ids["failed"][0]
    actions.retry(conn, [failed])
    assert actions.move(conn, [failed], "urgent", create=True).outcomes == {failed: "ok"}
    assert conn.lrange(keys.queue("urgent"), 0, -1) == [failed.encode()]
    assert conn.hget(keys.job(failed), "origin") == b"urgent"
    assert conn.sismember(keys.queues(), keys.queue("urgent"))
    work_in_process(conn, ["urgent"])
    assert conn.zscore(keys.registry("failed", "urgent"), failed) is not None, "it ran again, from its new queue"


def test_run_now_of_a_scheduled_job(conn):
    scheduled = plant_every_state(conn).ids["scheduled"][0]
    assert actions.run_now(conn, [scheduled]).outcomes == {scheduled: "ok"}
    assert places(conn, scheduled) == ["queued"]
    work_in_process(conn, ["default"])
    assert conn.hget(keys.job(scheduled), "status") == b"finished"


def test_cancel_a_queued_job_then_retry_it(conn):
    queued = plant_every_state(conn).ids["queued"][1]
    assert actions.cancel(conn, [queued]).outcomes == {queued: "ok"}
    assert places(conn, queued) == ["canceled"]
    assert actions.retry(conn, [queued]).outcomes == {queued: "ok"}, "a canceled job can be retried"


def test_delete_removes_the_job_and_its_results(conn):
    finished = plant_every_state(conn).ids["finished"][0]
    conn.xadd(keys.results(finished), {"type": 1})
    assert actions.delete(conn, [finished]).outcomes == {finished: "ok"}
    assert not conn.exists(keys.job(finished), keys.results(finished))
    assert places(conn, finished) == []
    assert actions.delete(conn, ["no-such-job"]).outcomes == {"no-such-job": "missing"}
