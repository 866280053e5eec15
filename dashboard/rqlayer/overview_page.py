"""What one overview poll shows of a large Redis: a bounded page of queues and of workers.

The overview read (overview.py) is O(queues + workers) in three pipelined round trips; rendering every
row of it made a poll grow with both (1,000 queues: 712 KB, most of its time in the template). This module
chooses what a poll shows, so the rendered part is bounded by the page sizes below whatever the counts:

- queues: when there are at most QUEUE_ROWS, every queue, in the usual order (high, default, low, then by
  name). Beyond that, idle queues (nothing queued, started, deferred, scheduled or failed, and no worker
  listening) collapse into one "N idle queues" line, and the others show busiest first (unattended, then
  backlog, then failures), QUEUE_ROWS a page. A name filter (substring, any case) or the idle list pages
  through the rest.
- workers: counted by state; WORKER_ROWS a page, the ones needing attention first (gone or stale, busy,
  suspended, then idle), by name within each.

Pure functions of an Overview: no Redis, O(queues + workers) CPU, nothing cached.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TypeVar

from dashboard.rqlayer.overview import Overview, QueueSummary, WorkerSummary, queue_order

T = TypeVar("T")

QUEUE_ROWS = 50
WORKER_ROWS = 25
BANNER_ROWS = 5  # per kind of warning (stale workers, unattended queues): the rest are counted
MAX_QUEUE_FILTER = 200
QUEUE_SHOWS = ("active", "idle", "all")  # without a filter; "active" collapses the idle queues
BUSY_STATES = ("queued", "started", "deferred", "scheduled", "failed")
WORKER_ORDER = ("gone", "broken", "busy", "suspended", "idle")  # then any other state


def is_idle(queue: QueueSummary) -> bool:
    """Nothing waits, runs or failed recently (RQ's failed registry expires) and no worker listens."""
    return queue.listening_workers == 0 and not any(queue.counts.get(state) for state in BUSY_STATES)


def _busiest(queue: QueueSummary) -> tuple[bool, int, int, int, tuple[int, str]]:
    counts = queue.counts
    return (
        not queue.unattended,
        -(counts["queued"] + counts["started"]),
        -counts["failed"],
        -(counts["deferred"] + counts["scheduled"]),
        queue_order(queue.name),
    )


@dataclass(frozen=True)
class QueuePage:
    """The queue rows one poll shows and where they sit among all queues."""

    rows: list[QueueSummary]
    total: int  # every queue
    matching: int  # the queues this selection pages through
    idle: int  # idle queues left out of the "active" selection (0 when nothing collapses)
    page: int
    pages: int
    search: str  # the name filter ("" for none)
    show: str  # "active", "idle" or "all"

    @property
    def collapsed(self) -> bool:
        return self.idle > 0

    @property
    def first_index(self) -> int:
        return (self.page - 1) * QUEUE_ROWS + 1 if self.rows else 0


@dataclass(frozen=True)
class WorkerPage:
    rows: list[WorkerSummary]
    total: int
    by_state: list[tuple[str, int]]  # (state, count), attention first; "stale" counts live stale workers
    page: int
    pages: int

    @property
    def first_index(self) -> int:
        return (self.page - 1) * WORKER_ROWS + 1 if self.rows else 0


def _paged(items: list[T], page: int, size: int) -> tuple[list[T], int, int]:
    pages = max(1, -(-len(items) // size))
    page = min(max(1, page), pages)
    return items[(page - 1) * size : page * size], page, pages


def queue_page(overview: Overview, search: str = "", show: str = "active", page: int = 1) -> QueuePage:
    """The queues to show. Cost: one pass over the queues plus a sort of the selected ones."""
    queues = overview.queues
    needle = search.casefold()
    idle = 0
    if needle:
        selected = [q for q in queues if needle in q.name.casefold()]
    elif show == "idle":
        selected = [q for q in queues if is_idle(q)]
    elif show == "all" or len(queues) <= QUEUE_ROWS:
        selected = list(queues)
    else:
        selected = [q for q in queues if not is_idle(q)]
        idle = len(queues) - len(selected)
        selected.sort(key=_busiest)
    rows, page, pages = _paged(selected, page, QUEUE_ROWS)
    return QueuePage(rows, len(queues), len(selected), idle, page, pages, search, show)


def _worker_rank(worker: WorkerSummary) -> tuple[bool, int, str]:
    return (not worker.stale, _state_rank("gone" if worker.gone else worker.state), worker.name)


def worker_page(overview: Overview, page: int = 1) -> WorkerPage:
    """The workers to show and their counts by state. Cost: one pass and one sort over the workers."""
    workers = sorted(overview.workers, key=_worker_rank)
    counts = Counter("gone" if w.gone else w.state for w in workers)
    stale = sum(1 for w in workers if w.stale and not w.gone)
    by_state = sorted(counts.items(), key=lambda item: (_state_rank(item[0]), item[0]))
    if stale:
        by_state.insert(0, ("stale", stale))
    rows, page, pages = _paged(workers, page, WORKER_ROWS)
    return WorkerPage(rows, len(workers), by_state, page, pages)


def _state_rank(state: str) -> int:
    return WORKER_ORDER.index(state) if state in WORKER_ORDER else len(WORKER_ORDER)
