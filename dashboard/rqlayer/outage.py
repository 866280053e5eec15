"""Riding out a Redis outage inside long background work (bulk operations): wait for Redis to answer
again, then resume, and remember what the outage left uncertain so the operation can say so.

Flask-free. Pages never wait here: they answer 503 at once (dashboard/errors.py); only work that runs
on after its request (the background pool) waits, bounded by `limit` seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from dashboard.rqlayer.connection import UNREACHABLE_ERRORS, ping

# How long background work waits for Redis to come back before it gives up (a restart or a failover
# takes seconds). Below bulk.STALE_AFTER (30 s): a record not advanced for that long reads as
# interrupted, and work its page already called interrupted must not resume behind the operator's back.
RESUME_WITHIN_SECONDS = 25.0
POLL_SECONDS = 0.25


@dataclass
class OutageLog:
    """The outages one operation rode out: how many, how long, and how many jobs were in a chunk whose
    script may or may not have run when Redis went away (its reply never came)."""

    limit: float = RESUME_WITHIN_SECONDS
    outages: int = 0
    seconds: float = 0.0
    uncertain: int = 0

    def wait(self, connection: redis.Redis, in_flight: int = 0) -> bool:
        """Block until Redis answers a PING again (True) or `limit` seconds pass (False). `in_flight`:
        jobs of a chunk sent when the error came. Cost: one PING per POLL_SECONDS while down."""
        self.outages += 1
        self.uncertain += in_flight
        started = time.monotonic()
        while not ping(connection):
            if time.monotonic() - started > self.limit:
                self.seconds += time.monotonic() - started
                return False
            time.sleep(POLL_SECONDS)
        self.seconds += time.monotonic() - started
        return True

    def count_left_alone(self, connection: redis.Redis, record: str) -> None:
        """Count as left alone (skipped) the jobs of an in-flight chunk that its script did before Redis went
        away: the walk that resumed never sees them again, so the operation's `record` (a bulk operation's
        hash) would say fewer jobs than there were. Bounded by the chunks in flight and by what the record
        has not counted. Cost: one HMGET, and one pipeline when there is something to count."""
        if not self.uncertain:
            return
        total, processed = (int(value or 0) for value in connection.hmget(record, "total", "processed"))
        unseen = min(self.uncertain, max(0, total - processed))
        if unseen:
            pipe = connection.pipeline(transaction=False)
            pipe.hincrby(record, "processed", unseen)
            pipe.hincrby(record, "skipped", unseen)
            pipe.execute()

    def summary(self, verb: str) -> str:
        """What the operation's record says about its outages ('' when there was none)."""
        if not self.outages:
            return ""
        said = f"Redis was unreachable {self.outages}× ({self.seconds:.0f} s in all); the operation resumed."
        if self.uncertain:
            said += (
                f" A chunk of {self.uncertain:,} jobs was being {verb} when Redis went away: those it had"
                " already done are counted as left alone, none was done twice."
            )
        return said


__all__ = ["UNREACHABLE_ERRORS", "OutageLog"]
