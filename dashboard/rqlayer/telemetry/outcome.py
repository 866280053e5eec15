"""One ended execution as the SQL history stores it (`Outcome`), built without unpickling from a worker's
end event plus, for what the event lacks, the job hash and its newest result (read by the caller in one
pipeline: `JOB_FIELDS` of the hash, XREVRANGE COUNT 1 of the results stream for failures).

`attempt` is the execution's start in epoch milliseconds (0 when unknown): with the job id it is the
idempotency key of the history, so the same execution seen twice (a replayed event, the registry sweep)
is one row. Times are epoch milliseconds, all computed by `epoch_ms` (the worker's formula), so the stream
and the sweep derive the same attempt from the same RQ timestamp.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dashboard.rqlayer.decode import timestamp
from dashboard.rqlayer.fingerprint import exception_of, traceback_fingerprint
from dashboard.rqlayer.payloads import decode
from dashboard.rqlayer.telemetry.events import Event
from dashboard.rqlayer.telemetry.layout import NAME_LIMIT, bound, epoch_ms
from dashboard.rqlayer.tracebacks import latest_traceback

# Worker end events and the outcome status each one records.
END_TYPES = {
    "finished": "finished",
    "failed": "failed",
    "retry_scheduled": "retried",
    "stopped": "stopped",
    "abandoned": "abandoned",
}
# Statuses that get a fingerprint and count in an error group: the execution failed for good. A retried
# execution has no traceback anywhere in Redis (RQ writes none for it), a stopped one was asked to stop.
GROUPED = ("failed", "abandoned")
# What the collector may read of a job hash: never `data` here (the event names the function).
JOB_FIELDS = ("started_at", "enqueued_at", "ended_at", "exc_info", "meta")
MESSAGE_LIMIT = 1000
TRACEBACK_LIMIT = 20_000
ATTRIBUTE_LIMIT = 200
# What SQL can hold: times up to the year 9999 (epoch ms), durations in a BIGINT. An event with fields
# beyond them (a hostile or broken writer) loses those fields; its end beyond them drops the event.
MAX_MS = 253_402_300_799_999
MAX_US = 2**63 - 1


@dataclass(frozen=True)
class Outcome:
    """An ended execution. Times in epoch ms, durations in µs; `traceback` only for grouped failures."""

    job_id: str
    attempt: int
    queue: str
    function: str
    status: str
    ended_ms: int
    started_ms: int | None = None
    enqueued_ms: int | None = None
    run_us: int | None = None
    wait_us: int | None = None
    worker: str = ""
    exc_type: str | None = None
    exc_message: str | None = None
    fingerprint: str | None = None
    traceback: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    source: str = "stream"


def hash_ms(raw: bytes | str | None) -> int | None:
    """Epoch ms of an RQ ISO-Z timestamp field (None when absent or malformed)."""
    return epoch_ms(timestamp(raw))


def _extra_int(event: Event, name: str, limit: int = MAX_MS) -> int | None:
    raw = event.extra.get(name, "")
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 20 else None
    return value if value is not None and value <= limit else None


def clean(value: str | None, limit: int | None = None) -> str:
    """`value` bounded (names: layout.bound) without NUL characters, which PostgreSQL's text refuses."""
    value = value or ""
    if limit is not None:
        value = bound(value, limit)
    return value.replace("\x00", "\ufffd")


def promoted(raw_meta: bytes | None, names: Sequence[str]) -> dict[str, str]:
    """The promoted `meta` keys with a scalar value, as bounded text; meta read only through the restricted
    decoder (JSON, or a pickle of plain data): anything else yields nothing."""
    if not names or not raw_meta:
        return {}
    shown = decode(raw_meta, unsafe=False, pretty=False)
    meta = shown.value if shown.safe else None
    if not isinstance(meta, dict):
        return {}
    found = {}
    for name in names:
        value = meta.get(name)
        if isinstance(value, bool | int | float | str) and not isinstance(value, bytes):
            found[name] = clean(str(value), ATTRIBUTE_LIMIT)
    return found


