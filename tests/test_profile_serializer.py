"""A serializer per connection profile (REDIS_PROFILE_SERIALIZERS="staging=json"): two real Redis servers,
prod (pickle, RQ's default) and staging (RQ's JSONSerializer).

Every way the console creates jobs (the form, the API, batch files, incoming events, a schedule's run now)
writes JSON on staging — the raw hash's `data` is zlib of JSON text — and a real
`rq worker --serializer rq.serializers.JSONSerializer` runs them to finished; the same on prod is pickle and
a stock `rq worker` runs it. A value JSON cannot hold is a 422 naming the field and the serializer, with
nothing written; rq-scheduler schedules (pickle only) are refused with a 409 on staging, and the page says
why. A bad setting stops the console at start."""

from __future__ import annotations

import io
import json
import re
import zlib
from datetime import datetime

import pytest
from flask import current_app

import tasks
from dashboard.rqlayer import keys
from dashboard.rqlayer.errors import InvalidInput
from dashboard.rqlayer.params import PARAM_PREFIX
from dashboard.settings import SettingsError, load_settings
from tasks.registry import task, unregister
from tests.fixtures import ROLE_USERS
from tests.helpers import build_app, csrf_token, make_env, run_burst_worker, signed_in, wait_until
from tests.profiles_fixture import _two, second_redis_server  # noqa: F401  (fixture "second_redis")

ECHO = "tests.test_profile_serializer.echo"
STAMP = "tests.test_profile_serializer.stamp"
EVENT = "serializer.tested"
JSON_WORKER = ("--serializer", "rq.serializers.JSONSerializer", "default")


def echo(text: str, count: int = 1, tags: list[str] | None = None) -> str:
    """JSON-friendly parameters: a JSON worker can run it."""
    return " ".join([text] * count + list(tags or []))


def stamp(when: datetime, note: str = "") -> str:
    """A typed datetime parameter: JSON has no such type."""
    return f"{when.isoformat()} {note}"


@pytest.fixture(name="two")
def two_json(private_redis, second_redis, tmp_path):
    task(echo, on=EVENT)
    task(stamp)
    try:
        yield from _two(private_redis, second_redis, tmp_path, REDIS_PROFILE_SERIALIZERS="staging=json")
    finally:
        unregister(ECHO)
        unregister(STAMP)


def _admin(two):
    client = signed_in(two.app, ROLE_USERS["admin"])
    return client, csrf_token(client)


def _bearer(app) -> dict:
    from dashboard import accounts

    with app.app_context():
        _, secret = accounts.create_token("ci", "operator", actor="test")
    return {"Authorization": f"Bearer {secret}"}


def _call(connection, job_id: str) -> bytes:
    """The raw call (RQ's `data` field decompressed), read without RQ."""
    return zlib.decompress(connection.hget(keys.job(job_id), "data"))


def _queued(connection) -> list[str]:
    return [i.decode() for i in connection.lrange(keys.queue("default"), 0, -1)]


def _job_keys(connection) -> list[bytes]:
    return list(connection.scan_iter(match=keys.job("*"), count=1000))


