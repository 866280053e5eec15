"""Everything that names a thing links to it: overview counts and totals, worker names (overview, job rows,
job page), audit targets, and the job id in every action message."""

from __future__ import annotations

import re

from rq import Queue

from dashboard.rqlayer import keys
from tests.fixtures import plant_every_state, plant_raw
from tests.helpers import csrf_token


def raw(response) -> str:
    return response.get_data(as_text=True)


def _plant_worker(conn, name: str, queues: str = "default", current: str = "") -> None:
    conn.hset(
        keys.worker(name),
        mapping={"state": "busy" if current else "idle", "queues": queues, "last_heartbeat": "2099-01-01T00:00:00Z"},
    )
    conn.sadd(keys.workers(), keys.worker(name))
    if current:
        conn.sadd(keys.worker_executions(name), f"{current}:exec-1")


def test_overview_counts_link_to_their_tab_and_totals_to_their_page(client, conn):
    plant_every_state(conn, "default")
    body = raw(client.get("/"))
    queues_table = body.split('id="queues"')[1].split("</table>")[0]
    for state in ("queued", "finished", "failed", "canceled", "deferred", "scheduled"):
        assert f'data-state="{state}"><a href="/queues/default/{state}">' in queues_table, state
    cards = body.split('class="cards"')[1].split("</div>\n\n")[0]
    assert 'href="/failed">failed</a>' in cards, "the failed total leads to the dead-letter view"
    assert 'href="/schedules">scheduled</a>' in cards, "the scheduled total leads to the schedules page"
    assert 'href="/queues/default/finished">finished</a>' in cards, "one queue holds them: its tab"
    footer = queues_table.split("<tfoot>")[1]
    assert '<a href="/failed">1</a>' in footer and '<a href="/queues/default/queued">2</a>' in footer


def test_a_total_shared_by_several_queues_has_no_single_tab(client, conn):
    plant_raw(conn, "default", "finished", 2, prefix="a")
    plant_raw(conn, "low", "finished", 3, prefix="b")
    body = raw(client.get("/"))
    cards = body.split('class="cards"')[1].split("</div>\n\n")[0]
    assert '<span class="card-label">finished</span>' in cards
    assert 'href="/queues/low/finished">3</a>' in body and 'href="/queues/default/finished">2</a>' in body


def test_worker_names_link_to_the_worker_page_everywhere(client, conn):
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    name = "w?1#x%"  # characters a URL must quote
    _plant_worker(conn, name, queues="default,high", current=job.id)
    conn.hset(keys.job(job.id), "worker_name", name)
    quoted = "/workers/w%3F1%23x%25"

    overview = raw(client.get("/"))
    row = overview.split('data-worker="w?1#x%"')[1].split("</tr>")[0]
    assert f'<a href="{quoted}">w?1#x%</a>' in row
    assert f'href="/jobs/{job.id}"' in row, "its current job links to the job page"
    assert '<a href="/queues/default/queued">default</a>, <a href="/queues/high/queued">high</a>' in row

    job_row = raw(client.get("/queues/default/queued")).split(f'id="row-{job.id}"')[1].split("</tr>")[0]
    assert f'<a href="{quoted}">w?1#x%</a>' in job_row
    assert f'<a href="{quoted}">w?1#x%</a>' in raw(client.get(f"/jobs/{job.id}"))
    assert client.get(quoted).status_code == 200, "the quoted link reaches that worker's page"


def test_worker_links_in_a_long_list_come_from_one_prefix(client, conn):
    plant_raw(conn, "default", "finished", 200, prefix="r", worker_name="same-worker")
    body = raw(client.get("/queues/default/finished?size=200"))
    assert body.count('<a href="/workers/same-worker">same-worker</a>') == 200


def test_audit_targets_link_to_their_job_queue_schedule_or_worker(client, conn, app):
    from dashboard import audit

    with app.test_request_context():
        audit.record("alice", "job.retry", target="job-1")
        audit.record("alice", "bulk.retry", target="low", job_count=3)
        audit.record("alice", "schedule.pause", target="sched-1")
        audit.record("alice", "worker.shutdown", target="w-1")
        audit.record("alice", "job.enqueue_batch", target="tasks.reports.build")
        audit.record("alice", "user.create", target="bob")
        audit.record("alice", "bulk.cancel", target="op-123")
        audit.record("alice", "job.retry", target="<script>x</script>")
    body = raw(client.get("/admin/audit"))
    assert '<a href="/jobs/job-1">job-1</a>' in body
    assert '<a href="/queues/low/queued">low</a>' in body
    assert '<a href="/schedules#schedule-sched-1">sched-1</a>' in body
    assert '<a href="/workers/w-1">w-1</a>' in body
    assert '<a href="/enqueue/tasks.reports.build">tasks.reports.build</a>' in body
    assert ">bob</td>" in body and ">op-123</td>" in body, "accounts and operations have no page to link"
    assert "<script>x" not in body and "&lt;script&gt;x&lt;/script&gt;</td>" in body


