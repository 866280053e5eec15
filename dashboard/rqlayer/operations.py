"""One runner for long operations (bulk actions, batch enqueue): the pool, the progress record, cancel
checks and the final callback, written once.

An operation is recorded first (`bulk.create` / `bulk.start_record`, status "waiting"); `submit` queues
it on the process's background pool (dashboard/background.py). When a slot frees, the runner marks it
running (or finishes it as cancelled if an operator cancelled it while it waited), calls the work
function with an `Operation` handle (progress, cancel checks), finishes the record as done, or as failed
with the error's text when the work raised, and last calls `on_end` with the final record, inside
`context()` (the caller's app context: the audit log is SQL). Flask-free.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from dashboard import background
from dashboard.rqlayer import bulk, bulk_tally

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Operation:
    """What a work function sees of its operation. Each method is one Redis round trip."""

    connection: redis.Redis
    id: str

    def advance(self, processed: int, succeeded: int, skipped: int = 0) -> None:
        bulk_tally.advance(self.connection, self.id, processed, succeeded, skipped)

    def cancelled(self) -> bool:
        """Whether an operator asked it to stop: the work stops after its current chunk."""
        return bulk.cancel_requested(self.connection, self.id)

    def finish(self, status: str, message: str = "") -> None:
        """End it with another status than "done" (e.g. "cancelled" when the work stopped early)."""
        bulk.finish(self.connection, self.id, status, message)


@dataclass(frozen=True)
class Ended:
    status: bulk.BulkStatus  # the final record
    ran: bool  # False: cancelled while it waited, nothing done
    duration_ms: int  # from leaving the queue of the pool to the end


def _run(connection: redis.Redis, op_id: str, work: Callable[[Operation], object]) -> bool:
    if not bulk.begin(connection, op_id):
        return False
    try:
        work(Operation(connection, op_id))
    except Exception as error:  # the record must say it failed, whatever went wrong; logged with its traceback
        log.exception("long operation %s failed", op_id)
        current = bulk.read(connection, op_id)
        if current is None or not current.finished:
            bulk.finish(connection, op_id, "failed", f"{type(error).__name__}: {error}"[:500])
        return True
    current = bulk.read(connection, op_id)
    if current is not None and not current.finished:
        bulk.finish(connection, op_id, "done")
    return True


Context = Callable[[], contextlib.AbstractContextManager[object]]


def submit(
    connection: redis.Redis,
    op: bulk.BulkStatus,
    work: Callable[[Operation], object],
    on_end: Callable[[Ended], object] | None = None,
    context: Context = contextlib.nullcontext,
) -> bulk.BulkStatus:
    """Queue the recorded operation `op` on the background pool and return it (still waiting).
    Guarantee: the record ends as done, cancelled or failed (or reads as interrupted if the process
    dies), and `on_end` runs exactly once, after it ended, whatever `work` did. Cost here: none in
    Redis; the runner adds three round trips (begin, read, finish) to the work's own."""

    def task() -> None:
        began = time.monotonic()
        ran = _run(connection, op.id, work)
        final = bulk.read(connection, op.id)
        if on_end is not None and final is not None:
            with context():
                on_end(Ended(final, ran, int((time.monotonic() - began) * 1000)))

    background.submit(task)
    return op
