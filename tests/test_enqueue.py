"""Enqueue by hand: typed parameters, options, inline validation, API, batches."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue

import tasks
from dashboard.rqlayer import enqueue as enqueuing
from dashboard.rqlayer import keys
from dashboard.rqlayer.params import coerce, field_kind, validate_call
from tests.helpers import csrf_token, wait_for_operation, wait_until, work_in_process

EMAIL = "tasks.notifications.send_email_notification"
REPORT = "tasks.reports.generate_sales_report"
DIGEST = "tasks.notifications.send_digest"
RATE = "tasks.external.fetch_exchange_rate"


def spec(name):
    return tasks.get_task(name)


def test_field_kinds_follow_annotations():
    report = spec(REPORT)
    kinds = {p.name: field_kind(p) for p in report.params}
    assert kinds["days"].widget == "integer"
    assert kinds["region"].widget == "select" and "north" in kinds["region"].choices
    assert field_kind(spec(DIGEST).param("recipients")).widget == "json"
    assert field_kind(spec(RATE).param("seed")).optional
    assert field_kind(tasks.get_task("tasks.maintenance.cleanup_old_files").param("dry_run")).widget == "checkbox"


@pytest.mark.parametrize(
    "name, param, raw, message",
    [
        (REPORT, "days", "seven", "expected a whole number"),
        (REPORT, "region", "mars", "choose one of"),
        (DIGEST, "recipients", "[1, 2", "not valid JSON"),
        (DIGEST, "recipients", '{"a": 1}', "expected a JSON list"),
        (DIGEST, "recipients", "[1, 2]", "expected a list of str"),
        (RATE, "failure_rate", "lots", "expected a number"),
        (EMAIL, "to", "", "this field is required"),
    ],
)
def test_bad_values_get_a_message(name, param, raw, message):
    with pytest.raises(ValueError, match=message):
        coerce(spec(name).param(param), raw)


def test_validate_call_types_values_and_uses_defaults():
    kwargs, errors = validate_call(spec(REPORT), {"days": "3", "region": "east"})
    assert errors == {} and kwargs == {"days": 3, "region": "east"}
    kwargs, errors = validate_call(spec(DIGEST), {"recipients": '["a@x.io"]', "bogus": "1"})
    assert kwargs == {"recipients": ["a@x.io"]} and "bogus" in errors
    kwargs, errors = validate_call(spec("tasks.maintenance.cleanup_old_files"), {}, checkbox_form=True)
    assert kwargs == {"dry_run": False}


def test_options_are_validated(conn):
    existing = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 1)
    now = datetime.now(UTC)
    _, errors = enqueuing.validate_options(
        conn,
        spec(EMAIL),
        {
            "queue": "bad queue",
            "run_at": "2000-01-01T00:00",
            "timeout": "-5",
            "retry_intervals": "a,b",
            "job_id": existing.id,
            "depends_on": "nope-1",
            "result_ttl": "x",
        },
        now=now,
    )
    assert set(errors) == {"queue", "run_at", "timeout", "retry_intervals", "job_id", "depends_on", "result_ttl"}
    assert "in the past" in errors["run_at"] and "already exists" in errors["job_id"]
    _, errors = enqueuing.validate_options(conn, spec(EMAIL), {"run_at": "2999-01-01T08:00", "timezone": "Mars/Base"})
    assert "unknown timezone" in errors["timezone"]
    options, errors = enqueuing.validate_options(
        conn,
        spec(EMAIL),
        {
            "run_at": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
            "timezone": "Europe/Paris",
            "retry_max": "2",
            "retry_intervals": "5, 30",
            "depends_on": "",
        },
    )
    assert errors == {} and options.retry_max == 2 and options.retry_intervals == [5, 30]
    assert options.run_at.tzinfo is not None and options.queue == "high"


def test_enqueue_form_renders_every_parameter_with_defaults(client):
    html = client.get(f"/enqueue/{REPORT}").get_data(as_text=True)
    assert 'name="arg-days"' in html and 'value="7"' in html and "<select" in html
    assert "Options" in html and 'name="run_at"' in html
    assert client.get("/enqueue/os.system").status_code == 404
    listing = client.get("/enqueue").get_data(as_text=True)
    assert all(s.title in listing for s in tasks.all_tasks())


def test_submit_with_errors_is_422_and_enqueues_nothing(client, conn):
    response = client.post(
        f"/enqueue/{EMAIL}", data={"arg-to": "", "arg-subject": "x", "timeout": "abc", "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "this field is required" in html and "expected a whole number" in html
    assert conn.llen(keys.queue("high")) == 0


def test_submit_enqueues_and_lands_on_the_job_page(client, conn, data_dir):
    response = client.post(
        f"/enqueue/{EMAIL}",
        data={"arg-to": "ops@example.com", "arg-subject": "Hello", "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 303
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    assert conn.lrange(keys.queue("high"), 0, -1) == [job_id.encode()]
    work_in_process(conn, ["high"])
    assert conn.hget(keys.job(job_id), "status") == b"finished"
    assert client.get(f"/jobs/{job_id}").status_code == 200


def test_custom_id_dependency_and_schedule(client, conn):
    parent = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 1)
    token = csrf_token(client)
    response = client.post(
        f"/enqueue/{REPORT}",
        data={"arg-days": "2", "job_id": "nightly-report-1", "depends_on": parent.id, "csrf_token": token},
    )
    assert response.status_code == 303 and conn.hget(keys.job("nightly-report-1"), "status") == b"deferred"
    again = client.post(f"/enqueue/{REPORT}", data={"arg-days": "2", "job_id": "nightly-report-1", "csrf_token": token})
    assert again.status_code == 422 and "already exists" in again.get_data(as_text=True)
    later = client.post(f"/enqueue/{REPORT}", data={"arg-days": "2", "delay": "3600", "csrf_token": token})
    job_id = later.headers["Location"].rsplit("/", 1)[1]
    assert conn.zscore(keys.registry("scheduled", "low"), job_id) is not None


def test_inline_validation_returns_the_field_message(client):
    assert (
        client.get(f"/enqueue/{REPORT}/check?field=days&arg-days=x").get_data(as_text=True).strip()
        == "expected a whole number"
    )
    assert client.get(f"/enqueue/{REPORT}/check?field=days&arg-days=4").get_data(as_text=True).strip() == ""
    assert client.get(f"/enqueue/{REPORT}/check?field=nope").status_code == 404


def test_viewer_cannot_enqueue(client_as, conn):
    viewer = client_as("viewer")
    assert viewer.get("/enqueue").status_code == 403
    response = viewer.post(
        f"/enqueue/{EMAIL}", data={"arg-to": "a@b.io", "arg-subject": "x", "csrf_token": csrf_token(viewer)}
    )
    assert response.status_code == 403 and conn.llen(keys.queue("high")) == 0


def test_duplicate_with_edits_prefills_the_form(client, conn):
    created = client.post(
        f"/enqueue/{REPORT}", data={"arg-days": "9", "arg-region": "west", "csrf_token": csrf_token(client)}
    )
    job_id = created.headers["Location"].rsplit("/", 1)[1]
    assert "Enqueue again" in client.get(f"/jobs/{job_id}").get_data(as_text=True)
    html = client.get(f"/enqueue/{REPORT}?from_job={job_id}").get_data(as_text=True)
    assert 'value="9"' in html and '<option value="west" selected>' in html
    assert client.get(f"/enqueue/{EMAIL}?from_job={job_id}").status_code == 404


def test_api_enqueue_and_validation_errors(app, client, conn):
    from dashboard import accounts

    with app.app_context():
        _, operator = accounts.create_token("ci", "operator")
        _, viewer = accounts.create_token("ro", "viewer")
    headers = {"Authorization": f"Bearer {operator}"}
    ok = client.post(
        "/api/v1/jobs", json={"task": REPORT, "params": {"days": 3}, "options": {"queue": "high"}}, headers=headers
    )
    assert ok.status_code == 201 and conn.lrange(keys.queue("high"), 0, -1) == [ok.json["id"].encode()]
    bad = client.post(
        "/api/v1/jobs",
        json={"task": REPORT, "params": {"days": "x", "zzz": 1}, "options": {"delay": "soon"}},
        headers=headers,
    )
    assert bad.status_code == 422
    assert set(bad.json["fields"]) == {"days", "zzz", "options.delay"}
    assert client.post("/api/v1/jobs", json={"task": "os.system"}, headers=headers).status_code == 422
    assert client.post("/api/v1/jobs", data="not json", headers=headers).status_code == 400
    denied = client.post("/api/v1/jobs", json={"task": REPORT}, headers={"Authorization": f"Bearer {viewer}"})
    assert denied.status_code == 403
    assert conn.llen(keys.queue("high")) == 1 and conn.llen(keys.queue("low")) == 0


def _upload(client, task, body: bytes, filename: str, **form):
    data = {"file": (io.BytesIO(body), filename), "csrf_token": csrf_token(client), **form}
    return client.post(f"/enqueue/{task}/batch", data=data, content_type="multipart/form-data")


def test_batch_reports_every_bad_row_and_enqueues_nothing(client, conn):
    body = b"to,subject\nok@example.com,hi\nnot-an-address,hi\n,missing\nfine@example.com,yo\n"
    response = _upload(client, EMAIL, body, "mail.csv")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Nothing was enqueued" in html and '<td class="num">4</td>' in html
    assert conn.llen(keys.queue("high")) == 0


def test_batch_csv_and_jsonl_enqueue_with_progress(client, conn):
    rows = "\n".join(json.dumps({"days": n % 30 + 1, "region": "north"}) for n in range(2500))
    response = _upload(client, REPORT, rows.encode(), "reports.jsonl")
    assert response.status_code == 202
    wait_for_operation(client, response)
    assert conn.llen(keys.queue("low")) == 2500

    skipped = _upload(client, EMAIL, b"to,subject\na@b.io,x\nnope,\n", "m.csv", skip_bad="1")
    assert skipped.status_code == 202
    wait_until(lambda: conn.llen(keys.queue("high")) == 1, message="the good row enqueued")
    work_in_process(conn, ["high"])
    assert conn.zcard(keys.registry("finished", "high")) == 1


def test_batch_refuses_unreadable_files(client):
    assert _upload(client, EMAIL, b"\xff\xfe\x00bad", "x.csv").status_code == 422
    assert _upload(client, EMAIL, b"", "x.csv").status_code == 422
    bad_json = _upload(client, EMAIL, b'{"to": "a@b.io"\n', "x.jsonl")
    assert bad_json.status_code == 422 and "not valid JSON" in bad_json.get_data(as_text=True)
