"""The collector killed mid-batch (SIGKILL while its batch is read but not acknowledged), several times,
then restarted: every execution the workers ran is in SQL exactly once. The last restart runs under
another consumer name, so it must take over the dead consumer's pending entries (XAUTOCLAIM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import sqlalchemy as sa
from rq import Queue

from dashboard.core_tables import create_all
from dashboard.history.models import job_outcomes
from dashboard.rqlayer import keys
from dashboard.rqlayer.telemetry.consumer import GROUP, ensure_group
from tests import jobfuncs
from tests.helpers import PROJECT_ROOT, make_env, wait_until

JOBS = 80
SIMPLE_WORKER = "dashboard.rqlayer.telemetry.worker.ConsoleSimpleWorker"
KILLS = 2


def start_collector(env: dict, consumer: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "dashboard.history", "run", "--batch", "5", "--block-ms", "200"]
    command += ["--consumer", consumer, "--claim-idle-ms", "1000"]
    return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def pending(conn, consumer: str | None = None) -> int:
    summary = conn.xpending(keys.events(), GROUP)
    if consumer is None:
        return summary["pending"]
    return sum(c["pending"] for c in summary["consumers"] if c["name"] == consumer.encode())


def written(engine) -> int:
    with engine.connect() as sql:
        return sql.scalar(sa.select(sa.func.count()).select_from(job_outcomes))


def test_sigkill_mid_batch_loses_and_doubles_nothing(conn, redis_url, database_url, tmp_path):
    engine = sa.create_engine(database_url)
    create_all(engine)  # every Core table: the periodic tasks touch them all
    q = Queue("default", connection=conn)
    jobs = [q.enqueue(jobfuncs.add, n, 1) if n % 10 else q.enqueue(jobfuncs.fail, f"item {n}") for n in range(JOBS)]
    env = dict(os.environ, **make_env(redis_url, database_url, tmp_path))
    # The worker runs while the collector is killed and restarted: events arrive as they would in production.
    worker = subprocess.Popen(
        [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", redis_url, "-w", SIMPLE_WORKER, "default"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    ensure_group(conn)
    kills = []
    while len(kills) < KILLS:
        proc = start_collector(env, "crash-1")
        before = written(engine)
        try:
            # Frozen (SIGSTOP) at a moment when it holds entries it read and did not acknowledge, after some
            # progress: then SIGKILL. A freeze between batches is let go (SIGCONT) and tried again.
            while True:
                wait_until(
                    lambda b=before: pending(conn, "crash-1") and written(engine) > b, timeout=20, interval=0.001
                )
                proc.send_signal(signal.SIGSTOP)
                if pending(conn, "crash-1"):
                    break
                proc.send_signal(signal.SIGCONT)
            held = pending(conn, "crash-1")  # no SQL read while it is frozen: it may hold SQLite's lock
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        kills.append((held, written(engine)))
        assert pending(conn, "crash-1") == held > 0, "killed with its batch in hand"
    assert kills[-1][1] < JOBS, "the kills happened before the stream was drained"

    assert worker.wait(60) == 0
    proc = start_collector(env, "crash-2")
    try:
        wait_until(lambda: written(engine) == JOBS and pending(conn) == 0, timeout=30, message="everything written")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, proc.stdout.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    with engine.connect() as sql:
        counts = sql.execute(
            sa.select(job_outcomes.c.job_id, job_outcomes.c.attempt, sa.func.count()).group_by(
                job_outcomes.c.job_id, job_outcomes.c.attempt
            )
        ).all()
        statuses = dict(sql.execute(sa.select(job_outcomes.c.job_id, job_outcomes.c.status)).all())
    assert all(n == 1 for _, _, n in counts)
    assert {job_id for job_id, _, _ in counts} == {job.id for job in jobs}
    assert sum(1 for s in statuses.values() if s == "failed") == JOBS // 10
    engine.dispose()
