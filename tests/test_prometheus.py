"""GET /metrics: real jobs through the real ConsoleWorker, the scrape parsed with prometheus-client's own
parser; stock workers' data; who may scrape (tokens, METRICS_ALLOWED_IPS behind TRUSTED_PROXIES)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue, Worker

from dashboard import accounts as service
from dashboard.rqlayer.telemetry import layout
from dashboard.rqlayer.telemetry.metrics import MetricsWriter
from dashboard.rqlayer.telemetry.worker import ConsoleSimpleWorker
from dashboard.settings import SettingsError, load_settings
from tests.helpers import build_app, make_env, run_burst_worker

FORKING = "dashboard.rqlayer.telemetry.worker.ConsoleWorker"
FAMILIES = {
    "rq_jobs": "gauge",
    "rq_workers": "gauge",
    "rq_queue_oldest_job_age_seconds": "gauge",
    "rq_jobs_finished": "counter",
    "rq_jobs_failed": "counter",
    "rq_jobs_retried": "counter",
    "rq_jobs_stopped": "counter",
    "rq_job_duration_seconds": "histogram",
    "rq_job_wait_seconds": "histogram",
}


@pytest.fixture
def token(app):
    with app.app_context():
        _, secret = service.create_token("prometheus", "viewer", actor="test")
    return secret


def scrape(client, token=None, headers=(), **kwargs):
    headers = dict(headers, **({"Authorization": f"Bearer {token}"} if token else {}))
    return client.get("/metrics", headers=headers, **kwargs)


def samples(response) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value}, after checking every family has its type and HELP text."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    found = {}
    families = list(text_string_to_metric_families(response.get_data(as_text=True)))
    assert {f.name: f.type for f in families} == FAMILIES
    for family in families:
        assert family.documentation, family.name
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def value(found, name, **labels):
    return found[name, tuple(sorted(labels.items()))]


def test_the_scrape_counts_what_the_console_worker_did(app, redis_url, conn, token):
    queue = Queue("default", connection=conn)
    for n in range(4):
        queue.enqueue("tests.jobfuncs.add", n, 1)
    queue.enqueue("tests.jobfuncs.fail")
    queue.enqueue("tests.jobfuncs.fail")
    Queue("low", connection=conn).enqueue("tests.jobfuncs.add", 1, 1)  # left queued
    run_burst_worker(redis_url, queues=("-w", FORKING, "default"))

    found = samples(scrape(app.test_client(), token))
    add, fail = (
        {"queue": "default", "function": "tests.jobfuncs.add"},
        {"queue": "default", "function": "tests.jobfuncs.fail"},
    )
    assert value(found, "rq_jobs_finished_total", **add) == 4 and value(found, "rq_jobs_failed_total", **add) == 0
    assert value(found, "rq_jobs_failed_total", **fail) == 2 and value(found, "rq_jobs_retried_total", **fail) == 0
    assert value(found, "rq_job_duration_seconds_count", **add) == 4
    assert value(found, "rq_job_duration_seconds_bucket", le="+Inf", **add) == 4
    assert 0 < value(found, "rq_job_duration_seconds_sum", **add) < 60
    buckets = [value(found, "rq_job_duration_seconds_bucket", le=repr(edge), **add) for edge in layout.RUN_EDGES]
    assert buckets == sorted(buckets)  # cumulative
    assert value(found, "rq_job_wait_seconds_count", queue="default") == 6

    with app.app_context():  # rq_jobs says what the console's own overview says
        from dashboard.extensions import get_console

        overview = {q.name: q.counts for q in get_console().overview.read().queues}
    for name in ("default", "low"):
        for status in ("queued", "started", "finished", "failed", "deferred", "scheduled", "canceled"):
            assert value(found, "rq_jobs", queue=name, status=status) == overview[name][status], (name, status)
    assert value(found, "rq_jobs", queue="default", status="failed") == 2
    assert value(found, "rq_jobs", queue="low", status="queued") == 1
    assert value(found, "rq_queue_oldest_job_age_seconds", queue="low") > 0
    assert value(found, "rq_queue_oldest_job_age_seconds", queue="default") == 0
    assert value(found, "rq_workers", state="idle") == 0  # the burst worker is gone

    # Five more workers, each with its own name: the same series, only the values move.
    for n in range(5):
        queue.enqueue("tests.jobfuncs.add", n, 2)
        ConsoleSimpleWorker([queue], connection=conn, name=f"extra-{n}").work(burst=True, logging_level="WARNING")
    again = samples(scrape(app.test_client(), token))
    assert set(again) == set(found)
    assert value(again, "rq_jobs_finished_total", **add) == 9
    assert not any("worker" in dict(labels) for _, labels in again)


def test_a_stock_workers_redis_still_gives_jobs_and_workers(app, redis_url, conn, token):
    queue = Queue("default", connection=conn)
    queue.enqueue("tests.jobfuncs.add", 1, 2)
    queue.enqueue("tests.jobfuncs.fail")
    run_burst_worker(redis_url, queues=("default",))
    idle = Worker([queue], connection=conn, name="stock-idle")
    idle.register_birth()
    idle.set_state("idle")

    found = samples(scrape(app.test_client(), token))
    assert value(found, "rq_jobs", queue="default", status="finished") == 1
    assert value(found, "rq_jobs", queue="default", status="failed") == 1
    assert value(found, "rq_workers", state="idle") == 1 and value(found, "rq_workers", state="busy") == 0
    assert not [name for name, _ in found if name.startswith(("rq_jobs_finished", "rq_job_duration"))]


def test_hostile_names_are_bounded_and_escaped(app, conn, token):
    hostile = 'q"\\\n{x="1"}' + "z" * 500
    MetricsWriter().record_end(conn, queue=hostile, function=hostile, outcome="failed", run_s=0.2, wait_s=1)
    found = samples(scrape(app.test_client(), token))
    bounded = layout.bound(hostile)
    assert value(found, "rq_jobs_failed_total", queue=bounded, function=bounded) == 1
    assert value(found, "rq_job_wait_seconds_count", queue=bounded) == 1


def test_who_may_scrape(app, redis_url, sqlite_url, data_dir, client, token):
    assert scrape(app.test_client()).status_code == 401
    assert "Bearer" in scrape(app.test_client()).headers["WWW-Authenticate"]
    assert scrape(app.test_client(), "rqc_not-a-token").status_code == 401
    assert scrape(client).status_code == 401  # a signed-in session is not enough: tokens or addresses
    assert scrape(app.test_client(), token).status_code == 200

    env = make_env(redis_url, sqlite_url, data_dir, METRICS_ALLOWED_IPS="10.1.0.0/16, 192.0.2.7")
    listed = build_app(env).test_client()
    assert scrape(listed, environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert scrape(listed, environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200
    refused = scrape(listed, environ_base={"REMOTE_ADDR": "10.2.0.1"})
    assert refused.status_code == 403 and "METRICS_ALLOWED_IPS" in refused.get_data(as_text=True)
    # X-Forwarded-For counts only from a trusted proxy.
    forged = {"REMOTE_ADDR": "10.9.9.9"}
    assert scrape(listed, environ_base=forged, headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 403
    proxied = build_app(dict(env, TRUSTED_PROXIES="127.0.0.1")).test_client()
    assert scrape(proxied, headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 200
    assert scrape(proxied, headers={"X-Forwarded-For": "10.2.0.1"}).status_code == 403


def test_metrics_allowed_ips_is_validated(redis_url, sqlite_url, data_dir):
    env = make_env(redis_url, sqlite_url, data_dir)
    assert load_settings(env).metrics_allowed_ips == ()
    settings = load_settings(dict(env, METRICS_ALLOWED_IPS=" 10.1.2.3/16,::1, 10.1.0.0/16 "))
    assert settings.metrics_allowed_ips == ("10.1.0.0/16", "::1/128")
    for bad in ("10.1.2", "localhost", "10.0.0.0/33"):
        with pytest.raises(SettingsError, match="METRICS_ALLOWED_IPS"):
            load_settings(dict(env, METRICS_ALLOWED_IPS=bad))
