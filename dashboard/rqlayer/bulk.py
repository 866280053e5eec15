"""Bulk actions: many jobs, in bounded atomic chunks, with progress and cancellation in Redis.

The state of an operation lives in a Redis hash, so every console process can show its progress
and cancel it. Each chunk is one atomic script that only moves jobs still where they were seen, so
an operation killed at any moment leaves every job in exactly one place, and running it again
finishes the rest without touching what was already done.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from dashboard.rqlayer import actions, catalogue, feed, keys, outage
from dashboard.rqlayer.bulk_tally import Tally, advance
from dashboard.rqlayer.decode import integer, number, text
from dashboard.rqlayer.errors import NotFound
from dashboard.rqlayer.jobs import count_state, ids_at, list_queue_names, read_rows
from dashboard.rqlayer.search import JobFilter
from dashboard.rqlayer.vocabulary import BULK_CHUNK, FAILURE_STATES

CHUNK = BULK_CHUNK
STATE_TTL = 24 * 3600
STALE_AFTER = 30  # a running operation without progress for this long was interrupted
MAX_PASSES = 3


def bulk_action(name: str) -> catalogue.Action:
    """The catalogue's action offered in bulk (or "empty"), by any of its spellings; InvalidInput else."""
    action = catalogue.find(name)
    if action is None or not (action.bulk or action.name == "empty"):
        raise actions.ActionError(f"unknown bulk action {name[:40]!r}")
    return action


