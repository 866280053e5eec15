"""Browsing jobs: pages at any depth, expired ids, filters, export, the dead-letter view, job detail."""

from __future__ import annotations

import csv
import html as html_lib
import io
import json
import re
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue, SimpleWorker
from rq.job import Job

from dashboard.rqlayer import jobdetail, jobs, keys, search
from tests.fixtures import FMT, plant_every_state, plant_raw
from tests.helpers import work_in_process


def test_pages_at_any_depth_follow_redis_order(conn):
    ids = plant_raw(conn, "default", "queued", 1234)

    first = jobs.read_state_page(conn, "default", "queued", page=1, size=50)
    assert [r.id for r in first.rows] == ids[:50]
    assert (first.total, first.pages, first.has_prev, first.has_next) == (1234, 25, False, True)

    last = jobs.read_state_page(conn, "default", "queued", page=25, size=50)
    assert [r.id for r in last.rows] == ids[1200:]
    newest = jobs.read_state_page(conn, "default", "queued", page=1, size=25, order="newest")
    assert [r.id for r in newest.rows] == list(reversed(ids))[:25]
    beyond = jobs.read_state_page(conn, "default", "queued", page=999, size=50)
    assert beyond.page == 25, "a page past the end is clamped to the last page"
    assert all(r.func_name == "tasks.reports.generate_sales_report" and r.args_preview == "days=3" for r in first.rows)


def test_deep_page_costs_the_same_commands_as_page_one(conn, client):
    plant_raw(conn, "default", "failed", 3000)

    def commands(url):
        conn.config_resetstat()
        assert client.get(url).status_code == 200
        stats = conn.info("commandstats")
        connection_setup = ("cmdstat_config", "cmdstat_info", "cmdstat_hello", "cmdstat_client", "cmdstat_ping")
        return {k: v["calls"] for k, v in stats.items() if k not in connection_setup}

    commands("/queues/default/failed?page=1&size=50")  # warm the pool's connections
    first = commands("/queues/default/failed?page=1&size=50")
    deep = commands("/queues/default/failed?page=60&size=50")
    assert first == deep
    assert not {"cmdstat_keys", "cmdstat_scan", "cmdstat_lrem", "cmdstat_zrem", "cmdstat_del"} & set(deep)


def test_expired_ids_show_as_expired_rows_without_writes(conn, client):
    queue = Queue("default", connection=conn)
    kept = queue.enqueue("tests.jobfuncs.add", 1, 2)
    gone = queue.enqueue("tests.jobfuncs.add", 3, 4)
    conn.delete(keys.job(gone.id))

    rows = jobs.read_state_page(conn, "default", "queued").rows
    assert [(r.id, r.exists) for r in rows] == [(kept.id, True), (gone.id, False)]
    html = client.get("/queues/default/queued").get_data(as_text=True)
    assert "expired" in html and gone.id in html
    assert conn.llen(keys.queue("default")) == 2, "reading never removes the stale id"


def test_started_registry_members_are_job_ids(conn):
    conn.zadd(keys.registry("started", "default"), {"job-a:exec-1": 1})
    conn.sadd(keys.queues(), keys.queue("default"))
    assert jobs.ids_at(conn, "default", "started", 0, 10, "oldest") == ["job-a"]


def test_filter_scans_in_bounded_chunks_and_continues(conn):
    plant_raw(conn, "default", "failed", 3000)
    plant_raw(conn, "default", "failed", 7, prefix="needle", func="tasks.notifications.send_digest")
    wanted = search.JobFilter(func="send_digest")

    partial = search.scan_state(conn, "default", "failed", wanted, max_rows=50, budget_seconds=0)
    assert partial.scanned == search.CHUNK and not partial.done and partial.total == 3007

    found, offset = [], 0
    while True:
        result = search.scan_state(conn, "default", "failed", wanted, offset=offset, max_rows=50, budget_seconds=0)
        found += result.rows
        offset = result.next_offset
        if result.done:
            break
    assert sorted(r.id for r in found) == [f"needle{n:07d}" for n in range(7)]


