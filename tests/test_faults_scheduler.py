"""The rq-scheduler process killed and restarted: no schedule fires twice or is lost.

The Procfile runs dashboard.rqlayer.schedules.atomic (rq-scheduler whose enqueue-and-reschedule is one
transaction). One test kills a real scheduler process exactly around that step (before and after its
transaction reaches Redis) and counts the runs enqueued; one kills the Procfile's scheduler at an
arbitrary moment and restarts it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.rqlayer import keys
from tests.consoles import procfile_line
from tests.helpers import PROJECT_ROOT, wait_until

SCHEDULE_KEY = "rq:scheduler:scheduled_jobs"
LOCK_KEY = "rq:scheduler_lock"

# One scheduler pass in a subprocess that dies (os._exit, no clean-up: as SIGKILL) right before or right
# after the transaction that enqueues a due run and reschedules it reaches Redis.
DYING_PASS = """
import os, sys
import redis
from redis.client import Pipeline
from dashboard.rqlayer.schedules.atomic import AtomicScheduler

url, when = sys.argv[1], sys.argv[2]
real_execute = Pipeline.execute

def execute(self, *args, **kwargs):
    rescheduling = any(command[0] == "ZREM" for command, _ in self.command_stack)
    if rescheduling and when == "before":
        os._exit(9)
    result = real_execute(self, *args, **kwargs)
    if rescheduling and when == "after":
        os._exit(9)
    return result

Pipeline.execute = execute
AtomicScheduler(connection=redis.Redis.from_url(url), interval=1).run(burst=True)
"""


def _schedule(conn, interval: int, repeat: int | None = None) -> str:
    from rq_scheduler import Scheduler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # rq_scheduler's own deprecation notices
        job = Scheduler(connection=conn).schedule(
            scheduled_time=datetime.now(UTC) - timedelta(seconds=1),
            func="tests.jobfuncs.record_run",
            interval=interval,
            repeat=repeat,
        )
    return job.id


def _runs(conn) -> int:
    """Runs enqueued so far: each run of a repeating schedule pushes the same job id again."""
    return conn.llen(keys.queue("default"))


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_scheduler_killed_around_a_run_fires_it_once_and_keeps_the_schedule(conn, redis_url, when):
    job_id = _schedule(conn, interval=3600)
    dying = subprocess.run(
        [sys.executable, "-c", DYING_PASS, redis_url, when], cwd=PROJECT_ROOT, capture_output=True, timeout=30
    )
    assert dying.returncode == 9, dying.stderr.decode()[-2000:]
    assert _runs(conn) == (1 if when == "after" else 0)
    # It died holding rq-scheduler's lock; the lock's TTL (interval + 10 s) lapsing, here at once.
    assert conn.delete(LOCK_KEY) == 1

    from dashboard.rqlayer.schedules.atomic import AtomicScheduler

    AtomicScheduler(connection=conn, interval=1).run(burst=True)  # the restarted scheduler's pass
    assert _runs(conn) == 1, "the run fired twice, or never"
    next_run = conn.zscore(SCHEDULE_KEY, job_id)
    assert next_run is not None and next_run > time.time() + 3000, "the schedule was lost"


def test_the_procfile_scheduler_killed_and_restarted_loses_and_doubles_nothing(conn, redis_url):
    line = procfile_line("scheduler")
    assert line.startswith("python -m dashboard.rqlayer.schedules.atomic "), line
    job_id = _schedule(conn, interval=1)
    command = ["sh", "-c", f"exec {line.replace('--interval 5', '--interval 0.2')}"]
    bin_dir = str(os.path.dirname(sys.executable))
    env = dict(os.environ, REDIS_URL=redis_url, PATH=f"{bin_dir}:{os.environ.get('PATH', '')}")

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    scheduler = start()
    try:
        wait_until(lambda: _runs(conn) >= 2, timeout=15, message="two runs enqueued")
        scheduler.send_signal(signal.SIGKILL)
        scheduler.wait(5)
        killed_at, fired = time.time(), _runs(conn)
        conn.delete(LOCK_KEY)  # held only within a pass; if the kill landed there, its TTL lapsing
        scheduler = start()
        wait_until(lambda: _runs(conn) >= fired + 2, timeout=15, message="runs again after the restart")
    finally:
        scheduler.send_signal(signal.SIGKILL)
        scheduler.wait(5)
    # At most one run per interval (1 s) since the first, plus the one the gap collapses into.
    elapsed = time.time() - killed_at
    assert _runs(conn) - fired <= int(elapsed) + 2
    assert conn.zscore(SCHEDULE_KEY, job_id) is not None
