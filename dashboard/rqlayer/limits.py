"""RQ 3's own concurrency limits (`RateLimit(key, concurrency)`): every limit key, the jobs holding its
slots, the jobs it holds back, stale slots, and the one write an operator makes (its concurrency).

RQ's data (rq/rate_limit.py, 3.0.0): `rl-keys` (set of limit keys), `rl:<key>` (hash, `concurrency`),
`rl:<key>:allowed` (zset of the jobs let through, queued or running, scored by when), and
`rl:<key>:rate_limited` (zset of the jobs held back, oldest first). A slot is *stale* when its job no
longer needs it — the hash is gone, or its status is neither queued nor started and no execution of it
is alive — RQ's own rule (`RateLimitRegistry._release_stale_allowed_jobs`, run by worker maintenance).

Every key of the wrong type (planted or corrupt) reads as empty and is named in `broken`; a
concurrency that is not a number reads as None. Nothing here reads an unbounded range: the list reads a
page of keys, a limit's page at most SLOTS_SHOWN slots and one page of its held-back line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from redis.client import Pipeline

from dashboard.rqlayer import feed, keys
from dashboard.rqlayer.decode import epoch, integer, text
from dashboard.rqlayer.errors import Conflict, InvalidInput, NotFound
from dashboard.rqlayer.jobs import read_rows
from dashboard.rqlayer.rows import JobRow, count_or_zero, reply_or, wrong_type
from dashboard.rqlayer.scripts import Scripts, args
from dashboard.rqlayer.vocabulary import ACTION_CHUNK, rq_time

KEY_PAGE = 50  # limit keys per page of the list
HELD_PAGE = 50  # held-back jobs per page of a limit
SLOTS_SHOWN = 200  # slot holders read on a limit's page (a healthy limit holds `concurrency` of them)
SLOTS_PREVIEW = 20  # slot holders the list checks for staleness, per key
MAX_KEY_CHARS = 1000
MAX_CONCURRENCY = 100_000
HOLDS_A_SLOT = ("queued", "started")  # RQ's statuses that legitimately hold a slot


@dataclass(frozen=True)
class RateLimitSummary:
    """One limit key's counts (the overview's table and the list). `concurrency` None: not readable."""

    key: str
    concurrency: int | None
    allowed: int
    held_back: int
    broken: tuple[str, ...] = ()  # its keys of the wrong type (read as empty)


def add_summary_commands(pipe: Pipeline, key: str) -> None:
    """Queue the three commands one summary needs (HGET, ZCARD, ZCARD) on `pipe`."""
    pipe.hget(keys.rate_limit_config(key), "concurrency")
    pipe.zcard(keys.rate_limit_allowed(key))
    pipe.zcard(keys.rate_limited(key))


def summary_from(key: str, replies: Iterator[Any]) -> RateLimitSummary:
    """The summary from the next three replies of add_summary_commands (errors read as empty)."""
    config, allowed, held = next(replies), next(replies), next(replies)
    broken = tuple(
        name
        for name, reply in (
            (keys.rate_limit_config(key), config),
            (keys.rate_limit_allowed(key), allowed),
            (keys.rate_limited(key), held),
        )
        if wrong_type(reply)
    )
    return RateLimitSummary(key, integer(reply_or(config, None)), count_or_zero(allowed), count_or_zero(held), broken)


# ---------------------------------------------------------------- the list


@dataclass(frozen=True)
class LimitItem:
    summary: RateLimitSummary
    stale: int  # stale slots among the first SLOTS_PREVIEW holders
    stale_exact: bool  # every holder was checked
    oldest_held_since: datetime | None


class _Paged:
    """Page links for a read model with `page` and `pages` (1-based)."""

    page: int
    pages: int

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


@dataclass(frozen=True)
class LimitList(_Paged):
    items: list[LimitItem]
    total: int
    page: int
    pages: int
    size: int
    broken: list[str] = field(default_factory=list)


def _one(connection: redis.Redis, command: Callable[[Pipeline], object]) -> Any:
    """One command's reply, or the error Redis answered (a key of another type) instead of raising it."""
    pipe = connection.pipeline(transaction=False)
    command(pipe)
    return pipe.execute(raise_on_error=False)[0]


