"""The console under load: 50 signed-in operators beside 4 real workers, and what it costs the workers.

    python benchmarks/load.py [--operators 50] [--jobs 50000] [--quick]

1. starts a private, memory-only redis-server and plants a realistic backlog with raw pipelined writes
   (benchmarks/pages.py `fill`): 20,000 jobs waiting in `default` (no worker listens: deep pages) and 2,000
   failed ones (/failed and its groups);
2. baseline: 4 stock RQ workers (`rq worker -w rq.worker.SimpleWorker --burst`, each its own process) drain
   a fifth of `--jobs` trivial jobs (`operator.add`) from the queue `load`; jobs/s from the first job taken
   to the last worker's exit. The workers and Redis run on core 1 (`taskset`), the console on core 0;
3. starts the console as the Procfile's `web` line says (gunicorn gthread, same workers/threads/keep-alive)
   pinned to core 0, signs in `--operators` operators (each its own session), lets them browse — the
   overview and its live poll every POLL_SECONDS (revalidated with If-None-Match as a browser's cache does:
   a 304 counts as an answer), queue pages with their charts, deep pages, job pages,
   /failed with its groups, the event feed, /functions — with think times, and, while they do, the same
   workers drain `--jobs` jobs (fewer when the baseline's rate says that would take over 3 minutes);
4. stops the console and runs the baseline once more (before/after: the machine's drift averages out);
5. prints latency p50/p95/p99 per page type, errors, requests/s, the console's CPU ms per request (all its
   processes, from /proc, over the measured window), the console's RSS at start and end, worker
   throughput against the baseline, and, last,
   `RESULT p50_ms=… p95_ms=… p99_ms=… errors=… worker_slowdown_pct=… cpu_ms_per_req=…`.

Loopback only; every process it starts is stopped on every exit path. No figure is asserted here: the
acceptance check (shared/checks/bench-load) reads the RESULT line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(Path(__file__).resolve().parent), str(ROOT)]

import support  # noqa: E402
from pages import fill  # noqa: E402

CONSOLE_CORE, WORKER_CORE = "0", "1"
WORK_QUEUE = "load"
WORKERS = 4
PLANTED_QUEUED, PLANTED_FAILED = 20_000, 2_000
PREFIX = "5eed10ad"
PASSWORD = "load-bench-password-0123"
WARMUP_S = 4
TIMEOUT_S = 10
LOADED_BUDGET_S = 180  # at most this long under load (a fifth as many jobs before and after: the baseline)
# What an operator does next, with its weight: a visit is several requests (page, fragments, polls).
VISITS = {"overview": 45, "queue": 15, "deep": 10, "job": 10, "failed": 10, "events": 5, "charts": 5}


# ---------------------------------------------------------------- the workers


def pin(pid: int, core: str) -> None:
    """Every thread of `pid` onto `core` (redis-server has background threads)."""
    subprocess.run(["taskset", "-a", "-pc", core, str(pid)], check=True, stdout=subprocess.DEVNULL)


def enqueue(connection: redis.Redis, jobs: int) -> None:
    from rq import Queue

    queue = Queue(WORK_QUEUE, connection=connection)
    for start in range(0, jobs, 1000):
        queue.enqueue_many([Queue.prepare_data("operator.add", (i, 1)) for i in range(start, min(jobs, start + 1000))])


def worker_run(children: support.Children, url: str, jobs: int) -> float:
    """Enqueue `jobs`, drain them with WORKERS burst workers on WORKER_CORE: jobs/s."""
    connection = redis.Redis.from_url(url)
    enqueue(connection, jobs)
    queue_key = f"rq:queue:{WORK_QUEUE}"
    command = ["taskset", "-c", WORKER_CORE, str(Path(sys.executable).with_name("rq")), "worker", "--burst"]
    command += ["--quiet", "-w", "rq.worker.SimpleWorker", "--url", url, WORK_QUEUE]
    procs = [children.start(command, cwd=ROOT, stdout=subprocess.DEVNULL) for _ in range(WORKERS)]
    deadline = time.monotonic() + 600
    while connection.llen(queue_key) >= jobs:  # the clock starts with the first job taken
        if time.monotonic() > deadline or all(p.poll() is not None for p in procs):
            raise RuntimeError("the workers took no job")
        time.sleep(0.005)
    started = time.perf_counter()
    for proc in procs:
        proc.wait(max(1.0, deadline - time.monotonic()))
        children.procs.remove(proc)
    seconds = time.perf_counter() - started
    if connection.llen(queue_key):
        raise RuntimeError("the workers left jobs behind")
    connection.close()
    return jobs / seconds


# ---------------------------------------------------------------- the console


def web_command(port: int) -> list[str]:
    """The Procfile's `web` line, on 127.0.0.1:`port`."""
    line = next(ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.startswith("web:"))
    line = line.removeprefix("web:").replace("${HOST:-127.0.0.1}", "127.0.0.1").replace("${PORT:-8000}", str(port))
    words = shlex.split(line)
    words = [w for w in words if w != "-"]  # no access log: it would cost the console's core
    if "--access-logfile" in words:
        words.remove("--access-logfile")
    return ["taskset", "-c", CONSOLE_CORE, str(Path(sys.executable).with_name(words[0])), *words[1:]]


