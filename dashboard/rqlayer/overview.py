"""The overview read model: every queue's counts per state, workers, suspension, Redis health.

A key of the wrong type (planted or corrupted) never fails the read: pipelines answer per item, the
item reads as empty or "broken", and `Overview.broken_keys` names the top-level ones.

Cost per call, whatever the number of jobs: three pipelined round trips — (1) the sets of queues,
workers and limit keys plus server info, (2) LLEN/ZCARD for every queue and state, worker hashes and
executions (a read-only Lua script, lua/overview_counts.lua, 200 names a call), (3) the enqueue time of
each queue's oldest job. Nothing here is O(jobs), and nothing
triggers RQ's cleanup-on-read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis
import rq
from rq.defaults import DEFAULT_JOB_MONITORING_INTERVAL, DEFAULT_WORKER_TTL

from dashboard.rqlayer import keys, scripts
from dashboard.rqlayer.decode import csv_names, integer, number, text, timestamp
from dashboard.rqlayer.flow.model import FlowBook, parse_book
from dashboard.rqlayer.flow.state import EXTENSION_FIELD
from dashboard.rqlayer.limits import RateLimitSummary, add_summary_commands, summary_from
from dashboard.rqlayer.rows import reply_or, wrong_type
from dashboard.rqlayer.vocabulary import PRIORITY_ORDER, REGISTRY_STATES, STATES, job_id_of_execution  # noqa: F401  (STATES: re-export)

# A worker refreshes its heartbeat every job_monitoring_interval while busy (key TTL +60 s) and
# about every worker_ttl - 15 s while idle (key TTL worker_ttl + 60 s). Past these it is stale.
BUSY_STALE_AFTER = DEFAULT_JOB_MONITORING_INTERVAL + 60
IDLE_STALE_AFTER = DEFAULT_WORKER_TTL + 60


@dataclass(frozen=True)
class QueueSummary:
    name: str
    counts: dict[str, int]
    oldest_enqueued_at: datetime | None
    latency_seconds: float | None
    listening_workers: int

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def unattended(self) -> bool:
        """Jobs are waiting but no worker listens on this queue: nothing will run them."""
        return self.counts["queued"] > 0 and self.listening_workers == 0


@dataclass(frozen=True)
class WorkerSummary:
    name: str
    hostname: str
    pid: int | None
    state: str
    queues: tuple[str, ...]
    current_job_ids: tuple[str, ...]
    last_heartbeat: datetime | None
    heartbeat_age_seconds: float | None
    birth: datetime | None
    successful_jobs: int
    failed_jobs: int
    total_working_seconds: float
    version: str
    python_version: str
    stale: bool
    gone: bool
    honours_flow: bool = False  # runs the console's extension: honours queue pauses and rate limits


@dataclass(frozen=True)
class RedisServer:
    version: str
    used_memory_human: str
    connected_clients: int | None
    uptime_seconds: int | None


@dataclass(frozen=True)
class Overview:
    queues: list[QueueSummary]
    workers: list[WorkerSummary]
    rate_limits: list[RateLimitSummary]
    suspended: bool
    server: RedisServer
    read_at: datetime
    totals: dict[str, int] = field(default_factory=dict)
    rq_version: str = rq.__version__
    broken_keys: list[str] = field(default_factory=list)  # keys of the wrong type, read as empty
    flow: FlowBook = field(default_factory=FlowBook)  # every queue's pause and rate limit (rqlayer/flow)

    @property
    def is_empty(self) -> bool:
        """Nothing to show yet: no queue was ever used and no worker runs."""
        return not self.queues and not self.workers

    @property
    def stale_workers(self) -> list[WorkerSummary]:
        return [w for w in self.workers if w.stale or w.gone]

    @property
    def unattended_queues(self) -> list[QueueSummary]:
        return [q for q in self.queues if q.unattended]

    def honouring(self, queue: str) -> int:
        """Live workers on `queue` that run the console's extension (they honour its pause and limit)."""
        return sum(1 for w in self.workers if w.honours_flow and not w.gone and queue in w.queues)

    @property
    def held_back_jobs(self) -> int:
        return sum(r.held_back for r in self.rate_limits)


def queue_order(name: str) -> tuple[int, str]:
    """Sort key of queue names: high, default, low first (the order a stock worker drains), then by name."""
    return (PRIORITY_ORDER.index(name) if name in PRIORITY_ORDER else len(PRIORITY_ORDER), name)


