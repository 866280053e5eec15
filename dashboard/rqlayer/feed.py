"""The live event feed: the console's own events in the job event stream, and long-polled reads of it.

The stream (telemetry/events.py) is one capped Redis stream. Its vocabulary of event `type`s:

- worker events (ConsoleWorker, `events.WORKER_TYPES`): started, finished, failed, retry_scheduled,
  stopped, abandoned — with `worker` set;
- console actions on one job (`ACTION_TYPES`, by catalogue action): retried, requeued, moved, run_now,
  canceled, stop_requested, deleted; `enqueued` (the enqueue form and POST /api/v1/jobs),
  `schedule_run_now` (a schedule's "run now": extra `schedule`); a move says where it came from (extra
  `from`; its `queue` is the target);
- long operations (`bulk_<action>`: bulk_retry, bulk_move, bulk_run_now, bulk_cancel, bulk_delete,
  bulk_empty, bulk_enqueue for batch files): ONE event per operation when it ends, never one per job,
  with extra `count` (jobs acted on), `op` (the operation id), `status` (done, cancelled, failed).

Every console event carries extra `actor` (the audit log's name of who acted). Events carry ids, queues,
functions, types and exception *types* only — never job arguments, results or messages — so every role
may read them. Appending an event never fails the action it reports (errors are logged and dropped).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import redis

from dashboard.rqlayer import catalogue, keys
from dashboard.rqlayer.rows import JobRow
from dashboard.rqlayer.telemetry import events
from dashboard.settings import TelemetrySettings, load_telemetry_settings

log = logging.getLogger(__name__)

ACTION_TYPES: dict[str, str] = {
    "retry": "retried",
    "requeue": "requeued",
    "move": "moved",
    "run-now": "run_now",
    "cancel": "canceled",
    "stop": "stop_requested",
    "delete": "deleted",
}
ENQUEUED = "enqueued"
SCHEDULE_RUN_NOW = "schedule_run_now"
# A queue's flow control (rqlayer/flow/actions.py): pause (extra until), resume, rate limit (extra limit), clear.
QUEUE_FLOW_TYPES = ("queue_paused", "queue_resumed", "queue_rate_limited", "queue_rate_limit_cleared")
# An RQ 3 limit's concurrency set (rqlayer/limits.py): extra limit, from, to, promoted (jobs let through).
CONCURRENCY_CHANGED = "concurrency_changed"
EVENT_PUBLISHED = "event_published"  # an incoming event (dashboard/inbound): extra event, name, count, source


def bulk_type(action: str) -> str:
    """The summary event type of a long operation of `action` (a catalogue name, or "enqueue")."""
    return "bulk_" + action.replace("-", "_")


BULK_TYPES = tuple(bulk_type(a.name) for a in catalogue.ACTIONS.values() if a.bulk or not a.single) + (
    bulk_type("enqueue"),
)
CONSOLE_TYPES = (*ACTION_TYPES.values(), ENQUEUED, SCHEDULE_RUN_NOW, *BULK_TYPES, EVENT_PUBLISHED, CONCURRENCY_CHANGED)
CONSOLE_TYPES = (*CONSOLE_TYPES, *QUEUE_FLOW_TYPES)
TYPES = frozenset(events.WORKER_TYPES) | frozenset(CONSOLE_TYPES)

MAX_WAIT = 25  # seconds a long-poll may wait (API `wait`)
PAGE = 100  # events per answer at most
SCAN = 1000  # stream entries one XRANGE reads at most; a request reads at most events.MAX_SCAN
WAITERS = 48  # long-polls one process lets wait at once (the Procfile gives it 64 threads); more answer at once
LINGER = 0.5  # seconds between a waiting poll's answers while events flow (see EventFeed.poll)


@cache
def _settings() -> TelemetrySettings:
    return load_telemetry_settings()


def _flat(type_: str, actor: str, fields: Mapping[str, Any]) -> list[str]:
    extra = {"actor": actor, **fields.get("extra", {})}
    core = {k: v for k, v in fields.items() if k != "extra"}
    return events.event_fields(type_, extra=extra, **core)


def record(connection: redis.Redis, type_: str, actor: str, **fields: Any) -> None:
    """Append one console event (`fields` as events.event_fields: job_id, queue, function, extra).
    Cost: one round trip. Guarantee: never raises for Redis or a bad value (logged): the action it
    reports has already happened."""
    record_many(connection, [(type_, fields)], actor)


def record_many(connection: redis.Redis, items: Iterable[tuple[str, Mapping[str, Any]]], actor: str) -> None:
    """Append several console events in one pipelined round trip (nothing when `items` is empty)."""
    try:
        pipe = connection.pipeline(transaction=False)
        for type_, fields in items:
            events.add_event_commands(pipe, _flat(type_, actor, fields), _settings())
        if len(pipe):
            pipe.execute()
    except (redis.RedisError, ValueError, OSError):
        log.warning("could not append console event(s) to the event stream", exc_info=True)


def job_facts(rows: list[JobRow]) -> dict[str, tuple[str, str]]:
    """{job id: (queue, function)} from rows read before an action (a deleted job is gone after it)."""
    return {row.id: (row.origin, row.func_name) for row in rows}


def record_job_action(
    connection: redis.Redis,
    action: str,
    actor: str,
    succeeded: Collection[str],
    facts: Mapping[str, tuple[str, str]],
    target: str = "",
    worker: str = "",
) -> None:
    """One event per job an action succeeded on (single-job actions; bulk ones sum up at their end).
    A move's event names the target queue as `queue` and the origin as extra `from`."""
    type_ = ACTION_TYPES[catalogue.get(action).name]
    items = []
    for job_id in succeeded:
        queue, function = facts.get(job_id, ("", ""))
        fields: dict[str, Any] = {"job_id": job_id, "queue": target or queue, "function": function, "worker": worker}
        if target:
            fields["extra"] = {"from": queue}
        items.append((type_, fields))
    record_many(connection, items, actor)


