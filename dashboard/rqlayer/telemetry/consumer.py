"""The history collector's side of the event stream (Flask-free): the consumer group `history`, batches of
end events enriched from their job hashes, acknowledgement, and the collector's status for the pages.

Delivery is at least once: an entry stays in the group's pending list until `ack`, which the collector
sends only after its SQL commit; SQL's unique (job_id, attempt) makes a re-delivery a no-op. After a
restart a consumer first re-reads its own pending entries (XREADGROUP ... 0), then takes over the pending
entries of consumers idle for `claim_idle_ms` (XAUTOCLAIM: a collector that died on another host), then
reads new entries (XREADGROUP ... > COUNT n BLOCK ms).

A *gap* is entries trimmed (the stream is capped) before the group read them: detected before each read of
new entries from XINFO STREAM / XINFO GROUPS (the stream's first entry beyond the group's last delivered id;
Redis 7 also counts the entries lost, Redis 6.2 cannot, so there an idle stream emptied by the age cap
reads as a gap too) and reported in the status hash.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from redis import Redis
from redis.exceptions import ResponseError

from dashboard.rqlayer import keys
from dashboard.rqlayer.decode import epoch, integer, text
from dashboard.rqlayer.telemetry.events import Event, _event
from dashboard.rqlayer.telemetry.outcome import (
    END_TYPES,
    GROUPED,
    JOB_FIELDS,
    Outcome,
    from_event,
    hash_fields,
    needs_job_hash,
)

GROUP = "history"
LAG_PROBE = 1000  # Redis < 7: the lag is counted by reading at most this many entries
STATUS_TTL = 7 * 86400
RUNNING_WITHIN = 30.0  # seconds: a collector whose heartbeat is older is "not running"
Entries = list[tuple[bytes, dict[bytes, bytes] | None]]


def _id(raw: bytes | str) -> tuple[int, int]:
    ms, _, seq = text(raw).partition("-")
    return (int(ms or 0), int(seq or 0))


@dataclass(frozen=True)
class StreamInfo:
    """The group's position before a read of new entries."""

    last_delivered: str
    pending: int
    lag: int | None  # None: Redis < 7 and the group is inside the stream (counted later if needed)
    gap: tuple[str, str] | None  # (last id read, first id left) when unread entries were trimmed
    lost: int | None = None  # how many (Redis 7), when there is a gap


@dataclass
class Batch:
    """Entries read in one call: `origin` is "pending" (this consumer's, re-read), "claimed" (another
    consumer's) or "new". `ids`: every entry (all are acknowledged); `end_events`: the worker end events
    among them (the rest is ignored); `lost`: entries trimmed while pending (no fields left); `poisoned`:
    end events whose fields cannot be read (acknowledged with the rest, never written: one hostile entry
    must not hold the group's pending list for ever)."""

    ids: list[str]
    end_events: list[Event]
    origin: str
    info: StreamInfo | None = None
    lost: int = 0
    poisoned: int = 0


_END = {kind.encode() for kind in END_TYPES}


def _batch(raw: Any, origin: str, info: StreamInfo | None = None) -> Batch:
    """Only end events are decoded (a started event or a console action costs one dict lookup)."""
    ids: list[str] = []
    events: list[Event] = []
    lost = poisoned = 0
    for entry_id, fields in cast(Entries, raw or []):
        ids.append(text(entry_id))
        if not fields:
            lost += 1
        elif fields.get(b"type") in _END:
            try:
                events.append(_event(entry_id, fields))
            except (ValueError, TypeError, OverflowError):  # e.g. at="²": isdigit() but not int()
                poisoned += 1
    return Batch(ids, events, origin, info, lost, poisoned)