def test_filter_by_exception_text_and_args(conn):
    queue = Queue("default", connection=conn)
    queue.enqueue("tests.jobfuncs.fail", "disk full on /var")
    queue.enqueue("tests.jobfuncs.fail", "timeout talking to smtp")
    queue.enqueue("tests.jobfuncs.add", 40, 2)
    work_in_process(conn, ["default"])

    by_exc = search.scan_state(conn, "default", "failed", search.JobFilter(exc="disk full"))
    assert [r.failure.message for r in by_exc.rows] == ["disk full on /var"]
    by_type = search.scan_state(conn, "default", "failed", search.JobFilter(exc="runtimeerror"))
    assert len(by_type.rows) == 2
    by_args = search.scan_state(conn, "default", "finished", search.JobFilter(args="40"))
    assert len(by_args.rows) == 1


def test_filtered_page_and_continue_fragment(conn, client):
    plant_raw(conn, "default", "failed", 1200)
    plant_raw(conn, "default", "failed", 3, prefix="needle", func="tasks.notifications.send_digest")
    html = client.get("/queues/default/failed?func=send_digest").get_data(as_text=True)
    assert "needle0000000" in html or "Scanned" in html
    # The scan stops at its time budget (a loaded machine may need several fragments): follow "continue"
    # as the page does until it says it searched everything.
    url, seen = "/queues/default/failed?func=send_digest&offset=0&fragment=scan", []
    for _ in range(50):
        fragment = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
        assert "<html" not in fragment
        seen.append(fragment)
        more = re.search(r'hx-get="([^"]+)"\s+hx-target="#scan-more-', fragment)
        if "Searched all" in fragment or more is None:
            break
        url = html_lib.unescape(more.group(1))
    assert "Searched all" in seen[-1] and "needle0000002" in "".join(seen)


def test_export_streams_100k_rows_as_csv_and_json_lines(conn, client):
    plant_raw(conn, "low", "queued", 100_000)
    response = client.get("/queues/low/queued/export.csv")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Disposition"].startswith('attachment; filename="low-queued.csv"')
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 100_000 and rows[0]["id"] == "j0000000" and rows[-1]["function"].startswith("tasks.")


def test_export_json_lines_with_a_filter(conn, client):
    plant_raw(conn, "low", "queued", 2000)
    plant_raw(conn, "low", "queued", 3, prefix="digest-", func="tasks.notifications.send_digest")
    lines = client.get("/queues/low/queued/export.jsonl?func=send_digest").get_data(as_text=True).splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["digest-0000000", "digest-0000001", "digest-0000002"]
    assert client.get("/queues/low/queued/export.jsonl?func=nothing-matches").get_data(as_text=True) == ""


def test_export_neutralises_spreadsheet_formulas(conn, client):
    Queue("default", connection=conn).enqueue("tests.jobfuncs.fail", '=HYPERLINK("http://x")')
    work_in_process(conn, ["default"])
    text = client.get("/queues/default/failed/export.csv").get_data(as_text=True)
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["exc_message"].startswith("'=")


