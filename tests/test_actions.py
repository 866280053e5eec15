"""Acting on jobs: atomic moves, conflicts, concurrency limits, bulk runs, and never losing a job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from rq import Queue
from rq.rate_limit import RateLimit

from dashboard.rqlayer import actions, bulk, keys
from dashboard.rqlayer.search import JobFilter
from tests.fixtures import places, plant_every_state, plant_failed
from tests.helpers import (
    PROJECT_ROOT,
    csrf_token,
    start_job_on_real_worker,
    wait_for_operation,
    wait_until,
    work_in_process,
)

# ---------------------------------------------------------------- single jobs, RQ layer


def test_move_refuses_a_bad_queue_name(conn):
    with pytest.raises(actions.ActionError):
        actions.move(conn, ["x"], "bad name with spaces")


def test_concurrency_limits_keep_working_around_actions(conn):
    """Limit 1, two held back: cancel, delete and retry around them, and every remaining job runs."""
    queue = Queue("default", connection=conn)
    a, b, c = (queue.enqueue("tests.jobfuncs.record_run", rate_limit=RateLimit("smtp", 1)).id for _ in range(3))
    assert [conn.hget(keys.job(i), "status") for i in (a, b, c)] == [b"queued", b"rate_limited", b"rate_limited"]

    assert actions.cancel(conn, [a]).outcomes == {a: "ok"}
    # RQ scores held-back jobs in whole seconds: either of the two may be promoted first.
    statuses = {i: conn.hget(keys.job(i), "status") for i in (b, c)}
    assert sorted(statuses.values()) == [b"queued", b"rate_limited"], "canceling the slot holder promotes one"
    if statuses[c] == b"queued":
        b, c = c, b
    assert actions.delete(conn, [c]).outcomes == {c: "ok"}
    assert conn.zcard(keys.rate_limited("smtp")) == 0
    assert actions.retry(conn, [a]).outcomes == {a: "ok:rate_limited"}, "the limit is full: it waits its turn"

    work_in_process(conn, ["default"])
    runs = {k.decode(): int(v) for k, v in conn.hgetall("test:runs").items()}
    assert runs == {a: 1, b: 1}
    assert conn.zcard(keys.rate_limit_allowed("smtp")) == 0 and conn.zcard(keys.rate_limited("smtp")) == 0


def test_two_operators_retrying_the_same_job_run_it_once(conn):
    [job_id] = plant_failed(conn, 1)
    barrier = threading.Barrier(8)
    outcomes = []

    def operator():
        barrier.wait()
        outcomes.append(actions.retry(conn, [job_id]).outcomes[job_id])

    threads = [threading.Thread(target=operator) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok"] + ["queued"] * 7
    assert conn.llen(keys.queue("default")) == 1
    work_in_process(conn, ["default"])
    assert conn.hget("test:runs", job_id) == b"1"


# ---------------------------------------------------------------- endpoints


def _post(client, url, **data):
    return client.post(url, data=data, headers={"X-CSRFToken": csrf_token(client)})


def test_job_endpoints_act_audit_and_answer_409_on_stale_state(app, client_as, conn):
    from dashboard.models import AuditEvent

    planted = plant_every_state(conn)
    failed = planted.ids["failed"][0]
    alice, oscar = client_as("admin"), client_as("operator")

    first = _post(oscar, f"/jobs/{failed}/retry")
    assert first.status_code == 303 and places(conn, failed) == ["queued"]
    second = _post(alice, f"/jobs/{failed}/retry")
    assert second.status_code == 409
    page = second.get_data(as_text=True)
    assert "job.retry by oscar" in page and "the job is queued now" in page and 'id="job-id"' in page

    row = oscar.post(
        f"/jobs/{failed}/cancel",
        data={"state": "queued"},
        headers={"X-CSRFToken": csrf_token(oscar), "HX-Request": "true", "HX-Target": f"row-{failed}"},
    )
    body = row.get_data(as_text=True)
    assert row.status_code == 200 and f'id="row-{failed}"' in body and "canceled" in body
    link = f'<a class="job-link mono" href="/jobs/{failed}">{failed}</a>'
    assert "hx-swap-oob" in body and f"Job {link} canceled." in body

    with app.app_context():
        actions_logged = [(e.actor, e.action, e.outcome) for e in AuditEvent.query.order_by(AuditEvent.id)]
    assert ("oscar", "job.retry", "ok") in actions_logged
    assert ("alice", "job.retry", "conflict") in actions_logged
    assert ("oscar", "job.cancel", "ok") in actions_logged

    assert _post(oscar, "/jobs/nope/retry").status_code == 404
    assert _post(oscar, f"/jobs/{failed}/explode").status_code == 404
    assert _post(oscar, f"/jobs/{planted.ids['queued'][0]}/move", queue="bad name").status_code == 422


def test_stop_reports_when_no_worker_received_it(client, conn):
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.sleep_for", 1)
    conn.hset(keys.job(job.id), mapping={"status": "started", "worker_name": "ghost-worker"})
    response = _post(client, f"/jobs/{job.id}/stop")
    assert response.status_code == 409
    assert "No worker received the stop command" in response.get_data(as_text=True)
    queued = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 1)
    assert _post(client, f"/jobs/{queued.id}/stop").status_code == 409


def test_stop_a_running_job_on_a_real_worker(client, conn, redis_url):
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.sleep_for", 60)
    worker = start_job_on_real_worker(conn, redis_url, job.id)
    try:
        assert _post(client, f"/jobs/{job.id}/stop").status_code == 303
        wait_until(lambda: conn.hget(keys.job(job.id), "status") == b"stopped", timeout=20, message="job stopped")
        assert conn.zscore(keys.registry("failed", "default"), job.id) is not None
    finally:
        worker.wait(timeout=30)


def test_worker_controls_need_admin(client_as, conn):
    operator = client_as("operator")
    assert _post(operator, "/workers/suspend").status_code == 403
    admin = client_as("admin")
    assert _post(admin, "/workers/suspend").status_code == 303
    assert conn.exists(keys.suspended())
    assert _post(admin, "/workers/resume").status_code == 303
    assert not conn.exists(keys.suspended())
    assert _post(admin, "/workers/nobody/shutdown").status_code == 404, "no worker of that name is registered"
    conn.sadd(keys.workers(), keys.worker("nobody"))  # registered, but its process is gone
    assert _post(admin, "/workers/nobody/shutdown").status_code == 303
    assert "did not receive the command" in admin.get("/").get_data(as_text=True)


# ---------------------------------------------------------------- bulk


def test_bulk_retry_with_filter_runs_in_chunks_and_reports(conn):
    plant_failed(conn, 2500, prefix="keep")
    queue = Queue("default", connection=conn)
    for n in range(30):
        queue.enqueue("tests.jobfuncs.fail", f"smtp timeout {n}")
    work_in_process(conn, ["default"])
    selection = bulk.Selection(state="failed", queue="default", job_filter=JobFilter(exc="smtp"))
    op = bulk.create(conn, "retry", selection, {}, "tester")
    assert op.total == 2530
    final = bulk.run(conn, op.id, "retry", selection, {})
    assert (final.status, final.succeeded) == ("done", 30)
    assert conn.llen(keys.queue("default")) == 30
    assert conn.zcard(keys.registry("failed", "default")) == 2500


def test_bulk_cancel_and_move_and_empty(conn):
    queue = Queue("low", connection=conn)
    ids = [queue.enqueue("tests.jobfuncs.add", n, n).id for n in range(50)]
    moved = bulk.Selection(state="queued", queue="low", job_ids=tuple(ids[:20]))
    op = bulk.create(conn, "move", moved, {"target": "high", "create_queue": True}, "tester")
    assert bulk.run(conn, op.id, "move", moved, {"target": "high"}).succeeded == 20
    assert conn.llen(keys.queue("high")) == 20 and conn.llen(keys.queue("low")) == 30

    everything = bulk.Selection(state="queued", queue="low")
    op = bulk.create(conn, "empty", everything, {}, "tester")
    assert bulk.run(conn, op.id, "empty", everything, {}).succeeded == 30
    assert conn.llen(keys.queue("low")) == 0 and not conn.exists(keys.job(ids[-1]))
    assert conn.exists(keys.job(ids[0])), "moved jobs were not emptied with low"


def test_bulk_endpoint_returns_at_once_and_progress_can_be_polled(client, conn):
    plant_failed(conn, 3000)
    response = _post(client, "/failed/retry-all")
    assert response.status_code == 202
    op_id = wait_for_operation(client, response)
    assert conn.llen(keys.queue("default")) == 3000
    assert "3,000 jobs retried" in client.get(f"/bulk/{op_id}").get_data(as_text=True)


def test_bulk_cancel_request_stops_between_chunks(conn):
    plant_failed(conn, 5000)
    selection = bulk.Selection(state="failed", queue="default")
    op = bulk.create(conn, "retry", selection, {}, "tester")
    bulk.request_cancel(conn, op.id)
    final = bulk.run(conn, op.id, "retry", selection, {})
    assert final.status == "cancelled" and conn.llen(keys.queue("default")) == 0


def test_empty_needs_the_queue_name_typed_and_admin(client_as, conn):
    plant_failed(conn, 10)
    operator = client_as("operator")
    assert _post(operator, "/queues/default/failed/empty", confirm_name="default").status_code == 403
    admin = client_as("admin")
    assert _post(admin, "/queues/default/failed/empty", confirm_name="wrong").status_code == 422
    assert conn.zcard(keys.registry("failed", "default")) == 10
    assert _post(admin, "/queues/default/failed/empty", confirm_name="default").status_code == 202
    wait_until(lambda: conn.zcard(keys.registry("failed", "default")) == 0, message="registry emptied")


def test_bulk_retry_of_10000_while_two_workers_consume_runs_each_once(conn, redis_url):
    ids = plant_failed(conn, 10_000)
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rq.cli",
                "worker",
                "--url",
                redis_url,
                "-w",
                "rq.worker.SimpleWorker",
                "--max-idle-time",
                "3",
                "default",
            ],
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        selection = bulk.Selection(state="failed", queue="default")
        op = bulk.create(conn, "retry", selection, {}, "tester")
        final = bulk.run(conn, op.id, "retry", selection, {})
        assert final.succeeded == 10_000
        wait_until(
            lambda: conn.hlen("test:runs") == 10_000 and conn.llen(keys.queue("default")) == 0,
            timeout=240,
            interval=0.5,
            message="every retried job ran",
        )
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
    runs = conn.hvals("test:runs")
    assert len(runs) == 10_000 and set(runs) == {b"1"}, "every job ran exactly once more"
    assert conn.zcard(keys.registry("finished", "default")) == 10_000
    assert set(conn.hkeys("test:runs")) == {i.encode() for i in ids}


def test_sigkill_during_bulk_retry_loses_and_doubles_nothing(conn, redis_url):
    ids = plant_failed(conn, 50_000)
    script = (
        "import redis, sys\n"
        "from dashboard.rqlayer import bulk\n"
        f"conn = redis.Redis.from_url({redis_url!r})\n"
        "sel = bulk.Selection(state='failed', queue='default')\n"
        "op = bulk.create(conn, 'retry', sel, {}, 'killer')\n"
        "print(op.id, flush=True)\n"
        "bulk.CHUNK = 200\n"
        "bulk.run(conn, op.id, 'retry', sel, {})\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(PROJECT_ROOT)),
    )
    op_id = proc.stdout.readline().strip()
    wait_until(
        lambda: 0 < conn.llen(keys.queue("default")) < 50_000 and conn.llen(keys.queue("default")) > 5000,
        timeout=60,
        interval=0.005,
        message="bulk retry under way",
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    queued_once = conn.lrange(keys.queue("default"), 0, -1)
    failed_left = conn.zrange(keys.registry("failed", "default"), 0, -1)
    assert 0 < len(failed_left) < 50_000, "killed mid-way"
    assert len(queued_once) == len(set(queued_once)), "no job doubled"
    assert set(queued_once).isdisjoint(failed_left), "no job in two places"
    assert len(queued_once) + len(failed_left) == 50_000, "no job lost"
    # No progress for STALE_AFTER seconds: the record says interrupted (simulated by ageing it).
    conn.hset(keys.bulk_operation(op_id), "updated_at", time.time() - bulk.STALE_AFTER - 1)
    assert bulk.read(conn, op_id).status == "interrupted"

    selection = bulk.Selection(state="failed", queue="default")
    op = bulk.create(conn, "retry", selection, {}, "tester")
    final = bulk.run(conn, op.id, "retry", selection, {})
    assert final.succeeded == len(failed_left)
    queued = conn.lrange(keys.queue("default"), 0, -1)
    assert len(queued) == 50_000 and {q.decode() for q in queued} == set(ids)
    assert conn.zcard(keys.registry("failed", "default")) == 0


def test_job_actions_leave_recurring_schedules_alone(client, conn):
    """Run now / cancel on the job of an rq-scheduler schedule would end the schedule: refused."""
    from rq_scheduler import Scheduler

    job = Scheduler(connection=conn).cron("0 8 * * *", func="tests.jobfuncs.add", args=[1, 2], queue_name="default")
    assert actions.run_now(conn, [job.id]).outcomes == {job.id: "moved"}
    assert actions.cancel(conn, [job.id]).outcomes == {job.id: "moved"}
    assert conn.zscore(keys.RQ_SCHEDULER_JOBS, job.id) is not None
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "recurring schedule of rq-scheduler" in page and 'data-action="run-now"' not in page


# ---------------------------------------------------------------- one deletion path for every caller


def plant_traced(conn, queue_name: str = "default") -> dict[str, str]:
    """A job in a group, one holding a concurrency slot with one held back behind it, one in the
    ready registry: the traces a job leaves outside its own keys."""
    from rq.group import Group

    queue = Queue(queue_name, connection=conn)
    grouped = Group.create(conn).enqueue_many(queue, [Queue.prepare_data("tests.jobfuncs.add", (1, 2))])[0].id
    limit = RateLimit("del", 1)
    holder = queue.enqueue("tests.jobfuncs.record_run", rate_limit=limit).id
    waiting = queue.enqueue("tests.jobfuncs.record_run", rate_limit=limit).id
    ready = queue.enqueue("tests.jobfuncs.add", 3, 4).id
    conn.lrem(keys.queue(queue_name), 1, ready)
    conn.hset(keys.job(ready), "status", "ready_to_enqueue")
    conn.zadd(keys.registry("ready_to_enqueue", queue_name), {ready: time.time()})
    assert conn.hget(keys.job(waiting), "status") == b"rate_limited"
    return {
        "grouped": grouped,
        "holder": holder,
        "ready": ready,
        "waiting": waiting,
        "group": conn.hget(keys.job(grouped), "group_id").decode(),
    }


def assert_no_trace(conn, job_id: str, planted: dict[str, str], queue_name: str = "default") -> None:
    assert not conn.exists(keys.job(job_id))
    assert job_id.encode() not in conn.lrange(keys.queue(queue_name), 0, -1)
    for state in keys.REGISTRY_SEGMENTS:
        assert conn.zscore(keys.registry(state, queue_name), job_id) is None, state
    assert not conn.sismember(f"{keys.PREFIX}:group:{planted['group']}", job_id)
    assert conn.zscore(keys.rate_limit_allowed("del"), job_id) is None
    assert conn.zscore(keys.rate_limited("del"), job_id) is None


def _traced_ids(planted):
    return [planted["grouped"], planted["holder"], planted["ready"]]


def _slot_passed_on(conn, planted):
    """The freed slot went to the job held back behind it, as RQ promotes."""
    assert conn.hget(keys.job(planted["waiting"]), "status") == b"queued"
    assert conn.zscore(keys.rate_limit_allowed("del"), planted["waiting"]) is not None


def test_single_delete_leaves_no_trace(client, conn):
    planted = plant_traced(conn)
    for job_id in _traced_ids(planted):
        assert _post(client, f"/jobs/{job_id}/delete").status_code == 303
        assert_no_trace(conn, job_id, planted)
    _slot_passed_on(conn, planted)


def test_bulk_delete_leaves_no_trace(conn):
    planted = plant_traced(conn)
    ids = tuple(_traced_ids(planted))
    for state, chosen in (("queued", ids[:2]), ("ready_to_enqueue", ids[2:])):
        selection = bulk.Selection(state=state, queue="default", job_ids=chosen)
        op = bulk.create(conn, "delete", selection, {}, "test")
        assert bulk.run(conn, op.id, "delete", selection, {}).succeeded == len(chosen)
    for job_id in ids:
        assert_no_trace(conn, job_id, planted)
    _slot_passed_on(conn, planted)


def test_emptying_a_queue_and_a_registry_leaves_no_trace(conn):
    planted = plant_traced(conn)
    for state in ("queued", "ready_to_enqueue"):
        selection = bulk.Selection(state=state, queue="default")
        op = bulk.create(conn, "empty", selection, {}, "test")
        bulk.run(conn, op.id, "empty", selection, {})
    for job_id in _traced_ids(planted) + [planted["waiting"]]:
        assert_no_trace(conn, job_id, planted)
    assert conn.zcard(keys.rate_limit_allowed("del")) == 0, "no slot left held by a deleted job"


def test_deleting_a_schedule_goes_through_the_same_path(conn):
    """schedules.delete used its own MULTI, which left the group set and a limit slot behind."""
    from dashboard.rqlayer import schedules
    from tasks.registry import get_task

    planted = plant_traced(conn)
    sid = schedules.create_cron(
        conn, get_task("tasks.maintenance.cleanup_old_files"), {}, "0 8 * * *", "UTC", "default"
    )
    # A run of the schedule that RQ put in a group and through a limit (as the planted jobs are).
    conn.hset(keys.job(sid), mapping={"group_id": planted["group"], "rate_limit_key": "del"})
    conn.sadd(f"{keys.PREFIX}:group:{planted['group']}", sid)
    conn.zadd(keys.registry("ready_to_enqueue", "default"), {sid: time.time()})
    conn.zrem(keys.rate_limit_allowed("del"), planted["holder"])
    conn.zadd(keys.rate_limit_allowed("del"), {sid: time.time()})
    schedules.delete(conn, sid)
    assert_no_trace(conn, sid, planted)
    assert conn.zscore(keys.RQ_SCHEDULER_JOBS, sid) is None
    _slot_passed_on(conn, planted)
