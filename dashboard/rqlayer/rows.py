"""One job as a list row: the fields a page shows, decoded from the job hash without unpickling
(payloads.py's restricted reader previews the call), and broken rows for what cannot be shown.

Pure functions over replies already read: nothing here talks to Redis (jobs.py reads, this builds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

import redis

from dashboard.rqlayer import preview
from dashboard.rqlayer.decode import text, timestamp
from dashboard.rqlayer.fingerprint import exception_line, top_frames
from dashboard.rqlayer.payloads import (
    DECODE_ERRORS,
    JobCall,
    decode_job_data,
)
from dashboard.rqlayer.tracebacks import latest_traceback

PREVIEW_CHARS = 160
_T = TypeVar("_T")


@dataclass(frozen=True)
class Failure:
    exc_type: str
    message: str
    # The innermost frames ("file:function", fingerprint.top_frames): with type and message, the
    # failure's error group (fingerprint.fingerprint_of_frames). Empty when not read from a traceback.
    frames: tuple[str, ...] = ()

    @classmethod
    def from_traceback(cls, tb: str) -> Failure | None:
        """The exception line of a Python traceback (fingerprint.exception_line) and its innermost frames."""
        line = exception_line(tb)
        return cls(exc_type=line[0], message=line[1], frames=tuple(top_frames(tb))) if line else None


@dataclass(frozen=True)
class JobRow:
    """One line of a job list. `exists` is False for an id whose hash expired or vanished."""

    id: str
    exists: bool
    func_name: str = ""
    args_preview: str = ""
    args_safe: bool = True
    status: str = ""
    origin: str = ""
    description: str = ""
    created_at: datetime | None = None
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    worker_name: str = ""
    failure: Failure | None = None
    problem: str = ""  # why this job cannot be shown (wrong key type, undecodable data): the row says so
    run_at: datetime | None = None  # when a scheduled job is due (its scheduled-registry score), if read
    waits_for: tuple[str, ...] = ()  # a deferred job's first few parents (ids), if read
    waits_for_total: int = 0  # and how many parents it has in all

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.ended_at:
            return max(0.0, (self.ended_at - self.started_at).total_seconds())
        return None


# What a row reads of a job hash: never meta or result, which rows do not show and may be large.
ROW_FIELDS = (
    "status",
    "origin",
    "description",
    "created_at",
    "enqueued_at",
    "started_at",
    "ended_at",
    "worker_name",
    "data",
    "exc_info",
)
MAX_DESCRIPTION = 2_000
# Statuses whose rows carry their failure (exception type and message).
FAILURE_ROW_STATUSES = ("failed", "stopped")


def wrong_type(reply: object) -> bool:
    """A pipelined reply that is an error (WRONGTYPE: a planted key of another type), not data."""
    return isinstance(reply, Exception)


def reply_or(reply: Any, default: _T) -> _T:
    """A pipelined reply (typed by the caller as its command answers: redis-py types execute() as
    list[Any]), or `default` when Redis answered an error instead (wrong_type)."""
    return default if wrong_type(reply) else reply


def count_or_zero(reply: Any) -> int:
    """A pipelined LLEN/ZCARD reply; an error reply (WRONGTYPE) counts as 0."""
    return 0 if wrong_type(reply) else int(reply)


def broken_note(error: Exception) -> str:
    if isinstance(error, redis.ResponseError) and "WRONGTYPE" in str(error):
        return "cannot be shown: its Redis key holds another type of value (not an RQ job hash)"
    return f"cannot be shown safely ({type(error).__name__})"


def broken_row(job_id: str, problem: str, status: str = "") -> JobRow:
    return JobRow(
        id=job_id, exists=True, args_preview=problem, args_safe=False, status=status or "broken", problem=problem
    )


def _call_preview(call: JobCall) -> tuple[str, bool]:
    if not call.args.safe:
        return call.args.note or "not displayable safely", False
    if call.preview is not None:
        return call.preview, True
    # The restricted reader gives a list for args and a dict for kwargs (JobCall's contract).
    args = cast(list[Any], call.args.value or [])
    kwargs = cast(dict[str, Any], call.kwargs.value or {})
    parts = [preview.short(v, 60) for v in args]
    parts += [f"{k}={preview.short(v, 60)}" for k, v in list(kwargs.items())[:20]]
    joined = ", ".join(parts)
    return (joined[:PREVIEW_CHARS] + "…") if len(joined) > PREVIEW_CHARS else joined, True


def row_from_hash(job_id: str, fields: Any, latest_result: Any, unsafe: bool) -> JobRow:
    """A row from a job hash (or the error Redis answered instead); never raises: whatever cannot be
    decoded becomes a row that lists the id and says it cannot be shown safely."""
    if wrong_type(fields):
        return broken_row(job_id, broken_note(fields))
    if not fields:
        return JobRow(id=job_id, exists=False)
    f = {text(k): v for k, v in fields.items()}
    try:
        return _decoded_row(job_id, f, None if wrong_type(latest_result) else latest_result, unsafe)
    except DECODE_ERRORS as error:
        return broken_row(job_id, f"cannot be shown safely ({type(error).__name__})", text(f.get("status"))[:40])


def _decoded_row(job_id: str, f: dict[str, Any], latest_result: list[Any] | None, unsafe: bool) -> JobRow:
    call = decode_job_data(f.get("data"), unsafe=unsafe, preview_only=True)
    shown_preview, safe = _call_preview(call)
    failure = None
    status = text(f.get("status"))
    if status in FAILURE_ROW_STATUSES:
        tb = latest_traceback(f.get("exc_info"), latest_result)
        failure = Failure.from_traceback(tb) if tb else None
    raw_description = f.get("description")
    description = text(raw_description[: MAX_DESCRIPTION * 4] if raw_description else None)
    return JobRow(
        id=job_id,
        exists=True,
        func_name=call.func_name or name_from_description(description),
        args_preview=shown_preview,
        args_safe=safe,
        status=status,
        origin=text(f.get("origin")),
        description=description[:MAX_DESCRIPTION],
        created_at=timestamp(f.get("created_at")),
        enqueued_at=timestamp(f.get("enqueued_at")),
        started_at=timestamp(f.get("started_at")),
        ended_at=timestamp(f.get("ended_at")),
        worker_name=text(f.get("worker_name")),
        failure=failure,
    )


def name_from_description(description: str) -> str:
    """The function name RQ wrote at the start of a description ("tasks.x.f(1, 2)"), or ""."""
    head = description.split("(", 1)[0]
    return head if head and " " not in head else ""