def with_failure(outcome: Outcome, tb: str) -> Outcome:
    """`outcome` with exception type, message, fingerprint and sample traceback filled in (grouped statuses
    only). The fingerprint is fingerprint.traceback_fingerprint of the traceback, the one the live /failed
    and /errors views compute from a failed job's hash, so SQL groups and live jobs match."""
    if outcome.status not in GROUPED:
        return outcome
    exc_type, message = exception_of(tb)
    if not tb.strip():
        exc_type = outcome.exc_type or exc_type
    return replace(
        outcome,
        exc_type=clean(exc_type, NAME_LIMIT) or None,
        exc_message=clean(message[:MESSAGE_LIMIT]),
        fingerprint=traceback_fingerprint(tb),
        traceback=clean(tb[-TRACEBACK_LIMIT:]),
    )


def needs_job_hash(event: Event, attributes: Sequence[str]) -> bool:
    """Whether building this event's outcome needs a read of the job hash."""
    return bool(attributes) or "started_at" not in event.extra or END_TYPES.get(event.type) in GROUPED


def from_event(
    event: Event,
    job: Mapping[str, Any] | None = None,
    latest_result: list[Any] | None = None,
    attributes: Sequence[str] = (),
) -> Outcome | None:
    """The outcome of one end event (None for any other type). `job`: the JOB_FIELDS read from its hash
    ({} or None when gone); `latest_result`: the XREVRANGE COUNT 1 reply of its results stream."""
    status = END_TYPES.get(event.type)
    if status is None:
        return None
    if not 0 < event.at <= MAX_MS:
        raise ValueError(f"event end out of range: {event.at}")
    job = job or {}
    started = _extra_int(event, "started_at")
    enqueued = _extra_int(event, "enqueued_at")
    if started is None:
        started = _started_from_hash(job, event.at)
        if started is not None and enqueued is None:
            enqueued = hash_ms(job.get("enqueued_at"))
    run_us = _extra_int(event, "run_us", MAX_US)
    wait_us = _extra_int(event, "wait_us", MAX_US)
    if run_us is None and started is not None:
        run_us = max(0, event.at - started) * 1000
    if wait_us is None and started is not None and enqueued is not None:
        wait_us = max(0, started - enqueued) * 1000
    outcome = Outcome(
        job_id=clean(event.job_id, NAME_LIMIT),
        attempt=started or 0,
        queue=clean(event.queue, NAME_LIMIT),
        function=clean(event.function, NAME_LIMIT),
        status=status,
        ended_ms=event.at,
        started_ms=started,
        enqueued_ms=enqueued,
        run_us=run_us,
        wait_us=wait_us,
        worker=clean(event.worker, NAME_LIMIT),
        exc_type=clean(event.exc_type, NAME_LIMIT) or None,
        attributes=promoted(job.get("meta"), attributes),
    )
    tb = latest_traceback(job.get("exc_info"), latest_result) if status in GROUPED else ""
    return with_failure(outcome, tb)


def _started_from_hash(job: Mapping[str, Any], ended_ms: int) -> int | None:
    """The hash's started_at, when it is this execution's: it started before the event's end, and the
    hash's end (if any) is this one (a job retried since has a newer start, never used for an older end)."""
    started = hash_ms(job.get("started_at"))
    ended = hash_ms(job.get("ended_at"))
    if started is None or started > ended_ms:
        return None
    if ended is not None and abs(ended - ended_ms) > 1000:
        return None
    return started


def hash_fields(reply: Any, names: Sequence[str]) -> dict[str, Any]:
    """An HMGET reply as {name: value} (missing fields left out; an error reply gives {})."""
    if not isinstance(reply, list):
        return {}
    return {name: value for name, value in zip(names, reply, strict=False) if value is not None}


def duration_us(later_ms: int | None, earlier_ms: int | None) -> int | None:
    if later_ms is None or earlier_ms is None:
        return None
    return max(0, later_ms - earlier_ms) * 1000