def ensure_group(connection: Redis, group: str = GROUP, start: str = "0") -> None:
    """Create the group at id `start` (0: every event still in the stream is read; "$": only new ones), the
    stream with it. O(1). Other consumers of the stream (the webhook dispatcher) pass their own group."""
    try:
        connection.xgroup_create(keys.events(), group, id=start, mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


def _stream_info(stream: Any, groups: Any, name: str = GROUP) -> StreamInfo:
    """The group's position, its lag when it is certain, and a gap. Trimming removes the oldest entries, so
    unread entries were lost only when the stream's first entry is beyond the last one delivered; Redis 7
    also says how many (entries-added - entries-read - length), Redis 6.2 cannot. Redis' own `lag` field is
    not used: after a trim it still counts the trimmed entries."""
    group: dict[str, Any] = next((g for g in (groups or []) if text(g.get("name")) == name), {})
    last = text(group.get("last-delivered-id"), "0-0")
    pending = integer(group.get("pending"), 0) or 0
    info = stream if isinstance(stream, dict) else {}
    first = info.get("first-entry")
    first_id = text(first[0]) if first and first[0] else None
    length = integer(info.get("length"), 0) or 0
    if first_id is None or text(info.get("last-generated-id")) == last:
        return StreamInfo(last, pending, 0, None)
    if _id(first_id) <= _id(last):
        return StreamInfo(last, pending, None, None)  # inside the stream: counted by the caller if needed
    added, read = integer(info.get("entries-added")), integer(group.get("entries-read"))
    lost = added - read - length if added is not None and read is not None else None
    gap = (last, first_id) if last != "0-0" and (lost is None or lost > 0) else None
    return StreamInfo(last, pending, length, gap, lost if gap else None)


class StreamReader:
    """Reads batches for one consumer name (keep it stable across restarts: the host, or a setting) of one
    consumer group (the history collector's by default)."""

    def __init__(
        self,
        connection: Redis,
        consumer: str,
        count: int = 500,
        block_ms: int = 1000,
        claim_idle_ms: int = 60_000,
        group: str = GROUP,
    ) -> None:
        self.connection = connection
        self.group = group
        self.consumer = consumer
        self.count = max(1, int(count))
        self.block_ms = max(0, int(block_ms))
        self.claim_idle_ms = max(1000, int(claim_idle_ms))
        self._own_pending_done = False
        self._claim_cursor = "0-0"
        self._next_claim = 0.0

    def read(self) -> Batch:
        """One batch: own pending entries first, then claimed ones (a round every claim_idle_ms, 30 s at
        most), then new ones (blocking up to block_ms). One round trip each (XINFO x2 ride with XREADGROUP)."""
        stream = keys.events()
        if not self._own_pending_done:
            reply = self._group_read({stream: "0"}, None)
            batch = _batch(reply[0][1] if reply else [], "pending")
            if batch.ids:
                return batch
            self._own_pending_done = True
        if time.monotonic() >= self._next_claim:
            claimed = self._claim()
            if claimed.ids:
                return claimed
        pipe = self.connection.pipeline(transaction=False)
        pipe.xinfo_stream(stream)
        pipe.xinfo_groups(stream)
        pipe.xreadgroup(self.group, self.consumer, {stream: ">"}, count=self.count, block=self.block_ms or None)
        info_reply, groups_reply, read_reply = pipe.execute(raise_on_error=False)
        if isinstance(read_reply, ResponseError):
            if "NOGROUP" not in str(read_reply):
                raise read_reply
            ensure_group(self.connection, self.group)  # the stream was deleted: start again
            return Batch([], [], "new")
        info = _stream_info(info_reply, groups_reply if isinstance(groups_reply, list) else [], self.group)
        return _batch(read_reply[0][1] if read_reply else [], "new", info)

    def _group_read(self, streams: dict[str, str], block: int | None) -> Any:
        try:
            reply = self.connection.xreadgroup(
                self.group, self.consumer, dict(streams.items()), count=self.count, block=block
            )
            return reply
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            ensure_group(self.connection, self.group)
            return []

    def _claim(self) -> Batch:
        try:
            reply = self.connection.xautoclaim(
                keys.events(),
                self.group,
                self.consumer,
                self.claim_idle_ms,
                start_id=self._claim_cursor,
                count=self.count,
            )
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            ensure_group(self.connection, self.group)
            return Batch([], [], "claimed")
        self._claim_cursor = text(reply[0]) or "0-0"
        if self._claim_cursor == "0-0":  # a full round of the pending list: again in a while
            self._next_claim = time.monotonic() + min(30.0, self.claim_idle_ms / 1000)
        return _batch(reply[1], "claimed")

    def ack(self, ids: Sequence[str]) -> None:
        """XACK the ids (after the SQL commit). O(len(ids))."""
        for start in range(0, len(ids), 1000):
            self.connection.xack(keys.events(), self.group, *ids[start : start + 1000])

    def count_lag(self, after: str) -> tuple[int, bool]:
        """(entries after `after`, whether the count stopped at LAG_PROBE): for Redis < 7 only."""
        found = cast(list[Any], self.connection.xrange(keys.events(), min=f"({after}", max="+", count=LAG_PROBE))
        return len(found), len(found) >= LAG_PROBE


def enrich(
    connection: Redis,
    events: Sequence[Event],
    attributes: Sequence[str] = (),
    on_skip: Callable[[Event], None] | None = None,
) -> list[Outcome]:
    """The outcomes of end events, with what the events lack read in ONE pipeline: HMGET of JOB_FIELDS of
    the job hashes that are needed (failures, unknown start, promoted attributes) and XREVRANGE COUNT 1 of
    the results stream of failures (RQ 3 keeps the traceback there). Never unpickles: meta is read through
    the restricted decoder. An event that cannot be built (hostile fields) is left out and passed to
    `on_skip`."""
    needed = [e for e in events if needs_job_hash(e, attributes)]
    replies: dict[int, tuple[dict[str, Any], Any]] = {}
    if needed:
        pipe = connection.pipeline(transaction=False)
        for event in needed:
            pipe.hmget(keys.job(event.job_id), list(JOB_FIELDS))
            if END_TYPES[event.type] in GROUPED:
                pipe.xrevrange(keys.results(event.job_id), count=1)
        raw = iter(pipe.execute(raise_on_error=False))
        for event in needed:
            fields = hash_fields(next(raw), JOB_FIELDS)
            result = next(raw) if END_TYPES[event.type] in GROUPED else None
            replies[id(event)] = (fields, result if isinstance(result, list) else None)
    outcomes = []
    for event in events:
        job, result = replies.get(id(event), ({}, None))
        try:
            outcome = from_event(event, job, result, attributes)
        except (ValueError, TypeError, OverflowError):  # hostile fields: skip the entry, never the batch
            if on_skip is not None:
                on_skip(event)
            continue
        if outcome is not None and outcome.job_id:
            outcomes.append(outcome)
    return outcomes


# ---------------------------------------------------------------- status (for the history page)


@dataclass(frozen=True)
class CollectorStatus:
    """What the collector last said about itself. `running`: its heartbeat is recent."""

    seen: bool
    running: bool
    heartbeat_at: datetime | None = None
    last_batch_at: datetime | None = None
    lag: int | None = None
    lag_capped: bool = False
    pending: int = 0
    gap_at: datetime | None = None
    gap: str = ""
    last_error: str = ""
    last_error_at: datetime | None = None
    consumer: str = ""
    written_total: int = 0

    @property
    def gap_seen(self) -> bool:
        return self.gap_at is not None

    @property
    def behind(self) -> bool:
        return bool(self.lag)


def write_status(connection: Redis, fields: Mapping[str, str | int | float], written: int = 0) -> None:
    """Update the status hash (one pipeline: HSET, HINCRBY of the total written, EXPIRE)."""
    pipe = connection.pipeline(transaction=False)
    pipe.hset(keys.history_collector(), mapping={k: v for k, v in fields.items()})
    if written:
        pipe.hincrby(keys.history_collector(), "written_total", written)
    pipe.expire(keys.history_collector(), STATUS_TTL)
    pipe.execute()


def collector_status(connection: Redis, now: float | None = None) -> CollectorStatus:
    """The collector's status from its hash: one HGETALL; a collector never started reads as not seen, a key
    of another type (planted) as a collector that is not running and says so."""
    try:
        raw = cast(dict[bytes, bytes], connection.hgetall(keys.history_collector()))
    except ResponseError as error:  # WRONGTYPE: the page says it instead of failing
        return CollectorStatus(seen=True, running=False, last_error=f"status unreadable: {error}"[:500])
    values = {text(k): text(v) for k, v in raw.items()}
    if not values:
        return CollectorStatus(seen=False, running=False)
    now = time.time() if now is None else now
    heartbeat = epoch(values.get("heartbeat_at") or None)
    running = heartbeat is not None and now - heartbeat.timestamp() <= RUNNING_WITHIN
    lag = integer(values.get("lag")) if values.get("lag", "") != "" else None
    return CollectorStatus(
        seen=True,
        running=running,
        heartbeat_at=heartbeat,
        last_batch_at=epoch(values.get("last_batch_at") or None),
        lag=lag,
        lag_capped=values.get("lag_capped") == "1",
        pending=integer(values.get("pending"), 0) or 0,
        gap_at=epoch(values.get("gap_at") or None),
        gap=values.get("gap", ""),
        last_error=values.get("last_error", "")[:500],
        last_error_at=epoch(values.get("last_error_at") or None),
        consumer=values.get("consumer", ""),
        written_total=integer(values.get("written_total"), 0) or 0,
    )


def read_state(connection: Redis) -> dict[str, str]:
    """The collector's cursors and due times (one HGETALL of a small hash; a key of another type reads as
    none: the cursors start again, which the (job_id, attempt) key makes harmless)."""
    try:
        raw = cast(dict[bytes, bytes], connection.hgetall(keys.history_state()))
    except ResponseError:
        return {}
    return {text(k): text(v) for k, v in raw.items()}


def write_state(connection: Redis, fields: Mapping[str, str | int | float]) -> None:
    if fields:
        connection.hset(keys.history_state(), mapping={k: v for k, v in fields.items()})