def read_overview(connection: redis.Redis, now: datetime | None = None) -> Overview:
    """Everything the overview page shows, read in three pipelined round trips."""
    now = now or datetime.now(UTC)
    found = _read_names(connection)
    raw_queues, workers, rate_limits = _read_details(connection, found, now)
    enqueued = _oldest_enqueued(connection, raw_queues)
    listening = _listening(workers)
    queues = []
    for raw in raw_queues:
        oldest = enqueued.get(raw.name)
        latency = max(0.0, (now - oldest).total_seconds()) if oldest else None
        queues.append(QueueSummary(raw.name, raw.counts, oldest, latency, listening.get(raw.name, 0)))
    return Overview(
        queues=queues,
        workers=workers,
        rate_limits=rate_limits,
        suspended=found.suspended,
        server=found.server,
        read_at=now,
        totals={state: sum(q.counts[state] for q in queues) for state in STATES},
        broken_keys=found.broken,
        flow=found.flow,
    )


@dataclass(frozen=True)
class _Names:
    """Round trip 1: what exists (sorted names), whether workers are suspended, the server's info, and
    the keys of the wrong type met so far (the later rounds add theirs)."""

    queues: list[str]
    workers: list[str]
    limits: list[str]
    suspended: bool
    server: RedisServer
    broken: list[str]
    flow: FlowBook


@dataclass(frozen=True)
class _RawQueue:
    name: str
    counts: dict[str, int]
    head: bytes | None  # the id of its oldest queued job


def _read_names(connection: redis.Redis) -> _Names:
    pipe = connection.pipeline(transaction=False)
    pipe.smembers(keys.queues())
    pipe.smembers(keys.workers())
    pipe.exists(keys.suspended())
    pipe.smembers(keys.rate_limit_keys())
    pipe.info("server")
    pipe.info("memory")
    pipe.info("clients")
    pipe.hgetall(keys.flow_state())
    replies = pipe.execute(raise_on_error=False)
    # Per item: a planted key of the wrong type is reported and read as empty; the rest still shows.
    names = (keys.queues(), keys.workers(), keys.suspended(), keys.rate_limit_keys(), "", "", "", keys.flow_state())
    broken = [name for name, reply in zip(names, replies, strict=True) if wrong_type(reply) and name]
    queue_keys, worker_keys, suspended, limit_keys, server, memory, clients, flow = (
        ({} if index >= 4 else set()) if wrong_type(reply) else reply for index, reply in enumerate(replies)
    )
    return _Names(
        queues=sorted((keys.queue_name_from_key(text(k)) for k in queue_keys), key=queue_order),
        workers=sorted(keys.worker_name_from_key(text(k)) for k in worker_keys),
        limits=sorted(text(k) for k in limit_keys),
        suspended=bool(suspended),
        server=RedisServer(
            version=str(server.get("redis_version", "?")),
            used_memory_human=str(memory.get("used_memory_human", "?")),
            connected_clients=integer(clients.get("connected_clients")),
            uptime_seconds=integer(server.get("uptime_in_seconds")),
        ),
        broken=broken,
        flow=parse_book(flow),
    )


def _read_details(
    connection: redis.Redis, found: _Names, now: datetime
) -> tuple[list[_RawQueue], list[WorkerSummary], list[RateLimitSummary]]:
    """Round trip 2: each queue's counts and head and each worker's hash and executions (the
    overview_counts script, SCRIPT_NAMES names a call), then each limit, all in one pipeline."""
    pipe = connection.pipeline(transaction=False)
    script = scripts.Scripts.get(connection, "overview_counts")
    states = (str(len(REGISTRY_STATES)), *REGISTRY_STATES)
    calls = 0
    for names, queue_count in _script_batches(found.queues, found.workers):
        script(args=scripts.args("0", "", "", [*states, str(queue_count), *names], connection), client=pipe)
        calls += 1
    for key in found.limits:
        add_summary_commands(pipe, key)
    replies = pipe.execute(raise_on_error=False)
    for reply in replies[:calls]:
        if isinstance(reply, Exception):  # the script itself failed (never a key's type): an outage
            raise reply
    values = iter([value for reply in replies[:calls] for value in reply])

    raw_queues = []
    for name in found.queues:
        counts = {}
        for state in STATES:
            count = next(values)
            if count == WRONG_TYPE:
                found.broken.append(keys.queue(name) if state == "queued" else keys.registry(state, name))
            counts[state] = max(0, count)
        head = next(values)
        raw_queues.append(_RawQueue(name, counts, None if head == WRONG_TYPE else head))
    workers = [worker_summary(name, _hash(next(values)), _members(next(values)), now) for name in found.workers]
    rest = iter(replies[calls:])
    rate_limits = [summary_from(key, rest) for key in found.limits]
    found.broken.extend(name for limit in rate_limits for name in limit.broken)
    return raw_queues, workers, rate_limits


