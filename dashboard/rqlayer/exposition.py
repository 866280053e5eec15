"""What GET /metrics exposes to Prometheus, and its text (Flask-free).

    console.exposition.read() -> Exposition     the read model (four pipelined round trips)
    console.exposition.render() -> bytes        the exposition format (prometheus-client)

Sources: the overview read (RQ's own counts per queue and registry, workers by state, the enqueued_at of
each queue's head job) and the worker extension's monotonic totals (telemetry/series.read_totals). Names
follow rq-exporter's where they overlap (rq_jobs, rq_workers). Bounded: one series per queue and state,
per worker state, and per (queue, function) the totals keep (at most layout.SERIES_CAP); no label names a
worker or a job, so the series count does not grow as workers come and go. Label values are bounded
(layout.bound) and escaped by prometheus-client. Each render builds its own CollectorRegistry: no global
registry state is shared between apps or requests.

A Redis written only by stock workers still gives rq_jobs, rq_workers and the queue ages; the counters
and histograms then have no samples (their HELP and TYPE lines are still there).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from dashboard.rqlayer.overview import read_overview
from dashboard.rqlayer.telemetry import layout, series

# RQ's registries, as rq-exporter names them in rq_jobs{status}.
JOB_STATUSES = ("queued", "started", "finished", "failed", "deferred", "scheduled", "canceled")
# RQ's worker states; others seen (the overview's "gone", "broken") are added when present.
WORKER_STATES = ("idle", "busy", "suspended", "started")
OUTCOME_COUNTERS = (
    ("finished", "rq_jobs_finished_total", "Job executions that finished, by queue and function."),
    ("failed", "rq_jobs_failed_total", "Job executions that failed for good, by queue and function."),
    ("retried", "rq_jobs_retried_total", "Job executions that failed and were scheduled for a retry."),
    ("stopped", "rq_jobs_stopped_total", "Job executions stopped on request (rq stop / the console)."),
)


@dataclass(frozen=True)
class QueueGauges:
    name: str
    counts: dict[str, int]
    oldest_job_age_seconds: float  # 0 for an empty queue


@dataclass(frozen=True)
class Exposition:
    queues: list[QueueGauges]
    workers: dict[str, int]  # state -> count
    totals: list[tuple[str, str | None, series.Point]]  # from series.read_totals
    read_at: datetime


def read(connection: redis.Redis, now: datetime | None = None) -> Exposition:
    """The overview read (three pipelined round trips) and the totals (one): O(queues + workers +
    series), bounded by SERIES_CAP for the totals."""
    overview = read_overview(connection, now)
    queues = [
        QueueGauges(
            layout.bound(q.name),
            {status: int(q.counts.get(status, 0)) for status in JOB_STATUSES},
            float(q.latency_seconds or 0.0),
        )
        for q in overview.queues
    ]
    workers = dict.fromkeys(WORKER_STATES, 0)
    workers.update(Counter(layout.bound(w.state, 40) for w in overview.workers))
    return Exposition(queues, workers, series.read_totals(connection), overview.read_at)


def _buckets(histogram: series.Histogram) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs, +Inf last, as the exposition format wants them."""
    cumulative = 0
    pairs: list[tuple[str, float]] = []
    for index, count in enumerate(histogram.counts):
        cumulative += count
        edge = histogram.edges[index] if index < len(histogram.edges) else float("inf")
        pairs.append(("+Inf" if edge == float("inf") else repr(edge), cumulative))
    return pairs


def families(exposition: Exposition) -> Iterator[Metric]:
    """The metric families of one read, HELP text included."""
    jobs = GaugeMetricFamily("rq_jobs", "Jobs in each of RQ's queues and registries.", labels=["queue", "status"])
    age = GaugeMetricFamily(
        "rq_queue_oldest_job_age_seconds",
        "Seconds since the oldest queued job of each queue was enqueued (0 when the queue is empty).",
        labels=["queue"],
    )
    for queue in exposition.queues:
        for status, count in queue.counts.items():
            jobs.add_metric([queue.name, status], count)
        age.add_metric([queue.name], queue.oldest_job_age_seconds)
    workers = GaugeMetricFamily("rq_workers", "RQ workers registered in Redis, by state.", labels=["state"])
    for state, count in sorted(exposition.workers.items()):
        workers.add_metric([state], count)
    yield from (jobs, workers, age)
    yield from _totals(exposition.totals)


def _totals(totals: list[tuple[str, str | None, series.Point]]) -> Iterator[Metric]:
    counters = {
        outcome: CounterMetricFamily(name.removesuffix("_total"), text, labels=["queue", "function"])
        for outcome, name, text in OUTCOME_COUNTERS
    }
    duration = HistogramMetricFamily(
        "rq_job_duration_seconds",
        "Run time of job executions (ended - started), by queue and function (worker extension).",
        labels=["queue", "function"],
    )
    wait = HistogramMetricFamily(
        "rq_job_wait_seconds",
        "Time jobs waited in their queue before they started (started - enqueued), by queue.",
        labels=["queue"],
    )
    for queue, function, point in totals:
        if function is None:
            wait.add_metric([queue], _buckets(point.wait), point.wait.sum_us / 1e6)
            continue
        for outcome, family in counters.items():
            family.add_metric([queue, function], getattr(point, outcome))
        duration.add_metric([queue, function], _buckets(point.run), point.run.sum_us / 1e6)
    yield from counters.values()
    yield from (duration, wait)


class _Collector(Collector):
    def __init__(self, exposition: Exposition) -> None:
        self.exposition = exposition

    def collect(self) -> Iterator[Metric]:
        return families(self.exposition)


def render_exposition(exposition: Exposition) -> bytes:
    """The text exposition format of one read, through a registry of its own."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(exposition))
    return generate_latest(registry)


def render(connection: redis.Redis, now: datetime | None = None) -> bytes:
    """`read` then `render_exposition`: what GET /metrics returns."""
    return render_exposition(read(connection, now))
