"""metric_rollups: per-minute ("m") and per-hour ("h") metrics in SQL (writer side; timeline.py reads).

- `copy_minutes`: Redis' minute hashes (the worker extension's) overwrite their SQL minute: the hash is the
  whole minute, so copying a minute again is harmless. depth / oldest_age_s are left alone.
- `count_registry`: executions swept from RQ's registries (stock workers) are added into minutes whose
  row is not the extension's (source "registry"); a minute the extension wrote keeps its own figures.
- `sample_depth`: a queue's depth and oldest job age on its total row (function "").
- `roll_hours`: an hour row is rebuilt from its minute rows (sums, max, bucket counts; depth and age: the
  hour's maximum).
- `prune_rollups`: minutes and hours past their retention, a bounded chunk at a time (an hour of minutes,
  a day of hours, per statement).
Histogram buckets are comma-separated counts over layout.RUN_EDGES / WAIT_EDGES (+Inf last).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from dashboard.history.models import NAME, metric_rollups
from dashboard.history.outcomes import dialect_insert
from dashboard.rqlayer.telemetry import layout
from dashboard.rqlayer.telemetry.outcome import Outcome
from dashboard.rqlayer.telemetry.series import Point

METRICS: tuple[str, ...] = ("finished", "failed", "retried", "stopped", "run_sum_us", "run_max_us", "run_buckets")
METRICS += ("wait_sum_us", "wait_max_us", "wait_buckets")
# Outcome status -> the counter it adds to (an abandoned job failed).
COUNTED = {"finished": "finished", "failed": "failed", "abandoned": "failed", "retried": "retried"}
COUNTED["stopped"] = "stopped"


BIGINT = 2**63 - 1


def big(value: int) -> int:
    """`value` as a BIGINT column holds it: Redis minute hashes are written by workers (or planted), and
    one out-of-range counter must not fail the copy of every series' minutes at each pass."""
    return max(0, min(int(value), BIGINT))


def counts_text(counts: Iterable[int]) -> str:
    return ",".join(str(big(c)) for c in counts)  # 17 counts of at most 19 digits fit the 400 characters


def parse_counts(raw: str | None, size: int) -> list[int]:
    counts = [0] * size
    for index, part in enumerate((raw or "").split(",")[:size]):
        counts[index] = int(part) if part.isascii() and part.isdigit() else 0  # '²'.isdigit() is True
    return counts


def point_row(queue: str, function: str | None, bucket: int, point: Point, source: str = "extension") -> dict:
    """The metric columns of a rollup row for one Redis minute (`bucket`: epoch seconds)."""
    return {
        "resolution": "m",
        "queue": queue[:NAME],
        "function": (function or "")[:NAME],
        "bucket": bucket,
        "finished": big(point.finished),
        "failed": big(point.failed),
        "retried": big(point.retried),
        "stopped": big(point.stopped),
        "run_sum_us": big(point.run.sum_us),
        "run_max_us": big(point.run.max_us),
        "run_buckets": counts_text(point.run.counts),
        "wait_sum_us": big(point.wait.sum_us),
        "wait_max_us": big(point.wait.max_us),
        "wait_buckets": counts_text(point.wait.counts),
        "source": source,
    }


def _upsert(connection: sa.Connection, rows: Sequence[dict], columns: Sequence[str], where: Any = None) -> None:
    if not rows:
        return
    t = metric_rollups
    insert = dialect_insert(connection, t)
    statement = insert.on_conflict_do_update(
        index_elements=[t.c.resolution, t.c.queue, t.c.function, t.c.bucket],
        set_={name: insert.excluded[name] for name in columns},
        where=where,
    )
    ordered = sorted(rows, key=lambda r: (r["resolution"], r["queue"], r["function"], r["bucket"]))
    connection.execute(statement, ordered)


def copy_minutes(connection: sa.Connection, rows: Sequence[dict]) -> int:
    """Overwrite the SQL minutes with Redis' (rows from point_row); returns how many."""
    _upsert(connection, rows, (*METRICS, "source"))
    return len(rows)


def sample_depth(connection: sa.Connection, bucket: int, samples: Sequence[tuple[str, int, float | None]]) -> None:
    """(queue, depth, oldest age in seconds) at minute `bucket`, on each queue's total row."""
    rows = [
        # A new row is "registry": RQ's own data, sampled by the collector (the extension's copy relabels it).
        {"resolution": "m", "queue": q[:NAME], "function": "", "bucket": bucket, "depth": d, "oldest_age_s": a}
        | {"source": "registry"}
        for q, d, a in samples
    ]
    _upsert(connection, rows, ("depth", "oldest_age_s"))


@dataclass
class _Acc:
    counts: dict[str, int]
    run: list[int]
    wait: list[int]
    depth: int | None = None
    age: float | None = None
    sources: set[str] | None = None


def _empty() -> _Acc:
    counts = dict.fromkeys(("finished", "failed", "retried", "stopped", "run_sum_us", "run_max_us"), 0)
    counts.update(wait_sum_us=0, wait_max_us=0)
    return _Acc(counts, [0] * (len(layout.RUN_EDGES) + 1), [0] * (len(layout.WAIT_EDGES) + 1), sources=set())


