"""The console's actions against RQ's own: twin jobs, one moved by RQ's API (the oracle), the other by
the console; the Redis state they end in must match, and a stock `rq worker` must then run both."""

from __future__ import annotations

from datetime import timedelta

from rq import Queue, SimpleWorker
from rq.job import Dependency, Job, Retry
from rq.rate_limit import RateLimit
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from rq.scheduler import RQScheduler

from dashboard.rqlayer import actions, keys
from tests.helpers import run_burst_worker

FLAKY = "tests.test_rq_semantics.flaky"
FLAKY_OK = "test:flaky-ok"


def flaky():
    """Fails until the test lets it succeed, so a failed job can be retried into a success."""
    from rq import get_current_job

    job = get_current_job()
    if not job.connection.exists(FLAKY_OK):
        raise RuntimeError("not yet")
    job.connection.hincrby("test:runs", job.id, 1)
    return "ok"


def twins(queue: Queue, func: str = FLAKY, **options) -> tuple[str, str]:
    return tuple(queue.enqueue(func, **options).id for _ in range(2))


def side(conn, job_id: str, filler: str, queue: str = "default") -> str:
    """Where the job sits in its queue relative to a job that was queued before the action."""
    ids = [i.decode() for i in conn.lrange(keys.queue(queue), 0, -1)]
    assert job_id in ids, f"{job_id} is not queued: {conn.hget(keys.job(job_id), 'status')}"
    return "front" if ids.index(job_id) < ids.index(filler) else "back"


def fields(conn, job_id: str, *names: str) -> dict[str, str | None]:
    values = conn.hmget(keys.job(job_id), *names)
    return {n: (v.decode() if v is not None else None) for n, v in zip(names, values, strict=True)}


def ttl_kind(conn, job_id: str) -> str:
    """'none' (no expiry) or the expiry rounded to tens of seconds."""
    ttl = conn.ttl(keys.job(job_id))
    return "none" if ttl == -1 else f"~{round(ttl, -1)}"


def run_all_and_check(conn, redis_url: str, *job_ids: str, queue: str = "default") -> None:
    conn.set(FLAKY_OK, 1)
    run_burst_worker(redis_url, (queue,))
    statuses = {i: conn.hget(keys.job(i), "status") for i in job_ids}
    assert statuses == dict.fromkeys(job_ids, b"finished")


def fail_both(conn, queue: Queue, *job_ids: str) -> None:
    SimpleWorker([queue], connection=conn).work(burst=True)
    assert [conn.hget(keys.job(i), "status") for i in job_ids] == [b"failed"] * len(job_ids)


# ---------------------------------------------------------------- 1. ttl re-applied on requeue


def test_retry_reapplies_the_ttl_like_rqs_requeue(conn, redis_url):
    queue = Queue("default", connection=conn)
    rq_twin, console_twin = twins(queue, ttl=900)
    fail_both(conn, queue, rq_twin, console_twin)
    assert ttl_kind(conn, rq_twin).startswith("~3153"), "failed: RQ's failure TTL (a year)"

    FailedJobRegistry("default", connection=conn).requeue(rq_twin)
    assert actions.retry(conn, [console_twin]).outcomes == {console_twin: "ok"}

    assert ttl_kind(conn, rq_twin) == ttl_kind(conn, console_twin) == "~900"
    assert conn.ttl(keys.job_dependents(console_twin)) == conn.ttl(keys.job_dependents(rq_twin))
    assert fields(conn, console_twin, "status") == fields(conn, rq_twin, "status") == {"status": "queued"}
    run_all_and_check(conn, redis_url, rq_twin, console_twin)


