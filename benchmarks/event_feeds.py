"""Event feeds: do 50 open long-polling feeds starve ordinary pages?

    python benchmarks/event_feeds.py [--feeds 50] [--requests 300]

Starts a private redis-server, the console under gunicorn exactly as the Procfile's `web:` line says
(worker class, processes, threads), and a ConsoleWorker that runs trivial jobs meanwhile
(--jobs-per-second, default 10: 20 events a second for every feed). Signs in over HTTP and times
ordinary pages (the overview and a queue page) from 4 client threads, without feeds (baseline) and
while `--feeds` clients long-poll GET /api/v1/events (wait=25, an API token; a `busy` answer waits
2 s, as the page's script does; they run in a process of their own), in alternating rounds so a
shared machine's load falls on both alike. Errors: any answer other than 200 (pages and feeds), or
a failed request. Prints figures; asserts no timing.
Last line: RESULT feeds=<n> baseline_p99_ms=<a> with_feeds_p99_ms=<b> errors=<n>
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis  # noqa: E402
import requests  # noqa: E402
from support import Children, free_port, handle_signals, start_redis  # noqa: E402

PASSWORD = "bench-password-0123"
PAGES = ("/", "/queues/default/finished")
CLIENTS = 4
ROUNDS = 3


def procfile_web() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.partition(":")[2].strip()
    raise RuntimeError("the Procfile has no web: line")


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=5)
            return
        except (requests.ConnectionError, requests.Timeout):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def signed_in(base: str) -> requests.Session:
    session = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', session.get(f"{base}/login").text).group(1)
    answer = session.post(f"{base}/login", data={"csrf_token": token, "username": "bench", "password": PASSWORD})
    assert answer.ok and "whoami" in answer.text, f"not signed in: {answer.status_code} {answer.text[:300]}"
    return session


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.errors = 0
        self.polls = 0
        self.events = 0
        self.busy = 0

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


def time_pages(base: str, sessions: list[requests.Session], requests_total: int, errors: Counter) -> list[float]:
    """Latencies (ms) of `requests_total` page loads from CLIENTS threads, each with its own session."""

    def one(n: int) -> float:
        session = sessions[n % CLIENTS]
        started = time.perf_counter()
        try:
            answer = session.get(base + PAGES[n % len(PAGES)], timeout=30)
            if answer.status_code != 200:
                errors.add(errors=1)
        except requests.RequestException:
            errors.add(errors=1)
        return (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(one, range(requests_total)))


def feed(base: str, secret: str, stop: threading.Event, open_: threading.Event, counts: Counter) -> None:
    """One feed client: long-polls while `open_` is set (a closed feed sends nothing new)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {secret}"
    cursor = ""
    while not stop.is_set():
        if not open_.wait(0.5):
            cursor = ""
            continue
        query = f"?wait=25&after={cursor}" if cursor else "?wait=25"
        try:
            answer = session.get(f"{base}/api/v1/events{query}", timeout=40)
        except requests.RequestException:
            counts.add(errors=1)
            time.sleep(1)
            continue
        if answer.status_code != 200:
            counts.add(errors=1)
            time.sleep(1)
            continue
        body = answer.json()
        cursor = body["cursor"]
        counts.add(polls=1, events=len(body["events"]), busy=int(body["busy"]))
        if body["busy"]:
            stop.wait(2)


def run_feeds(base: str, secret: str, n: int, open_, closing, results) -> None:
    """The feed clients (threads of this child process) until `closing`; their counts go to `results`."""
    counts, stop = Counter(), threading.Event()
    threads = [threading.Thread(target=feed, args=(base, secret, stop, open_, counts), daemon=True) for _ in range(n)]
    for thread in threads:
        thread.start()
    closing.wait()
    stop.set()
    results.put({name: getattr(counts, name) for name in ("errors", "polls", "events", "busy")})