def _add_row(acc: _Acc, row: sa.Row) -> None:
    for name in ("finished", "failed", "retried", "stopped", "run_sum_us", "wait_sum_us"):
        acc.counts[name] += int(getattr(row, name) or 0)
    for name in ("run_max_us", "wait_max_us"):
        acc.counts[name] = max(acc.counts[name], int(getattr(row, name) or 0))
    for target, raw in ((acc.run, row.run_buckets), (acc.wait, row.wait_buckets)):
        for index, count in enumerate(parse_counts(raw, len(target))):
            target[index] += count
    if row.depth is not None:
        acc.depth = max(acc.depth or 0, int(row.depth))
    if row.oldest_age_s is not None:
        acc.age = max(acc.age or 0.0, float(row.oldest_age_s))
    if acc.sources is not None and (row.finished or row.failed or row.retried or row.stopped):
        acc.sources.add(row.source)


def _acc_row(resolution: str, queue: str, function: str, bucket: int, acc: _Acc) -> dict:
    source = "extension" if not acc.sources or "extension" in acc.sources else "registry"
    return {
        "resolution": resolution,
        "queue": queue,
        "function": function,
        "bucket": bucket,
        **acc.counts,
        "run_buckets": counts_text(acc.run),
        "wait_buckets": counts_text(acc.wait),
        "depth": acc.depth,
        "oldest_age_s": acc.age,
        "source": source,
    }


def _observe(acc: _Acc, outcome: Outcome, column: str) -> None:
    acc.counts[column] += 1
    for us, total, peak, target, edges in (
        (outcome.run_us, "run_sum_us", "run_max_us", acc.run, layout.RUN_EDGES),
        (outcome.wait_us, "wait_sum_us", "wait_max_us", acc.wait, layout.WAIT_EDGES),
    ):
        if us is not None:
            acc.counts[total] += us
            acc.counts[peak] = max(acc.counts[peak], us)
            target[layout.bucket(us / 1e6, edges)] += 1


def _merge(existing: sa.Row | None, add: _Acc) -> _Acc:
    merged = _empty()
    if existing is not None:
        _add_row(merged, existing)
    for name, value in add.counts.items():
        current = merged.counts[name]
        merged.counts[name] = max(current, value) if name.endswith("_max_us") else current + value
    merged.run = [a + b for a, b in zip(merged.run, add.run, strict=True)]
    merged.wait = [a + b for a, b in zip(merged.wait, add.wait, strict=True)]
    merged.sources = {"registry"}
    return merged


def count_registry(connection: sa.Connection, outcomes: Sequence[Outcome]) -> int:
    """Add swept (stock worker) outcomes into their minute rows, series and queue total, unless the
    extension wrote that minute. Read-merge-write of the rows concerned (locked on PostgreSQL)."""
    adds: dict[tuple[str, str, int], _Acc] = {}
    for outcome in outcomes:
        column = COUNTED.get(outcome.status)
        if column is None:
            continue
        bucket = outcome.ended_ms // 60_000 * 60
        for function in (outcome.function[:NAME], ""):
            _observe(adds.setdefault((outcome.queue[:NAME], function, bucket), _empty()), outcome, column)
    t = metric_rollups
    rows = []
    for key in sorted(adds):
        queue, function, bucket = key
        query = sa.select(t).where(t.c.resolution == "m", t.c.queue == queue, t.c.function == function)
        existing = connection.execute(query.where(t.c.bucket == bucket).with_for_update()).first()
        if existing is not None and existing.source != "registry" and _has_counts(existing):
            continue  # the extension's minute: it counted these executions itself
        rows.append(_acc_row("m", queue, function, bucket, _merge(existing, adds[key])))
    empty = sa.and_(*(getattr(t.c, name) == 0 for name in ("finished", "failed", "retried", "stopped")))
    _upsert(connection, rows, (*METRICS, "source"), where=sa.or_(t.c.source == "registry", empty))
    return len(rows)


def _has_counts(row: sa.Row) -> bool:
    return bool(row.finished or row.failed or row.retried or row.stopped)


def roll_hours(connection: sa.Connection, hours: Iterable[int]) -> int:
    """Rebuild the hour rows of these hours (epoch seconds, multiples of 3600) from their minutes."""
    t = metric_rollups
    written = 0
    for hour in sorted(set(hours)):
        accs: dict[tuple[str, str], _Acc] = {}
        query = sa.select(t).where(t.c.resolution == "m", t.c.bucket >= hour, t.c.bucket < hour + 3600)
        for row in connection.execute(query):
            _add_row(accs.setdefault((row.queue, row.function), _empty()), row)
        rows = [_acc_row("h", queue, function, hour, acc) for (queue, function), acc in accs.items()]
        _upsert(connection, rows, (*METRICS, "depth", "oldest_age_s", "source"))
        written += len(rows)
    return written


def prune_rollups(connection: sa.Connection, now_s: int, minutes_retention: int, hours_retention: int) -> int:
    """Delete one chunk of minutes older than minutes_retention and one of hours older than hours_retention
    (a chunk: the oldest hour of minutes / the oldest day of hours). Returns rows deleted."""
    t = metric_rollups
    deleted = 0
    for resolution, keep, step in (("m", minutes_retention, 3600), ("h", hours_retention, 86400)):
        cutoff = now_s - keep
        oldest = connection.scalar(sa.select(sa.func.min(t.c.bucket)).where(t.c.resolution == resolution))
        if oldest is None or oldest >= cutoff:
            continue
        limit = min(cutoff, int(oldest) + step)
        result = connection.execute(sa.delete(t).where(t.c.resolution == resolution, t.c.bucket < limit))
        deleted += result.rowcount or 0
    return deleted
