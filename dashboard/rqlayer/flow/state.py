"""Per-queue pause and rate limit in Redis: what the console writes, and what its pages read.

The state lives in Redis next to RQ's data (keys.flow_state(): one small hash for every queue), so it
survives console restarts and deploys exactly as long as the jobs do. Every write is one MULTI: the
HSET/HDEL, then a PUBLISH on keys.flow_changes() that tells extension workers to re-read the hash at once
(they re-read it at least every second anyway, so a lost message only delays a change by that much).
PUBLISH answers how many workers listen: `Change.told`, which the pages report (stock RQ workers ignore
pauses and limits; see flow/worker.py for what ConsoleWorker does).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from redis.client import Pipeline

from dashboard.rqlayer import keys
from dashboard.rqlayer.decode import integer, number, text
from dashboard.rqlayer.errors import Conflict
from dashboard.rqlayer.flow.model import (
    LIMIT,
    PAUSE,
    FlowBook,
    QueueFlow,
    limit_value,
    parse_book,
    parse_limit,
    parse_pause,
    pause_value,
)
from dashboard.rqlayer.rows import count_or_zero, wrong_type

# The take script's parameters (flow/take.lua): how early a worker may take the next token (absorbs the
# wake-up latency of a worker that slept until its turn), the rate counters' window, and how long an
# unused limiter's state stays (its counters are only the recent rate; the limit itself is in flow_state).
TOLERANCE_MS = 50
RATE_WINDOW_MS = 10_000
LIMITER_TTL_MS = 3_600_000
THROTTLED_WITHIN_MS = 2_000  # a token refused this recently: the queue is being held back now
EXTENSION_FIELD = "console_flow"  # in a worker's hash: it runs flow/worker.py (pauses and limits honoured)
MAX_WORKERS_READ = 500  # a queue page reads at most this many of the queue's workers


@dataclass(frozen=True)
class LimiterStats:
    rate_per_second: float  # tokens taken over the last ~10 s (a sliding-window estimate)
    taken: int  # tokens taken since the limiter's state was created (it expires after an idle hour)
    throttled: bool  # a worker was refused a token within the last 2 s


@dataclass(frozen=True)
class QueueFlowView:
    """What a queue page shows about its flow: the state, its limiter's rate, how many jobs wait because
    of it, and how many of the queue's workers honour it."""

    flow: QueueFlow
    now: float
    queued: int
    stats: LimiterStats | None
    workers: int  # live workers listening on the queue
    honouring: int  # of them, those running the extension

    @property
    def paused(self) -> bool:
        return self.flow.paused(self.now)

    @property
    def waiting(self) -> int:
        """Jobs held back by the pause or the limit: the queue's length while it is paused or throttled."""
        held = self.paused or (self.stats is not None and self.stats.throttled)
        return self.queued if held else 0

    @property
    def stock_workers(self) -> int:
        return self.workers - self.honouring


@dataclass(frozen=True)
class Change:
    flow: QueueFlow  # the queue's state after the change
    changed: bool  # False: it already was so (a resume of a running queue, a clear of no limit)
    told: int  # extension workers that received the change notice


# ---------------------------------------------------------------- reads


def add_book_command(pipe: Pipeline) -> None:
    """Queue the read of every queue's flow state on `pipe` (read the reply with book_from)."""
    pipe.hgetall(keys.flow_state())


def book_from(reply: object) -> tuple[FlowBook, bool]:
    """The book from an HGETALL reply; (empty book, True) when the key holds another type (broken)."""
    if wrong_type(reply) or not isinstance(reply, dict):
        return FlowBook(), True
    return parse_book(reply), False


def read_book(connection: redis.Redis) -> FlowBook:
    """Every queue's flow state. Cost: one HGETALL of a hash of two small fields per controlled queue."""
    pipe = connection.pipeline(transaction=False)
    add_book_command(pipe)
    return book_from(pipe.execute(raise_on_error=False)[0])[0]


def limiter_stats(fields: dict[bytes, bytes], now_ms: int) -> LimiterStats:
    """The limiter's counters (take.lua) as a rate: the previous window weighted by how much of it the
    last RATE_WINDOW_MS still covers, plus the current one. Pure; tolerant of missing fields."""
    values = {text(k): v for k, v in fields.items()}
    start = integer(values.get("win")) or 0
    current, previous = integer(values.get("cur")) or 0, integer(values.get("prev")) or 0
    if now_ms - start >= 2 * RATE_WINDOW_MS:
        current = previous = 0
    elif now_ms - start >= RATE_WINDOW_MS:
        start, previous, current = start + RATE_WINDOW_MS, current, 0
    covered = max(0.0, 1 - (now_ms - start) / RATE_WINDOW_MS)
    rate = (previous * covered + current) / (RATE_WINDOW_MS / 1000)
    denied = number(values.get("denied_at"))
    return LimiterStats(
        round(rate, 2),
        integer(values.get("taken")) or 0,
        denied is not None and now_ms - denied < THROTTLED_WITHIN_MS,
    )


