"""Function pages, the charts on the overview and queue pages, and GET /api/v1/metrics: real Redis metrics
(MetricsWriter, as the worker writes them), real SQL rollups, hostile names."""

from __future__ import annotations

import html
import re
import time
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from markupsafe import escape
from rq import Queue

from dashboard.history.models import metric_rollups
from dashboard.rqlayer.telemetry.metrics import MetricsWriter

HOSTILE = '<script>alert("f")</script>/x?y=1#z &amp; é'


@pytest.fixture
def seen(conn):
    writer = MetricsWriter()
    now = time.time()
    for n in range(3):
        writer.record_end(conn, queue="default", function=HOSTILE, outcome="finished", ended_at=now, run_s=0.1 * n)
    writer.record_end(conn, queue="default", function=HOSTILE, outcome="failed", ended_at=now, run_s=0.3, wait_s=2)
    writer.record_end(conn, queue="low", function="tests.jobfuncs.add", outcome="finished", ended_at=now)
    return HOSTILE


def test_a_seen_function_with_a_hostile_name_has_its_page_and_unknown_ones_are_404(client_as, seen, conn):
    client = client_as("admin")
    response = client.get("/functions/" + quote(seen, safe=""))
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<script>alert" not in body and str(escape(seen)) in body
    assert 'data-chart="throughput"' in body and 'data-chart="run-time"' in body and 'data-chart="wait-time"' in body
    facts = re.search(r'id="function-facts">(.*?)</dl>', body, re.S).group(1)
    assert "<dd>3</dd>" in facts and "25.0 %" in facts  # 3 finished, 1 failed
    failed = html.unescape(re.search(r'<a href="([^"]+)" id="function-failed"', body).group(1))
    query = parse_qs(urlsplit(failed).query)
    assert urlsplit(failed).path == "/failed" and query["func"] == [seen] and query["func_match"] == ["is"]
    assert "/history?function=" in body
    assert client.get(failed).status_code == 200  # the failed page takes its filter
    for window in ("24h", "7d", "30d"):
        assert client.get("/functions/" + quote(seen, safe="") + f"?window={window}").status_code == 200
    assert client.get("/functions/" + quote(seen, safe="") + "?window=2h").status_code == 400

    for odd in ("/leading", "a//b", "trailing/", "line\nbreak"):  # any string names a function: one page each
        MetricsWriter().record_end(conn, queue="default", function=odd, outcome="finished")
        assert odd.encode() in client.get("/functions/" + quote(odd, safe="")).data

    viewer = client_as("viewer")
    assert viewer.get("/functions/never.ran").status_code == 404
    listing = viewer.get("/functions").get_data(as_text=True)
    assert "/functions/" + quote(seen, safe="") in listing and "/functions/tests.jobfuncs.add" in listing
    assert "<script>alert" not in listing


def test_a_function_only_the_sql_history_knows_and_job_rows_link_to_functions(app, client, conn):
    from dashboard.extensions import db

    bucket = int(time.time()) // 3600 * 3600 - 86400
    with app.app_context():
        row = dict(resolution="h", queue="default", function="old.job", bucket=bucket, finished=4, source="registry")
        db.session.execute(metric_rollups.insert().values(**row))
        sample = dict(resolution="m", queue="default", function="", bucket=int(time.time()) // 60 * 60 - 120)
        db.session.execute(metric_rollups.insert().values(**sample, depth=7, oldest_age_s=7.5))
        db.session.commit()
    Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)  # the queue exists in Redis
    body = client.get("/functions/old.job?window=7d").get_data(as_text=True)
    assert "RQ&#39;s registries" in body or "RQ's registries" in body
    assert "ConsoleWorker" in body  # says what to start for live metrics
    assert client.get("/functions/old.job?window=7d").status_code == 200

    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    rows = client.get("/queues/default/queued").get_data(as_text=True)
    assert 'href="/functions/tests.jobfuncs.add"' in rows
    assert 'hx-get="/charts/queue?queue=default"' in rows  # the charts come in their own request
    charts = client.get("/charts/queue?queue=default", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-chart="depth"' in charts and 'data-chart="latency"' in charts and "7.5 s" in charts  # gauges
    assert client.get("/charts/queue?queue=nope").status_code == 404
    assert client.get("/charts/queue").status_code == 400
    assert 'href="/functions/tests.jobfuncs.add"' in client.get(f"/jobs/{job.id}").get_data(as_text=True)


def test_overview_and_queue_page_charts_and_the_metrics_api(app, client, seen, conn):
    Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    overview = client.get("/").get_data(as_text=True)
    assert 'data-chart="throughput"' in overview and "<polyline" in overview
    assert overview.count('<svg class="sparkline"') >= 1
    queue_page = client.get("/charts/queue?queue=default").get_data(as_text=True)
    assert 'data-chart="wait-time"' in queue_page and 'data-chart="run-time"' in queue_page
    partial = client.get("/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-chart="throughput"' in partial  # the live refresh carries the chart's new data

    from dashboard import accounts

    anon = app.test_client()
    assert anon.get("/api/v1/metrics").status_code == 401
    with app.app_context():
        _, secret = accounts.create_token("charts-api", "viewer", actor="test")
    headers = {"Authorization": f"Bearer {secret}"}
    body = anon.get("/api/v1/metrics?queue=default&window=1h", headers=headers).get_json()
    assert set(body) >= {"window", "step_seconds", "source", "points"}
    assert body["window"] == "1h" and body["step_seconds"] == 60 and body["source"] == "extension"
    assert len(body["points"]) == 60 and sum(p["finished"] or 0 for p in body["points"]) == 3
    assert set(body["points"][-1]) >= {"bucket", "finished", "failed", "run_p95", "wait_p50", "depth"}
    one = anon.get("/api/v1/metrics", query_string={"function": HOSTILE, "window": "24h"}, headers=headers).get_json()
    assert one["step_seconds"] == 600 and sum(p["failed"] or 0 for p in one["points"]) == 1
    bad = anon.get("/api/v1/metrics?window=1y", headers=headers)
    assert bad.status_code == 400 and bad.get_json()["error"]
    spec = anon.get("/api/v1/openapi.json").get_json()
    assert "/metrics" in spec["paths"]