def _pages(total: int, size: int, page: int) -> tuple[int, int]:
    pages = max(1, -(-total // size))
    return pages, min(max(1, page), pages)


def read_limits(connection: redis.Redis, page: int = 1, size: int = KEY_PAGE, now: float | None = None) -> LimitList:
    """A page of limit keys (sorted) with their concurrency, counts, oldest held-back job and stale
    slots among their first SLOTS_PREVIEW holders. Cost: three round trips — SMEMBERS of the key set
    (O(keys), as the overview's), then O(page × SLOTS_PREVIEW) pipelined commands. Never writes."""
    raw = _one(connection, lambda pipe: pipe.smembers(keys.rate_limit_keys()))
    broken = [keys.rate_limit_keys()] if wrong_type(raw) else []
    members: set[bytes] = reply_or(raw, set())
    names = sorted(text(k) for k in members)
    pages, page = _pages(len(names), size, page)
    shown = names[(page - 1) * size : page * size]
    pipe = connection.pipeline(transaction=False)
    for key in shown:
        add_summary_commands(pipe, key)
        pipe.zrange(keys.rate_limited(key), 0, 0, withscores=True)
        pipe.zrange(keys.rate_limit_allowed(key), 0, SLOTS_PREVIEW - 1)
    replies = iter(pipe.execute(raise_on_error=False))
    summaries, oldest, holders = [], [], []
    for key in shown:
        summaries.append(summary_from(key, replies))
        first: list[tuple[bytes, float]] = reply_or(next(replies), [])
        oldest.append(epoch(first[0][1]) if first else None)
        allowed: list[bytes] = reply_or(next(replies), [])
        holders.append([text(i) for i in allowed])
    stale = _stale_ids(connection, {i for ids in holders for i in ids}, now)
    items = [
        LimitItem(s, sum(1 for i in ids if i in stale), s.allowed <= len(ids), since)
        for s, since, ids in zip(summaries, oldest, holders, strict=True)
    ]
    broken += [name for s in summaries for name in s.broken]
    return LimitList(items, len(names), page, pages, size, broken)


def _stale_ids(connection: redis.Redis, job_ids: set[str], now: float | None = None) -> dict[str, str]:
    """{job id: why} for the slot holders that no longer need their slot (RQ's rule). Cost: one pipelined
    round trip, two commands per id."""
    if not job_ids:
        return {}
    ordered = sorted(job_ids)
    moment = time.time() if now is None else now
    pipe = connection.pipeline(transaction=False)
    for job_id in ordered:
        pipe.hget(keys.job(job_id), "status")
        pipe.zcount(keys.job_executions(job_id), f"({moment}", "+inf")
    replies = iter(pipe.execute(raise_on_error=False))
    stale = {}
    for job_id in ordered:
        status, alive = next(replies), next(replies)
        why = stale_reason(status, count_or_zero(alive) > 0)
        if why:
            stale[job_id] = why
    return stale


def stale_reason(status: Any, execution_alive: bool) -> str:
    """Why a slot holder with this status reply no longer needs its slot ("" when it does)."""
    if wrong_type(status):
        return "its job key holds another type"
    if status is None:
        return "the job no longer exists"
    word = text(status)
    if word in HOLDS_A_SLOT or execution_alive:
        return ""
    return f"the job is {word or 'without a status'}"


# ---------------------------------------------------------------- one limit


@dataclass(frozen=True)
class Slot:
    row: JobRow
    since: datetime | None  # when it got the slot (its score)
    stale: str  # why the slot is stale, "" when it is not


@dataclass(frozen=True)
class Held:
    row: JobRow
    since: datetime | None  # when it was held back (its score: RQ pops the lowest first)
    skipped: bool  # RQ drops it when its turn comes: the job is gone or no longer rate_limited


@dataclass(frozen=True)
class LimitDetail(_Paged):
    summary: RateLimitSummary
    registered: bool  # listed in rl-keys (RQ removes an idle limit from it, with its config)
    slots: list[Slot]
    held: list[tuple[int, Held]]  # (position in line, 1 = next) for one page, oldest first
    page: int
    pages: int
    size: int

    @property
    def key(self) -> str:
        return self.summary.key

    @property
    def stale_slots(self) -> list[Slot]:
        return [s for s in self.slots if s.stale]

    @property
    def slots_truncated(self) -> bool:
        return self.summary.allowed > len(self.slots)

    @property
    def free_slots(self) -> int | None:
        if self.summary.concurrency is None:
            return None
        return max(0, self.summary.concurrency - self.summary.allowed)


def valid_key(key: str) -> bool:
    """A string that may name a limit key here (bounded; RQ itself accepts any non-empty string)."""
    return 0 < len(key) <= MAX_KEY_CHARS


def read_limit(
    connection: redis.Redis,
    key: str,
    page: int = 1,
    size: int = HELD_PAGE,
    unsafe: bool = False,
    now: float | None = None,
) -> LimitDetail | None:
    """One limit: its summary, up to SLOTS_SHOWN slot holders (stale ones marked) and one page of its
    held-back line, oldest first (ZRANGE of the page: O(page) at any depth). None when the key is
    neither registered nor has any data. Cost: three round trips. Never writes."""
    if not valid_key(key):
        return None
    pipe = connection.pipeline(transaction=False)
    add_summary_commands(pipe, key)
    pipe.sismember(keys.rate_limit_keys(), key)
    pipe.exists(keys.rate_limit_config(key))
    pipe.zrange(keys.rate_limit_allowed(key), 0, SLOTS_SHOWN - 1, withscores=True)
    replies = iter(pipe.execute(raise_on_error=False))
    summary = summary_from(key, replies)
    registered = bool(reply_or(next(replies), 0))
    has_config = bool(reply_or(next(replies), 0))
    slot_reply: list[tuple[bytes, float]] = reply_or(next(replies), [])
    slot_entries = [(text(i), score) for i, score in slot_reply]
    if not (registered or has_config or summary.allowed or summary.held_back or summary.broken):
        return None
    pages, page = _pages(summary.held_back, size, page)
    start = (page - 1) * size
    held_entries: list[tuple[str, float]] = []
    if summary.held_back:  # a held-back set of another type counts 0: never read
        held_reply: list[tuple[bytes, float]] = reply_or(
            _one(
                connection, lambda pipe: pipe.zrange(keys.rate_limited(key), start, start + size - 1, withscores=True)
            ),
            [],
        )
        held_entries = [(text(i), score) for i, score in held_reply]

    slot_ids = [i for i, _ in slot_entries]
    rows = read_rows(connection, slot_ids + [i for i, _ in held_entries], unsafe)
    stale = _stale_ids(connection, set(slot_ids), now)
    slots = [
        Slot(row, epoch(score), stale.get(job_id, ""))
        for (job_id, score), row in zip(slot_entries, rows[: len(slot_ids)], strict=True)
    ]
    held = [
        (start + n + 1, Held(row, epoch(score), not row.exists or row.status != "rate_limited"))
        for n, ((_, score), row) in enumerate(zip(held_entries, rows[len(slot_ids) :], strict=True))
    ]
    return LimitDetail(summary, registered, slots, held, page, pages, size)


# ---------------------------------------------------------------- the one write


@dataclass(frozen=True)
class ConcurrencyChange:
    key: str
    before: int | None  # None: it had no readable concurrency
    after: int
    promoted: list[str]  # held-back jobs moved onto their queue because the change freed slots


def parse_concurrency(raw: Any) -> int:
    """A concurrency from a form or JSON: a whole number 1..MAX_CONCURRENCY, else InvalidInput."""
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise InvalidInput("concurrency must be a whole number", fields={"concurrency": "a whole number"})
    try:
        value = int(raw.strip()) if isinstance(raw, str) else raw
    except ValueError:
        raise InvalidInput("concurrency must be a whole number", fields={"concurrency": "a whole number"}) from None
    if not 1 <= value <= MAX_CONCURRENCY:
        message = f"concurrency must be between 1 and {MAX_CONCURRENCY:,}"
        raise InvalidInput(message, fields={"concurrency": message})
    return value


def _refuse(key: str, reply: list[str]) -> None:
    """The layer error for a refusal of the script, if it refused."""
    if reply[0] == "missing":
        raise NotFound(f"There is no concurrency limit {key[:80]!r} (RQ drops a limit nobody uses).")
    if reply[0] == "broken":
        raise Conflict(f"The limit {key[:80]!r} cannot be changed: one of its keys holds another type.")
    if reply[0] == "changed":
        raise Conflict(f"The concurrency of {key[:80]!r} changed meanwhile (it is now {reply[1] or 'unset'}): reload.")
    if reply[0] != "ok":
        raise InvalidInput("The concurrency could not be set.")


def set_concurrency(
    connection: redis.Redis, key: str, concurrency: int, actor: str, expected: int | None = None
) -> ConcurrencyChange:
    """Set a limit's concurrency and fill the slots that frees with held-back jobs, oldest first, as
    RQ's release does; then append one `concurrency_changed` event. `expected`: the value the operator
    saw (Conflict when it changed meanwhile). Cost: one atomic script, plus one more per ACTION_CHUNK
    jobs promoted. Guarantee: the value and the promotions of each call are one atomic step; a key of
    the wrong type is refused before any write (Conflict); an unknown key is NotFound."""
    if not valid_key(key):
        raise NotFound("There is no such concurrency limit.")
    script = Scripts.get(connection, "set_concurrency")
    seen = "" if expected is None else str(expected)
    promoted: list[str] = []
    before: int | None = None
    for chunk in range(MAX_CONCURRENCY // ACTION_CHUNK + 1):
        now = datetime.now(UTC)
        option = f"{concurrency}:{seen}:{ACTION_CHUNK}"
        reply = [text(r) for r in script(keys=[], args=args(repr(now.timestamp()), rq_time(now), option, [key]))]
        if reply[0] == "changed" and chunk:
            break  # our change went through; someone changed it since: their value stands, stop filling
        _refuse(key, reply)
        if not chunk:
            before = integer(reply[1])
        promoted += reply[3:]
        if int(reply[2]) < ACTION_CHUNK:
            break  # the held-back line is empty or every slot is taken
        seen = str(concurrency)  # the next chunk only while nobody changed it since
    change = ConcurrencyChange(key, before, concurrency, promoted)
    extra = {"limit": key, "to": concurrency, "from": "" if before is None else before, "promoted": len(promoted)}
    feed.record(connection, feed.CONCURRENCY_CHANGED, actor, extra=extra)
    return change
