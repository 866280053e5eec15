"""Bulk actions and batch enqueues share one small pool per process: work beyond its size waits,
is shown as "waiting", and completes once a slot frees."""

from __future__ import annotations

import io
import re
import threading

import pytest
from rq import Queue

from dashboard import background
from dashboard.rqlayer import keys
from tests.helpers import csrf_token, wait_until


@pytest.fixture
def busy_pool():
    """Every pool slot held by a task that waits for the test to release it."""
    release, started = threading.Event(), []

    def hold():
        started.append(1)
        release.wait(60)

    for _ in range(background.WORKERS):
        background.submit(hold)
    wait_until(lambda: len(started) == background.WORKERS, message="every pool slot busy")
    try:
        yield release
    finally:
        release.set()


def _op_id(response) -> str:
    return re.search(r'id="bulk-([0-9a-f]{32})"', response.get_data(as_text=True)).group(1)


def _status(client, op_id) -> str:
    return re.search(r'data-status="(\w+)"', client.get(f"/bulk/{op_id}").get_data(as_text=True)).group(1)


def _fail_jobs(conn, count: int) -> None:
    queue = Queue("default", connection=conn)
    for n in range(count):
        job = queue.enqueue("tests.jobfuncs.add", n, 1)
        queue.remove(job.id)
        conn.zadd(keys.registry("failed", "default"), {job.id: 9_999_999_999})
        conn.hset(keys.job(job.id), "status", "failed")


def test_operations_beyond_the_pool_wait_then_complete(client, conn, busy_pool):
    _fail_jobs(conn, 3)
    token = csrf_token(client)
    retry = client.post("/failed/retry-all", data={"csrf_token": token})
    batch = client.post(
        "/enqueue/tasks.reports.generate_sales_report/batch",
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(b"days\n1\n2\n"), "r.csv"), "csrf_token": token},
    )
    assert retry.status_code == 202 and batch.status_code == 202
    ops = [_op_id(retry), _op_id(batch)]
    assert "Waiting: other operations" in retry.get_data(as_text=True)
    assert [_status(client, op) for op in ops] == ["waiting", "waiting"]
    assert conn.llen(keys.queue("default")) == 0 and conn.llen(keys.queue("low")) == 0
    assert sum(t.name.startswith("console-background") for t in threading.enumerate()) == background.WORKERS

    busy_pool.set()
    wait_until(lambda: [_status(client, op) for op in ops] == ["done", "done"], message="both operations done")
    assert conn.llen(keys.queue("default")) == 3 and conn.llen(keys.queue("low")) == 2


def test_an_operation_cancelled_while_waiting_never_runs(client, conn, busy_pool):
    _fail_jobs(conn, 2)
    token = csrf_token(client)
    op_id = _op_id(client.post("/failed/retry-all", data={"csrf_token": token}))
    assert client.post(f"/bulk/{op_id}/cancel", data={"csrf_token": token}).status_code == 200
    busy_pool.set()
    wait_until(lambda: _status(client, op_id) == "cancelled", message="cancelled")
    assert "cancelled before it started" in client.get(f"/bulk/{op_id}").get_data(as_text=True)
    assert conn.zcard(keys.registry("failed", "default")) == 2


def test_a_failing_task_does_not_shrink_the_pool():
    ran = threading.Event()

    def explode():
        raise RuntimeError("boom")

    for _ in range(background.WORKERS + 1):
        background.submit(explode)
    background.submit(ran.set)
    assert ran.wait(10)


# ---------------------------------------------------------------- the one runner (rqlayer/operations.py)


def _runner_op(conn, total=3):
    from dashboard.rqlayer import bulk

    return bulk.start_record(conn, "enqueue", "test operation", total, "tester", status="waiting")


def test_the_runner_records_progress_and_done_and_calls_back_once(conn):
    from dashboard.rqlayer import bulk, operations

    ends, op = [], _runner_op(conn)

    def work(operation):
        for _ in range(3):
            operation.advance(1, 1)

    operations.submit(conn, op, work, ends.append)
    wait_until(lambda: ends, message="the operation ended")
    final = bulk.read(conn, op.id)
    assert (final.status, final.processed, final.succeeded) == ("done", 3, 3)
    assert len(ends) == 1 and ends[0].ran and ends[0].status.status == "done" and ends[0].duration_ms >= 0


def test_the_runner_records_a_failing_operation_as_failed_and_the_pool_goes_on(conn):
    from dashboard.rqlayer import bulk, operations

    ends, op = [], _runner_op(conn)

    def work(operation):
        operation.advance(1, 1)
        raise RuntimeError("disk on fire")

    operations.submit(conn, op, work, ends.append)
    wait_until(lambda: ends, message="the failed operation ended")
    final = bulk.read(conn, op.id)
    assert final.status == "failed" and "RuntimeError: disk on fire" in final.message and final.succeeded == 1
    after = []
    operations.submit(conn, _runner_op(conn), lambda operation: None, after.append)
    wait_until(lambda: after, message="the next operation ran")
    assert after[0].status.status == "done"


def test_the_runner_never_starts_work_cancelled_while_waiting(conn, busy_pool):
    from dashboard.rqlayer import bulk, operations

    ends, ran, op = [], [], _runner_op(conn)
    operations.submit(conn, op, ran.append, ends.append)
    assert bulk.read(conn, op.id).status == "waiting"
    assert bulk.request_cancel(conn, op.id)
    busy_pool.set()
    wait_until(lambda: ends, message="the cancelled operation ended")
    assert ran == [] and not ends[0].ran and ends[0].status.status == "cancelled"


def test_a_batch_and_a_bulk_action_audit_their_end_through_the_runner(client, app, conn):
    from dashboard.extensions import db
    from dashboard.models import AuditEvent

    _fail_jobs(conn, 2)
    token = csrf_token(client)
    op_id = _op_id(client.post("/failed/retry-all", data={"csrf_token": token}))
    wait_until(lambda: _status(client, op_id) == "done", message="retry-all done")

    def rows():
        with app.app_context():
            return [
                (e.action, e.outcome, e.job_count)
                for e in db.session.scalars(
                    db.select(AuditEvent).where(AuditEvent.action == "bulk.retry").order_by(AuditEvent.id)
                )
            ]

    wait_until(lambda: len(rows()) == 2, message="the final audit row")
    assert rows() == [("bulk.retry", "started", 2), ("bulk.retry", "done", 2)]