# ---------------------------------------------------------------- reading: long polls


class BadRequest(ValueError):
    """A malformed cursor, wait or type filter (the API's 400)."""


@dataclass(frozen=True)
class Poll:
    """One answer of the feed: events after the cursor, oldest first, and where to continue.
    `busy`: the process had no free waiting slot, so it answered at once; wait a little before polling."""

    events: list[events.Event]
    cursor: str
    more: bool = False
    busy: bool = False


# A stream id's parts are unsigned 64-bit; the largest cannot be an exclusive start either.
ID_PART_END = 2**64 - 1


def _id(cursor: str) -> tuple[int, int]:
    ms, _, seq = cursor.partition("-")
    return int(ms), int(seq or 0)


def parse_types(raw: str) -> frozenset[str]:
    """`type=a,b` as a set of known types; BadRequest for an unknown one."""
    wanted = frozenset(t.strip() for t in raw.split(",") if t.strip())
    unknown = sorted(wanted - TYPES)
    if unknown:
        raise BadRequest(f"unknown event type {unknown[0][:40]!r}; known: {', '.join(sorted(TYPES))}")
    return wanted


def parse_wait(raw: str | None) -> float:
    if raw in (None, ""):
        return 0.0
    try:
        wait = float(raw)
    except ValueError:
        raise BadRequest("wait must be a number of seconds, 0 to 25") from None
    if not 0 <= wait <= MAX_WAIT:  # also refuses nan and inf
        raise BadRequest("wait must be a number of seconds, 0 to 25")
    return wait


_PROCESS_SLOTS = threading.BoundedSemaphore(WAITERS)  # the process's waiting slots (EventFeed.waiting_slot)


