"""The job event stream: one capped Redis stream that workers and console actions append to.

Each entry's fields: `type`, `job_id`, `queue`, `function`, `at` (epoch milliseconds), `worker`,
`exc_type` (failures), plus a few optional extra fields (console actions: `actor`, `count`, ...).
Worker types: started, finished, failed, retry_scheduled, stopped, abandoned.

The worker's END events (every type but `started`, written by metrics.record_end.lua in RQ's own
end-of-job transaction) carry what one SQL history row needs without the job hash (a finished job
may already be gone, result_ttl=0), as extra fields, each omitted when unknown:
    started_at, enqueued_at   epoch milliseconds (decimal strings); `at` is when the execution ended
    run_us                    ended - started, whole microseconds
    wait_us                   started - enqueued, whole microseconds
The exception's type is `exc_type`; its message is never put in the stream (it is in the failed
job's hash, `exc_info`). `started` events have the core fields only. The stream is capped
by length (XADD MAXLEN ~ EVENTS_MAXLEN) and by age (XTRIM MINID ~ now - EVENTS_MAX_AGE), both
approximate: Redis trims whole nodes, so a little more than the cap can remain.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import ResponseError

from dashboard.rqlayer import keys
from dashboard.rqlayer.telemetry.layout import bound
from dashboard.settings import TelemetrySettings

WORKER_TYPES = ("started", "finished", "failed", "retry_scheduled", "stopped", "abandoned")
CORE_FIELDS = ("type", "job_id", "queue", "function", "at", "worker", "exc_type")
TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
CURSOR_PATTERN = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")
MAX_EXTRA = 16
VALUE_LIMIT = 1000
MAX_COUNT = 1000
MAX_SCAN = 10_000
Entries = list[tuple[bytes, dict[bytes, bytes]]]


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    job_id: str
    queue: str
    function: str
    at: int
    worker: str = ""
    exc_type: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EventPage:
    """Events after a cursor; `cursor` is where the next read continues (pass it as `after`).
    `more` says the read stopped at its bound: read again at once rather than wait."""

    events: list[Event]
    cursor: str
    more: bool


def event_fields(
    type_: str,
    *,
    job_id: str = "",
    queue: str = "",
    function: str = "",
    worker: str = "",
    exc_type: str = "",
    at_ms: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> list[str]:
    """The flat field/value list of one entry, every value bounded; ValueError for a bad type or extra."""
    if not TYPE_PATTERN.match(type_):
        raise ValueError(f"event type must match {TYPE_PATTERN.pattern}, got {type_[:40]!r}")
    at = int(time.time() * 1000) if at_ms is None else int(at_ms)
    flat = ["type", type_, "job_id", bound(job_id), "queue", bound(queue), "function", bound(function)]
    flat += ["at", str(at), "worker", bound(worker), "exc_type", bound(exc_type)]
    for name, value in (extra or {}).items():
        if name in CORE_FIELDS or not TYPE_PATTERN.match(name):
            raise ValueError(f"bad extra event field name {name[:40]!r}")
        flat += [name, bound(str(value), VALUE_LIMIT)]
    if len(flat) > 2 * (len(CORE_FIELDS) + MAX_EXTRA):
        raise ValueError(f"at most {MAX_EXTRA} extra event fields")
    return flat


def min_id(settings: TelemetrySettings, now: float | None = None) -> str:
    """The stream id below which entries are older than EVENTS_MAX_AGE."""
    now = time.time() if now is None else now
    return f"{max(0, int((now - settings.events_max_age) * 1000))}-0"


def append_event(
    target: Redis | Pipeline, type_: str, settings: TelemetrySettings | None = None, **fields: Any
) -> None:
    """Append one event (XADD MAXLEN ~ + XTRIM MINID ~ in one EVAL): added to `target` when it is a
    pipeline (it runs with it), else sent in one round trip. `fields` as for `event_fields`; an
    unwritable stream is ignored, never raised."""
    settings = settings or TelemetrySettings()
    flat = event_fields(type_, **fields)
    commands = target if isinstance(target, Pipeline) else target.pipeline(transaction=False)
    add_event_commands(commands, flat, settings)
    if commands is not target:
        commands.execute()


# XADD MAXLEN ~ then (when a min id is given) XTRIM MINID ~, through redis.pcall: an event that cannot be
# written (the key holds another type, a Redis older than 6.2) must never fail the transaction it rides in.
APPEND = """
redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 3))
if ARGV[2] ~= '' then redis.pcall('XTRIM', KEYS[1], 'MINID', '~', ARGV[2]) end
return 1
"""


# A SimpleWorker's end event, and its started event when the job ended within a second (telemetry/simple.py),
# built here from one set of arguments (each one the worker sends costs it a packing): KEYS[1] the stream;
# ARGV 1 maxlen, 2 the started event's `at` ('' = none), 3 type, 4 job_id, 5 queue, 6 function, 7 at,
# 8 worker, 9 exc_type, 10 started_at, 11 enqueued_at, 12 run_us, 13 wait_us ('' = unknown: left out).
APPEND_END = """
if ARGV[2] ~= '' then
  redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'type', 'started', 'job_id', ARGV[4], 'queue', ARGV[5],
              'function', ARGV[6], 'worker', ARGV[8], 'exc_type', '', 'at', ARGV[2])