def enqueue_meanwhile(redis_url: str, stop: threading.Event, every: float) -> None:
    from rq import Queue

    queue = Queue("default", connection=redis.Redis.from_url(redis_url))
    while not stop.is_set():
        queue.enqueue("tests.jobfuncs.add", 1, 2, result_ttl=60)
        stop.wait(every)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def describe(name: str, values: list[float]) -> str:
    return (
        f"{name}: {len(values)} pages, p50 {statistics.median(values):.1f} ms, p99 {percentile(values, 0.99):.1f} ms, "
        f"max {max(values):.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--jobs-per-second", type=float, default=10.0, help="the worker's load meanwhile")
    args = parser.parse_args()
    handle_signals()

    children = Children()
    stop = threading.Event()
    workdir = Path(tempfile.mkdtemp(prefix="feeds-bench-"))
    try:
        redis_url = start_redis(children, workdir)
        from tests.helpers import build_app, make_env

        env = make_env(redis_url, f"sqlite:///{workdir}/console.db", workdir)
        app = build_app(env)
        with app.app_context():
            from dashboard import accounts

            accounts.create_user("bench", PASSWORD, "viewer", actor="bench")
            _, secret = accounts.create_token("bench-feeds", "viewer", actor="bench")
        port = free_port()
        bin_dir = str(Path(sys.executable).parent)
        run_env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOST": "127.0.0.1", "PORT": str(port), **env}
        web = procfile_web()
        print(f"console: {web}")
        children.start(
            ["sh", "-c", f"exec {web}"],
            cwd=ROOT,
            env=run_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        worker = [
            f"{bin_dir}/rq",
            "worker",
            "-w",
            "dashboard.rqlayer.telemetry.worker.ConsoleWorker",
            "default",
            "--url",
            redis_url,
        ]
        children.start(worker, cwd=ROOT, env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz")
        every = 1 / args.jobs_per_second
        threading.Thread(target=enqueue_meanwhile, args=(redis_url, stop, every), daemon=True).start()

        errors = Counter()
        spawn = multiprocessing.get_context("spawn")
        # The feeds run in a process of their own: in this one they would compete with the page timings
        # for its interpreter lock and inflate them.
        open_, closing, results = spawn.Event(), spawn.Event(), spawn.Queue()
        feeder = spawn.Process(target=run_feeds, args=(base, secret, args.feeds, open_, closing, results), daemon=True)
        feeder.start()
        sessions = [signed_in(base) for _ in range(CLIENTS)]
        time_pages(base, sessions, 40, errors)  # warm both processes up
        # Alternating rounds, so a shared machine's changing load falls on both sides alike.
        baseline: list[float] = []
        with_feeds: list[float] = []
        per_round = max(1, args.requests // ROUNDS)
        feeding = 0.0
        for _ in range(ROUNDS):
            open_.clear()
            time.sleep(1)  # open polls answer within LINGER while events flow, then the feeds stay quiet
            baseline += time_pages(base, sessions, per_round, errors)
            open_.set()
            time.sleep(2)  # every feed has asked and is waiting (or was told busy)
            started = time.monotonic()
            with_feeds += time_pages(base, sessions, per_round, errors)
            feeding += time.monotonic() - started
        open_.clear()
        closing.set()
        counts = SimpleNamespace(**results.get(timeout=60))
        feeder.join(30)
        print(describe("baseline (no feeds)", baseline))
        print(describe(f"with {args.feeds} open feeds", with_feeds))
        print(
            f"feeds: {counts.polls} answers ({counts.polls / max(feeding, 0.001):.0f}/s while open), "
            f"{counts.events} events delivered, {counts.busy} busy answers (beyond the per-process cap of "
            f"waiting requests), {counts.errors} errors"
        )
        total_errors = errors.errors + counts.errors
        print(
            f"RESULT feeds={args.feeds} baseline_p99_ms={percentile(baseline, 0.99):.1f} "
            f"with_feeds_p99_ms={percentile(with_feeds, 0.99):.1f} errors={total_errors}"
        )
        return 0
    finally:
        stop.set()
        children.stop_all()


if __name__ == "__main__":
    sys.exit(main())
