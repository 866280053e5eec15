"""Every registered task runs through a real RQ worker on real inputs."""

from __future__ import annotations

import pickle

from rq import Queue
from rq.job import Job, JobStatus

import tasks
from dashboard import demo
from dashboard.rqlayer import keys
from dashboard.rqlayer.overview import read_overview
from tests.helpers import run_burst_worker, work_in_process

VALID_INPUTS = {
    "tasks.notifications.send_email_notification": {"to": "ops@example.com", "subject": "hello"},
    "tasks.notifications.send_digest": {"recipients": ["a@example.com", "b@example.com"]},
    "tasks.reports.generate_sales_report": {"days": 3, "seed": 1},
    "tasks.images.make_thumbnail": {"size": 64},
    "tasks.batches.process_batch": {"items": 25, "delay": 0},
    "tasks.maintenance.cleanup_old_files": {"max_age_hours": 1},
    "tasks.external.fetch_exchange_rate": {"failure_rate": 0},
    "tasks.orders.send_order_confirmation": {"order_id": "W-1", "customer": "web@example.com", "total": 20},
    "tasks.orders.record_order": {"order_id": "W-1", "customer": "web@example.com", "total": 20},
}


def test_every_registered_task_has_a_worker_run(redis_url, conn, data_dir):
    assert set(VALID_INPUTS) == {spec.name for spec in tasks.all_tasks()}
    jobs = {}
    for spec in tasks.all_tasks():
        queue = Queue(spec.queue, connection=conn)
        jobs[spec.name] = queue.enqueue_call(spec.name, kwargs=VALID_INPUTS[spec.name], timeout=spec.timeout)

    run_burst_worker(redis_url, env={"CONSOLE_DATA_DIR": str(data_dir)})

    for name, job in jobs.items():
        job.refresh()
        assert job.get_status() == JobStatus.FINISHED, (name, job.latest_result())
    assert list((data_dir / "outbox").rglob("*")), "the email landed in the local outbox"
    assert list((data_dir / "reports").glob("*.csv"))
    assert "W-1" in (data_dir / "reports" / "orders-ledger.csv").read_text()  # record_order's ledger line
    assert list((data_dir / "images").glob("*.png"))
    rate = jobs["tasks.external.fetch_exchange_rate"].latest_result().return_value
    assert isinstance(rate, float) and rate > 0


def test_progress_is_visible_in_job_meta(conn, data_dir):
    job = Queue("low", connection=conn).enqueue_call("tasks.batches.process_batch", kwargs={"items": 40, "delay": 0})
    work_in_process(conn, ["low"])
    raw_meta = conn.hget(keys.job(job.id), "meta")
    meta = pickle.loads(raw_meta)  # the test trusts its own data; the console never does this
    assert meta["progress"] == {"done": 40, "total": 40, "percent": 100.0}


def test_flaky_call_is_retried_with_backoff(conn, data_dir):
    spec = tasks.get_task("tasks.external.fetch_exchange_rate")
    job = Queue("default", connection=conn).enqueue_call(
        spec.name, kwargs={"failure_rate": 1.0}, retry=spec.retry(), timeout=spec.timeout
    )

    work_in_process(conn, ["default"])

    job = Job.fetch(job.id, connection=conn)
    assert job.get_status() == JobStatus.SCHEDULED, "the failure was rescheduled, not dead-lettered"
    assert job.retries_left == spec.retry_max - 1
    assert conn.zscore(keys.registry("scheduled", "default"), job.id) is not None


def test_demo_fills_every_kind_and_is_idempotent_for_schedules(conn, data_dir):
    report = demo.fill(conn, batch_items=10)
    assert len(report.enqueued) >= 10 and len(report.scheduled) == 2
    assert len(report.schedules) == 2
    overview = read_overview(conn)
    assert {q.name for q in overview.queues} == {"high", "default", "low"}
    assert overview.totals["deferred"] == 1
    assert overview.totals["scheduled"] == 2
    assert conn.zcard(keys.RQ_SCHEDULER_JOBS) == 2

    again = demo.register_schedules(conn)
    assert again == [] and conn.zcard(keys.RQ_SCHEDULER_JOBS) == 2

    work_in_process(conn)
    after = read_overview(conn)
    assert after.totals["finished"] >= 7
    assert after.totals["failed"] == 2
    assert after.totals["scheduled"] >= 2 + 1, "failed flaky calls wait for their retry"
