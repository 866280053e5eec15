"""Error groups from SQL: failures grouped by fingerprint (rqlayer/fingerprint.py), their trend, where they
happen, and the status an operator gives them (resolve, ignore, reopen).

The collector writes the groups (count, first/last seen, resolved -> regressed); this module reads them and
changes only their status. Costs, all bounded whatever the history holds:
- `list_groups`: one SELECT of at most size + 1 groups, newest last_seen first, keyset on
  (last_seen, fingerprint) over the (status, last_seen) / (last_seen) indexes; never OFFSET, never a count.
- `trends`: one aggregate over the (fingerprint, ended_at, id) index range of the page's groups in the
  window: O(failures of those groups in the window), index-only on PostgreSQL, at most `buckets` rows back
  per group (measured: 200,000 failures of one group in 30 days, ~0.2 s).
- `affected`: the same ranges cut at AFFECTED_SAMPLE rows per group, grouped by (function, queue):
  O(groups x sample) at most; AFFECTED_LIMIT functions and queues kept per group.
- `set_status`: one UPDATE by primary key, then one SELECT of the row.
- `page_summaries`: `trends` + `affected` for a page of groups, remembered in the process while none of
  the page's groups changed (count, first and last seen) within the hour: a list that refreshes every few
  seconds re-reads SQL only when a failure arrived (one group with 1,000,000 failures a day: ~0.5 s of
  PostgreSQL per trend otherwise). At most SUMMARY_CACHE pages are kept.

Flask-free: takes a SQLAlchemy Connection (or Session); the caller commits. Times are naive UTC in the
table and aware UTC in the read models.
"""

from __future__ import annotations

import re
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from dashboard.history.models import error_groups, job_outcomes
from dashboard.history.queries import BadQuery

STATUSES = ("open", "regressed", "resolved", "ignored")
TABS = (*STATUSES, "all")
# What each operator action sets.
ACTIONS = {"resolve": "resolved", "ignore": "ignored", "reopen": "open"}
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
AFFECTED_LIMIT = 20
AFFECTED_SAMPLE = 10_000  # the newest failures of a group that `affected` groups: its cost bound
# Trend windows: (bucket seconds, buckets).
TREND_WINDOWS = {"24h": (3600, 24), "30d": (86400, 30)}
_CURSOR = re.compile(r"^(\d{1,17})\.([0-9a-f]{32})$")
_EPOCH = datetime(1970, 1, 1)

Sql = Connection | Session


class GroupNotFound(LookupError):
    """No error group has this fingerprint."""


@dataclass(frozen=True)
class ErrorGroup:
    fingerprint: str
    exc_type: str
    message: str  # the normalised message (placeholders for ids, numbers, ...)
    count: int
    first_seen: datetime
    last_seen: datetime
    status: str
    status_changed_at: datetime | None = None
    status_changed_by: str = ""
    resolved_at: datetime | None = None
    regressed_at: datetime | None = None
    sample_job_id: str = ""
    sample_traceback: str = ""  # read by get_group only (lists leave it out: it can be large)


@dataclass(frozen=True)
class GroupPage:
    groups: list[ErrorGroup]
    next_cursor: str | None


@dataclass(frozen=True)
class Trend:
    """Failures per bucket, oldest first, zeros included; `start` is the first bucket's start (aware UTC)."""

    window: str
    start: datetime
    bucket_seconds: int
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def peak(self) -> int:
        return max(self.counts, default=0)

    def bucket_start(self, index: int) -> datetime:
        return self.start + timedelta(seconds=self.bucket_seconds * index)

    def bars(self, height: int = 20, width: int = 4, gap: int = 1) -> list[dict[str, int]]:
        """SVG geometry per bucket (x, y, w, h, n) scaled to the peak; a bucket with failures is never flat."""
        scale = height / self.peak if self.peak else 0.0
        out = []
        for index, count in enumerate(self.counts):
            h = max(1, round(count * scale)) if count else 0
            out.append({"x": index * (width + gap), "y": height - h, "w": width, "h": h, "n": count})
        return out


@dataclass(frozen=True)
class Affected:
    """The functions and queues a group's failures came from in a window, most failures first."""

    functions: list[tuple[str, int]]
    queues: list[tuple[str, int]]
    sampled: bool = False  # counted over the newest AFFECTED_SAMPLE failures only (there were more)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


_LIST_COLUMNS = [c for c in error_groups.c if c.name != "sample_traceback"]