def test_run_again_reapplies_the_ttl_like_rqs_requeue_of_a_finished_job(conn, redis_url):
    queue = Queue("default", connection=conn)
    conn.set(FLAKY_OK, 1)
    rq_twin, console_twin = twins(queue, ttl=700)
    SimpleWorker([queue], connection=conn).work(burst=True)
    assert ttl_kind(conn, console_twin) == "~500", "finished: the result TTL"

    FinishedJobRegistry("default", connection=conn).requeue(rq_twin)
    assert actions.retry(conn, [console_twin], expected=("finished",)).outcomes == {console_twin: "ok"}

    assert ttl_kind(conn, rq_twin) == ttl_kind(conn, console_twin) == "~700"
    run_all_and_check(conn, redis_url, rq_twin, console_twin)


def test_retry_without_a_ttl_never_expires_the_waiting_job(conn):
    """Deliberately not RQ's: RQ leaves the failure TTL on a requeued job without ttl (a year; for a
    re-run finished job only the result TTL, minutes). The console removes it: a waiting job stays."""
    queue = Queue("default", connection=conn)
    job_id = queue.enqueue(FLAKY).id
    fail_both(conn, queue, job_id)
    assert actions.retry(conn, [job_id]).outcomes == {job_id: "ok"}
    assert ttl_kind(conn, job_id) == "none"


# ---------------------------------------------------------------- 2. run now honours at_front


def _rq_scheduler_enqueues(conn, job_id: str, queue: str = "default") -> None:
    """RQ's own scheduler, made to find this job due now (the other twin stays in the future)."""
    conn.zadd(keys.registry("scheduled", queue), {job_id: 1})
    scheduler = RQScheduler([queue], connection=conn)
    scheduler.acquire_locks()
    scheduler.enqueue_scheduled_jobs()
    scheduler.release_locks()


def test_run_now_of_a_job_scheduled_at_front_goes_to_the_front_like_rqs_scheduler(conn, redis_url):
    queue = Queue("default", connection=conn)
    conn.set(FLAKY_OK, 1)
    rq_twin, console_twin = (queue.enqueue_in(timedelta(hours=1), FLAKY, at_front=True, ttl=800).id for _ in range(2))
    filler = queue.enqueue(FLAKY).id

    _rq_scheduler_enqueues(conn, rq_twin)
    assert conn.zscore(keys.registry("scheduled", "default"), console_twin) is not None
    assert actions.run_now(conn, [console_twin]).outcomes == {console_twin: "ok"}

    assert side(conn, rq_twin, filler) == side(conn, console_twin, filler) == "front"
    assert ttl_kind(conn, rq_twin) == ttl_kind(conn, console_twin) == "~800"
    run_all_and_check(conn, redis_url, rq_twin, console_twin, filler)


def test_run_now_of_a_retry_with_enqueue_at_front_goes_to_the_front_like_rqs_scheduler(conn, redis_url):
    queue = Queue("default", connection=conn)
    rq_twin, console_twin = twins(queue, retry=Retry(max=2, interval=600, enqueue_at_front=True))
    SimpleWorker([queue], connection=conn).work(burst=True)
    assert [conn.hget(keys.job(i), "status") for i in (rq_twin, console_twin)] == [b"scheduled"] * 2
    filler = queue.enqueue(FLAKY).id

    _rq_scheduler_enqueues(conn, rq_twin)
    assert actions.run_now(conn, [console_twin]).outcomes == {console_twin: "ok"}

    assert side(conn, rq_twin, filler) == side(conn, console_twin, filler) == "front"
    run_all_and_check(conn, redis_url, rq_twin, console_twin, filler)


def test_run_now_of_a_plain_scheduled_job_stays_at_the_back(conn):
    queue = Queue("default", connection=conn)
    rq_twin, console_twin = (queue.enqueue_in(timedelta(hours=1), FLAKY).id for _ in range(2))
    filler = queue.enqueue(FLAKY).id
    _rq_scheduler_enqueues(conn, rq_twin)
    actions.run_now(conn, [console_twin])
    assert side(conn, rq_twin, filler) == side(conn, console_twin, filler) == "back"


# ---------------------------------------------------------------- 3. deferred, Dependency(enqueue_at_front)