def test_failed_view_across_queues_pages_without_repeats(conn, client):
    for queue in ("high", "default", "low"):
        plant_raw(conn, queue, "failed", 45, prefix=f"{queue}-", exc_info=zlib.compress(b"Traceback\nKeyError: 'x'"))
    seen, cursor = [], None
    while True:
        page = jobs.read_failed_across_queues(conn, cursor=cursor, size=50)
        seen += [row.id for _, row in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 135 and len(set(seen)) == 135
    assert page.total == 135

    groups = search.group_failures(conn, window_seconds=None)
    assert [(g.key, g.count) for g in groups.by_exception] == [("KeyError", 135)]
    assert groups.complete and groups.scanned == 135
    html = client.get("/failed?window=all").get_data(as_text=True)
    assert "older failures" in html and "/failed/groups?window=all" in html  # groups: their own fragment
    html = client.get("/failed/groups?window=all").get_data(as_text=True)
    assert "KeyError" in html and "Grouped all 135 failures" in html


def test_failure_groups_respect_the_window(conn):
    old = (datetime.now(UTC) - timedelta(days=3)).strftime(FMT)
    plant_raw(conn, "default", "failed", 5, prefix="old-", ended_at=old, exc_info=zlib.compress(b"E\nOSError: x"))
    plant_raw(conn, "default", "failed", 2, prefix="new-", exc_info=zlib.compress(b"E\nValueError: y"))
    day = search.group_failures(conn, window_seconds=86400)
    assert [(g.key, g.count) for g in day.by_exception] == [("ValueError", 2)]
    week = search.group_failures(conn, window_seconds=7 * 86400)
    assert {g.key: g.count for g in week.by_exception} == {"OSError": 5, "ValueError": 2}


def test_job_detail_of_a_failed_job_with_dependents(conn, client):
    queue = Queue("default", connection=conn)
    parent = queue.enqueue("tests.jobfuncs.fail", "parent broke")
    child = queue.enqueue("tests.jobfuncs.add", 1, 2, depends_on=parent)
    work_in_process(conn, ["default"])

    detail = jobdetail.read_job(conn, parent.id)
    assert detail.row.status == "failed" and detail.row.failure.message == "parent broke"
    assert "RuntimeError: parent broke" in detail.traceback
    assert [d.id for d in detail.dependents] == [child.id] and detail.dependents[0].status == "deferred"
    assert detail.attempts and detail.attempts[0].outcome == "failed"
    assert jobdetail.read_job(conn, child.id).dependencies[0].id == parent.id

    html = client.get(f"/jobs/{parent.id}").get_data(as_text=True)
    assert "parent broke" in html and child.id in html and "Copy as code" in html
    assert "data-poll" not in html, "a finished job's page stops polling"
    child_html = client.get(f"/jobs/{child.id}").get_data(as_text=True)
    assert "data-poll" in child_html, "a deferred job's page keeps itself up to date"


def test_job_detail_of_a_finished_job_shows_result_and_timeline(conn, client):
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 20, 22)
    work_in_process(conn, ["default"])
    detail = jobdetail.read_job(conn, job.id)
    assert detail.result.value == 42 and detail.row.duration_seconds is not None
    assert detail.queued_seconds is not None and "finished" in detail.in_registries
    body = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "42" in body and "after running" in body


def test_progress_from_meta_is_a_progress_bar(conn, client, data_dir):
    job = Queue("low", connection=conn).enqueue("tasks.batches.process_batch", items=10, delay=0)
    SimpleWorker([Queue("low", connection=conn)], connection=conn).work(burst=True)
    detail = jobdetail.read_job(conn, job.id)
    assert detail.progress.percent == 100.0 and detail.progress.label == "10 of 10"
    assert '<progress max="100" value="100.0"' in client.get(f"/jobs/{job.id}").get_data(as_text=True)


def test_rq2_failure_with_exc_info_in_the_hash(conn, client):
    plant_raw(
        conn,
        "default",
        "failed",
        1,
        prefix="legacy-",
        exc_info=zlib.compress(b"Traceback (most recent call last):\nZeroDivisionError: division by zero"),
    )
    detail = jobdetail.read_job(conn, "legacy-0000000")
    assert "ZeroDivisionError" in detail.traceback and detail.row.failure.exc_type == "ZeroDivisionError"


@pytest.mark.parametrize("job_id", ["does-not-exist", "bad id with spaces", "x" * 300])
def test_unknown_or_malformed_job_is_a_404_with_a_search_box(client, job_id):
    response = client.get(f"/jobs/{job_id}")
    assert response.status_code == 404
    assert 'name="q"' in response.get_data(as_text=True)


def test_search_by_id_redirects_to_the_job(conn, client):
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 1)
    response = client.get(f"/jobs/search?q={job.id}")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/jobs/{job.id}")
    assert client.get("/jobs/search?q=nope").status_code == 404
    assert client.get("/jobs/search?q=").status_code == 400


