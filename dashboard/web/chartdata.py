"""Timelines as charts: what static/js/charts.js draws (JSON in a data attribute) and the table beside it
(the same numbers, rendered here, so the chart is never the only way to read them); sparklines as SVG.

A chart is rendered by templates/partials/chart.html: `<figure data-chart=<id> data-chart-data=<json>>`
with a <details> "Table". Colours are CSS token names (charts.js reads them with getComputedStyle, so both
themes follow the stylesheet).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from dashboard.history.timeline import Timeline
from dashboard.history.timeline_items import TimelinePoint

STEP_WORDS = {60: "per minute", 600: "per 10 minutes", 3600: "per hour"}


@dataclass(frozen=True)
class ChartSeries:
    key: str
    label: str
    token: str  # a CSS custom property of console.css (its value is the line colour)
    values: tuple[float | int | None, ...]
    dash: bool = False


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    unit: str  # "count" | "seconds" | "percent"
    times: tuple[int, ...]  # bucket starts, epoch seconds
    series: tuple[ChartSeries, ...]

    @property
    def data_json(self) -> str:
        """What charts.js reads: {"unit", "x": [...], "series": [{"key","label","token","dash","values"}]}."""
        data = {
            "unit": self.unit,
            "x": list(self.times),
            "series": [
                {"key": s.key, "label": s.label, "token": s.token, "dash": s.dash, "values": list(s.values)}
                for s in self.series
            ],
        }
        return json.dumps(data, separators=(",", ":"), allow_nan=False)

    @property
    def rows(self) -> list[tuple[datetime, list[float | int | None]]]:
        """The table view: one row per bucket with something to say (a bucket whose values are all zero or
        none is left out: a 30-day table stays small), newest first."""
        columns = [s.values for s in self.series]
        found = []
        for i in range(len(self.times) - 1, -1, -1):
            values = [c[i] for c in columns]
            if any(values):
                found.append((datetime.fromtimestamp(self.times[i], UTC), values))
        return found

    @property
    def has_values(self) -> bool:
        return any(v is not None for s in self.series for v in s.values)


def _values(points: Sequence[TimelinePoint], get: Callable[[TimelinePoint], float | int | None]) -> tuple:
    return tuple(get(p) if p.has_data else None for p in points)


def _rate(p: TimelinePoint) -> float | None:
    return round(100 * (p.failed + p.retried) / p.ended, 1) if p.ended else None


def throughput(line: Timeline, chart_id: str = "throughput", title: str | None = None) -> Chart:
    points = line.points
    words = STEP_WORDS.get(line.step_seconds, "per bucket")
    return Chart(
        chart_id,
        title or f"Finished and failed {words}",
        "count",
        tuple(p.bucket for p in points),
        (
            ChartSeries("finished", "finished", "--ok", _values(points, lambda p: p.finished)),
            ChartSeries("failed", "failed", "--danger", _values(points, lambda p: p.failed)),
        ),
    )


def failure_rate(line: Timeline, chart_id: str = "failure-rate") -> Chart:
    points = line.points
    return Chart(
        chart_id,
        "Failure rate (% of executions that raised)",
        "percent",
        tuple(p.bucket for p in points),
        (ChartSeries("failure_rate", "failure rate %", "--danger", _values(points, _rate)),),
    )


def _seconds(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def _percentiles(line: Timeline, chart_id: str, title: str, measure: str, with_max: bool) -> Chart:
    points = line.points
    names = [("p50", "--info"), ("p95", "--warn")] + ([("max", "--danger")] if with_max else [])
    return Chart(
        chart_id,
        title,
        "seconds",
        tuple(p.bucket for p in points),
        tuple(
            ChartSeries(
                f"{measure}_{name}",
                name,
                token,
                tuple(_seconds(getattr(p, f"{measure}_{name}")) if p.has_data else None for p in points),
                dash=name == "max",
            )
            for name, token in names
        ),
    )


def run_time(line: Timeline, chart_id: str = "run-time") -> Chart:
    return _percentiles(line, chart_id, "Run time (seconds)", "run", with_max=True)


def wait_time(line: Timeline, chart_id: str = "wait-time") -> Chart:
    return _percentiles(line, chart_id, "Queue wait (seconds, enqueued to started)", "wait", with_max=False)


def depth_and_latency(line: Timeline) -> list[Chart]:
    """A queue's depth and the age of its oldest queued job, as the history collector samples them once a
    minute (gauges: no sample is a gap, never a zero). [] when nothing was sampled in the window."""
    points = line.points
    if all(p.depth is None and p.oldest_age_s is None for p in points):
        return []
    times = tuple(p.bucket for p in points)
    return [
        Chart(
            "depth",
            "Queued jobs (sampled)",
            "count",
            times,
            (ChartSeries("depth", "queued", "--info", tuple(p.depth for p in points)),),
        ),
        Chart(
            "latency",
            "Latency: age of the oldest queued job (sampled)",
            "seconds",
            times,
            (ChartSeries("oldest_age_s", "oldest job", "--warn", tuple(_seconds(p.oldest_age_s) for p in points)),),
        ),
    ]


@dataclass(frozen=True)
class Sparkline:
    points: str  # an SVG polyline's points attribute
    total: int
    peak: int
    width: int
    height: int


def sparkline(line: Timeline | None, width: int = 120, height: int = 24) -> Sparkline | None:
    """Executions ended per bucket as an SVG polyline (server-side: no script per row); None without data."""
    if line is None or not line.has_data:
        return None
    values = [p.ended for p in line.points]
    peak = max(values) or 1
    step = width / max(1, len(values) - 1)
    coords = " ".join(f"{i * step:.1f},{height - 1 - (v / peak) * (height - 2):.1f}" for i, v in enumerate(values))
    return Sparkline(coords, sum(values), max(values), width, height)