# A script call reads at most this many queues or workers, so Redis is never blocked for long (about a
# millisecond a call); one call instead of ten commands a queue saves the client's per-command cost,
# which at 1,000 queues and 500 workers was most of the overview's time.
SCRIPT_NAMES = 200
WRONG_TYPE = -1  # what the script answers for a key of another type


def _script_batches(queues: list[str], workers: list[str]) -> list[tuple[list[str], int]]:
    """(names, how many of them are queues) per script call: queues first, then workers."""
    names = [*queues, *workers]
    return [
        (names[at : at + SCRIPT_NAMES], max(0, min(SCRIPT_NAMES, len(queues) - at)))
        for at in range(0, len(names), SCRIPT_NAMES)
    ]


def _hash(reply: list[bytes] | int) -> dict[bytes, bytes] | Exception:
    if reply == WRONG_TYPE or not isinstance(reply, list):
        return redis.ResponseError("WRONGTYPE")
    return dict(zip(reply[::2], reply[1::2], strict=True))


def _members(reply: list[bytes] | int) -> set[bytes] | Exception:
    return set(reply) if isinstance(reply, list) else redis.ResponseError("WRONGTYPE")


def _oldest_enqueued(connection: redis.Redis, raw_queues: list[_RawQueue]) -> dict[str, datetime | None]:
    """Round trip 3 (none when every queue is empty): the enqueue time of each queue's head job."""
    heads = [(raw.name, text(raw.head)) for raw in raw_queues if raw.head]
    if not heads:
        return {}
    pipe = connection.pipeline(transaction=False)
    for _, job_id in heads:
        pipe.hget(keys.job(job_id), "enqueued_at")
    return {
        name: timestamp(reply_or(value, None))
        for (name, _), value in zip(heads, pipe.execute(raise_on_error=False), strict=True)
    }


def _listening(workers: list[WorkerSummary]) -> dict[str, int]:
    """How many live workers listen on each queue."""
    listening: dict[str, int] = {}
    for worker in workers:
        if not worker.gone:
            for queue_name in worker.queues:
                listening[queue_name] = listening.get(queue_name, 0) + 1
    return listening


def worker_summary(
    name: str, data: dict[bytes, bytes] | Exception, executions: set[bytes] | Exception, now: datetime
) -> WorkerSummary:
    """One worker from its HGETALL and its executions' SMEMBERS replies (an error reply: broken). Pure:
    the overview and the worker page (rqlayer/workers.py) read the same fields the same way."""
    if isinstance(data, Exception):  # the worker key holds another type: show it as broken, not as a 500
        return WorkerSummary(
            name=name,
            hostname="",
            pid=None,
            state="broken",
            queues=(),
            current_job_ids=(),
            last_heartbeat=None,
            heartbeat_age_seconds=None,
            birth=None,
            successful_jobs=0,
            failed_jobs=0,
            total_working_seconds=0.0,
            version="",
            python_version="",
            stale=True,
            gone=True,
        )
    executions = set() if isinstance(executions, Exception) else executions
    fields = {k.decode(errors="replace") if isinstance(k, bytes) else text(k): v for k, v in data.items()}
    heartbeat = timestamp(fields.get("last_heartbeat"))
    age = (now - heartbeat).total_seconds() if heartbeat else None
    state = text(fields.get("state"), "unknown")
    # RQ 3 lists running executions in a set; RQ 2.x workers wrote a current_job field instead.
    running = sorted({job_id_of_execution(text(e)) for e in executions})
    if not running and fields.get("current_job"):
        running = [text(fields["current_job"])]
    gone = not fields or "death" in fields
    stale_after = BUSY_STALE_AFTER if state == "busy" else IDLE_STALE_AFTER
    return WorkerSummary(
        name=name,
        hostname=text(fields.get("hostname")),
        pid=integer(fields.get("pid")),
        state="gone" if gone else state,
        queues=csv_names(fields.get("queues")),
        current_job_ids=tuple(running),
        last_heartbeat=heartbeat,
        heartbeat_age_seconds=age,
        birth=timestamp(fields.get("birth")),
        successful_jobs=integer(fields.get("successful_job_count")) or 0,
        failed_jobs=integer(fields.get("failed_job_count")) or 0,
        total_working_seconds=number(fields.get("total_working_time")) or 0.0,
        version=text(fields.get("version")),
        python_version=text(fields.get("python_version")),
        stale=gone or age is None or age > stale_after,
        gone=gone,
        honours_flow=EXTENSION_FIELD in fields,
    )