def test_a_bulk_operation_is_audited_against_its_queue(client, conn, app):
    ids = plant_raw(conn, "default", "failed", 3, prefix="bf")
    response = client.post(
        "/queues/default/failed/bulk",
        data={"action": "retry", "ids": ids},
        headers={"X-CSRFToken": csrf_token(client), "HX-Request": "true", "HX-Target": "bulk-area"},
    )
    assert response.status_code == 202
    from dashboard.models import AuditEvent

    with app.app_context():
        started = AuditEvent.query.filter_by(action="bulk.retry", outcome="started").one()
    assert started.target == "default" and "3 selected job(s)" in started.detail
    assert re.search(r"operation [0-9a-f]+", started.detail)


# ---------------------------------------------------------------- the job id in every action message


def _hx(client, target: str) -> dict:
    return {"X-CSRFToken": csrf_token(client), "HX-Request": "true", "HX-Target": target}


def test_row_action_messages_name_the_job_as_a_link(client, conn):
    import json

    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    link = f'<a class="job-link mono" href="/jobs/{job.id}">{job.id}</a>'
    done = client.post(f"/jobs/{job.id}/cancel", data={"state": "queued"}, headers=_hx(client, f"row-{job.id}"))
    assert done.status_code == 200 and f"Job {link} canceled." in raw(done)
    event = json.loads(done.headers["HX-Trigger"])["rqc:jobs-changed"]
    assert event["message"] == f"Job {job.id} canceled.", "the page event carries plain text"

    refused = client.post(f"/jobs/{job.id}/cancel", data={"state": "queued"}, headers=_hx(client, f"row-{job.id}"))
    assert refused.status_code == 409 and f"Job {link}: Nothing done: the job is canceled now" in raw(refused)

    flash = client.post(f"/jobs/{job.id}/delete", data={"seen": "canceled"}, headers=_hx(client, "job-actions"))
    assert flash.status_code in (200, 204) or "HX-Redirect" in flash.headers


def test_form_action_messages_flash_the_job_link_on_the_next_page(client, conn):
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    done = client.post(f"/jobs/{job.id}/cancel", data={"seen": "queued"}, headers={"X-CSRFToken": csrf_token(client)})
    assert done.status_code == 303
    page = raw(client.get(done.headers["Location"]))
    assert f'Job <a class="job-link mono" href="/jobs/{job.id}">{job.id}</a> canceled.' in page

    token = {"X-CSRFToken": csrf_token(client)}
    missing = client.post("/jobs/no-such-job/retry", data={"seen": "failed"}, headers=token)
    assert missing.status_code == 404
    assert 'Job <a class="job-link mono" href="/jobs/no-such-job">no-such-job</a>: No such job any more' in raw(missing)


def test_worker_command_messages_link_the_worker(client, conn):
    name = "<b>w&amp;"
    _plant_worker(conn, name)
    done = client.post("/workers/%3Cb%3Ew&amp;/shutdown", headers={"X-CSRFToken": csrf_token(client)})
    assert done.status_code == 303
    page = raw(client.get("/"))
    link = re.search(r'<a class="worker-link mono" href="(/workers/[^"]+)">&lt;b&gt;w&amp;amp;</a>', page)
    assert link and "<b>w" not in page, "the worker named as a link, escaped"
    assert client.get(link.group(1).replace("&amp;", "&")).status_code == 200, "the link leads to its page"


def test_schedules_name_their_queue_as_a_link(client, conn):
    form = {
        "task": "tasks.maintenance.cleanup_old_files",
        "kind": "cron",
        "cron": "0 8 * * 1-5",
        "timezone": "UTC",
        "queue": "",
        "arg-max_age_hours": "24",
        "arg-dry_run": "true",
    }
    assert client.post("/schedules", data=form, headers={"X-CSRFToken": csrf_token(client)}).status_code == 303
    body = raw(client.get("/schedules"))
    assert '<td class="mono"><a href="/queues/low/queued">low</a></td>' in body
