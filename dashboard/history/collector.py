"""The history collector: job outcomes from the event stream into SQL exactly once, plus its periodic work
(periodic.py). Flask-free: a redis.Redis, a SQLAlchemy Engine and the settings.

One batch: read (telemetry/consumer.py: own pending entries first, then claimed, then new), enrich from the
job hashes (one pipeline), then ONE transaction: outcomes (ON CONFLICT DO NOTHING RETURNING) and error
groups of the rows really inserted; XACK only after the commit. A crash between commit and XACK
re-delivers the batch, which then inserts nothing (unique (job_id, attempt)) and counts nothing twice.

    collect_once(redis, engine, settings)   one batch + due periodic work -> outcomes written
    drain(redis, engine, settings)          batches until the stream has nothing new (tests, benchmarks)
    collector_status(redis)                 (re-exported) what the history page shows
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from typing import Any

import sqlalchemy as sa
from redis import Redis

from dashboard.history.groups import upsert_groups
from dashboard.history.outcomes import write_outcomes
from dashboard.history.periodic import Context, run_due
from dashboard.rqlayer.telemetry.consumer import (
    Batch,
    StreamReader,
    collector_status,
    enrich,
    ensure_group,
    read_state,
    write_status,
)
from dashboard.rqlayer.telemetry.outcome import Outcome
from dashboard.settings import HistorySettings, Settings, TelemetrySettings

__all__ = ["Collector", "collect_once", "collector_status", "drain", "default_consumer"]

log = logging.getLogger("dashboard.history")

DEFAULT_BATCH = 500
# What a row's own values can raise (never a lost connection: that error keeps the batch pending).
DATA_ERRORS = (sa.exc.DataError, sa.exc.IntegrityError, ValueError, TypeError, OverflowError)
SWEEP_DELAY_MS = 10_000
LAG_EVERY = 5.0  # seconds between lag counts on Redis < 7


def default_consumer() -> str:
    """A name stable across restarts on one host, so a restarted collector re-reads its own pending entries."""
    return f"collector@{socket.gethostname()}"[:120]


def _settings(settings: Settings | HistorySettings | None) -> tuple[HistorySettings, TelemetrySettings]:
    if isinstance(settings, Settings):
        return settings.history, settings.telemetry
    return settings or HistorySettings(), TelemetrySettings()


class Collector:
    """A collector for one consumer name; keep one per process (it remembers what it has re-read)."""

    def __init__(
        self,
        redis: Redis,
        engine: sa.Engine,
        settings: Settings | HistorySettings | None = None,
        consumer: str | None = None,
        count: int = DEFAULT_BATCH,
        block_ms: int = 0,
        claim_idle_ms: int = 60_000,
        sweep_delay_ms: int = SWEEP_DELAY_MS,
    ) -> None:
        self.redis, self.engine = redis, engine
        self.history, self.telemetry = _settings(settings)
        self.consumer = consumer or default_consumer()
        self.reader = StreamReader(redis, self.consumer, count, block_ms, claim_idle_ms)
        self.sweep_delay_ms = sweep_delay_ms
        self.last_read = 0
        self.last_status: dict[str, Any] = {}
        self._lag: tuple[int | None, bool] = (None, False)
        self._lag_at = 0.0
        ensure_group(redis)

    def collect_once(self, force: bool = False, now: float | None = None) -> int:
        """One batch and the periodic work that is due (all of it with `force`, the sweep then taking even
        the newest registry entries); returns the outcomes written. Raises on Redis/SQL errors (the
        batch stays pending and is read again first)."""
        written = self.collect_batch()
        return written + self.run_periodic(force, now)

    def collect_batch(self) -> int:
        try:
            batch = self.reader.read()
            self.last_read = len(batch.ids)
            written = self._write(batch)
        except Exception as error:
            self.reader._own_pending_done = False  # whatever was read stays pending: read it again first
            self.report_error(error)
            raise
        self._report(batch, written)
        return written

    def _write(self, batch: Batch) -> int:
        skipped: list[object] = []
        outcomes = enrich(self.redis, batch.end_events, self.history.attributes, on_skip=skipped.append)
        inserted, refused = write_batch(self.engine, outcomes)
        batch.poisoned += refused + len(skipped)
        if batch.ids:
            self.reader.ack(batch.ids)
        return len(inserted)

    def run_periodic(self, force: bool = False, now: float | None = None) -> int:
        ctx = Context(
            self.redis,
            self.engine,
            self.history,
            self.telemetry,
            read_state(self.redis),
            time.time() if now is None else now,
            0 if force else self.sweep_delay_ms,
        )
        return run_due(ctx, force, on_error=lambda name, error: self.report_error(error, name))

    def _report(self, batch: Batch, written: int) -> None:
        now = time.time()
        fields: dict[str, Any] = {"heartbeat_at": now, "consumer": self.consumer, "pid": os.getpid()}
        if batch.ids:
            fields.update(last_batch_at=now, batch_size=len(batch.ids), batch_written=written)
        info = batch.info
        if info is not None:
            lag, capped = self._lag_after(batch, info.lag)
            fields.update(lag="" if lag is None else lag, lag_capped=int(capped), pending=info.pending)
            if info.gap is not None:
                what = "events" if info.lost is None else f"{info.lost} events"
                fields.update(gap_at=now, gap=f"{what} after {info.gap[0]} up to {info.gap[1]} were trimmed unread")
        if batch.lost:
            fields.update(gap_at=now, gap=f"{batch.lost} pending events were trimmed before they were written")
        if batch.poisoned:
            log.warning("%d unreadable events skipped (acknowledged, not written)", batch.poisoned)
            fields.update(last_error_at=now, last_error=f"batch: {batch.poisoned} unreadable events skipped")
        write_status(self.redis, fields, written)
        self.last_status = fields

    def _lag_after(self, batch: Batch, before: int | None) -> tuple[int | None, bool]:
        read = len(batch.ids)
        if before is not None:
            return max(0, before - read), False
        if read < self.reader.count:
            return 0, False
        if time.monotonic() - self._lag_at >= LAG_EVERY:  # Redis < 7: count, at most every few seconds
            self._lag, self._lag_at = self.reader.count_lag(batch.ids[-1]), time.monotonic()
        return self._lag

    def report_error(self, error: Exception, task: str = "batch") -> None:
        """Record the error in the status hash (best effort: Redis may be what failed)."""
        message = f"{task}: {type(error).__name__}: {error}"[:500]
        # Best effort: the error is logged by the caller, and Redis itself may be what failed.
        with contextlib.suppress(Exception):
            write_status(self.redis, {"last_error": message, "last_error_at": time.time(), "heartbeat_at": time.time()})


def _insert(engine: sa.Engine, outcomes: list[Outcome]) -> list[Outcome]:
    with engine.begin() as sql:
        inserted = write_outcomes(sql, outcomes)
        upsert_groups(sql, [o for o in inserted if o.fingerprint])
    return inserted


def write_batch(engine: sa.Engine, outcomes: list[Outcome]) -> tuple[list[Outcome], int]:
    """(outcomes inserted, outcomes SQL refused): one transaction for the batch; if a row's own values make
    it fail, one transaction per outcome, so one row SQL refuses never holds the batch pending for ever
    (the refused ones are acknowledged unwritten and counted in the status). A lost connection raises."""
    if not outcomes:
        return [], 0
    try:
        return _insert(engine, outcomes), 0
    except DATA_ERRORS:
        pass
    inserted: list[Outcome] = []
    refused = 0
    for outcome in outcomes:
        try:
            inserted += _insert(engine, [outcome])
        except DATA_ERRORS:
            refused += 1
    return inserted, refused


def collect_once(
    redis: Redis,
    engine: sa.Engine,
    settings: Settings | HistorySettings | None = None,
    *,
    consumer: str | None = None,
    count: int = DEFAULT_BATCH,
    force: bool = False,
    now: float | None = None,
) -> int:
    """One batch + the periodic work that is due -> outcomes written. `force=True` runs all of it now (the
    sweep then takes even the newest registry entries): what a synchronous caller (a test) wants after a
    stock worker ran. `now` (epoch s) shifts the periodic work's clock. Creates the consumer group."""
    return Collector(redis, engine, settings, consumer=consumer, count=count).collect_once(force, now)


def drain(
    redis: Redis,
    engine: sa.Engine,
    settings: Settings | HistorySettings | None = None,
    *,
    consumer: str | None = None,
    count: int = DEFAULT_BATCH,
    force: bool = True,
    now: float | None = None,
) -> int:
    """Batches until one reads nothing, then the periodic work once -> outcomes written."""
    collector = Collector(redis, engine, settings, consumer=consumer, count=count)
    written = 0
    while True:
        written += collector.collect_batch()
        if not collector.last_read:
            return written + collector.run_periodic(force, now)
