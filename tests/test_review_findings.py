"""Regressions found in review: each test reproduces a bug that was fixed."""

from __future__ import annotations

import pickle
import threading
import time
import zlib

import pytest
from rq import Queue

from dashboard.rqlayer import actions, bulk, jobs, keys
from dashboard.rqlayer.jobs import Failure
from dashboard.rqlayer.payloads import decode
from tests.helpers import build_app, csrf_token, make_env, work_in_process
from tests.test_actions import plant_failed
from tests.test_browse import plant_raw


def _post(client, url, **data):
    return client.post(url, data=data, headers={"X-CSRFToken": csrf_token(client)})


def test_a_job_retried_meanwhile_is_not_run_twice(client_as, conn):
    [job_id] = plant_failed(conn, 1)
    assert _post(client_as("operator"), f"/jobs/{job_id}/retry", seen="failed").status_code == 303
    work_in_process(conn, ["default"])  # it finished
    second = _post(client_as("admin"), f"/jobs/{job_id}/retry", seen="failed")
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


def test_bulk_move_to_the_same_queue_is_refused(conn):
    Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 1)
    with pytest.raises(actions.ActionError):
        bulk.create(conn, "move", bulk.Selection(state="queued", queue="default"), {"target": "default"}, "t")


def test_emptying_a_queue_with_stale_ids_at_its_head_finishes(conn):
    plant_raw(conn, "default", "queued", 300)
    finished = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 1)
    work_in_process(conn, ["default"])
    plant_raw(conn, "default", "queued", 300, prefix="k")
    conn.lpush(keys.queue("default"), finished.id)  # a stale leftover id of a finished job
    selection = bulk.Selection(state="queued", queue="default")
    op = bulk.create(conn, "empty", selection, {}, "t")
    final = bulk.run(conn, op.id, "empty", selection, {})
    assert final.status == "done" and final.succeeded == 300
    assert conn.llen(keys.queue("default")) == 0
    assert conn.exists(keys.job(finished.id)), "the finished job itself is kept"


def test_bulk_over_a_state_does_not_skip_jobs_when_others_leave_meanwhile(conn, monkeypatch):
    ids = plant_raw(conn, "default", "queued", 3000)
    monkeypatch.setattr(bulk, "CHUNK", 200)
    popped = []

    def worker_like():
        for _ in range(100):
            value = conn.lpop(keys.queue("default"))
            if value:
                popped.append(value.decode())
            time.sleep(0.001)

    selection = bulk.Selection(state="queued", queue="default")
    op = bulk.create(conn, "cancel", selection, {}, "t")
    thread = threading.Thread(target=worker_like)
    thread.start()
    final = bulk.run(conn, op.id, "cancel", selection, {})
    thread.join()
    assert conn.llen(keys.queue("default")) == 0, "no job left behind"
    assert final.succeeded + len(popped) == len(ids)


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


def test_viewers_cannot_search_hidden_argument_values(redis_url, sqlite_url, data_dir, conn):
    from dashboard import accounts

    app = build_app(make_env(redis_url, sqlite_url, data_dir, HIDE_JOB_VALUES_FROM_VIEWERS="true"))
    with app.app_context():
        session_id = accounts.create_user("v1", "long-enough-pw", "viewer").get_id()
    Queue("default", connection=conn).enqueue("tests.jobfuncs.add", "s3cr3t", 1)
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
    assert client.get("/queues/default/queued?args=s3cr3t").status_code == 403
    assert client.get("/queues/default/queued/export.csv?args=s3cr3t").status_code == 403


@pytest.mark.parametrize("payload", [
    b"\x80\x04\x95\x1e\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\tbytearray\x94\x93\x94J\x00\xa3\xe1\x11\x85\x94R\x94.",
    pickle.dumps(range(10**9)),
])
def test_tiny_pickles_cannot_build_huge_values(payload):
    assert not decode(payload).safe


def test_failed_view_pages_one_queue_with_tied_scores(conn):
    now = int(time.time()) + 3600
    pipe = conn.pipeline()
    for n in range(300):
        job_id = f"tie{n:04d}"
        pipe.hset(keys.job(job_id), mapping={"status": "failed", "origin": "default",
                                             "data": zlib.compress(pickle.dumps(("f", None, (), {})))})
        pipe.zadd(keys.registry("failed", "default"), {job_id: now})  # RQ 3: whole seconds, all tied
    pipe.sadd(keys.queues(), keys.queue("default"))
    pipe.execute()
    seen, cursor = [], None
    while True:
        page = jobs.read_failed_across_queues(conn, cursor=cursor, size=50)
        seen += [row.id for _, row in page.rows]
        cursor = page.next_cursor
        assert cursor is None or len(cursor) < 100, "the cursor stays small"
        if cursor is None:
            break
    assert len(seen) == 300 and len(set(seen)) == 300