end
local e = {'type', ARGV[3], 'job_id', ARGV[4], 'queue', ARGV[5], 'function', ARGV[6], 'at', ARGV[7],
           'worker', ARGV[8], 'exc_type', ARGV[9]}
local names = {'started_at', 'enqueued_at', 'run_us', 'wait_us'}
for i = 1, 4 do
  if ARGV[9 + i] ~= '' then e[#e + 1] = names[i]; e[#e + 1] = ARGV[9 + i] end
end
redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(e))
return 1
"""


def add_event_commands(pipe: Pipeline, flat: Sequence[str], settings: TelemetrySettings, trim_age: bool = True) -> None:
    """One EVAL added to `pipe`: XADD MAXLEN ~ (and XTRIM MINID ~ unless `trim_age` is False)."""
    oldest = min_id(settings) if trim_age else ""
    pipe.eval(APPEND, 1, keys.events(), str(settings.events_maxlen), oldest, *flat)


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _event(entry_id: bytes | str, raw: Mapping[Any, Any]) -> Event:
    values = {_text(k): _text(v) for k, v in raw.items()}
    at = values.get("at", "")
    return Event(
        id=_text(entry_id),
        type=values.get("type", ""),
        job_id=values.get("job_id", ""),
        queue=values.get("queue", ""),
        function=values.get("function", ""),
        at=int(at) if at.isascii() and at.isdigit() else 0,  # "²".isdigit() is True, int("²") raises
        worker=values.get("worker", ""),
        exc_type=values.get("exc_type", ""),
        extra={k: v for k, v in values.items() if k not in CORE_FIELDS},
    )


def wrong_type(error: ResponseError) -> bool:
    """Redis refused a command because the key holds another type (planted or broken data)."""
    return str(error).startswith("WRONGTYPE")


def valid_cursor(cursor: str | None) -> str | None:
    """The cursor if well formed ("<ms>-<seq>"), None for none; ValueError otherwise (a 400 for the API)."""
    if cursor in (None, ""):
        return None
    if not isinstance(cursor, str) or not CURSOR_PATTERN.match(cursor):
        raise ValueError("cursor must look like 1700000000000-0")
    return cursor


def latest_cursor(connection: Redis) -> str:
    """The id of the newest event ("0-0" when the stream is empty): a feed that starts now passes it
    as `after`. One XREVRANGE COUNT 1."""
    try:
        newest = cast(list[tuple[bytes, Any]], connection.xrevrange(keys.events(), count=1))
    except ResponseError as error:
        if not wrong_type(error):
            raise
        return "0-0"  # a key of another type planted where the stream belongs: no events
    return _text(newest[0][0]) if newest else "0-0"


def read_events(
    connection: Redis,
    after: str | None = None,
    count: int = 100,
    types: Collection[str] | None = None,
    queue: str | None = None,
    function: str | None = None,
    scan: int = 1000,
    block_ms: int = 0,
) -> EventPage:
    """Up to `count` events newer than the cursor `after` (oldest first), filtered by type, queue and
    function. Bounded: one XRANGE of at most `scan` entries (filters are applied to those), so a read
    with filters may return fewer than `count` events and `more=True`: the cursor has still moved on.
    With `block_ms` > 0 and nothing newer, one XREAD BLOCK waits for new entries (the connection's
    socket timeout must exceed it). Raises ValueError for a malformed cursor."""
    start = valid_cursor(after)
    count = max(1, min(int(count), MAX_COUNT))
    filtered = bool(types or queue is not None or function is not None)
    limit = max(count, min(int(scan), MAX_SCAN)) if filtered else count
    stream = keys.events()
    try:
        entries = cast(Entries, connection.xrange(stream, min=f"({start}" if start else "-", max="+", count=limit))
        if not entries and block_ms > 0:
            reply = cast(
                list[tuple[bytes, Entries]], connection.xread({stream: start or "0-0"}, count=limit, block=block_ms)
            )
            entries = reply[0][1] if reply else []
    except ResponseError as error:
        if not wrong_type(error):
            raise
        entries = []  # a key of another type where the stream belongs: no events, not an error page
    wanted = set(types or ())
    events: list[Event] = []
    cursor = start or "0-0"
    for entry_id, raw in entries:
        cursor = _text(entry_id)
        event = _event(entry_id, raw)
        if wanted and event.type not in wanted:
            continue
        if (queue is not None and event.queue != queue) or (function is not None and event.function != function):
            continue
        events.append(event)
        if len(events) >= count:
            break
    more = len(entries) >= limit or len(events) >= count
    return EventPage(events=events, cursor=cursor, more=more)