def _enqueue_every_way(two, prefix: str) -> list[str]:
    """Form, API, batch file and incoming event on one instance; the new job ids in queue order."""
    client, token = _admin(two)
    form = {f"{PARAM_PREFIX}text": "form", f"{PARAM_PREFIX}count": "2", "queue": "default", "csrf_token": token}
    response = client.post(f"{prefix}/enqueue/{ECHO}", data=form)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    headers = _bearer(two.app)
    body = {"task": ECHO, "params": {"text": "api", "tags": ["a", "b"]}, "options": {"queue": "default"}}
    response = client.post(f"{prefix}/api/v1/jobs", json=body, headers=headers)
    assert response.status_code == 201, response.json
    batch = b'{"text": "row1"}\n{"text": "row2", "count": 3}\n'
    data = {"file": (io.BytesIO(batch), "rows.jsonl"), "queue": "default", "csrf_token": token}
    response = client.post(f"{prefix}/enqueue/{ECHO}/batch", data=data, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_data(as_text=True)[:2000]
    connection = two.staging if prefix == "/@staging" else two.prod
    wait_until(lambda: len(_queued(connection)) == 4, message="the batch enqueued")
    response = client.post(
        f"{prefix}/api/v1/events", json={"name": EVENT, "payload": {"text": "event"}}, headers=headers
    )
    assert response.status_code == 201, response.json
    ids = _queued(connection)
    assert len(ids) == 5
    return ids


def _finished(connection, ids: list[str]) -> bool:
    return all(connection.hget(keys.job(i), "status") == b"finished" for i in ids)


def test_every_enqueue_on_a_json_instance_writes_json_that_a_json_worker_runs(two, second_redis):
    ids = _enqueue_every_way(two, "/@staging")
    calls = [json.loads(_call(two.staging, i)) for i in ids]
    assert calls == [
        [ECHO, None, [], {"text": "form", "count": 2}],
        [ECHO, None, [], {"text": "api", "tags": ["a", "b"]}],
        [ECHO, None, [], {"text": "row1"}],
        [ECHO, None, [], {"text": "row2", "count": 3}],
        [ECHO, None, [], {"text": "event"}],
    ]
    assert not _job_keys(two.prod), "nothing was written to prod"
    run_burst_worker(second_redis.url, queues=JSON_WORKER)
    assert _finished(two.staging, ids)
    # The result is JSON too (RQ's results stream holds b64 of serializer.dumps).
    assert two.staging.hget(keys.job(ids[0]), "status") == b"finished"


def test_the_same_enqueue_on_prod_is_pickle_and_a_stock_worker_runs_it(two, private_redis):
    ids = _enqueue_every_way(two, "/@prod")
    assert all(_call(two.prod, i).startswith(b"\x80") for i in ids), "pickle, RQ's default"
    assert not _job_keys(two.staging)
    run_burst_worker(private_redis.url, queues=("default",))
    assert _finished(two.prod, ids)


def test_a_value_json_cannot_hold_is_a_422_naming_field_and_serializer_and_nothing_is_written(two):
    client, token = _admin(two)
    form = {f"{PARAM_PREFIX}when": "2030-01-31T08:00", "queue": "default", "csrf_token": token}
    response = client.post(f"/@staging/enqueue/{STAMP}", data=form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="error-arg-when">when: a value of type datetime [^<]*JSONSerializer', html), html[:3000]
    headers = _bearer(two.app)
    body = {"task": STAMP, "params": {"when": "2030-01-31T08:00"}, "options": {"queue": "default"}}
    response = client.post("/@staging/api/v1/jobs", json=body, headers=headers)
    assert response.status_code == 422, response.json
    assert "datetime" in response.json["fields"]["when"] and "JSON" in response.json["message"]
    batch = b"when,note\n2030-01-31T08:00,x\n"
    data = {"file": (io.BytesIO(batch), "rows.csv"), "queue": "default", "csrf_token": token}
    response = client.post(f"/@staging/enqueue/{STAMP}/batch", data=data, content_type="multipart/form-data")
    assert response.status_code == 422 and "a value of type datetime" in response.get_data(as_text=True)
    # Through the front door itself: bytes, a set, a dict with int keys.
    with two.app.app_context():
        console = current_app.extensions["consoles"]["staging"]
        spec = tasks.get_task(ECHO)
        options, errors = console.enqueue.validate_options(spec, {"queue": "default"})
        assert not errors and options.serializer == "json"
        for value, shown in ((b"\x00", "bytes"), ({1, 2}, "set"), ([{1: "x"}], "key of type int")):
            with pytest.raises(InvalidInput) as refused:
                console.enqueue.enqueue(spec, {"text": "t", "tags": value}, options)
            assert refused.value.status == 422 and shown in refused.value.fields["tags"]
    assert not _job_keys(two.staging) and not two.staging.exists(keys.queue("default"))
    # The same datetime on prod is fine (pickle holds it).
    form = {f"{PARAM_PREFIX}when": "2030-01-31T08:00", "queue": "default", "csrf_token": token}
    assert client.post(f"/@prod/enqueue/{STAMP}", data=form).status_code == 303


def test_an_incoming_event_json_cannot_hold_is_refused_whole(two):
    unregister(STAMP)
    task(stamp, on="serializer.stamped")
    try:
        client, _ = _admin(two)
        payload = {"name": "serializer.stamped", "payload": {"when": "2030-01-31T08:00"}}
        response = client.post("/@staging/api/v1/events", json=payload, headers=_bearer(two.app))
    finally:
        unregister(STAMP)
        task(stamp)
    assert response.status_code == 422, response.json
    assert "datetime" in response.json["fields"]["payload.when"]
    assert not _job_keys(two.staging)


def test_rq_scheduler_schedules_are_refused_on_a_json_instance_and_the_page_says_why(two):
    client, token = _admin(two)
    form = {
        "task": ECHO,
        "kind": "cron",
        "cron": "0 8 * * *",
        "timezone": "UTC",
        "queue": "default",
        f"{PARAM_PREFIX}text": "daily",
        "csrf_token": token,
    }
    response = client.post("/@staging/schedules", data=form)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "rq-scheduler can only write pickled jobs" in html and "rq cron" in html
    assert not _job_keys(two.staging) and not two.staging.exists(keys.RQ_SCHEDULER_JOBS)
    staging_page = client.get("/@staging/schedules").get_data(as_text=True)
    assert 'id="schedule-serializer-note"' in staging_page and 'id="new-schedule"' not in staging_page
    prod_page = client.get("/@prod/schedules").get_data(as_text=True)
    assert 'id="schedule-serializer-note"' not in prod_page and 'id="new-schedule"' in prod_page
    # The badge says how the instance writes jobs; the switcher marks the json one.
    assert 'title="Redis instance staging; new jobs are written as JSON"' in staging_page
    assert 'title="Redis instance prod"' in prod_page
    assert re.search(r'data-profile="staging">.*?staging <span class="muted profile-serializer">json</span>', prod_page)
    assert client.post("/@prod/schedules", data=form).status_code == 303
    with two.app.app_context():
        consoles = current_app.extensions["consoles"]
        assert not consoles["staging"].capabilities.rq_scheduler and consoles["prod"].capabilities.rq_scheduler


def test_run_now_of_an_existing_rq_scheduler_schedule_writes_json_on_a_json_instance(two, second_redis):
    from rq_scheduler import Scheduler

    # Written by some other rq-scheduler client (pickle): the console still runs it the instance's way.
    Scheduler(connection=two.staging).cron("0 8 * * *", func=ECHO, kwargs={"text": "sched"}, id="sched-1")
    client, token = _admin(two)
    response = client.post("/@staging/schedules/sched-1/run-now", data={"csrf_token": token})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    [job_id] = _queued(two.staging)
    assert json.loads(_call(two.staging, job_id)) == [ECHO, None, [], {"text": "sched"}]
    run_burst_worker(second_redis.url, queues=JSON_WORKER)
    assert _finished(two.staging, [job_id])


def test_the_job_page_snippet_uses_the_json_serializer_on_a_json_instance(two):
    ids = {}
    for prefix in ("/@staging", "/@prod"):
        client, token = _admin(two)
        form = {f"{PARAM_PREFIX}text": "x", "queue": "default", "csrf_token": token}
        response = client.post(f"{prefix}/enqueue/{ECHO}", data=form)
        ids[prefix] = response.headers["Location"].rsplit("/", 1)[1]
    staging = client.get(f"/@staging/jobs/{ids['/@staging']}").get_data(as_text=True)
    prod = client.get(f"/@prod/jobs/{ids['/@prod']}").get_data(as_text=True)
    assert "from rq.serializers import JSONSerializer" in staging and "serializer=JSONSerializer" in staging
    assert "JSONSerializer" not in prod


def test_a_json_default_instance_with_redis_url_alone(two, private_redis, tmp_path, conn):
    """REDIS_URL alone is the one instance `default`: the same setting makes it write JSON, and the release's
    register-defaults registers no rq-scheduler schedule there (the release goes on)."""
    alone = tmp_path / "alone"  # `two` (for its registered tasks) has the app in tmp_path itself
    (alone / "data").mkdir(parents=True)
    app = build_app(
        make_env(
            private_redis.url,
            f"sqlite:///{alone / 'console.db'}",
            alone / "data",
            REDIS_PROFILE_SERIALIZERS="default=json",
        )
    )
    try:
        result = app.test_cli_runner().invoke(args=["schedules", "register-defaults"])
        assert result.exit_code == 0 and "none registered" in result.output and "rq cron" in result.output
        assert not conn.exists(keys.RQ_SCHEDULER_JOBS)
        with app.app_context():
            console = current_app.extensions["console"]
            spec = tasks.get_task(ECHO)
            options, errors = console.enqueue.validate_options(spec, {"queue": "default"})
            assert not errors and options.serializer == console.capabilities.serializer == "json"
            job_id = console.enqueue.enqueue(spec, {"text": "alone"}, options)
        assert json.loads(_call(conn, job_id)) == [ECHO, None, [], {"text": "alone"}]
    finally:
        with app.app_context():
            from dashboard.extensions import db

            db.engine.dispose()


def _settings(tmp_path, **env):
    base = {"SECRET_KEY": "test-secret-key-0123456789", "CONSOLE_DATA_DIR": str(tmp_path), "DATABASE_URL": "sqlite://"}
    return load_settings(dict(base, **env), use_run_state=False)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"REDIS_URLS": "prod=redis://a/0,staging=redis://b/0", "REDIS_PROFILE_SERIALIZERS": "staging=yaml"},
            "REDIS_PROFILE_SERIALIZERS: staging='yaml': one of pickle, json",
        ),
        (
            {"REDIS_URLS": "prod=redis://a/0", "REDIS_PROFILE_SERIALIZERS": "qa=json"},
            "REDIS_PROFILE_SERIALIZERS: no profile named 'qa' (profiles: prod)",
        ),
        ({"REDIS_PROFILE_SERIALIZERS": "prod=json"}, "REDIS_PROFILE_SERIALIZERS: no profile named 'prod'"),
        ({"REDIS_PROFILE_SERIALIZERS": "json"}, "REDIS_PROFILE_SERIALIZERS: expected name=value"),
    ],
)
def test_bad_serializer_settings_stop_the_console_with_a_clear_message(tmp_path, env, message):
    with pytest.raises(SettingsError) as raised:
        _settings(tmp_path, **env)
    assert message in str(raised.value)


def test_serializer_settings_accepted(tmp_path):
    several = _settings(
        tmp_path, REDIS_URLS="prod=redis://a/0 staging=redis://b/0", REDIS_PROFILE_SERIALIZERS="staging=JSON"
    )
    assert [p.serializer for p in several.profiles.all] == ["pickle", "json"]
    single = _settings(tmp_path, REDIS_URL="redis://one/0", REDIS_PROFILE_SERIALIZERS="default=json").profiles
    assert single.default.serializer == "json" and single.names() == ("default",)
