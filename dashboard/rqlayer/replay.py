"""Replay: re-run the failed (or canceled) jobs of one function that ended between two times, paced.

A replay is a bulk operation (bulk.py's record, operations.py's runner: progress, cancel, the final
audit) whose action is "retry" and whose record also carries its name and what it covers. It retries
at most `per_second` jobs a second, so the workers and whatever the jobs call are not flooded after an
incident, and it remembers the ids it retried (a set), which the job lists filter on ("touched by this
operation"). Replays are listed for REPLAY_TTL (their own history page; the audit log keeps them for
good). Flask-free.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import redis

from dashboard.rqlayer import actions, bulk, catalogue, keys
from dashboard.rqlayer.decode import text
from dashboard.rqlayer.errors import InvalidInput
from dashboard.rqlayer.jobs import ids_at, list_queue_names, read_rows
from dashboard.rqlayer.search import JobFilter
from dashboard.rqlayer.vocabulary import BULK_CHUNK

if TYPE_CHECKING:
    from dashboard.rqlayer.operations import Operation

STATES = ("failed", "canceled")
MAX_JOBS = 10_000  # one replay retries at most this many jobs (the touched set stays small)
MAX_RATE = 500  # jobs a second
MAX_SCANNED = 200_000  # failed/canceled jobs one count walks at most
REPLAY_TTL = 7 * 24 * 3600
KIND = "replay"
TIME_FORMAT = "%Y-%m-%d %H:%M UTC"


@dataclass(frozen=True)
class ReplaySpec:
    """What a replay covers: jobs of `function` (exact dotted name) in `states`, of one queue or all
    (""), that ended in [since, until] (aware UTC), retried at most `per_second` a second."""

    name: str
    function: str
    since: datetime
    until: datetime
    per_second: int
    states: tuple[str, ...] = ("failed",)
    queue: str = ""

    def describe(self) -> str:
        where = f"queue {self.queue}" if self.queue else "every queue"
        states = " and ".join(self.states)
        span = f"{self.since.strftime(TIME_FORMAT)} to {self.until.strftime(TIME_FORMAT)}"
        pace = f"{self.per_second}/s"
        return f"replay {self.name!r}: retry {states} jobs of {self.function} in {where}, ended {span}, {pace}"

    def to_record(self) -> dict[str, str]:
        return {
            "kind": KIND,
            "name": self.name,
            "function": self.function,
            "since": str(self.since.timestamp()),
            "until": str(self.until.timestamp()),
            "per_second": str(self.per_second),
            "states": ",".join(self.states),
            "queue": self.queue,
        }


def _moment(field: str, raw: str) -> datetime:
    raw = raw.strip()
    if not raw or len(raw) > 40:
        raise InvalidInput(f"{field}: give a date and time (UTC), e.g. 2026-12-01T09:30.", fields={field: "required"})
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(
            f"{field}: expected a date and time like 2026-12-01T09:30, got {raw[:40]!r}.", fields={field: "not a date"}
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_spec(values: Mapping[str, str], now: datetime | None = None) -> ReplaySpec:
    """A replay's spec from a form or a JSON body (strings); InvalidInput naming the field otherwise."""
    name = (values.get("name") or "").strip()
    if not 1 <= len(name) <= 80:
        raise InvalidInput("name: give the replay a name (at most 80 characters).", fields={"name": "1-80 characters"})
    function = (values.get("function") or "").strip()
    if not 1 <= len(function) <= 200:
        raise InvalidInput("function: the function's dotted name is required.", fields={"function": "required"})
    since, until = _moment("since", values.get("since") or ""), _moment("until", values.get("until") or "")
    if since >= until:
        raise InvalidInput("until must be later than since.", fields={"until": "after since"})
    if since > (now or datetime.now(UTC)):
        raise InvalidInput("since is in the future: nothing has ended there yet.", fields={"since": "in the past"})
    try:
        rate = int(str(values.get("per_second") or "").strip())
    except ValueError:
        rate = 0
    if not 1 <= rate <= MAX_RATE:
        raise InvalidInput(f"per_second: a whole number from 1 to {MAX_RATE}.", fields={"per_second": f"1-{MAX_RATE}"})
    raw_states = values.get("states") or "failed"
    states = tuple(s for s in STATES if s in raw_states.split(","))
    if not states or set(raw_states.split(",")) - set(STATES):
        raise InvalidInput("states: failed, canceled, or both.", fields={"states": "failed and/or canceled"})
    queue = (values.get("queue") or "").strip()
    return ReplaySpec(name, function, since, until, rate, states, queue[:200])


@dataclass(frozen=True)
class Found:
    ids: list[str]
    more: bool  # more may match: past MAX_JOBS matches, or MAX_SCANNED jobs walked (narrow the window)