def test_failed_view_cursor_nonsense_is_not_a_500(client, conn):
    plant_failed(conn, 3)
    for cursor in ("nan", "NaN|x", "inf|", "abc", "1|default=notanumber"):
        assert client.get(f"/failed?cursor={cursor}").status_code == 200


@pytest.mark.parametrize("tb, expected", [
    ('Traceback (most recent call last):\n  File "x.py", line 1, in f\n    raise ValueError("a\\nb")\n'
     "ValueError: bad input\nrow42", ("ValueError", "bad input")),
    ('Traceback (most recent call last):\n  File "x.py", line 1, in f\n    raise e\nKeyError: \'k\'\n'
     "a note added later", ("KeyError", "'k'")),
    ('Traceback (most recent call last):\n  File "x.py", line 1, in f\n    raise RuntimeError()\nRuntimeError',
     ("RuntimeError", "")),
])
def test_exception_line_is_found_after_the_last_frame(tb, expected):
    failure = Failure.from_traceback(tb)
    assert (failure.exc_type, failure.message) == expected


def test_export_of_a_non_latin_queue_name(client, conn):
    plant_raw(conn, "队列", "queued", 2)
    response = client.get("/queues/%E9%98%9F%E5%88%97/queued/export.csv")
    assert response.status_code == 200
    header = response.headers["Content-Disposition"]
    header.encode("latin-1")
    assert "filename*=UTF-8''%E9%98%9F%E5%88%97-queued.csv" in header


# ---------------------------------------------------------------- schedules and enqueue review

def test_enqueue_with_a_dependency_never_unpickles_the_parent(app, client, conn, tmp_path):
    import os

    from dashboard import accounts

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    conn.hset(keys.job("parent1"), mapping={"status": "queued", "origin": "default", "meta": pickle.dumps(Exploit()),
                                           "data": zlib.compress(pickle.dumps(("f", None, (), {})))})
    with app.app_context():
        _, secret = accounts.create_token("dep", "operator")
    response = client.post("/api/v1/jobs", headers={"Authorization": f"Bearer {secret}"},
                           json={"task": "tasks.reports.generate_sales_report", "options": {"depends_on": "parent1"}})
    assert response.status_code in (201, 422)
    assert not marker.exists()


@pytest.mark.parametrize("options, field", [
    ({"run_at": "2999-01-01T00:00", "timezone": "America"}, "options.timezone"),
    ({"run_at": "2999-01-01T00:00", "timezone": "A" * 5000}, "options.timezone"),
    ({"run_at": "9999-12-31T23:59", "timezone": "America/New_York"}, "options.run_at"),
    ({"delay": "60", "at_front": True}, "options.at_front"),
])
def test_odd_enqueue_options_are_422_not_500(app, client, options, field):
    from dashboard import accounts

    with app.app_context():
        _, secret = accounts.create_token("odd", "operator")
    response = client.post("/api/v1/jobs", headers={"Authorization": f"Bearer {secret}"},
                           json={"task": "tasks.reports.generate_sales_report", "options": options})
    assert response.status_code == 422 and field in response.json["fields"]


@pytest.mark.parametrize("params, field", [
    ({"recipients": "[" * 100000}, "recipients"),
    ({"recipients": ["a@b.io"], "subject": 5}, "subject"),
])
def test_odd_parameter_values_are_422_not_500(app, client, params, field):
    from dashboard import accounts

    with app.app_context():
        _, secret = accounts.create_token("odd2", "operator")
    response = client.post("/api/v1/jobs", headers={"Authorization": f"Bearer {secret}"},
                           json={"task": "tasks.notifications.send_digest", "params": params})
    assert response.status_code == 422 and field in response.json["fields"]


def test_json_numbers_for_floats_are_checked_too():
    import tasks
    from dashboard.rqlayer.params import coerce

    param = tasks.get_task("tasks.external.fetch_exchange_rate").param("failure_rate")
    for value in (float("nan"), float("inf"), 10**400):
        with pytest.raises(ValueError):
            coerce(param, value)