def test_run_now_of_a_deferred_job_with_dependency_at_front_goes_to_the_front(conn, redis_url):
    queue = Queue("default", connection=conn)
    conn.set(FLAKY_OK, 1)
    filler = queue.enqueue(FLAKY).id
    # Each twin has its own parent on its own queue: running one parent releases only the RQ twin.
    rq_parent = Queue("parents", connection=conn).enqueue(FLAKY)
    console_parent = Queue("held", connection=conn).enqueue(FLAKY)
    rq_twin = queue.enqueue(FLAKY, depends_on=Dependency(jobs=[rq_parent], enqueue_at_front=True)).id
    console_twin = queue.enqueue(FLAKY, depends_on=Dependency(jobs=[console_parent], enqueue_at_front=True)).id
    assert [conn.hget(keys.job(i), "status") for i in (rq_twin, console_twin)] == [b"deferred"] * 2

    SimpleWorker([Queue("parents", connection=conn)], connection=conn).work(burst=True)  # RQ releases its twin
    assert actions.run_now(conn, [console_twin]).outcomes == {console_twin: "ok"}

    assert side(conn, rq_twin, filler) == side(conn, console_twin, filler) == "front"
    run_all_and_check(conn, redis_url, rq_twin, console_twin, filler)
    assert conn.hget("test:runs", console_twin) == b"1", "and it does not run again when its parent finishes"


# ---------------------------------------------------------------- 4. limited retries write enqueue_at_front


def test_a_limited_job_retried_at_the_back_loses_its_old_front_flag_like_rqs_requeue(conn, redis_url):
    queue = Queue("default", connection=conn)
    limit = RateLimit("smtp", 1)
    # Enqueued at the front through the limit: RQ saves enqueue_at_front=1 on both.
    rq_twin, console_twin = twins(queue, rate_limit=limit, at_front=True)
    fail_both(conn, queue, rq_twin, console_twin)
    assert fields(conn, console_twin, "enqueue_at_front") == {"enqueue_at_front": "1"}
    holder = queue.enqueue(FLAKY, rate_limit=limit).id  # takes the only slot
    assert conn.hget(keys.job(holder), "status") == b"queued"

    Job.fetch(rq_twin, connection=conn).requeue(at_front=False)
    assert actions.retry(conn, [console_twin]).outcomes == {console_twin: "ok:rate_limited"}

    names = ("status", "enqueue_at_front")
    assert (
        fields(conn, rq_twin, *names)
        == fields(conn, console_twin, *names)
        == {"status": "rate_limited", "enqueue_at_front": "0"}
    )
    run_all_and_check(conn, redis_url, holder, rq_twin, console_twin)
    assert conn.zcard(keys.rate_limited("smtp")) == 0 and conn.zcard(keys.rate_limit_allowed("smtp")) == 0


def test_a_limited_job_retried_at_the_front_is_promoted_to_the_front(conn):
    queue = Queue("default", connection=conn)
    limit = RateLimit("smtp", 1)
    rq_twin, console_twin = twins(queue, rate_limit=limit)
    fail_both(conn, queue, rq_twin, console_twin)
    filler = queue.enqueue(FLAKY).id
    holder = queue.enqueue(FLAKY, rate_limit=limit).id

    Job.fetch(rq_twin, connection=conn).requeue(at_front=True)
    actions.retry(conn, [console_twin], at_front=True)
    assert (
        fields(conn, rq_twin, "enqueue_at_front")
        == fields(conn, console_twin, "enqueue_at_front")
        == {"enqueue_at_front": "1"}
    )
    # The slot frees twice: each twin is promoted in turn, both to the front.
    for _ in range(2):
        holder_now = next(
            i for i in (holder, rq_twin, console_twin) if conn.zscore(keys.rate_limit_allowed("smtp"), i) is not None
        )
        assert actions.cancel(conn, [holder_now]).outcomes == {holder_now: "ok"}
        promoted = next(i for i in (rq_twin, console_twin) if conn.hget(keys.job(i), "status") == b"queued")
        assert side(conn, promoted, filler) == "front"
