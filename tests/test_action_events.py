"""Console actions append their events to the job event stream: every action of the catalogue, on one job
through its route (one event, with the job's id, queue, function and the actor) and in bulk (ONE summary
event per operation, with its count), enqueues (form, API, batch) and a schedule's run now. One app for the
module (Redis is flushed per test); real routes, real Redis."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from rq import Queue

from dashboard import accounts
from dashboard.rqlayer import catalogue, feed, keys
from dashboard.rqlayer.params import PARAM_PREFIX
from dashboard.rqlayer.telemetry.events import read_events
from tests.fixtures import ROLE_USERS, plant_failed, plant_schedules, seed_users
from tests.helpers import build_app, csrf_token, make_env, signed_in, start_job_on_real_worker, wait_until

ADMIN = ROLE_USERS["admin"]
ADD = "tests.jobfuncs.add"


@pytest.fixture(scope="module")
def site(private_redis, tmp_path_factory):
    base = tmp_path_factory.mktemp("action-events")
    app = build_app(make_env(private_redis.url, f"sqlite:///{base / 'console.db'}", base))
    seed_users(app)
    with app.app_context():
        _, secret = accounts.create_token("events-api", "operator")
    app.api_secret = secret
    return app


@pytest.fixture
def admin(site, redis_url):
    client = signed_in(site, ADMIN)
    client.token = csrf_token(client)
    return client


def stream(conn):
    return read_events(conn, count=1000).events


def post(client, url, **data):
    return client.post(url, data=data, headers={"X-CSRFToken": client.token})


# ---------------------------------------------------------------- one job


def queued(conn):
    return Queue("default", connection=conn).enqueue(ADD, 1, 2).id, "queued", ADD


def failed(conn):
    return plant_failed(conn, 1, prefix=uuid.uuid4().hex[:8])[0], "failed", "tests.jobfuncs.record_run"


def scheduled(conn):
    return Queue("default", connection=conn).enqueue_in(timedelta(hours=1), ADD, 1, 1).id, "scheduled", ADD


SINGLE = {
    "retry": (failed, {}),
    "requeue": (queued, {"position": "front"}),
    "move": (queued, {"queue": "elsewhere", "create_queue": "1"}),
    "run-now": (scheduled, {}),
    "cancel": (queued, {}),
    "delete": (queued, {}),
    "stop": (None, {}),  # a job running on a real worker: see test_stop_appends_stop_requested
}


def test_every_single_job_action_has_a_case_and_an_event_type():
    singles = {a.name for a in catalogue.ACTIONS.values() if a.single}
    assert singles == set(SINGLE), "a new action needs its event (feed.ACTION_TYPES) and a case here"
    assert singles <= set(feed.ACTION_TYPES)
    assert set(feed.ACTION_TYPES.values()) <= feed.TYPES


@pytest.mark.parametrize("name", [n for n, (setup, _) in SINGLE.items() if setup is not None])
def test_a_single_job_action_appends_one_event(admin, conn, name):
    setup, form = SINGLE[name]
    job_id, state, function = setup(conn)
    response = post(admin, f"/jobs/{job_id}/{name}", state=state, **form)
    assert response.status_code in (200, 303), response.get_data(as_text=True)[:500]
    events = stream(conn)
    assert [e.type for e in events] == [feed.ACTION_TYPES[name]]
    event = events[0]
    assert (event.job_id, event.function, event.extra["actor"]) == (job_id, function, ADMIN)
    if name == "move":
        assert (event.queue, event.extra["from"]) == ("elsewhere", "default")
    else:
        assert event.queue == "default"


def test_a_refused_action_appends_nothing(admin, conn):
    job_id, _, _ = queued(conn)
    assert post(admin, f"/jobs/{job_id}/retry", state="failed").status_code == 409
    assert stream(conn) == []


def test_stop_appends_stop_requested_with_the_worker(admin, conn, redis_url):
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.sleep_for", 30)
    worker = start_job_on_real_worker(conn, redis_url, job.id)
    try:
        response = post(admin, f"/jobs/{job.id}/stop", seen="started")
        assert response.status_code in (200, 303), response.get_data(as_text=True)[:500]
        worker.wait(30)
    finally:
        worker.kill()
    event = next(e for e in stream(conn) if e.type == "stop_requested")
    assert (event.job_id, event.queue, event.function) == (job.id, "default", "tests.jobfuncs.sleep_for")
    assert event.worker and event.extra["actor"] == ADMIN


# ---------------------------------------------------------------- bulk: one summary per operation


BULK = {
    "retry": (failed, {}),
    "move": (queued, {"target": "elsewhere", "create_queue": "1"}),
    "run-now": (scheduled, {}),
    "cancel": (queued, {}),
    "delete": (queued, {}),
    "empty": (queued, {}),
}


def test_every_bulk_action_has_a_case():
    assert {a.name for a in catalogue.ACTIONS.values() if a.bulk or not a.single} == set(BULK)


@pytest.mark.parametrize("name", list(BULK))
def test_a_bulk_operation_appends_one_summary_event(admin, conn, name):
    setup, form = BULK[name]
    jobs = [setup(conn) for _ in range(3)]
    state = jobs[0][1]
    if name == "empty":
        response = post(admin, f"/queues/default/{state}/empty", confirm_name="default")
    else:
        ids = [job_id for job_id, _, _ in jobs]
        response = admin.post(
            f"/queues/default/{state}/bulk",
            data={"action": name, "ids": ids, **form},
            headers={"X-CSRFToken": admin.token},
        )
    assert response.status_code == 202, response.get_data(as_text=True)[:500]
    kind = feed.bulk_type(name)
    summary = wait_until(lambda: [e for e in stream(conn) if e.type == kind], timeout=20, message=kind)
    assert len(summary) == 1
    event = summary[0]
    assert (event.extra["count"], event.extra["status"], event.extra["actor"]) == ("3", "done", ADMIN)
    assert event.extra["op"] and event.queue == "default" and event.job_id == ""
    assert [e.type for e in stream(conn)] == [kind], "no per-job events for a bulk operation"


# ---------------------------------------------------------------- enqueue and schedules


def test_enqueue_from_the_form_the_api_and_a_batch(site, admin, conn):
    task = "tasks.batches.process_batch"
    response = post(admin, f"/enqueue/{task}", **{f"{PARAM_PREFIX}items": "3", f"{PARAM_PREFIX}delay": "0"})
    assert response.status_code == 303
    form_job = response.headers["Location"].rsplit("/", 1)[1]
    api = site.test_client().post(
        "/api/v1/jobs",
        json={"task": task, "params": {"items": 2}},
        headers={"Authorization": f"Bearer {site.api_secret}"},
    )
    assert api.status_code == 201
    body = {"file": (io.BytesIO(b"items\n1\n2\n"), "rows.csv"), "csrf_token": admin.token}
    batch = admin.post(f"/enqueue/{task}/batch", data=body, content_type="multipart/form-data")
    assert batch.status_code == 202
    wait_until(lambda: any(e.type == "bulk_enqueue" for e in stream(conn)), message="the batch's summary")
    events = stream(conn)
    enqueued = [e for e in events if e.type == "enqueued"]
    assert [(e.job_id, e.queue, e.function) for e in enqueued] == [
        (form_job, "low", task),
        (api.json["id"], "low", task),
    ]
    assert [e.extra["actor"] for e in enqueued] == [ADMIN, "token:events-api"]
    (summary,) = [e for e in events if e.type == "bulk_enqueue"]
    assert (summary.extra["count"], summary.queue, summary.function) == ("2", "low", task)
    assert len(events) == 3, "a batch is one summary, not one event per row"


def test_schedule_run_now(admin, conn):
    sid = plant_schedules(conn)
    response = post(admin, f"/schedules/{sid}/run-now")
    assert response.status_code == 303
    (event,) = [e for e in stream(conn) if e.type == "schedule_run_now"]
    assert (event.queue, event.function, event.extra["schedule"]) == ("low", "tasks.maintenance.cleanup_old_files", sid)
    assert conn.exists(keys.job(event.job_id))
    assert event.extra["actor"] == ADMIN
