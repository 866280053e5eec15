"""The pieces timeline.py folds: one bucket's point (TimelinePoint), one row or Redis minute (Item), and the
accumulator of a bucket (Bucket). Tens of thousands of rows fold for a long window across many queues, so
rows are tuples and sums are element-wise over plain lists (map(add)), never an object per row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import add
from typing import Any, NamedTuple

from dashboard.rqlayer.telemetry import layout, series


@dataclass(frozen=True)
class TimelinePoint:
    """One bucket: `bucket` is its start in epoch seconds; `has_data` False before the series' first data
    point (a gap, not zeros). Percentiles (seconds, None without observations) are computed when read."""

    bucket: int
    has_data: bool
    finished: int
    failed: int
    retried: int
    stopped: int
    run: series.Histogram
    wait: series.Histogram
    depth: int | None = None
    oldest_age_s: float | None = None

    @property
    def ended(self) -> int:
        return self.finished + self.failed + self.retried + self.stopped

    @property
    def run_p50(self) -> float | None:
        return self.run.quantile(0.5)

    @property
    def run_p95(self) -> float | None:
        return self.run.quantile(0.95)

    @property
    def run_max(self) -> float | None:
        return self.run.max

    @property
    def wait_p50(self) -> float | None:
        return self.wait.quantile(0.5)

    @property
    def wait_p95(self) -> float | None:
        return self.wait.quantile(0.95)

    def as_json(self) -> dict[str, Any]:
        keys = ("finished", "failed", "retried", "stopped", "run_p50", "run_p95", "run_max", "wait_p50", "wait_p95")
        data: dict[str, Any] = {"bucket": self.bucket}
        data.update({k: (getattr(self, k) if self.has_data else None) for k in keys})
        data["depth"], data["oldest_age_s"] = self.depth, self.oldest_age_s
        return data


class Item(NamedTuple):
    """One minute (Redis or SQL) or hour (SQL) of one queue's series, before folding into buckets
    (a tuple: SQL windows fold tens of thousands of them)."""

    queue: str
    at: int
    counts: tuple[int, int, int, int]  # finished, failed, retried, stopped
    run: Sequence[int]
    run_sum: int
    run_max: int
    wait: Sequence[int]
    wait_sum: int
    wait_max: int
    depth: int | None = None
    age: float | None = None


_RUN_SIZE, _WAIT_SIZE = len(layout.RUN_EDGES) + 1, len(layout.WAIT_EDGES) + 1


class Bucket:
    """What one bucket accumulates across minutes and series, in plain lists (thousands of rows add up
    here: element-wise sums through map(add), no object per row); depth/age: queue -> (sample time, value)."""

    __slots__ = ("age", "counts", "depth", "run", "run_max", "run_sum", "seen", "wait", "wait_max", "wait_sum")

    def __init__(self) -> None:
        self.counts = [0, 0, 0, 0]
        self.run, self.run_sum, self.run_max = [0] * _RUN_SIZE, 0, 0
        self.wait, self.wait_sum, self.wait_max = [0] * _WAIT_SIZE, 0, 0
        self.seen = False
        self.depth: dict[str, tuple[int, int]] | None = None
        self.age: dict[str, tuple[int, float]] | None = None

    def add(self, item: Item) -> None:
        self.seen = True
        self.counts = list(map(add, self.counts, item.counts))
        if item.run_max or any(item.run):  # else no run time observed: nothing to add
            self.run = list(map(add, self.run, item.run))
            self.run_sum += item.run_sum
            self.run_max = max(self.run_max, item.run_max)
        if item.wait_max or any(item.wait):
            self.wait = list(map(add, self.wait, item.wait))
            self.wait_sum += item.wait_sum
            self.wait_max = max(self.wait_max, item.wait_max)
        if item.depth is not None:  # gauges: each queue's newest sample in the bucket
            self.depth = self.depth or {}
            if item.queue not in self.depth or self.depth[item.queue][0] <= item.at:
                self.depth[item.queue] = (item.at, int(item.depth))
        if item.age is not None:
            self.age = self.age or {}
            if item.queue not in self.age or self.age[item.queue][0] <= item.at:
                self.age[item.queue] = (item.at, float(item.age))

    def point(self, bucket: int, started: bool) -> TimelinePoint:
        """Queues' depths add up, their oldest ages take the max."""
        depth = sum(d for _, d in self.depth.values()) if self.depth else None
        age = max(a for _, a in self.age.values()) if self.age else None
        run = series.Histogram(layout.RUN_EDGES, tuple(self.run), self.run_sum, self.run_max)
        wait = series.Histogram(layout.WAIT_EDGES, tuple(self.wait), self.wait_sum, self.wait_max)
        f, x, r, s = self.counts
        return TimelinePoint(bucket, started, f, x, r, s, run, wait, depth, age)


@lru_cache(maxsize=4096)  # rows repeat the same few histograms (quiet series): parse each text once
def _parse(text: str, size: int) -> tuple[int, ...]:
    parts = text.split(",")
    if len(parts) == size:
        try:  # the collector's own rows: one pass
            counts = tuple(map(int, parts))
            if min(counts) >= 0:
                return counts
        except ValueError:
            pass
    found = [0] * size
    for index, part in enumerate(parts[:size]):
        part = part.strip()
        found[index] = int(part) if part.isascii() and part.isdigit() else 0  # '²'.isdigit() is True
    return tuple(found)


def parse_counts(text: str | None, edges: tuple[float, ...]) -> tuple[int, ...]:
    """A comma-separated histogram from SQL, padded/cut to len(edges) + 1; junk counts as 0."""
    return _parse(text or "", len(edges) + 1) if text else (0,) * (len(edges) + 1)


COLUMNS: tuple[str, ...] = ("queue", "bucket", "finished", "failed", "retried", "stopped")
COLUMNS += ("run_buckets", "run_sum_us", "run_max_us", "wait_buckets", "wait_sum_us", "wait_max_us")
COLUMNS += ("depth", "oldest_age_s", "source")


def row_item(row: Any) -> Item:
    queue, bucket, f, x, r, s, run, run_sum, run_max, wait, wait_sum, wait_max, depth, age, _ = row
    return Item(
        queue,
        int(bucket),
        (int(f), int(x), int(r), int(s)),
        parse_counts(run, layout.RUN_EDGES),
        int(run_sum),
        int(run_max),
        parse_counts(wait, layout.WAIT_EDGES),
        int(wait_sum),
        int(wait_max),
        depth,
        age,
    )


def redis_item(queue: str, p: series.Point) -> Item:
    counts = (p.finished, p.failed, p.retried, p.stopped)
    run, wait = p.run, p.wait
    return Item(queue, p.minute, counts, run.counts, run.sum_us, run.max_us, wait.counts, wait.sum_us, wait.max_us)
