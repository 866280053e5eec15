"""Job events -> webhooks: the consumer group `webhooks` on the event stream, read by a thread of the history
process (`python -m dashboard.history run`). Flask-free.

Each batch (telemetry/consumer.py's StreamReader: own pending first, then claimed, then new): the worker
extension's `finished`, `failed` (final: a failure with retries left is `retry_scheduled`, never sent) and
`stopped` events become outbox.send calls of job.finished / job.failed / job.stopped, keyed
"<job id>:<execution start or entry id>:<type>" so a batch read again sends nothing twice; the batch is
acknowledged after every send committed. When no enabled endpoint subscribes to a job event, a batch costs
the read, one Redis GET (the endpoint cache) and the XACK. The group starts at the stream's end ("$"): events
from before the first start are not sent. Stock RQ workers write no events, so their jobs send no webhooks.

Also, every REPAIR_EVERY seconds, attempts whose RQ job went missing are enqueued again (log.repair), and
every PRUNE_EVERY seconds deliveries past WEBHOOK_RETENTION_DAYS are deleted.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from redis import Redis

from dashboard.rqlayer.telemetry.consumer import Batch, StreamReader, ensure_group
from dashboard.rqlayer.telemetry.events import Event
from dashboard.settings import WebhookSettings
from dashboard.webhooks import endpoints, log, outbox

GROUP = "webhooks"
TYPES = {"finished": "job.finished", "failed": "job.failed", "stopped": "job.stopped"}
REPAIR_EVERY = 60.0
PRUNE_EVERY = 600.0

logger = logging.getLogger("dashboard.webhooks")


def default_consumer() -> str:
    return f"webhooks@{socket.gethostname()}"[:120]


def _iso(ms: Any) -> str | None:
    try:
        value = int(ms)
    except (TypeError, ValueError):
        return None
    if value <= 0:
        return None
    return datetime.fromtimestamp(value / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def job_event_data(event: Event) -> dict[str, Any]:
    """What a job.* webhook says: ids, names, times and the exception type, never job arguments or results."""
    data: dict[str, Any] = {
        "job_id": event.job_id,
        "queue": event.queue,
        "function": event.function,
        "status": event.type,
        "worker": event.worker,
        "ended_at": _iso(event.at),
        "started_at": _iso(event.extra.get("started_at")),
        "enqueued_at": _iso(event.extra.get("enqueued_at")),
    }
    run_us = event.extra.get("run_us", "")
    data["run_ms"] = int(run_us) / 1000 if run_us.isascii() and run_us.isdigit() else None
    if event.type == "failed":
        data["exc_type"] = event.exc_type
    return data


def job_event_key(event: Event) -> str:
    started = event.extra.get("started_at", "")
    execution = started if started.isascii() and started.isdigit() and started != "0" else event.id
    return f"{event.job_id}:{execution}:{event.type}"[: outbox.KEY_LENGTH]


class Dispatcher:
    """One consumer of the `webhooks` group; keep one per process."""

    def __init__(
        self,
        redis: Redis,
        engine: sa.Engine,
        settings: WebhookSettings,
        consumer: str | None = None,
        count: int = 200,
        block_ms: int = 1000,
        claim_idle_ms: int = 60_000,
    ) -> None:
        self.redis, self.engine, self.settings = redis, engine, settings
        ensure_group(redis, GROUP, start="$")
        self.reader = StreamReader(redis, consumer or default_consumer(), count, block_ms, claim_idle_ms, group=GROUP)
        self.last_read = 0
        self._next_repair = self._next_prune = 0.0

    def dispatch_once(self) -> int:
        """One batch, acknowledged after its deliveries are committed and enqueued, then the upkeep that is
        due; returns how many deliveries the batch's events have (made now, or by an earlier read of the
        same events). Raises on Redis / SQL errors (the batch stays pending and is
        read again first)."""
        try:
            batch = self.reader.read()
            self.last_read = len(batch.ids)
            created = self._send(batch)
        except Exception:
            self.reader._own_pending_done = False  # what was read stays pending: read it again first
            raise
        if batch.ids:
            self.reader.ack(batch.ids)
        self.upkeep()
        return created

    def _send(self, batch: Batch) -> int:
        # The webhook queue's own jobs (deliveries, alert e-mails) never send webhooks: a delivery that ends
        # would otherwise trigger a delivery about itself, for ever.
        events = [e for e in batch.end_events if e.type in TYPES and e.job_id and e.queue != self.settings.queue]
        if not events:
            return 0
        wanted = set(TYPES.values())
        if not any(wanted & set(e.events) for e in endpoints.enabled(self.engine, self.redis)):
            return 0
        created = 0
        for event in events:
            created += len(
                outbox.send(
                    self.engine,
                    self.redis,
                    TYPES[event.type],
                    job_event_data(event),
                    queue=event.queue,
                    function=event.function,
                    key=job_event_key(event),
                    settings=self.settings,
                )
            )
        return created

    def upkeep(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now >= self._next_repair:
            self._next_repair = now + REPAIR_EVERY
            repaired = log.repair(self.engine, self.redis, self.settings)
            if repaired:
                logger.warning("%d webhook attempts had lost their RQ job: enqueued again", repaired)
        if force or now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY
            log.prune(self.engine, self.settings.retention_days)

    def drain(self) -> int:
        """Batches until one reads nothing (tests)."""
        created = 0
        while True:
            created += self.dispatch_once()
            if not self.last_read:
                return created


def start_thread(redis: Redis, engine: sa.Engine, settings: WebhookSettings, stop: threading.Event) -> threading.Thread:
    """Run a Dispatcher in a daemon thread until `stop` is set; Redis / SQL errors are logged and retried
    with backoff (1 s doubling to 30 s)."""

    def loop() -> None:
        dispatcher: Dispatcher | None = None
        backoff = 1.0
        while not stop.is_set():
            try:
                if dispatcher is None:
                    dispatcher = Dispatcher(redis, engine, settings)
                dispatcher.dispatch_once()
                backoff = 1.0
            except Exception as error:  # noqa: BLE001 - Redis or SQL down: report, wait, try again
                logger.warning("webhooks: %s: %s (retrying in %.0f s)", type(error).__name__, error, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    thread = threading.Thread(target=loop, name="webhook-dispatcher", daemon=True)
    thread.start()
    return thread
