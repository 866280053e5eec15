"""`python -m dashboard.history run`: the collector as a process (the Procfile's `history` line).

Flask-free: settings from dashboard.settings.load_settings, a SQLAlchemy engine from DATABASE_URL, a Redis
client from REDIS_URL. SIGTERM / SIGINT: the batch in hand is finished (written and acknowledged), then the
process exits 0; a second signal exits at once (the batch stays pending in Redis and is read again first
by the next run). Redis or SQL unavailable: logged, retried with backoff (1 s doubling to 30 s), reported in
the status hash when Redis answers. Logs one line a minute: outcomes written and their rate, lag, pending.
A thread beside the collector turns job events into webhook deliveries (dashboard/webhooks/dispatcher.py).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from types import FrameType

import sqlalchemy as sa

from dashboard.history.collector import DEFAULT_BATCH, Collector, default_consumer
from dashboard.rqlayer.connection import connect, describe
from dashboard.settings import Settings, SettingsError, load_settings, mask_url
from dashboard.webhooks.dispatcher import start_thread as start_webhooks

log = logging.getLogger("dashboard.history")
LOG_EVERY = 60.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dashboard.history", description="The SQL history collector.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="consume the event stream into SQL until SIGTERM/SIGINT")
    run.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="events per batch (default %(default)s)")
    run.add_argument("--block-ms", type=int, default=1000, help="longest wait for new events (ms)")
    run.add_argument("--consumer", default=None, help="consumer name (default: collector@<host>)")
    run.add_argument("--claim-idle-ms", type=int, default=60_000, help="take over other consumers' pending after")
    return parser.parse_args(argv)


class _Stop:
    """First SIGTERM/SIGINT: stop after the batch in hand. Second: exit now."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        if self.event.is_set():
            raise SystemExit(128 + signum)
        log.info("stopping after the batch in hand (signal %d)", signum)
        self.event.set()


def run(settings: Settings, args: argparse.Namespace) -> int:
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    block_ms = max(0, min(int(args.block_ms), 10_000))
    redis = connect(settings.redis_url, timeout=max(settings.redis_timeout, block_ms / 1000 + 5))
    engine = sa.create_engine(settings.database_url, pool_pre_ping=True)
    consumer = args.consumer or default_consumer()
    log.info(
        "collecting from %s into %s as %s", describe(settings.redis_url), mask_url(settings.database_url), consumer
    )
    collector: Collector | None = None
    backoff, written, since = 1.0, 0, time.monotonic()
    webhooks = start_webhooks(redis, engine, settings.webhooks, stop.event)  # a thread: job events -> webhooks
    try:
        while not stop.event.is_set():
            try:
                if collector is None:
                    collector = Collector(
                        redis, engine, settings, consumer, max(1, args.batch), block_ms, args.claim_idle_ms
                    )
                written += collector.collect_once()
                backoff = 1.0
            except Exception as error:  # noqa: BLE001 - Redis or SQL down: report, wait, try again
                log.warning("%s: %s (retrying in %.0f s)", type(error).__name__, error, backoff)
                stop.event.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if time.monotonic() - since >= LOG_EVERY:
                elapsed = time.monotonic() - since
                status = collector.last_status
                log.info(
                    "%d outcomes in %.0f s (%.1f/s), lag %s, pending %s",
                    written,
                    elapsed,
                    written / elapsed,
                    status.get("lag", "?"),
                    status.get("pending", "?"),
                )
                written, since = 0, time.monotonic()
    finally:
        stop.event.set()
        webhooks.join(timeout=15)  # its batch in hand is sent and acknowledged first
        engine.dispose()
        redis.close()
    log.info("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [history] %(message)s", stream=sys.stdout)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return run(settings, args)
