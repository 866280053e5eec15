"""A worker's history from SQL (job_outcomes): the jobs it ran recently and its throughput per minute.

Both reads are ranges of the (worker, ended_at, id) index, so they work the same for a worker that is
gone from Redis (its outcomes stay until the history's retention removes them).
- `recent_jobs`: the newest `limit` outcomes, a backward index range: O(limit).
- `throughput`: finished and failed per minute over the last hour, one aggregate over the index range
  worker = name AND ended_at in [now - 1 h, now): O(outcomes the worker ended in that hour), grouped in
  SQL (at most 60 minutes x 2 statuses come back). A worker running 50 jobs/s ends 180,000 in an hour:
  tens of milliseconds on PostgreSQL; the per-minute rollups are per queue and function, not per worker,
  so there is nothing smaller to read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from dashboard.history import queries
from dashboard.history.models import job_outcomes
from dashboard.history.queries import OutcomeRow

RECENT = 20
RECENT_WINDOW = "30d"  # the history's default retention: "recent" reaches as far back as SQL keeps
MINUTES = 60
COUNTED = ("finished", "failed")


@dataclass(frozen=True)
class Minute:
    start: datetime  # aware UTC
    finished: int
    failed: int

    @property
    def total(self) -> int:
        return self.finished + self.failed


@dataclass(frozen=True)
class Throughput:
    minutes: list[Minute]  # oldest first, every minute of the window (zeros included)

    @property
    def finished(self) -> int:
        return sum(m.finished for m in self.minutes)

    @property
    def failed(self) -> int:
        return sum(m.failed for m in self.minutes)

    @property
    def peak(self) -> int:
        return max((m.total for m in self.minutes), default=0)

    def bars(self, height: int = 40, width: int = 4, gap: int = 1) -> list[dict[str, int]]:
        """SVG geometry per minute (x, width, and the y/height of the failed part stacked on the finished
        part), scaled to the peak: the template draws it, nothing else to compute there."""
        scale = height / self.peak if self.peak else 0.0
        out = []
        for index, minute in enumerate(self.minutes):
            done_h = round(minute.finished * scale)
            fail_h = round(minute.failed * scale)
            if minute.finished and not done_h:
                done_h = 1  # a minute with work never looks empty
            if minute.failed and not fail_h:
                fail_h = 1
            out.append(
                {
                    "x": index * (width + gap),
                    "w": width,
                    "done_y": height - done_h,
                    "done_h": done_h,
                    "fail_y": height - done_h - fail_h,
                    "fail_h": fail_h,
                }
            )
        return out


def minute_of(dialect: str, column: sa.ColumnElement) -> sa.ColumnElement:
    """The minute number (epoch seconds // 60, an integer) of a naive-UTC datetime column. On SQLite `//`
    keeps integer division (SQLAlchemy's `/` would divide as floats, one group per row)."""
    if dialect == "postgresql":
        return sa.cast(sa.func.floor(sa.extract("epoch", column) / 60), sa.BigInteger)
    return sa.cast(sa.func.strftime("%s", column), sa.Integer) // 60


def recent_jobs(conn: sa.Connection, worker: str, limit: int = RECENT) -> list[OutcomeRow]:
    """The newest outcomes the worker wrote (within RECENT_WINDOW), newest first: the history page's own
    query (queries.history_page) with a worker filter. Cost: O(limit), one index range."""
    window = queries.resolve_window(RECENT_WINDOW)
    return queries.history_page(conn, window, queries.Filters(worker=worker), size=limit).rows


def throughput(conn: sa.Connection, worker: str, now: datetime | None = None, minutes: int = MINUTES) -> Throughput:
    """Finished and failed outcomes per minute over the last `minutes` minutes, the current one last
    (oldest first, zeros included). Cost: see the module docstring."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    current = now.replace(second=0, microsecond=0)
    since = current - timedelta(minutes=minutes - 1)
    t = job_outcomes
    minute = minute_of(conn.dialect.name, t.c.ended_at).label("minute")
    rows = conn.execute(
        sa.select(minute, t.c.status, sa.func.count().label("n"))
        .where(
            t.c.worker == worker,
            t.c.ended_at >= since.replace(tzinfo=None),
            t.c.ended_at < (current + timedelta(minutes=1)).replace(tzinfo=None),
            t.c.status.in_(COUNTED),
        )
        .group_by(minute, t.c.status)
    ).all()
    counts: dict[tuple[int, str], int] = {(int(r.minute), r.status): int(r.n) for r in rows}
    first = int(since.timestamp()) // 60
    return Throughput(
        [
            Minute(
                since + timedelta(minutes=i),
                counts.get((first + i, "finished"), 0),
                counts.get((first + i, "failed"), 0),
            )
            for i in range(minutes)
        ]
    )
