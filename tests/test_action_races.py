"""Single-job actions racing workers and other operators: a job is never run twice, a concurrency slot
is never given away twice, and a retry keeps its place at the front through a full limit."""

from __future__ import annotations

from rq import Queue

from dashboard.rqlayer import actions, keys
from tests.fixtures import plant_failed
from tests.helpers import post, work_in_process


def test_a_job_retried_meanwhile_is_not_run_twice(client_as, conn):
    [job_id] = plant_failed(conn, 1)
    assert post(client_as("operator"), f"/jobs/{job_id}/retry", seen="failed").status_code == 303
    work_in_process(conn, ["default"])  # it finished
    second = post(client_as("admin"), f"/jobs/{job_id}/retry", seen="failed")
    assert second.status_code == 409
    assert conn.hget("test:runs", job_id) == b"1" and conn.llen(keys.queue("default")) == 0


def test_run_now_of_a_deferred_job_runs_it_once(conn):
    queue = Queue("default", connection=conn)
    parent = queue.enqueue("tests.jobfuncs.add", 1, 1)
    child = queue.enqueue("tests.jobfuncs.record_run", depends_on=parent)
    assert actions.run_now(conn, [child.id]).outcomes == {child.id: "ok"}
    work_in_process(conn, ["default"])
    work_in_process(conn, ["default"])
    assert conn.hget("test:runs", child.id) == b"1"


def test_delete_leaves_a_just_popped_limited_job_its_slot(conn):
    from rq.rate_limit import RateLimit

    queue = Queue("default", connection=conn)
    a = queue.enqueue("tests.jobfuncs.add", 1, 1, rate_limit=RateLimit("k", 1))
    b = queue.enqueue("tests.jobfuncs.add", 2, 2, rate_limit=RateLimit("k", 1))
    conn.lpop(keys.queue("default"))  # a worker just took a
    assert actions.delete(conn, [a.id]).outcomes == {a.id: "moved"}
    assert conn.hget(keys.job(b.id), "status") == b"rate_limited", "b still waits: a is about to run"


def test_retry_at_the_front_through_a_full_limit_keeps_front(conn):
    from rq.rate_limit import RateLimit

    queue = Queue("default", connection=conn)
    holder = queue.enqueue("tests.jobfuncs.add", 1, 1, rate_limit=RateLimit("k", 1))
    failed = queue.enqueue("tests.jobfuncs.fail", "x", rate_limit=RateLimit("k", 1))
    assert conn.hget(keys.job(failed.id), "status") == b"rate_limited"
    actions.cancel(conn, [failed.id])
    assert actions.retry(conn, [failed.id], at_front=True).outcomes == {failed.id: "ok:rate_limited"}
    assert conn.hget(keys.job(failed.id), "enqueue_at_front") == b"1"
    assert holder.id
