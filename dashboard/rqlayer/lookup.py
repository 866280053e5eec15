"""Finding a job from the short id prefix the tables show.

Redis has no index of job ids by prefix, and a SCAN over `rq:job:*` walks the whole keyspace (minutes on
a large Redis). The ids an operator copies come from what the console showed: the newest and oldest jobs
of each queue and the newest of each registry. So the search reads exactly those windows, bounded in
total, and says how many ids it looked at when nothing matches.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from dashboard.rqlayer import keys
from dashboard.rqlayer.decode import text
from dashboard.rqlayer.jobs import list_queue_names
from dashboard.rqlayer.vocabulary import REGISTRY_STATES, job_id_of_execution, valid_job_id

MIN_PREFIX = 4
MAX_IDS_READ = 50_000  # about 5 ms of Redis time, in one pipelined round trip
WINDOW_PER_KEY = 1_000
MAX_MATCHES = 20


@dataclass(frozen=True)
class PrefixSearch:
    prefix: str
    matches: list[str]  # distinct full ids, in the order found (newest windows first)
    searched: int  # ids looked at
    window: int  # ids read from each end of a queue / the newest of each registry

    @property
    def unique(self) -> str | None:
        return self.matches[0] if len(self.matches) == 1 else None


def is_prefix_candidate(prefix: str) -> bool:
    return len(prefix) >= MIN_PREFIX and valid_job_id(prefix)


def find_by_prefix(connection: redis.Redis, prefix: str) -> PrefixSearch:
    """Job ids starting with `prefix` among the ids pages show: both ends of every queue and the newest
    of every registry. Cost: one SMEMBERS, then one pipelined round trip reading at most MAX_IDS_READ ids
    (the window per key shrinks as queues multiply). Guarantee: never a SCAN or KEYS; a job deep inside a
    long registry is not found (the caller says so)."""
    queues = list_queue_names(connection)
    sources = len(queues) * (2 + len(REGISTRY_STATES))
    window = max(10, min(WINDOW_PER_KEY, MAX_IDS_READ // max(1, sources)))
    pipe = connection.pipeline(transaction=False)
    started = []
    for queue in queues:
        pipe.lrange(keys.queue(queue), 0, window - 1)
        pipe.lrange(keys.queue(queue), -window, -1)
        started += [False, False]
        for state in REGISTRY_STATES:
            pipe.zrevrange(keys.registry(state, queue), 0, window - 1)
            started.append(state == "started")
    matches: dict[str, None] = {}
    searched = 0
    for reply, is_started in zip(pipe.execute(raise_on_error=False), started, strict=True):
        if not isinstance(reply, list):  # a key of the wrong type: skip it, search the rest
            continue
        searched += len(reply)
        for member in reply:
            job_id = text(member)
            if is_started:
                job_id = job_id_of_execution(job_id)
            if job_id.startswith(prefix):
                matches[job_id] = None
    return PrefixSearch(prefix, list(matches)[:MAX_MATCHES], searched, window)
