"""Waiting for one job to end: the long poll of GET /api/v1/jobs/<id>?wait=<seconds>.

How it waits, without busy-waiting a request thread: it holds one of the event feed's waiting slots
(feed.WAITERS per process, shared with the /events long polls) and blocks on the event stream (XREAD
BLOCK on the feed's own small pool), so the worker extension's end event (written in RQ's own
end-of-job transaction, after the status) wakes it at once. Jobs run by stock RQ workers write no
events: the job's status is also re-read every FALLBACK seconds, so they are seen within that too.
On a busy stream it reads at most one batch per PACE seconds and re-reads the status when an entry
names the job, or when the batch was full (it then skips to the newest entry).

When every waiting slot of the process is taken, it answers at once with the job as it is (`busy`):
the caller retries after a second (the API says so with Retry-After). Nothing here writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from dashboard.rqlayer import keys
from dashboard.rqlayer.decode import text
from dashboard.rqlayer.feed import BadRequest, EventFeed
from dashboard.rqlayer.rows import wrong_type

MAX_WAIT = 60  # seconds a job long-poll may wait
FALLBACK = 0.5  # seconds between re-reads of the status when no event names the job (stock workers)
PACE = 0.2  # seconds at least between two reads of a stream that keeps waking the wait
BATCH = 500  # stream entries one wake-up reads at most
ENDED = frozenset({"finished", "failed", "stopped", "canceled"})


@dataclass(frozen=True)
class Waited:
    """How a wait ended. `status`: the job's status at the end (None: the job is gone).
    `busy`: no waiting slot was free, so it answered at once."""

    status: str | None
    waited_seconds: float
    busy: bool = False

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def timed_out(self) -> bool:
        return not self.busy and self.status is not None and not self.ended


def parse_wait(raw: str | None) -> float | None:
    """`wait` as seconds (None when absent or empty), 0..MAX_WAIT; BadRequest with a message otherwise."""
    if raw in (None, ""):
        return None
    message = f"wait must be a number of seconds, 0 to {MAX_WAIT}"
    try:
        seconds = float(raw)
    except ValueError:
        raise BadRequest(message) from None
    if not 0 <= seconds <= MAX_WAIT:  # also refuses nan and inf
        raise BadRequest(message)
    return seconds


def job_status(connection: redis.Redis, job_id: str) -> str | None:
    """The job's status field ("" when it has none; None when the job is gone). One HGET; a key of
    another type reads as a job without a status (it never ends, the wait times out)."""
    pipe = connection.pipeline(transaction=False)
    pipe.hget(keys.job(job_id), "status")
    reply = pipe.execute(raise_on_error=False)[0]
    if wrong_type(reply):
        return ""
    return None if reply is None else text(reply)


def wait_for_job(connection: redis.Redis, feed: EventFeed, job_id: str, seconds: float) -> Waited:
    """Wait up to `seconds` for the job to be finished, failed, stopped or canceled (or to vanish).
    Cost: one HGET at the start, then per wake-up one XREAD (at most BATCH entries) and, when it may
    have ended, one HGET: at most 1/PACE reads a second, 1/FALLBACK status reads on a quiet stream.
    Returns within about PACE of the end event, FALLBACK of the status write without one."""
    started = time.monotonic()
    deadline = started + seconds
    status = job_status(connection, job_id)
    if status is None or status in ENDED or seconds <= 0:
        return Waited(status, 0.0)
    with feed.waiting_slot() as slot:
        if not slot:
            return Waited(status, 0.0, busy=True)
        cursor = feed.latest()
        status = job_status(connection, job_id)  # after the cursor: an end between the two is not missed
        read_at = time.monotonic()
        while status is not None and status not in ENDED:
            now = time.monotonic()
            if now >= deadline:
                break
            entries = feed.block(cursor, min(deadline - now, FALLBACK), count=BATCH)
            full = len(entries) >= BATCH
            # A full batch: more are behind it; skip to the newest (the status read below is the truth).
            cursor = feed.latest() if full else (text(entries[-1][0]) if entries else cursor)
            names_it = full or any(text(f.get(b"job_id")) == job_id for _, f in entries)
            if names_it or time.monotonic() - read_at >= FALLBACK:
                status = job_status(connection, job_id)
                read_at = time.monotonic()
            elif entries:  # other jobs' events: let the stream gather a batch before the next read
                time.sleep(max(0.0, min(PACE, deadline - time.monotonic())))
    return Waited(status, round(time.monotonic() - started, 3))