@pytest.mark.parametrize(
    "query, status",
    [
        ("page=abc", 400),
        ("order=sideways", 400),
        ("size=-1", 400),
        ("func=" + "x" * 300, 400),
        ("page=2", 200),
    ],
)
def test_bad_list_parameters_are_400(conn, client, query, status):
    plant_every_state(conn)
    assert client.get(f"/queues/default/queued?{query}").status_code == status


def test_unknown_queue_or_state_is_404(conn, client):
    plant_every_state(conn)
    assert client.get("/queues/nope/queued").status_code == 404
    assert client.get("/queues/default/exploded").status_code == 404
    assert client.get("/failed?window=century").status_code == 400


def test_tabs_carry_live_counts(conn, client):
    planted = plant_every_state(conn)
    html = client.get("/queues/default/failed/tabs", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in html and 'data-state="failed"' in html
    assert f'<span class="count">{planted.count("failed")}</span>' in html


def test_api_pages_jobs_and_openapi(conn, app, client):
    from dashboard import accounts

    planted = plant_every_state(conn)
    with app.app_context():
        _, secret = accounts.create_token("reader", "viewer")
    auth = {"Authorization": f"Bearer {secret}"}
    page = client.get("/api/v1/queues/default/jobs/failed?size=25", headers=auth).json
    assert page["total"] == planted.count("failed") and page["jobs"][0]["failure"]["exc_type"] == "RuntimeError"
    failed_id = planted.ids["failed"][0]
    job = client.get(f"/api/v1/jobs/{failed_id}", headers=auth).json
    assert job["job"]["status"] == "failed" and "RuntimeError" in job["traceback"]
    assert job["args"]["text"] and job["args"]["safe"] is True
    assert client.get("/api/v1/jobs/nope", headers=auth).status_code == 404
    assert client.get("/api/v1/queues/default/jobs/failed?page=x", headers=auth).json["error"] == "bad_request"
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.") and "/jobs/{job_id}" in spec["paths"]


def test_values_hidden_from_viewers_when_configured(redis_url, sqlite_url, data_dir, conn):
    from dashboard import accounts
    from tests.helpers import build_app, make_env

    app = build_app(make_env(redis_url, sqlite_url, data_dir, HIDE_JOB_VALUES_FROM_VIEWERS="true"))
    with app.app_context():
        user = accounts.create_user("viewer1", "long-enough-pw", "viewer")
        session_id = user.get_id()
        _, secret = accounts.create_token("view", "viewer")
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", "secret-arg-123", 1)
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
    assert "secret-arg-123" not in client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "secret-arg-123" not in client.get("/queues/default/queued").get_data(as_text=True)
    api = client.get(f"/api/v1/jobs/{job.id}", headers={"Authorization": f"Bearer {secret}"}).json
    assert api["args"] == {"hidden": True}


def test_json_serializer_jobs_are_read_as_json(conn, client):
    from rq.serializers import JSONSerializer

    job = Job.create(
        "tests.jobfuncs.add", args=[1, 2], connection=conn, serializer=JSONSerializer, meta={"progress": 50}
    )
    Queue("default", connection=conn, serializer=JSONSerializer).enqueue_job(job)
    detail = jobdetail.read_job(conn, job.id)
    assert detail.call.format == "json" and detail.call.args.value == [1, 2]
    assert detail.progress.percent == 50.0
    assert json.loads(conn.hget(keys.job(job.id), "meta")) == {"progress": 50}


def test_webhook_header_values_are_masked_for_viewers(conn, client_as):
    hooks = json.dumps(
        [
            {
                "url": "https://hooks.example/x",
                "job_status": "finished",
                "headers": {"Authorization": "Bearer sekrit-token"},
            }
        ]
    )
    plant_raw(conn, "default", "queued", 1, prefix="hook-", webhooks=hooks)
    viewer_page = client_as("viewer").get("/jobs/hook-0000000").get_data(as_text=True)
    assert "sekrit-token" not in viewer_page and "Authorization: ••••" in viewer_page
    # Since issue 15 nobody sees header values (the RQ layer drops them): tests/test_job_webhooks.py.
    assert "sekrit-token" not in client_as("operator").get("/jobs/hook-0000000").get_data(as_text=True)