def start_console(children: support.Children, url: str, workdir: Path) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, REDIS_URL=url, DATABASE_URL=f"sqlite:///{workdir}/console.db", SECRET_KEY="load-bench")  # noqa: S106  (a throw-away console)
    env.pop("REDIS_URLS", None)
    flask = [str(Path(sys.executable).with_name("flask")), "--app", "app"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run(
        [*flask, "users", "create", "bench", "--role", "admin"],
        cwd=ROOT, env=env, input=f"{PASSWORD}\n{PASSWORD}\n", text=True, check=True, capture_output=True,
    )  # fmt: skip
    port = support.free_port()
    log = open(workdir / "console.log", "ab")  # noqa: SIM115  (closed with the process)
    proc = children.start(web_command(port), cwd=ROOT, env=env, stdout=log, stderr=log)
    log.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            support.http_get(f"{base}/login", timeout=5)
            return proc, base
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log_tail = (workdir / "console.log").read_text()[-3000:]
                raise RuntimeError(f"the console did not start:\n{log_tail}") from None
            time.sleep(0.1)


def console_pids(master: int) -> list[int]:
    """The gunicorn master and its workers (from /proc: no dependency the requirements do not pin)."""
    pids = [master]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == master:  # ppid
            pids.append(int(stat.parent.name))
    return pids


def console_cpu(master: int) -> float:
    """CPU seconds of the console's processes so far (user + system, from /proc/<pid>/stat)."""
    total = 0
    for pid in console_pids(master):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / os.sysconf("SC_CLK_TCK")


def console_rss_mb(master: int) -> float:
    kb = 0
    for pid in console_pids(master):
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{pid}/status").read_text()
            kb += int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1))
    return kb / 1024


# ---------------------------------------------------------------- the operators


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.not_modified = 0
        self.recording = False

    def add(self, kind: str, ms: float, error: str | None) -> None:
        with self.lock:
            if not self.recording:
                return
            self.samples[kind].append(ms)
            if error:
                self.errors.append(f"{kind}: {error}")