@dataclass(frozen=True)
class Selection:
    """Which jobs: explicit ids, or every job of a state (one queue, or all queues when queue is
    None) matching a filter. `limit`: act on at most this many (the number an operator confirmed)."""

    state: str
    queue: str | None = None
    job_ids: tuple[str, ...] = ()
    job_filter: JobFilter = field(default_factory=JobFilter)
    limit: int | None = None

    def describe(self) -> str:
        if self.job_ids:
            return f"{len(self.job_ids)} selected job(s)"
        where = f"queue {self.queue}" if self.queue else "every queue"
        filters = self.job_filter.describe()
        if self.job_filter.ended_after is not None:
            since = datetime.fromtimestamp(self.job_filter.ended_after, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            filters += (", " if filters else "") + f"ended since {since}"
        limit = f" (at most {self.limit})" if self.limit is not None else ""
        return f"all {self.state} jobs of {where}" + (f" where {filters}" if filters else "") + limit

    def to_json(self) -> str:
        return json.dumps(
            {
                "state": self.state,
                "queue": self.queue,
                "ids": len(self.job_ids),
                "filter": self.job_filter.as_params(),
                "ended_after": self.job_filter.ended_after,
                "limit": self.limit,
            }
        )


def estimate(connection: redis.Redis, selection: Selection) -> int:
    """How many jobs the selection covers now (with a filter: at most this many; with a limit: it)."""
    if selection.job_ids:
        return len(selection.job_ids)
    if selection.limit is not None:
        return selection.limit
    queues = [selection.queue] if selection.queue else list_queue_names(connection)
    return sum(count_state(connection, q, selection.state) for q in queues)


@dataclass(frozen=True)
class BulkStatus:
    id: str
    action: str
    status: str  # waiting (for a free background slot), running, done, cancelled, failed, interrupted
    description: str
    actor: str
    total: int
    processed: int
    succeeded: int
    skipped: int
    started_at: float
    updated_at: float
    message: str

    @property
    def percent(self) -> float:
        if self.status == "done":
            return 100.0
        return min(100.0, 100.0 * self.processed / self.total) if self.total else 0.0

    @property
    def done_verb(self) -> str:
        return catalogue.past_tense(self.action)

    @property
    def finished(self) -> bool:
        return self.status not in ("waiting", "running")


def read(connection: redis.Redis, op_id: str) -> BulkStatus | None:
    raw = connection.hgetall(keys.bulk_operation(op_id))
    if not raw:
        return None
    f = {text(k): v for k, v in raw.items()}
    status = text(f.get("status"))
    updated = number(f.get("updated_at")) or 0.0
    if status == "running" and time.time() - updated > STALE_AFTER:
        status = "interrupted"
    return BulkStatus(
        id=op_id,
        action=text(f.get("action")),
        status=status,
        description=text(f.get("description")),
        actor=text(f.get("actor")),
        total=integer(f.get("total")) or 0,
        processed=integer(f.get("processed")) or 0,
        succeeded=integer(f.get("succeeded")) or 0,
        skipped=integer(f.get("skipped")) or 0,
        started_at=number(f.get("started_at")) or 0.0,
        updated_at=updated,
        message=text(f.get("message")),
    )


def _read_known(connection: redis.Redis, op_id: str) -> BulkStatus:
    """An operation this process has just written (its record lives a day)."""
    status = read(connection, op_id)
    if status is None:
        raise NotFound(f"no bulk operation {op_id}")
    return status


def create(
    connection: redis.Redis,
    action: str,
    selection: Selection,
    options: dict[str, Any],
    actor: str,
    status: str = "running",
) -> BulkStatus:
    """Record a new operation (status running, or waiting until `begin`) and return it; `run` then does
    the work."""
    action = bulk_action(action).name
    if action == "move":
        options["target"] = actions.target_queue_name(
            connection, options.get("target", ""), bool(options.get("create_queue"))
        )
        if options["target"] == selection.queue:
            raise actions.ActionError("the jobs are already in that queue")
    description = f"{action.replace('-', ' ')} {selection.describe()}"
    if action == "move":
        description += f" to queue {options['target']}"
    return start_record(
        connection,
        action,
        description,
        estimate(connection, selection),
        actor,
        status=status,
        selection=selection.to_json(),
        options=json.dumps(options),
        queue=selection.queue or "",
    )


def start_record(
    connection: redis.Redis,
    action: str,
    description: str,
    total: int,
    actor: str,
    status: str = "running",
    **extra: str,
) -> BulkStatus:
    """A new operation's record (running, or waiting for a background slot), for any long operation
    that reports progress (bulk actions, batch enqueue)."""
    op_id = uuid.uuid4().hex
    now = time.time()
    key = keys.bulk_operation(op_id)
    pipe = connection.pipeline(transaction=True)
    record: dict[Any, Any] = {
        "action": action,
        "status": status,
        "description": description,
        "actor": actor,
        "total": total,
        "processed": 0,
        "succeeded": 0,
        "skipped": 0,
        "started_at": now,
        "updated_at": now,
        "message": "",
    }
    record.update(extra)
    pipe.hset(key, mapping=record)
    pipe.expire(key, STATE_TTL)
    pipe.zadd(keys.bulk_operations(), {op_id: now})
    pipe.zremrangebyrank(keys.bulk_operations(), 0, -101)  # keep the newest 100
    pipe.execute()
    return _read_known(connection, op_id)


def begin(connection: redis.Redis, op_id: str) -> bool:
    """A waiting operation starts running (one HSET). False when it was cancelled while it waited:
    it is then finished as cancelled, with nothing done."""
    if cancel_requested(connection, op_id):
        finish(connection, op_id, "cancelled", "cancelled before it started")
        return False
    connection.hset(keys.bulk_operation(op_id), mapping={"status": "running", "updated_at": time.time()})
    return True


def request_cancel(connection: redis.Redis, op_id: str) -> bool:
    """Ask a running operation to stop after its current chunk; False when there is no such one."""
    key = keys.bulk_operation(op_id)
    if not connection.exists(key):
        return False
    connection.hset(key, "cancel_requested", 1)
    return True


def _chunks(
    connection: redis.Redis, selection: Selection, stayed_last: Callable[[], int], unsafe: bool
) -> Iterator[list[str]]:
    """Chunks of ids to act on. A state is walked by position: the ids a chunk acted on (or that left
    the state meanwhile) are gone, so the window only moves past the ids that stayed. Jobs leaving
    from ahead of the window (workers, other operators) can shift ids behind it, so the walk repeats
    while a pass still acted on something, at most MAX_PASSES times."""
    if selection.job_ids:
        ids = list(selection.job_ids)
        for start in range(0, len(ids), CHUNK):
            yield ids[start : start + CHUNK]
        return
    queues = [selection.queue] if selection.queue else list_queue_names(connection)
    for _ in range(MAX_PASSES):
        acted = False
        for queue in queues:
            position = 0
            limit = count_state(connection, queue, selection.state)  # never walk into jobs added later
            while position < limit:
                window = ids_at(connection, queue, selection.state, position, CHUNK, "oldest")
                if not window:
                    break
                if selection.job_filter.active:
                    rows = read_rows(connection, window, unsafe, failures=selection.state in FAILURE_STATES)
                    chosen = [row.id for row in rows if selection.job_filter.matches(row)]
                else:
                    chosen = window
                if chosen:
                    yield chosen
                    acted = True
                    position += len(window) - len(chosen) + stayed_last()
                else:
                    position += len(window)
                limit -= len(chosen) - (stayed_last() if chosen else 0)
        if not acted:
            return


def run(
    connection: redis.Redis,
    op_id: str,
    action: str,
    selection: Selection,
    options: dict[str, Any],
    unsafe: bool = False,
) -> BulkStatus:
    """Do the work chunk by chunk, updating progress after each; stops early when cancelled. If Redis goes away,
    waits for it (outage.OutageLog, bounded) and walks again: nothing is done twice (see OutageLog)."""
    act = bulk_action(action)
    progress = _Progress(act, selection, options, unsafe, op_id)
    outages = outage.OutageLog()
    try:
        if act.name == "empty" and selection.state == "queued" and selection.queue:
            _empty_queue(connection, op_id, selection.queue)
            return _read_known(connection, op_id)
        while True:
            try:
                if not progress.walk(connection, op_id):
                    return _read_known(connection, op_id)  # cancelled
                break
            except outage.UNREACHABLE_ERRORS:
                in_flight, progress.in_flight = progress.in_flight, 0
                if not outages.wait(connection, in_flight):
                    raise
        outages.count_left_alone(connection, keys.bulk_operation(op_id))
        finish(connection, op_id, "done", outages.summary(act.past))
    except Exception as error:  # the operation's record must say it failed, whatever went wrong
        finish(connection, op_id, "failed", f"{type(error).__name__}: {error}"[:500])
        raise
    return _read_known(connection, op_id)


class _Progress:
    """One run's walk and its counts (a Tally: each chunk counted once, whatever an outage broke)."""

    def __init__(
        self, act: catalogue.Action, selection: Selection, options: dict[str, Any], unsafe: bool, op_id: str
    ) -> None:
        self.act, self.selection, self.unsafe = act, selection, unsafe
        # Chunks only touch jobs whose status is still one of the selected state's (one that changed
        # since the operator chose is left alone); a move's target was checked once, in create().
        self.expected = act.expected_in(selection.state)
        position = "front" if options.get("at_front") else "back"
        self.how = {"position": position, "target": options.get("target", ""), "create": True}
        self.in_state = set(catalogue.statuses_of(selection.state))
        self.succeeded = 0  # over the whole run: the selection's limit counts it
        self.tally = Tally(op_id)  # the counts not yet in the record
        self.in_flight = 0  # jobs of the chunk whose script was sent and has not answered

    def walk(self, connection: redis.Redis, op_id: str) -> bool:
        """One walk over the selection (False: cancelled)."""
        last = {"stayed": 0}
        for chunk in _chunks(connection, self.selection, lambda: last["stayed"], self.unsafe):
            if cancel_requested(connection, op_id):
                self.tally.save(connection)
                finish(connection, op_id, "cancelled", "cancelled by an operator; re-run to finish the rest")
                return False
            if self.selection.limit is not None:
                if self.succeeded >= self.selection.limit:
                    break
                chunk = chunk[: self.selection.limit - self.succeeded]
            self.in_flight = len(chunk)
            result = actions.perform(connection, self.act.name, chunk, self.expected, **self.how)
            self.in_flight = 0
            self.succeeded += len(result.succeeded)
            # Ids left alone because their job is still in the state stay in the window.
            last["stayed"] = sum(1 for outcome in result.outcomes.values() if outcome in self.in_state)
            self.tally.add(len(chunk), len(result.succeeded), len(result.skipped))
            self.tally.save(connection)
        self.tally.save(connection)
        return True


def _empty_queue(connection: redis.Redis, op_id: str, queue: str) -> None:
    while True:
        if cancel_requested(connection, op_id):
            finish(connection, op_id, "cancelled", "cancelled by an operator; re-run to finish the rest")
            return
        taken, deleted = actions.empty_queue_chunk(connection, queue, CHUNK)
        if taken == 0:
            break
        advance(connection, op_id, taken, deleted, taken - deleted)
    finish(connection, op_id, "done")


def finish(connection: redis.Redis, op_id: str, status: str, message: str = "") -> None:
    """End an operation's record; then its one summary event (feed.bulk_type: bulk_retry, ...,
    bulk_enqueue) goes to the event stream with its count, id, status and actor. Cost: one round trip
    for the record, one for the event (which never raises)."""
    key = keys.bulk_operation(op_id)
    pipe = connection.pipeline(transaction=False)
    pipe.hset(key, mapping={"status": status, "updated_at": time.time(), "message": message})
    pipe.hmget(key, "action", "actor", "succeeded", "queue", "function")
    _, (action, actor, succeeded, queue, function) = pipe.execute()
    kind = feed.bulk_type(text(action))
    if kind in feed.TYPES:
        extra = {"count": integer(succeeded) or 0, "op": op_id, "status": status}
        feed.record(connection, kind, text(actor), queue=text(queue), function=text(function), extra=extra)


def cancel_requested(connection: redis.Redis, op_id: str) -> bool:
    return bool(connection.hget(keys.bulk_operation(op_id), "cancel_requested"))


def recent(connection: redis.Redis, limit: int = 20) -> list[BulkStatus]:
    ids = [text(i) for i in connection.zrevrange(keys.bulk_operations(), 0, limit - 1)]  # type: ignore[arg-type]
    return [status for status in (read(connection, op_id) for op_id in ids) if status is not None]
