"""Queue fields offer the existing queues, and a new name (a typo such as "hihg") needs confirmation:
enqueue one job, a batch, a schedule (create and edit). Nothing is written until it is confirmed."""

from __future__ import annotations

import io
import re

from rq import Queue

from dashboard.rqlayer import keys
from tests.helpers import csrf_token, wait_for_operation

EMAIL = "tasks.notifications.send_email_notification"  # declared on "high"
REPORT = "tasks.reports.generate_sales_report"  # declared on "low", parameter days
CLEANUP = "tasks.maintenance.cleanup_old_files"


def raw(response) -> str:
    return response.get_data(as_text=True)


def post(client, url, **data):
    return client.post(url, data=data, headers={"X-CSRFToken": csrf_token(client)})


def queue_created(conn, name: str) -> bool:
    return bool(conn.sismember(keys.queues(), keys.queue(name))) or bool(conn.exists(keys.queue(name)))


def _email(**extra):
    return {"arg-to": "ops@example.com", "arg-subject": "Hi", **extra}


def test_enqueue_to_a_new_queue_asks_first_and_enqueues_only_when_confirmed(client, conn):
    asked = post(client, f"/enqueue/{EMAIL}", **_email(queue="hihg"))
    body = raw(asked)
    assert asked.status_code == 409
    assert 'id="new-queue-confirm"' in body and '<strong class="mono">hihg</strong> does not exist' in body
    assert 'name="confirm_queue" value="hihg"' in body and "Create queue 'hihg' and enqueue" in body
    assert 'value="ops@example.com"' in body, "the form comes back filled in"
    assert body.index('id="new-queue-confirm"') > body.index(">Enqueue</button>"), (
        "the confirm button comes after the form's own: Enter in a field must not confirm"
    )
    assert not queue_created(conn, "hihg") and conn.dbsize() == 0, "nothing written"

    other = post(client, f"/enqueue/{EMAIL}", **_email(queue="hihg", confirm_queue="hgih"))
    assert other.status_code == 409, "a confirmation is for exactly the name it was shown for"

    done = post(client, f"/enqueue/{EMAIL}", **_email(queue="hihg", confirm_queue="hihg"))
    assert done.status_code == 303
    job_id = done.headers["Location"].rsplit("/", 1)[1]
    assert conn.lrange(keys.queue("hihg"), 0, -1) == [job_id.encode()]


def test_queues_that_exist_are_listened_to_or_declared_need_no_confirmation(client, conn):
    Queue("reports", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)  # exists
    conn.sadd(keys.workers_of_queue("mail"), keys.worker("w1"))  # a worker listens, not created yet
    for queue in ("reports", "mail", "high", "low", "default"):  # high: EMAIL's own; low/default: standard
        assert post(client, f"/enqueue/{EMAIL}", **_email(queue=queue)).status_code == 303, queue
    assert post(client, f"/enqueue/{EMAIL}", **_email(queue="bad name")).status_code == 422


def test_the_job_page_after_enqueue_names_the_job_as_a_link(client, conn):
    done = post(client, f"/enqueue/{EMAIL}", **_email())
    job_id = done.headers["Location"].rsplit("/", 1)[1]
    page = raw(client.get(done.headers["Location"]))
    assert f'Job <a class="job-link mono" href="/jobs/{job_id}">{job_id}</a> enqueued on queue high.' in page


def test_forms_offer_the_existing_queues(client, conn):
    for name in ("reports", "emails"):
        Queue(name, connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    for url in (f"/enqueue/{EMAIL}", f"/enqueue/{EMAIL}/batch", "/schedules/new"):
        body = raw(client.get(url))
        datalist = re.search(r'list="([a-z-]+)"', body.split('name="queue"')[1][:300])
        assert datalist, f"{url}: the queue field names a datalist"
        options = body.split(f'<datalist id="{datalist.group(1)}">')[1].split("</datalist>")[0]
        assert '<option value="reports">' in options and '<option value="emails">' in options, url


def test_a_batch_to_a_new_queue_asks_before_reading_the_file(client, conn):
    def upload(**form):
        data = {"file": (io.BytesIO(b"days\n1\n2\n"), "rows.csv"), "csrf_token": csrf_token(client), **form}
        return client.post(f"/enqueue/{REPORT}/batch", data=data, content_type="multipart/form-data")

    asked = upload(queue="lwo")
    body = raw(asked)
    assert asked.status_code == 409 and 'name="confirm_queue" value="lwo"' in body
    assert "choose it again" in body and "Nothing was done yet" in body
    assert conn.zcard(keys.bulk_operations()) == 0 and not queue_created(conn, "lwo")

    started = upload(queue="lwo", confirm_queue="lwo")
    assert started.status_code == 202
    wait_for_operation(client, started)
    assert conn.llen(keys.queue("lwo")) == 2


def _schedule_form(**overrides):
    data = {
        "task": CLEANUP,
        "kind": "cron",
        "cron": "0 8 * * 1-5",
        "timezone": "UTC",
        "queue": "",
        "arg-max_age_hours": "24",
        "arg-dry_run": "true",
    }
    return {**data, **overrides}


def test_a_schedule_on_a_new_queue_asks_and_an_edit_keeps_it_without_asking(client_as, conn):
    oscar = client_as("operator")
    asked = post(oscar, "/schedules", **_schedule_form(queue="nightly"))
    body = raw(asked)
    assert asked.status_code == 409 and "Create queue 'nightly' and create the schedule" in body
    assert body.index('id="new-queue-confirm"') > body.index('id="save-schedule"')
    assert conn.zcard(keys.RQ_SCHEDULER_JOBS) == 0, "nothing saved"

    assert post(oscar, "/schedules", **_schedule_form(queue="nightly", confirm_queue="nightly")).status_code == 303
    [sid] = [s.decode() for s in conn.zrange(keys.RQ_SCHEDULER_JOBS, 0, -1)]
    edited = post(oscar, f"/schedules/{sid}", **_schedule_form(queue="nightly", cron="*/5 * * * *"))
    assert edited.status_code == 303, "its own queue is not new to it"
    moved = post(oscar, f"/schedules/{sid}", **_schedule_form(queue="nigthly"))
    assert moved.status_code == 409 and "Create queue 'nigthly' and save" in raw(moved)