class EventFeed:
    """Long-polled reads of the stream for one console process. Reads go through the console's
    shared connection; only the blocking wait (XREAD BLOCK) uses a small pool of connections of its
    own, and at most `waiters` requests wait at once: the others are answered at once, so waiting
    feeds can never take every connection or thread. Building one costs nothing (no Redis call)."""

    def __init__(self, connection: redis.Redis, waiters: int = WAITERS) -> None:
        self.connection = connection
        self.waiters = waiters
        # The slots bound the process's threads, not one Redis's: every feed of the process (one per
        # connection profile) shares them, or two instances' polls could hold all 64 threads.
        self._slots = _PROCESS_SLOTS if waiters == WAITERS else threading.BoundedSemaphore(waiters)
        self._blocking: redis.Redis | None = None
        self._lock = threading.Lock()

    def _blocking_client(self) -> redis.Redis:
        with self._lock:
            if self._blocking is None:
                shared = self.connection.connection_pool
                options = dict(shared.connection_kwargs)
                # The socket must outlive the longest BLOCK, else the wait reads as a timeout error.
                options["socket_timeout"] = MAX_WAIT + float(options.get("socket_timeout") or 2.0) + 1
                pool = redis.ConnectionPool(
                    connection_class=shared.connection_class, max_connections=self.waiters, **options
                )
                self._blocking = redis.Redis(connection_pool=pool)
            return self._blocking

    @contextmanager
    def waiting_slot(self) -> Iterator[bool]:
        """One of this process's `waiters` waiting slots, if one is free (False: answer at once). Every
        wait on the stream holds one — polls and job long-polls (rqlayer/jobwait.py) share them."""
        acquired = self._slots.acquire(blocking=False)
        try:
            yield acquired
        finally:
            if acquired:
                self._slots.release()

    def block(self, cursor: str, seconds: float, count: int = SCAN) -> events.Entries:
        """At most `count` raw entries after `cursor`, waiting up to `seconds` (at most MAX_WAIT) for the
        first: one XREAD BLOCK on the waiters' own pool (hold a waiting slot). [] when none came; a
        stream key of another type reads as none, after the same wait."""
        block_ms = max(1, int(min(seconds, MAX_WAIT) * 1000))
        try:
            reply: Any = self._blocking_client().xread({keys.events(): cursor}, count=count, block=block_ms)
        except redis.ResponseError as error:
            if "WRONGTYPE" not in str(error):
                raise
            time.sleep(block_ms / 1000)
            return []
        return list(reply[0][1]) if reply else []  # [[stream, entries]]

    def recent(
        self, types: Collection[str] = (), queue: str | None = None, function: str | None = None, count: int = PAGE
    ) -> Recent:
        """The newest events for a page's first render (module function `recent`)."""
        return recent(self.connection, count, types, queue, function)

    def latest(self) -> str:
        """The newest event's id ("0-0" for an empty stream). One XREVRANGE COUNT 1."""
        return events.latest_cursor(self.connection)

    def poll(
        self,
        after: str | None,
        wait: float = 0.0,
        types: Collection[str] = (),
        queue: str | None = None,
        function: str | None = None,
        count: int = PAGE,
    ) -> Poll:
        """Events newer than `after` (None: from now), filtered server side, waiting up to `wait`
        seconds for one. Cost: one XRANGE of at most SCAN entries per step, at most events.MAX_SCAN
        entries per call, plus one XREAD BLOCK per wake-up. Pacing: a waiting poll answers at most once per
        LINGER seconds while events flow (it waits that long after the previous answer's newest event, and
        after a wake-up), so a busy stream costs each feed a few answers a second, not one per event.
        Guarantee: the cursor moves past every entry read, filtered out or not, so a client never reads
        one twice and (while the stream keeps them) misses none. At most `waiters` polls of this process
        wait at once: the others are answered at once (`busy` when they found nothing). BadRequest for a
        malformed cursor."""
        try:
            start = events.valid_cursor(after)
        except ValueError as error:
            raise BadRequest(str(error)) from None
        if start is not None and max(_id(start)) >= ID_PART_END:  # Redis refuses it: "Invalid stream ID"
            raise BadRequest("cursor must be a stream id (each part below 2**64 - 1)")
        cursor = start or self.latest()
        filters = _Filters(types, queue, function, count)
        if wait <= 0:
            return self._scan(cursor, filters)
        if not self._slots.acquire(blocking=False):
            found = self._scan(cursor, filters)
            return Poll(found.events, found.cursor, found.more, busy=not found.events)
        try:
            return self._wait(cursor, filters, time.monotonic() + wait, paced=start is not None)
        finally:
            self._slots.release()

    def _scan(self, cursor: str, f: _Filters) -> Poll:
        """What is there now: XRANGE steps of SCAN entries until an event matches, at most MAX_SCAN."""
        scanned = 0
        while True:
            page = events.read_events(self.connection, cursor, f.count, f.types, f.queue, f.function, scan=SCAN)
            scanned += SCAN
            cursor = page.cursor
            if page.events or not page.more or scanned >= events.MAX_SCAN:
                return Poll(page.events, cursor, more=page.more)

    def _wait(self, cursor: str, f: _Filters, deadline: float, paced: bool) -> Poll:
        if paced:  # the previous answer ended at `cursor`: answer again LINGER after it at the earliest
            since = time.time() - _id(cursor)[0] / 1000
            _sleep_until(deadline, LINGER - since)
        while True:
            found = self._scan(cursor, f)
            cursor = found.cursor
            remaining = deadline - time.monotonic()
            if found.events or found.more or remaining <= 0.001:
                return found
            if _id(cursor) > _id(self.latest()):
                # Ahead of the stream (it was flushed, or a forged cursor): resume from its newest entry.
                return Poll([], self.latest())
            block_ms = max(1, int(remaining * 1000))
            if not self._blocking_client().xread({keys.events(): cursor}, count=1, block=block_ms):
                return Poll([], cursor)
            _sleep_until(deadline, LINGER)  # woken by the first new entry: collect the ones right behind it


