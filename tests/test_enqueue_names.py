"""Enqueue options and task parameters never share a name: a parameter called delay, queue or timeout
is the task's own value everywhere (form, inline check, batch file, schedule form, API)."""

from __future__ import annotations

import io
import re

import pytest
from rq.job import Job

import tasks
from dashboard.rqlayer import keys
from dashboard.rqlayer.params import PARAM_PREFIX
from tasks.registry import task, unregister
from tests.helpers import csrf_token, wait_until, work_in_process

NAME = "tests.test_enqueue_names.named_like_options"
BATCH = "tasks.batches.process_batch"


def named_like_options(
    queue: str,
    timeout: int = 5,
    delay: float = 1.0,
    at_front: bool = False,
    job_id: str = "",
    depends_on: str = "",
    field: str = "",
    csrf_token: str = "",
) -> dict:
    return {
        "queue": queue,
        "timeout": timeout,
        "delay": delay,
        "at_front": at_front,
        "job_id": job_id,
        "depends_on": depends_on,
        "field": field,
        "csrf_token": csrf_token,
    }


@pytest.fixture
def option_named_task():
    task(named_like_options)
    yield tasks.get_task(NAME)
    unregister(NAME)


def _job_id(response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return response.headers["Location"].rsplit("/", 1)[1]


def test_registration_accepts_parameters_named_like_options(option_named_task):
    # Parameters live in their own namespace everywhere, so no name needs to be reserved.
    assert [p.name for p in option_named_task.params][:3] == ["queue", "timeout", "delay"]


def test_process_batch_delay_is_its_own_value_and_schedules_nothing(client, conn):
    response = client.post(
        f"/enqueue/{BATCH}",
        data={f"{PARAM_PREFIX}items": "3", f"{PARAM_PREFIX}delay": "0", "csrf_token": csrf_token(client)},
    )
    job_id = _job_id(response)
    job = Job.fetch(job_id, connection=conn)
    assert job.kwargs == {"items": 3, "delay": 0.0}
    assert conn.lrange(keys.queue("low"), 0, -1) == [job_id.encode()]
    assert conn.zcard(keys.registry("scheduled", "low")) == 0


def test_the_form_defaults_of_process_batch_are_accepted(client, conn):
    html = client.get(f"/enqueue/{BATCH}").get_data(as_text=True)
    defaults = dict(re.findall(r'name="(arg-[a-z_]+)" value="([^"]*)"', html))
    assert defaults == {"arg-items": "100", "arg-delay": "0.05"}
    job_id = _job_id(client.post(f"/enqueue/{BATCH}", data={**defaults, "delay": "", "csrf_token": csrf_token(client)}))
    assert Job.fetch(job_id, connection=conn).kwargs == {"items": 100, "delay": 0.05}


def test_parameters_named_like_options_reach_the_task(client, conn, option_named_task):
    form = {
        f"{PARAM_PREFIX}queue": "paris",
        f"{PARAM_PREFIX}timeout": "7",
        f"{PARAM_PREFIX}delay": "2.5",
        f"{PARAM_PREFIX}at_front": "true",
        f"{PARAM_PREFIX}job_id": "mine",
        f"{PARAM_PREFIX}field": "f",
        f"{PARAM_PREFIX}csrf_token": "t",
        "queue": "high",
        "csrf_token": csrf_token(client),
    }
    job_id = _job_id(client.post(f"/enqueue/{NAME}", data=form))
    assert job_id != "mine" and conn.lrange(keys.queue("high"), 0, -1) == [job_id.encode()]
    job = Job.fetch(job_id, connection=conn)
    assert job.timeout == option_named_task.timeout and job.enqueued_at is not None
    work_in_process(conn, ["high"])
    assert Job.fetch(job_id, connection=conn).return_value() == {
        "queue": "paris",
        "timeout": 7,
        "delay": 2.5,
        "at_front": True,
        "job_id": "mine",
        "depends_on": "",
        "field": "f",
        "csrf_token": "t",
    }


def test_parameter_and_option_errors_are_shown_apart(client, option_named_task):
    response = client.post(
        f"/enqueue/{NAME}",
        data={
            f"{PARAM_PREFIX}queue": "x",
            f"{PARAM_PREFIX}timeout": "soon",
            "timeout": "-1",
            "csrf_token": csrf_token(client),
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="error-arg-timeout">expected a whole number<', html)
    assert re.search(r'id="error-timeout">must be between', html)
    assert "fix the 2 fields" in html


def test_inline_check_reads_the_parameter_field(client, option_named_task):
    def check(query):
        return client.get(f"/enqueue/{NAME}/check?{query}").get_data(as_text=True).strip()

    assert check("field=timeout&arg-timeout=x&timeout=5") == "expected a whole number"
    assert check("field=timeout&arg-timeout=5&timeout=x") == ""
    assert check("field=field&arg-field=anything") == ""
    assert check("field=queue&arg-queue=") == "this field is required"


def test_batch_columns_named_like_options_are_parameters(client, conn, option_named_task):
    body = b"queue,timeout,delay\nparis,7,2.5\nrome,8,0\n"
    data = {"file": (io.BytesIO(body), "rows.csv"), "csrf_token": csrf_token(client)}
    response = client.post(f"/enqueue/{NAME}/batch", data=data, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_data(as_text=True)[:2000]
    wait_until(lambda: conn.llen(keys.queue("default")) == 2, message="the batch enqueued")
    kwargs = [Job.fetch(i.decode(), connection=conn).kwargs for i in conn.lrange(keys.queue("default"), 0, -1)]
    assert kwargs == [{"queue": "paris", "timeout": 7, "delay": 2.5}, {"queue": "rome", "timeout": 8, "delay": 0.0}]
    assert conn.zcard(keys.registry("scheduled", "default")) == 0


def test_schedule_form_keeps_parameters_apart(conn, option_named_task):
    from dashboard.web import schedule_forms

    request, errors, param_errors = schedule_forms.parse_form(
        {
            "task": NAME,
            "kind": "cron",
            "cron": "0 8 * * *",
            "timezone": "UTC",
            "queue": "high",
            f"{PARAM_PREFIX}queue": "paris",
            f"{PARAM_PREFIX}timeout": "7",
            f"{PARAM_PREFIX}delay": "3",
        }
    )
    assert not errors and not param_errors
    assert request.kwargs["queue"] == "paris" and request.kwargs["timeout"] == 7 and request.kwargs["delay"] == 3.0


def test_api_params_and_options_are_separate_objects(app, client, conn, option_named_task):
    from dashboard import accounts

    with app.app_context():
        _, secret = accounts.create_token("ci", "operator")
    response = client.post(
        "/api/v1/jobs",
        headers={"Authorization": f"Bearer {secret}"},
        json={"task": NAME, "params": {"queue": "paris", "delay": 4, "timeout": 9}, "options": {"queue": "high"}},
    )
    assert response.status_code == 201, response.json
    job = Job.fetch(response.json["id"], connection=conn)
    assert job.origin == "high" and job.kwargs == {"queue": "paris", "delay": 4.0, "timeout": 9}
    assert conn.zcard(keys.registry("scheduled", "high")) == 0


def test_forms_share_one_parameter_prefix():
    from dashboard.web import schedule_forms

    assert schedule_forms.PARAM_PREFIX == PARAM_PREFIX