def test_a_retry_count_alone_keeps_the_task_backoff(conn):
    import tasks
    from dashboard.rqlayer import enqueue as enqueuing

    spec = tasks.get_task("tasks.external.fetch_exchange_rate")
    options, errors = enqueuing.validate_options(conn, spec, {"retry_max": "2"})
    assert not errors and options.retry_intervals == [5, 15, 60]


def test_schedule_writes_wait_for_a_scheduler_pass(conn):
    import tasks
    from dashboard.rqlayer import schedules

    spec = tasks.get_task("tasks.maintenance.cleanup_old_files")
    sid = schedules.create_cron(conn, spec, {}, "0 8 * * *", "UTC", "low")
    conn.set(keys.RQ_SCHEDULER_LOCK, 1, ex=30)  # rq-scheduler is firing due schedules
    with pytest.raises(schedules.ScheduleConflict):
        schedules.pause(conn, sid)
    with pytest.raises(schedules.ScheduleConflict):
        schedules.delete(conn, sid)
    conn.delete(keys.RQ_SCHEDULER_LOCK)
    schedules.pause(conn, sid)
    assert conn.zscore(keys.RQ_SCHEDULER_JOBS, sid) is None


def test_default_declarations_with_colliding_ids_are_reported(conn):
    from dashboard.rqlayer import schedules

    report = schedules.register_defaults(conn, [
        {"name": "nightly report", "task": "tasks.maintenance.cleanup_old_files", "cron": "0 1 * * *"},
        {"name": "nightly-report", "task": "tasks.maintenance.cleanup_old_files", "cron": "0 2 * * *"},
        {"name": "broken", "task": "tasks.maintenance.cleanup_old_files", "cron": "0 3 * * *", "kwargs": [1, 2]},
    ])
    assert any("nightly-report" in name for name in report.errors)
    assert any("broken" in name for name in report.errors)
    assert len(report.created) == 1


def test_a_far_future_reschedule_does_not_break_the_page(client, conn):
    from datetime import UTC, datetime

    import tasks
    from dashboard.rqlayer import schedules

    spec = tasks.get_task("tasks.maintenance.cleanup_old_files")
    sid = schedules.create_cron(conn, spec, {}, "0 8 * * *", "Asia/Tokyo", "low")
    conn.zadd(keys.RQ_SCHEDULER_JOBS, {sid: datetime(8999, 12, 31, 23, 59, tzinfo=UTC).timestamp()})
    assert client.get("/schedules").status_code == 200


def test_editing_an_interval_schedule_keeps_its_rhythm(conn):
    import tasks
    from dashboard.rqlayer import schedules

    spec = tasks.get_task("tasks.maintenance.cleanup_old_files")
    start = datetime_in(hours=20)
    sid = schedules.create_interval(conn, spec, {}, 86400, "low", start=start)
    schedules.create_interval(conn, spec, {}, 86400, "low", schedule_id=sid, description="edited")
    assert conn.zscore(keys.RQ_SCHEDULER_JOBS, sid) == int(start.timestamp())


def test_unknown_api_options_are_refused(app, client):
    from dashboard import accounts

    with app.app_context():
        _, secret = accounts.create_token("opts", "operator")
    response = client.post("/api/v1/jobs", headers={"Authorization": f"Bearer {secret}"},
                           json={"task": "tasks.reports.generate_sales_report", "options": {"ttl": 5}})
    assert response.status_code == 422 and "options.ttl" in response.json["fields"]


def datetime_in(**delta):
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) + timedelta(**delta)).replace(microsecond=0)


def test_fall_back_runs_a_fixed_hour_once():
    from datetime import UTC, datetime

    from dashboard.rqlayer import cron

    paris = cron.next_runs("0,30 2 * * *", "Europe/Paris", count=4, now=datetime(2026, 10, 24, 12, tzinfo=UTC))
    assert [r.strftime("%d %H:%M%z") for r in paris] == ["25 02:00+0200", "25 02:30+0200", "26 02:00+0100",
                                                         "26 02:30+0100"]
    # Starting between the two 01:30s of the night: the second one is not a new run.
    new_york = cron.next_runs("30 1 * * *", "America/New_York", count=1, now=datetime(2026, 11, 1, 5, 45, tzinfo=UTC))
    assert new_york[0].strftime("%m-%d %H:%M") == "11-02 01:30"