@dataclass(frozen=True)
class _Filters:
    types: Collection[str]
    queue: str | None
    function: str | None
    count: int


def _sleep_until(deadline: float, seconds: float) -> None:
    time.sleep(max(0.0, min(seconds, deadline - time.monotonic())))


@dataclass(frozen=True)
class Recent:
    """The newest events (newest first) for a page's first render; `cursor` is the stream's newest id,
    where the page's long poll goes on. `worker_seen`: some event in the stream came from a worker
    extension (or its metrics exist), so the page need not say it is missing."""

    events: list[events.Event]
    cursor: str
    worker_seen: bool


def recent(
    connection: redis.Redis,
    count: int = PAGE,
    types: Collection[str] = (),
    queue: str | None = None,
    function: str | None = None,
) -> Recent:
    """The newest `count` events matching the filters, among the newest SCAN entries (unfiltered: the
    newest `count`). Cost: one XREVRANGE and one EXISTS, in one pipelined round trip. Never writes."""
    filtered = bool(types) or queue is not None or function is not None
    pipe = connection.pipeline(transaction=False)
    pipe.xrevrange(keys.events(), count=SCAN if filtered else count)
    pipe.exists(keys.metrics_series())
    replies = pipe.execute(raise_on_error=False)
    entries = replies[0] if isinstance(replies[0], list) else []  # a planted non-stream key: no events
    wanted = set(types)
    shown: list[events.Event] = []
    worker_seen = bool(replies[1]) if isinstance(replies[1], int) else False
    for entry_id, raw in entries:
        event = events._event(entry_id, raw)  # the stream's one entry decoder (never raises)
        worker_seen = worker_seen or event.type in events.WORKER_TYPES
        if len(shown) >= count or (wanted and event.type not in wanted):
            continue
        if (queue is not None and event.queue != queue) or (function is not None and event.function != function):
            continue
        shown.append(event)
    cursor = events._text(entries[0][0]) if entries else "0-0"
    return Recent(shown, cursor, worker_seen)