def _group(row: Any, traceback: str = "") -> ErrorGroup:
    return ErrorGroup(
        fingerprint=row.fingerprint,
        exc_type=row.exc_type or "",
        message=row.message or "",
        count=int(row.count or 0),
        first_seen=_aware(row.first_seen) or datetime.now(UTC),
        last_seen=_aware(row.last_seen) or datetime.now(UTC),
        status=row.status if row.status in STATUSES else "open",
        status_changed_at=_aware(row.status_changed_at),
        status_changed_by=row.status_changed_by or "",
        resolved_at=_aware(row.resolved_at),
        regressed_at=_aware(row.regressed_at),
        sample_job_id=row.sample_job_id or "",
        sample_traceback=traceback,
    )


def encode_cursor(group: ErrorGroup) -> str:
    micros = (_naive(group.last_seen) - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{group.fingerprint}"


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    match = _CURSOR.match(cursor)
    if not match:
        raise BadQuery("after must be a cursor from a previous page of error groups")
    try:
        last_seen = _EPOCH + timedelta(microseconds=int(match.group(1)))
    except OverflowError as error:
        raise BadQuery("after is out of range") from error
    return last_seen, match.group(2)


def checked_status(status: str | None) -> str:
    """A TABS value ("" and None are "all"); else BadQuery."""
    status = status or "all"
    if status not in TABS:
        raise BadQuery(f"status must be one of {', '.join(TABS)}, got {status[:40]!r}")
    return status


def list_groups(conn: Sql, status: str = "all", after: str | None = None, size: int = PAGE_SIZE) -> GroupPage:
    """Groups with `status` (or all), newest last_seen first, after `after` (a previous page's
    next_cursor). One SELECT of at most size + 1 rows (the extra one says there is a next page)."""
    status = checked_status(status)
    size = max(1, min(size, MAX_PAGE_SIZE))
    t = error_groups
    query = sa.select(*_LIST_COLUMNS)
    if status != "all":
        query = query.where(t.c.status == status)
    if after:
        last_seen, fingerprint = decode_cursor(after)
        query = query.where(
            sa.or_(t.c.last_seen < last_seen, sa.and_(t.c.last_seen == last_seen, t.c.fingerprint < fingerprint))
        )
    rows = conn.execute(query.order_by(t.c.last_seen.desc(), t.c.fingerprint.desc()).limit(size + 1)).all()
    groups = [_group(row) for row in rows[:size]]
    return GroupPage(groups, encode_cursor(groups[-1]) if len(rows) > size else None)


def get_group(conn: Sql, fingerprint: str) -> ErrorGroup | None:
    """One group with its sample traceback, or None. One SELECT by primary key."""
    row = conn.execute(sa.select(error_groups).where(error_groups.c.fingerprint == fingerprint)).first()
    return _group(row, row.sample_traceback or "") if row is not None else None


def _bucket_of(dialect: str, column: Any, seconds: int) -> Any:
    """The bucket number (epoch seconds // seconds) of a naive-UTC datetime column, in the dialect's words."""
    if dialect == "postgresql":
        return sa.cast(sa.func.floor(sa.extract("epoch", column) / seconds), sa.BigInteger)
    # `//`: SQLAlchemy 2 makes `/` a true division, which on SQLite gives one bucket per distinct second.
    return sa.cast(sa.func.strftime("%s", column), sa.Integer) // seconds


def _dialect(conn: Sql) -> str:
    return conn.get_bind().dialect.name if isinstance(conn, Session) else conn.dialect.name


def trends(
    conn: Sql, fingerprints: Sequence[str], window: str = "24h", now: datetime | None = None
) -> dict[str, Trend]:
    """Each group's failures per hour over the last 24 h ("24h") or per day over the last 30 days ("30d"),
    the current bucket last. One aggregate over the fingerprint index (module docstring)."""
    if window not in TREND_WINDOWS:
        raise BadQuery(f"trend window must be one of {', '.join(TREND_WINDOWS)}")
    seconds, buckets = TREND_WINDOWS[window]
    now_epoch = int((now or datetime.now(UTC)).timestamp())
    first = now_epoch // seconds - (buckets - 1)
    start = datetime.fromtimestamp(first * seconds, UTC)
    counts = {fp: [0] * buckets for fp in fingerprints}
    if fingerprints:
        t = job_outcomes
        bucket = _bucket_of(_dialect(conn), t.c.ended_at, seconds).label("bucket")
        rows = conn.execute(
            sa.select(t.c.fingerprint, bucket, sa.func.count().label("n"))
            .where(t.c.fingerprint.in_(list(fingerprints)), t.c.ended_at >= _naive(start))
            .group_by(t.c.fingerprint, bucket)
        ).all()
        for row in rows:
            index = int(row.bucket) - first
            if 0 <= index < buckets and row.fingerprint in counts:
                counts[row.fingerprint][index] += int(row.n)
    return {fp: Trend(window, start, seconds, counts[fp]) for fp in fingerprints}


SUMMARY_CACHE = 64
_summaries: OrderedDict[tuple[Any, ...], tuple[dict[str, Trend], dict[str, Affected]]] = OrderedDict()


def page_summaries(
    conn: Sql, page: Sequence[ErrorGroup], since: datetime, sample: int, now: datetime | None = None
) -> tuple[dict[str, Trend], dict[str, Affected]]:
    """(24 h trends, affected functions and queues) of a page of groups; see the module docstring."""
    moment = now or datetime.now(UTC)
    engine = conn.get_bind().engine if isinstance(conn, Session) else conn.engine
    key = (
        str(engine.url),
        int(moment.timestamp()) // 3600,
        sample,
        tuple((g.fingerprint, g.count, g.first_seen, g.last_seen) for g in page),
    )
    found = _summaries.get(key)
    if found is None:
        fps = [g.fingerprint for g in page]
        found = (trends(conn, fps, "24h", now=moment), affected(conn, fps, since, sample=sample))
        _summaries[key] = found
        while len(_summaries) > SUMMARY_CACHE:
            _summaries.popitem(last=False)
    return found


def affected(
    conn: Sql,
    fingerprints: Sequence[str],
    since: datetime,
    limit: int = AFFECTED_LIMIT,
    sample: int = AFFECTED_SAMPLE,
) -> dict[str, Affected]:
    """Per group, the functions and the queues its newest `sample` failures since `since` came from,
    most first, at most `limit` of each. One statement: per group a backward range of the fingerprint
    index cut at `sample` rows (UNION ALL), grouped by (function, queue) in SQL; so a group with millions
    of failures costs what `sample` of them cost. `Affected.sampled` says when the cut was reached."""
    out: dict[str, Affected] = {}
    if not fingerprints:
        return out
    t = job_outcomes
    parts = [
        sa.select(t.c.fingerprint, t.c.function, t.c.queue)
        .where(t.c.fingerprint == fp, t.c.ended_at >= _naive(since))
        .order_by(t.c.ended_at.desc())
        .limit(sample)
        .subquery()
        for fp in dict.fromkeys(fingerprints)
    ]
    rows_of = sa.union_all(*[sa.select(part) for part in parts]).subquery()
    rows = conn.execute(
        sa.select(rows_of.c.fingerprint, rows_of.c.function, rows_of.c.queue, sa.func.count().label("n")).group_by(
            rows_of.c.fingerprint, rows_of.c.function, rows_of.c.queue
        )
    ).all()
    counts: dict[str, tuple[Counter[str], Counter[str]]] = {fp: (Counter(), Counter()) for fp in fingerprints}
    for row in rows:
        functions, queues = counts[row.fingerprint]
        functions[row.function or ""] += int(row.n)
        queues[row.queue or ""] += int(row.n)
    for fp, (functions, queues) in counts.items():

        def ranked(counter: Counter[str]) -> list[tuple[str, int]]:
            return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:limit]

        out[fp] = Affected(ranked(functions), ranked(queues), sum(functions.values()) >= sample)
    return out


def set_status(conn: Sql, fingerprint: str, action: str, actor: str, now: datetime | None = None) -> ErrorGroup:
    """Resolve, ignore or reopen a group (ACTIONS), saying who and when; resolving stores resolved_at =
    now (a failure after it makes the collector mark the group regressed). Raises GroupNotFound, or
    BadQuery for an unknown action. The caller commits."""
    if action not in ACTIONS:
        raise BadQuery(f"action must be one of {', '.join(ACTIONS)}")
    moment = _naive(now or datetime.now(UTC))
    values: dict[str, Any] = {"status": ACTIONS[action], "status_changed_at": moment, "status_changed_by": actor[:72]}
    if action == "resolve":
        values["resolved_at"] = moment
    t = error_groups
    result = conn.execute(sa.update(t).where(t.c.fingerprint == fingerprint).values(**values))
    if not getattr(result, "rowcount", 0):
        raise GroupNotFound(fingerprint)
    group = get_group(conn, fingerprint)
    if group is None:  # deleted between the two statements
        raise GroupNotFound(fingerprint)
    return group