class Operator(threading.Thread):
    """One signed-in operator: visits pages with think times until told to stop."""

    def __init__(self, n: int, base: str, stats: Stats, stop: threading.Event, poll_s: float) -> None:
        super().__init__(daemon=True, name=f"operator-{n}")
        self.base, self.stats, self.stop, self.poll_s = base, stats, stop, poll_s
        self.rng = random.Random(n)  # noqa: S311  (think times, not secrets)
        self.session = requests.Session()
        self.session.trust_env = False  # loopback: never a proxy
        self.etags: dict[str, str] = {}

    def sign_in(self) -> None:
        page = self.session.get(f"{self.base}/login", timeout=TIMEOUT_S).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        answer = self.session.post(
            f"{self.base}/login",
            data={"username": "bench", "password": PASSWORD, "csrf_token": token},
            timeout=TIMEOUT_S,
            allow_redirects=False,
        )
        if answer.status_code != 302:
            raise RuntimeError(f"sign-in failed: HTTP {answer.status_code}")

    def get(self, kind: str, path: str, fragment: bool = False, **headers: str) -> None:
        if fragment:
            headers["HX-Request"] = "true"
        # As a browser's cache does for a polled fragment (private, no-cache, an ETag): revalidate it.
        etag = self.etags.get(path) if headers.get("X-Console-Poll") else None
        if etag:
            headers["If-None-Match"] = etag
        started = time.perf_counter()
        error = None
        try:
            answer = self.session.get(self.base + path, headers=headers, timeout=TIMEOUT_S, allow_redirects=False)
            if answer.headers.get("ETag"):
                self.etags[path] = answer.headers["ETag"]
            if answer.status_code not in ((200, 304) if etag else (200,)):
                error = f"HTTP {answer.status_code} {path}"
            elif answer.status_code == 304 and self.stats.recording:
                self.stats.not_modified += 1
        except requests.RequestException as exc:
            error = f"{type(exc).__name__} {path}"
        self.stats.add(kind, (time.perf_counter() - started) * 1000, error)

    def think(self, low: float, high: float) -> None:
        self.stop.wait(self.rng.uniform(low, high))

    def run(self) -> None:
        self.stop.wait(self.rng.uniform(0, self.poll_s))  # operators do not arrive in lockstep
        while not self.stop.is_set():
            visit = self.rng.choices(list(VISITS), weights=list(VISITS.values()))[0]
            getattr(self, f"visit_{visit}")()
            self.think(1, 4)

    def visit_overview(self) -> None:
        self.get("overview", "/")
        for _ in range(self.rng.randint(3, 10)):  # the live region polls while the operator looks
            self.think(self.poll_s, self.poll_s)
            if self.stop.is_set():
                return
            self.get("overview_poll", "/", fragment=True, **{"X-Console-Poll": "1"})

    def visit_queue(self) -> None:
        self.get("queue", "/queues/default/queued")
        self.get("charts", "/charts/queue?queue=default", fragment=True)

    def visit_deep(self) -> None:
        self.get("deep", f"/queues/default/queued?page={self.rng.randint(2, PLANTED_QUEUED // 50)}")

    def visit_job(self) -> None:
        n = self.rng.randrange(PLANTED_QUEUED + PLANTED_FAILED)
        self.get("job", f"/jobs/{support.job_id(PREFIX, n)}")

    def visit_failed(self) -> None:
        self.get("failed", "/failed")
        self.get("failed_groups", "/failed/groups", fragment=True)

    def visit_events(self) -> None:
        self.get("events", "/events")
        self.get("events_poll", "/events/poll?wait=0")

    def visit_charts(self) -> None:
        self.get("charts", "/functions")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else 0.0