def matching(
    connection: redis.Redis, spec: ReplaySpec, unsafe: bool = False, on_window: Callable[[], object] | None = None
) -> Found:
    """The ids a replay covers now, oldest first per queue and state. Cost: two round trips per 500
    failed/canceled jobs of the queues walked; stops after MAX_JOBS + 1 matches or MAX_SCANNED jobs
    walked (a request that counts never walks a million-job registry). Never writes; `on_window` is
    called after each window (the runner's heartbeat)."""
    job_filter = JobFilter(func=spec.function, func_match="is", ended_after=spec.since.timestamp())
    queues = [spec.queue] if spec.queue else list_queue_names(connection)
    ids: list[str] = []
    scanned = 0
    for queue, state in ((q, s) for q in queues for s in spec.states):
        position = 0
        while window := ids_at(connection, queue, state, position, BULK_CHUNK, "oldest"):
            position += len(window)
            scanned += len(window)
            for row in read_rows(connection, window, unsafe, failures=True):
                if not job_filter.matches(row) or row.ended_at is None or row.ended_at > spec.until:
                    continue
                if len(ids) == MAX_JOBS:
                    return Found(ids, True)
                ids.append(row.id)
            if scanned >= MAX_SCANNED:
                return Found(ids, True)
            if on_window is not None:
                on_window()
    return Found(ids, False)


def start(connection: redis.Redis, spec: ReplaySpec, actor: str, confirmed: int) -> bulk.BulkStatus:
    """Record a replay (waiting for the runner) of at most `confirmed` jobs, the count the operator
    confirmed. Cost: two round trips."""
    op = bulk.start_record(connection, "retry", spec.describe(), confirmed, actor, status="waiting", **spec.to_record())
    pipe = connection.pipeline(transaction=False)
    pipe.expire(keys.bulk_operation(op.id), REPLAY_TTL)  # longer than a bulk action's day: its history page
    pipe.zadd(keys.replays(), {op.id: op.started_at})
    pipe.zremrangebyrank(keys.replays(), 0, -201)  # keep the newest 200
    pipe.execute()
    return op


def work(
    connection: redis.Redis,
    op: Operation,
    spec: ReplaySpec,
    limit: int,
    unsafe: bool = False,
    sleep: Callable[[float], object] = time.sleep,
) -> None:
    """The runner's work function: find the jobs again (at most `limit`), retry them `per_second` at
    a time, one batch a second, adding each batch's retried ids to the touched set. A job that left
    its failed/canceled state meanwhile (retried elsewhere, deleted) is left alone and counted so.
    Stops between batches when cancelled. Cost: one atomic retry script and two round trips a batch."""

    # Finding them again may take a while: the record's heartbeat keeps it from reading as interrupted.
    def alive() -> None:
        connection.hset(keys.bulk_operation(op.id), "updated_at", time.time())

    ids = matching(connection, spec, unsafe, on_window=alive).ids[:limit]
    connection.hset(keys.bulk_operation(op.id), "total", len(ids))
    retry = catalogue.get("retry")
    expected = tuple(s for state in spec.states for s in retry.expected_in(state))
    touched = keys.replay_touched(op.id)
    for start_at in range(0, len(ids), spec.per_second):
        if op.cancelled():
            op.finish("cancelled", "cancelled by an operator; the jobs not yet retried stay where they were")
            return
        began = time.monotonic()
        result = actions.perform(connection, "retry", ids[start_at : start_at + spec.per_second], expected)
        if result.succeeded:
            pipe = connection.pipeline(transaction=False)
            pipe.sadd(touched, *result.succeeded)
            pipe.expire(touched, REPLAY_TTL)
            pipe.execute()
        op.advance(len(result.outcomes), len(result.succeeded), len(result.skipped))
        if start_at + spec.per_second < len(ids):
            sleep(max(0.0, 1.0 - (time.monotonic() - began)))


@dataclass(frozen=True)
class Replay:
    op: bulk.BulkStatus
    name: str
    function: str
    queue: str

    @property
    def started(self) -> datetime:
        return datetime.fromtimestamp(self.op.started_at, UTC)


def read(connection: redis.Redis, op_id: str) -> Replay | None:
    """One replay (None when there is none by that id, or the operation is not a replay). Two round trips."""
    op = bulk.read(connection, op_id)
    if op is None:
        return None
    kind, name, function, queue = connection.hmget(keys.bulk_operation(op_id), "kind", "name", "function", "queue")
    if text(kind) != KIND:
        return None
    return Replay(op, text(name), text(function), text(queue))


def history(connection: redis.Redis, limit: int = 50) -> list[Replay]:
    """The newest replays still kept (REPLAY_TTL). Cost: 1 + 2 per replay round trips."""
    ids = [text(i) for i in connection.zrevrange(keys.replays(), 0, limit - 1)]  # type: ignore[arg-type]
    return [r for r in (read(connection, op_id) for op_id in ids) if r is not None]


def touched(connection: redis.Redis, op_id: str) -> frozenset[str] | None:
    """The ids a replay retried (at most MAX_JOBS); None when there is no such replay. Two round trips."""
    if read(connection, op_id) is None:
        return None
    return frozenset(text(i) for i in connection.smembers(keys.replay_touched(op_id)))