def read_queue(connection: redis.Redis, queue: str) -> QueueFlowView:
    """One queue's flow state, limiter rate, queued count and workers. Cost: two pipelined round trips
    (the second reads one field pair of each of the queue's workers, at most MAX_WORKERS_READ). Never
    writes; keys of the wrong type read as empty."""
    pipe = connection.pipeline(transaction=False)
    pipe.hmget(keys.flow_state(), [PAUSE + queue, LIMIT + queue])
    pipe.hgetall(keys.flow_limiter(queue))
    pipe.llen(keys.queue(queue))
    pipe.smembers(keys.workers_of_queue(queue))
    pipe.time()
    state, limiter, queued, members, clock = pipe.execute(raise_on_error=False)
    pause_raw, limit_raw = (None, None) if wrong_type(state) else state
    flow = QueueFlow(
        queue,
        parse_pause(pause_raw) if pause_raw is not None else None,
        parse_limit(limit_raw) if limit_raw is not None else None,
    )
    now_ms = int(clock[0]) * 1000 + int(clock[1]) // 1000 if isinstance(clock, tuple) else int(time.time() * 1000)
    stats = None
    if flow.limit is not None:
        stats = limiter_stats({} if wrong_type(limiter) else limiter, now_ms)
    live, honouring = _workers(connection, [] if wrong_type(members) else sorted(members)[:MAX_WORKERS_READ])
    return QueueFlowView(flow, now_ms / 1000, count_or_zero(queued), stats, live, honouring)


def _workers(connection: redis.Redis, worker_keys: list[bytes]) -> tuple[int, int]:
    if not worker_keys:
        return 0, 0
    pipe = connection.pipeline(transaction=False)
    for key in worker_keys:
        pipe.hmget(key, [EXTENSION_FIELD, "death", "birth"])
    live = honouring = 0
    for reply in pipe.execute(raise_on_error=False):
        if wrong_type(reply) or reply[2] is None or reply[1] is not None:
            continue  # gone (no hash), dead, or not a worker's hash
        live += 1
        honouring += reply[0] is not None
    return live, honouring


# ---------------------------------------------------------------- writes (one MULTI each, then workers are told)


def _write(connection: redis.Redis, queue: str, commands: Callable[[Pipeline], object]) -> tuple[list[Any], int]:
    pipe = connection.pipeline(transaction=True)
    pipe.hmget(keys.flow_state(), [PAUSE + queue, LIMIT + queue])
    commands(pipe)
    pipe.publish(keys.flow_changes(), queue)
    try:
        replies = pipe.execute()
    except redis.ResponseError as error:
        if "WRONGTYPE" not in str(error):
            raise
        # The HSET/HDEL on that key failed with it (a MULTI runs every command): nothing was changed.
        raise Conflict(
            f"Nothing changed: the key {keys.flow_state()} holds another type of value than the console "
            "writes (planted or corrupt). Inspect it with redis-cli TYPE before removing it."
        ) from None
    return replies, int(replies[-1])


def _flow(queue: str, pause_raw: object, limit_raw: object) -> QueueFlow:
    return QueueFlow(
        queue,
        parse_pause(pause_raw) if isinstance(pause_raw, bytes | str) else None,
        parse_limit(limit_raw) if isinstance(limit_raw, bytes | str) else None,
    )


def pause(
    connection: redis.Redis, queue: str, actor: str, until: float | None = None, now: float | None = None
) -> Change:
    """Pause `queue` (until `until`, epoch seconds, or until resumed). A new pause replaces the previous
    one (its author, time and end). Cost: one MULTI. InvalidInput for an end in the past or too far."""
    now = time.time() if now is None else now
    value = pause_value(actor, now, until)
    replies, told = _write(connection, queue, lambda pipe: pipe.hset(keys.flow_state(), PAUSE + queue, value))
    before = _flow(queue, *replies[0])
    after = QueueFlow(queue, parse_pause(value), before.limit)
    return Change(after, True, told)


def resume(connection: redis.Redis, queue: str, now: float | None = None) -> Change:
    """End `queue`'s pause (also one whose end already passed). `changed`: it was paused. Cost: one MULTI."""
    now = time.time() if now is None else now
    replies, told = _write(connection, queue, lambda pipe: pipe.hdel(keys.flow_state(), PAUSE + queue))
    before = _flow(queue, *replies[0])
    return Change(QueueFlow(queue, None, before.limit), before.paused(now), told)


def set_limit(
    connection: redis.Redis, queue: str, amount: float, unit: str, actor: str, now: float | None = None
) -> Change:
    """Limit `queue` to `amount` jobs per `unit` (validated by model.limit_from), shared by all its
    workers. The limiter's timing is kept, so changing a limit never lets a burst through. Cost: one MULTI."""
    limit, value = limit_value(amount, unit, actor, time.time() if now is None else now)
    replies, told = _write(connection, queue, lambda pipe: pipe.hset(keys.flow_state(), LIMIT + queue, value))
    before = _flow(queue, *replies[0])
    return Change(QueueFlow(queue, before.pause, limit), before.limit != limit, told)


def clear_limit(connection: redis.Redis, queue: str) -> Change:
    """Remove `queue`'s rate limit and its limiter's counters. `changed`: it had one. Cost: one MULTI."""

    def commands(pipe: Pipeline) -> None:
        pipe.hdel(keys.flow_state(), LIMIT + queue)
        pipe.delete(keys.flow_limiter(queue))

    replies, told = _write(connection, queue, commands)
    before = _flow(queue, *replies[0])
    return Change(QueueFlow(queue, before.pause, None), before.limit is not None, told)