# ---------------------------------------------------------------- the run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--operators", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=50_000)
    parser.add_argument("--quick", action="store_true", help="10 operators, 5,000 jobs: a fast look")
    options = parser.parse_args()
    if options.quick:
        options.operators, options.jobs = 10, 5_000
    if len(os.sched_getaffinity(0)) < 2:
        print("note: fewer than 2 cores: console and workers share one", flush=True)
    support.handle_signals()
    os.sched_setaffinity(0, {int(CONSOLE_CORE)})  # the operators' HTTP clients share the console's core
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))
    poll_s = float(os.environ.get("POLL_SECONDS", "2"))
    children = support.Children()
    workdir = Path(tempfile.mkdtemp(prefix="rqconsole-bench-load-"))
    began = time.perf_counter()
    try:
        url = support.start_redis(children, workdir)
        pin(children.procs[-1].pid, WORKER_CORE)
        fill(url, PREFIX, PLANTED_QUEUED, PLANTED_FAILED)
        print(f"redis-server at {url}: {PLANTED_QUEUED:,} queued, {PLANTED_FAILED:,} failed planted", flush=True)
        baseline_jobs = max(1000, options.jobs // 5)
        before = worker_run(children, url, baseline_jobs)
        print(f"baseline (no console): {baseline_jobs:,} jobs, {before:,.0f} jobs/s", flush=True)
        if options.jobs / before > LOADED_BUDGET_S:  # a slow or busy machine: stay inside the check's timeout
            options.jobs = int(before * LOADED_BUDGET_S)
            print(f"fewer jobs under load, {options.jobs:,}: the run would pass {LOADED_BUDGET_S} s", flush=True)
        loaded, stats, figures = loaded_run(children, url, workdir, options, poll_s)
        after = worker_run(children, url, baseline_jobs)
        print(f"baseline again: {after:,.0f} jobs/s", flush=True)
    finally:
        children.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    report(stats, figures, loaded, (before + after) / 2)
    print(f"measured in {time.perf_counter() - began:.0f} s", flush=True)
    return 0


def loaded_run(children, url, workdir, options, poll_s):
    proc, base = start_console(children, url, workdir)
    master = proc.pid
    stats, stop = Stats(), threading.Event()
    operators = [Operator(n, base, stats, stop, poll_s) for n in range(options.operators)]
    for operator in operators:
        operator.sign_in()
    for operator in operators:
        operator.start()
    try:
        time.sleep(WARMUP_S)  # every operator past its first pages: imports, templates and pools warm
        rss_start = console_rss_mb(master)
        stats.recording = True
        cpu0, t0, own0 = console_cpu(master), time.perf_counter(), time.process_time()
        loaded = worker_run(children, url, options.jobs)
        cpu1, t1, own1 = console_cpu(master), time.perf_counter(), time.process_time()
        stats.recording = False
        rss_end = console_rss_mb(master)
    finally:
        stop.set()
        for operator in operators:
            operator.join(TIMEOUT_S + 1)
        children.stop(proc)
    print(f"with {options.operators} operators: {options.jobs:,} jobs, {loaded:,.0f} jobs/s", flush=True)
    figures = {"cpu_s": cpu1 - cpu0, "seconds": t1 - t0, "rss": (rss_start, rss_end), "client_cpu_s": own1 - own0}
    return loaded, stats, figures


def report(stats: Stats, figures: dict, loaded: float, baseline: float) -> None:
    print()
    print(f"{'page':<15} {'requests':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    every: list[float] = []
    for kind in sorted(stats.samples):
        values = stats.samples[kind]
        every += values
        print(
            f"{kind:<15} {len(values):>9} {percentile(values, 50):>8.1f} {percentile(values, 95):>8.1f}"
            f" {percentile(values, 99):>8.1f} {max(values):>8.1f}"
        )
    requests_made = max(1, len(every))
    cpu_ms = figures["cpu_s"] * 1000 / requests_made
    slowdown = (1 - loaded / baseline) * 100
    rss_start, rss_end = figures["rss"]
    p50, p95, p99 = (percentile(every, q) for q in (50, 95, 99))
    print(f"{'all':<15} {len(every):>9} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f}")
    seconds = figures["seconds"]
    print(f"requests/s {len(every) / seconds:.1f} over {seconds:.0f} s; errors {len(stats.errors)}")
    print(f"polls answered 304 Not Modified (the operator's copy still current): {stats.not_modified}")
    for error in stats.errors[:10]:
        print(f"  error: {error}")
    print(f"console CPU {cpu_ms:.2f} ms a request ({figures['cpu_s'] / figures['seconds'] * 100:.0f} % of its core)")
    client_ms = figures["client_cpu_s"] * 1000 / requests_made
    print(f"the operators' HTTP clients (on the console's core): {client_ms:.2f} ms CPU a request")
    print(f"console RSS {rss_start:.0f} MB at start, {rss_end:.0f} MB at end")
    print(f"workers {loaded:,.0f} jobs/s under load against {baseline:,.0f} baseline: {slowdown:+.1f} %")
    print(
        f"RESULT p50_ms={p50:.1f} p95_ms={p95:.1f} p99_ms={p99:.1f}"
        f" errors={len(stats.errors)} worker_slowdown_pct={slowdown:.1f} cpu_ms_per_req={cpu_ms:.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
