"""Pages of job history: a time window first, then equality filters, newest first, keyset on (ended_at, id).

    page = history_page(conn, resolve_window("24h"), Filters(queue="mail", status="failed"))
    older = history_page(conn, window, filters, after=page.next_cursor)

Cost and guarantee: one SELECT of at most size + 1 rows, whatever the depth. Each filter has an index that
ends in (ended_at, id) (models.py), so PostgreSQL and SQLite walk one index range backwards from the
cursor and stop after size + 1 rows: never OFFSET, never a count of the window, never a sort of it. The
extra row only says whether there is a next page. A row appears on exactly one page: the cursor is the
last row's (ended_at, id) and the next page starts strictly below it, so rows with equal ended_at are
neither repeated nor skipped.

Flask-free: it takes a SQLAlchemy Connection; bad input raises BadQuery (the views answer 400).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from dashboard.history import models
from dashboard.rqlayer.rows import Failure

WINDOWS: dict[str, timedelta] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
WINDOW_WORDS = {
    "15m": "the last 15 minutes",
    "1h": "the last hour",
    "6h": "the last 6 hours",
    "24h": "the last 24 hours",
    "7d": "the last 7 days",
    "30d": "the last 30 days",
}
DEFAULT_WINDOW = "1h"
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
FILTERS = ("queue", "function", "status", "fingerprint", "worker")
_LIMITS = {"fingerprint": 32, "status": 16}
_ATTR_NAME = re.compile(r"^[A-Za-z_][\w.\-]{0,63}$")
_CURSOR = re.compile(r"^(\d{1,17})\.(\d{1,19})$")
_EPOCH = datetime(1970, 1, 1)
_MAX_ID = 2**63 - 1


class BadQuery(ValueError):
    """A window, filter or cursor that cannot be used; the message says which and why (a 400)."""


@dataclass(frozen=True)
class Window:
    """ended_at in [start, end): naive UTC. `end` is None for the last N minutes/hours/days (rows a
    skewed worker clock stamped a little in the future still show). `name` is a WINDOWS key or "custom"."""

    name: str
    start: datetime
    end: datetime | None = None

    @property
    def words(self) -> str:
        if self.name in WINDOW_WORDS:
            return WINDOW_WORDS[self.name]
        end = f"{self.end:%Y-%m-%d %H:%M:%S}" if self.end else "now"
        return f"{self.start:%Y-%m-%d %H:%M:%S} to {end} UTC"


@dataclass(frozen=True)
class Filters:
    """Equality filters ("" = any). `attribute` is one promoted search attribute (name, value)."""

    queue: str = ""
    function: str = ""
    status: str = ""
    fingerprint: str = ""
    worker: str = ""
    attribute: tuple[str, str] | None = None

    @property
    def active(self) -> bool:
        return any(getattr(self, name) for name in FILTERS) or self.attribute is not None

    def as_params(self) -> dict[str, str]:
        """The filters as query parameters (what `parse_filters` reads back), empty ones left out."""
        params = {name: getattr(self, name) for name in FILTERS if getattr(self, name)}
        if self.attribute:
            params["attr"] = f"{self.attribute[0]}:{self.attribute[1]}"
        return params


@dataclass(frozen=True)
class OutcomeRow:
    """One ended execution, named like the layer's JobRow where they share a meaning (id is the job id,
    origin its queue, func_name, worker_name, failure), so the same template pieces render either."""

    outcome_id: int
    id: str
    origin: str
    func_name: str
    status: str
    enqueued_at: datetime | None
    started_at: datetime | None
    ended_at: datetime
    wait_seconds: float | None
    duration_seconds: float | None
    worker_name: str
    failure: Failure | None
    fingerprint: str
    source: str


@dataclass(frozen=True)
class HistoryPage:
    rows: list[OutcomeRow]
    next_cursor: str | None


def resolve_window(
    window: str | None = None, start: str | None = None, end: str | None = None, now: datetime | None = None
) -> Window:
    """The window from a name (15m, 1h, 6h, 24h, 7d, 30d; 1h by default) or from/to ISO 8601 times
    (UTC unless they carry an offset). Only `to`: the named window ending then; only `from`: until now."""
    now = _naive_utc(now or datetime.now(UTC))
    name = window or DEFAULT_WINDOW
    if name not in WINDOWS:
        raise BadQuery(f"window must be one of {', '.join(WINDOWS)}, got {name[:40]!r}")
    if not start and not end:
        return Window(name, now - WINDOWS[name])
    end_at = _parse_time("to", end) if end else None
    try:
        start_at = _parse_time("from", start) if start else (end_at or now) - WINDOWS[name]
    except OverflowError:  # `to` in year 1 minus the window
        raise BadQuery("'to' is too early") from None
    if end_at is not None and end_at <= start_at:
        raise BadQuery("'from' must be before 'to'")
    return Window("custom", start_at, end_at)


def parse_filters(source: Mapping[str, str]) -> Filters:
    """Filters from query parameters queue, function, status, fingerprint, worker and attr=name:value."""
    values: dict[str, str] = {}
    for name in FILTERS:
        value = (source.get(name) or "").strip()
        if len(value) > _LIMITS.get(name, models.NAME):
            raise BadQuery(f"{name} is limited to {_LIMITS.get(name, models.NAME)} characters")
        values[name] = value
    if values["status"] and values["status"] not in models.STATUSES:
        raise BadQuery(f"status must be one of {', '.join(models.STATUSES)}, got {values['status'][:40]!r}")
    attr = (source.get("attr") or "").strip()
    attribute = None
    if attr:
        attr_name, sep, attr_value = attr.partition(":")
        if not sep or not _ATTR_NAME.match(attr_name) or len(attr_value) > models.NAME:
            raise BadQuery("attr must be name:value (a promoted attribute's name, a value of at most 200 characters)")
        attribute = (attr_name, attr_value)
    return Filters(**values, attribute=attribute)


def encode_cursor(ended_at: datetime, outcome_id: int) -> str:
    """The position after a row, opaque to clients (base64url of microseconds since the epoch and id)."""
    micros = (ended_at - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(f"{micros}.{outcome_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """(ended_at, id) of a cursor from encode_cursor; BadQuery for anything else (edited, cut, forged)."""
    bad = BadQuery("That page link is not valid (the cursor was changed or cut): start again from the newest.")
    if not cursor or len(cursor) > 60:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise bad from None
    match = _CURSOR.match(raw)
    if not match or int(match.group(2)) > _MAX_ID:
        raise bad
    # At most 17 digits of microseconds: year 5138 at the latest, no overflow.
    return _EPOCH + timedelta(microseconds=int(match.group(1))), int(match.group(2))


def history_page(
    conn: sa.Connection, window: Window, filters: Filters, after: str | None = None, size: int = PAGE_SIZE
) -> HistoryPage:
    """One page of outcomes in `window` matching `filters`, newest first, after the cursor `after`.
    Cost: one indexed SELECT of size + 1 rows (see the module docstring)."""
    statement = page_statement(window, filters, after, size)
    if conn.dialect.name == "postgresql":
        # psycopg prepares a statement run 5 times on a connection, and PostgreSQL may then cache a plan
        # for unknown values, which misjudges correlated filters (a function is on one queue) and can sort
        # a whole window. Planned with the values every time, in this transaction: ~0.1 ms more.
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
    rows = [_row(r) for r in conn.execute(statement)]
    more = len(rows) > size
    rows = rows[:size]
    return HistoryPage(rows, encode_cursor(rows[-1].ended_at, rows[-1].outcome_id) if more else None)


def page_statement(window: Window, filters: Filters, after: str | None = None, size: int = PAGE_SIZE) -> sa.Select:
    """The SELECT history_page runs (size + 1 rows), for it and for EXPLAIN (benchmarks/history.py)."""
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise BadQuery(f"size must be between 1 and {MAX_PAGE_SIZE}")
    position = decode_cursor(after) if after else None
    outcomes = models.job_outcomes
    conditions: list[sa.ColumnElement[bool]] = []
    source: sa.FromClause = outcomes
    ended_at, row_id = outcomes.c.ended_at, outcomes.c.id
    if filters.attribute:
        # The attribute's own index (name, value, ended_at, outcome_id) is the range; each of the page's
        # rows is then one primary-key lookup.
        attributes = models.job_outcome_attributes
        source = attributes.join(outcomes, outcomes.c.id == attributes.c.outcome_id)
        ended_at, row_id = attributes.c.ended_at, attributes.c.outcome_id
        conditions += [attributes.c.name == filters.attribute[0], attributes.c.value == filters.attribute[1]]
    conditions.append(ended_at >= window.start)
    if window.end is not None:
        conditions.append(ended_at < window.end)
    conditions += [outcomes.c[name] == getattr(filters, name) for name in FILTERS if getattr(filters, name)]
    if position:
        # A row comparison: one index range on both backends (not `a < x OR (a = x AND b < y)`).
        bound = sa.tuple_(sa.literal(position[0], sa.DateTime()), sa.literal(position[1], sa.BigInteger()))
        conditions.append(sa.tuple_(ended_at, row_id) < bound)
    return (
        sa.select(*_COLUMNS)
        .select_from(source)
        .where(*conditions)
        .order_by(ended_at.desc(), row_id.desc())
        # Written into the SQL, not bound: a plan PostgreSQL caches for a prepared statement (generic,
        # values unknown) still knows the scan stops after size + 1 rows, so it keeps the ordered range.
        .limit(sa.literal_column(str(size + 1), sa.Integer()))
    )


def any_outcomes(conn: sa.Connection) -> bool:
    """Whether the collector has written anything at all (the empty page says which emptiness it is).
    Cost: one primary-key probe."""
    return conn.execute(sa.select(models.job_outcomes.c.id).limit(1)).first() is not None


# Every column but `attempt` (the idempotency key says nothing the row does not).
_COLUMNS = tuple(c for c in models.job_outcomes.c if c.name != "attempt")


def _row(r: sa.Row) -> OutcomeRow:
    failure = Failure(exc_type=r.exc_type, message=r.exc_message or "") if r.exc_type else None
    return OutcomeRow(
        outcome_id=r.id,
        id=r.job_id,
        origin=r.queue,
        func_name=r.function,
        status=r.status,
        enqueued_at=r.enqueued_at,
        started_at=r.started_at,
        ended_at=r.ended_at,
        wait_seconds=None if r.wait_us is None else r.wait_us / 1e6,
        duration_seconds=None if r.run_us is None else r.run_us / 1e6,
        worker_name=r.worker,
        failure=failure,
        fingerprint=r.fingerprint or "",
        source=r.source,
    )


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _parse_time(name: str, text: str) -> datetime:
    if len(text) > 40:
        raise BadQuery(f"'{name}' is not a date and time")
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise BadQuery(f"'{name}' must be an ISO 8601 date and time (e.g. 2026-12-01T09:30), got {text!r}") from None
    return _naive_utc(moment)
