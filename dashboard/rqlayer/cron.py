"""Cron expressions and intervals for the Schedules area: check them, say them in words, and list
their next runs in an IANA timezone, daylight-saving time included. Flask-free and Redis-free.

Two parsers read a cron string in this stack: croniter (here, for previews and the first run) and
the `crontab` package, which rq-scheduler uses to compute every later run. They disagree on some
expressions (rq-scheduler requires BOTH the day of month and the day of week to match when both are
restricted; cron and croniter accept EITHER), so `validate` refuses what the two would read
differently: a schedule never runs at other times than the ones the console showed.

Daylight-saving time, as cron daemons (vixie cron) handle it:
- a wall-clock time that does not exist (clocks jump forward) runs at the first instant after the
  jump (02:30 on the spring-forward night in Europe/Paris runs at 03:00);
- a wall-clock time that happens twice (clocks go back) runs once, at its first occurrence, when the
  expression names fixed hours; an expression whose hour field is a wildcard (`*`, `*/n`) follows
  real time and runs in both.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
MAX_LENGTH = 200
# How many runs are compared between the two parsers, and how far counting runs may go.
AGREEMENT_RUNS = 12
MAX_COUNTED_RUNS = 20_000
_ALLOWED_CHARS = re.compile(r"^[0-9A-Za-z*/,\-? ]+$")


class CronError(ValueError):
    """An expression the console will not schedule, with the reason for the operator."""


def zone(tz_name: str | None) -> ZoneInfo:
    """The IANA zone named `tz_name` (UTC when empty); ValueError with a message otherwise."""
    name = (tz_name or "UTC").strip()
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise ValueError(f"unknown timezone {name[:64]!r}: use an IANA name like Europe/Paris or UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown timezone {name!r}: use an IANA name like Europe/Paris or UTC") from None


def validate_timezone(tz_name: str | None) -> str | None:
    """None when `tz_name` is a known IANA zone, else the message for the operator."""
    try:
        zone(tz_name)
    except ValueError as error:
        return str(error)
    return None


def normalize(expr: str) -> str:
    """The expression with single spaces, macros (@daily, …) spelled as five fields."""
    text = " ".join((expr or "").split())
    return MACROS.get(text.lower(), text)


# `crontab` ships no types: its CronTab entry is Any here, used only through _crontab_next.
def _crontab(expr: str) -> Any:
    import crontab

    return crontab.CronTab(expr)


def _crontab_next(entry: Any, after: datetime) -> datetime | None:
    """rq-scheduler's reading: the next run strictly after `after` (naive wall time; passing
    default_utc explicitly also avoids crontab's FutureWarning)."""
    moment = entry.next(now=after, return_datetime=True, default_utc=True)
    return moment.replace(tzinfo=None) if isinstance(moment, datetime) else None


def _check(expr: str) -> str:
    """The normalized expression, or CronError."""
    return _check_normalized(normalize(expr))


@functools.lru_cache(maxsize=1024)
def _check_normalized(text: str) -> str:
    # Cached: a page lists each schedule's next run, and comparing the two parsers costs ~20 ms.
    if not text:
        raise CronError("enter a cron expression, e.g. 0 8 * * 1-5 (08:00, Monday to Friday)")
    if len(text) > MAX_LENGTH:
        raise CronError(f"at most {MAX_LENGTH} characters")
    if text.startswith("@"):
        raise CronError(f"unknown macro {text.split()[0]!r}: use {', '.join(MACROS)} or five fields")
    fields = text.split(" ")
    if len(fields) != 5:
        raise CronError(
            f"a cron expression has 5 fields (minute hour day-of-month month day-of-week); this one has {len(fields)}"
        )
    if not _ALLOWED_CHARS.match(text):
        raise CronError("only digits, names (jan, mon…), and * / , - ? are allowed")
    if not croniter.is_valid(text):
        raise CronError(_which_field(fields))
    restricted = [f not in ("*", "?") for f in fields]
    if restricted[2] and restricted[4]:
        raise CronError(
            "restrict either the day of month or the day of week, not both: cron runs when either "
            "matches, rq-scheduler only when both do"
        )
    try:
        entry = _crontab(text)
    except (ValueError, KeyError, IndexError):
        raise CronError("rq-scheduler's cron parser cannot read this expression") from None
    # Both readings must agree on the next runs (compared in plain wall time, no zone involved).
    start = datetime(2026, 1, 1, 0, 0)
    try:
        ours = croniter(text, start)
        expected = [ours.get_next(datetime) for _ in range(AGREEMENT_RUNS)]
    except (ValueError, KeyError, OverflowError):
        raise CronError("this expression never matches a date (e.g. 31 April)") from None
    moment = start
    for run in expected:
        theirs = _crontab_next(entry, moment)
        if theirs != run:
            raise CronError("rq-scheduler's cron parser reads this expression differently: simplify it")
        moment = run
    return text


def _which_field(fields: list[str]) -> str:
    samples = ["0", "0", "1", "1", "0"]
    for index, value in enumerate(fields):
        probe = samples.copy()
        probe[index] = value
        if not croniter.is_valid(" ".join(probe)):
            return f"the {FIELD_NAMES[index]} field {value!r} is not valid"
    return "not a valid cron expression"


def validate(expr: str) -> str | None:
    """None when rq-scheduler can run `expr` as the console shows it, else the message."""
    try:
        _check(expr)
    except CronError as error:
        return str(error)
    return None


def describe(expr: str) -> str:
    """The expression in words, e.g. "At 08:00, Monday through Friday" ("" when invalid)."""
    return _describe(normalize(expr))


@functools.lru_cache(maxsize=1024)
def _describe(text: str) -> str:
    from cron_descriptor import ExpressionDescriptor, Options

    if not text:
        return ""
    options = Options(locale_code="en_US", use_24hour_time_format=True)
    try:
        return str(ExpressionDescriptor(text, options).get_description())
    except Exception:  # cron-descriptor raises its own exception types for anything it cannot read
        return ""


def _wildcard_hours(expr: str) -> bool:
    return expr.split(" ")[1].startswith("*")


def iter_runs(expr: str, tz_name: str = "UTC", now: datetime | None = None) -> Iterator[datetime]:
    """The runs after `now`, as aware datetimes in the zone, forever (see the module's DST rules).
    The expression must be valid."""
    text = _check(expr)
    tz = zone(tz_name)
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    follow_real_time = _wildcard_hours(text)
    iterator = croniter(text, now.astimezone(tz))
    seen: set[float] = set()
    walls: set[datetime] = set()  # wall times of recent runs, to spot a fall-back's second pass
    while True:
        run = iterator.get_next(datetime)
        instant = run.timestamp()
        if instant in seen:
            continue  # two fields landing on one instant after a spring-forward jump
        wall = run.replace(tzinfo=None, fold=0)
        if run.fold and not follow_real_time:
            # The repeated hour after a fall-back: a fixed-hour run happens once, at its first
            # occurrence, even when that one came before `now`.
            first = run.replace(fold=0)
            if wall in walls or first.timestamp() <= now.timestamp():
                continue
        seen.add(instant)
        walls.add(wall)
        if len(seen) > 64:
            seen.clear()
            walls.clear()
            seen.add(instant)
            walls.add(wall)
        yield run


def next_runs(expr: str, tz_name: str = "UTC", count: int = 5, now: datetime | None = None) -> list[datetime]:
    """The next `count` runs after `now` (default: now) as aware datetimes in `tz_name`.
    Raises CronError for an invalid expression, ValueError for an unknown timezone."""
    runs: list[datetime] = []
    for run in iter_runs(expr, tz_name, now):
        runs.append(run)
        if len(runs) >= count:
            break
    return runs


def count_runs(expr: str, tz_name: str, start: datetime, end: datetime, limit: int = MAX_COUNTED_RUNS) -> int:
    """How many runs fall after `start` and at or before `end`; CronError beyond `limit`."""
    count = 0
    for run in iter_runs(expr, tz_name, start):
        if run > end:
            return count
        count += 1
        if count > limit:
            raise CronError(
                f"more than {limit:,} runs before the end date: leave the end date empty or give a repeat count"
            )
    return count  # pragma: no cover — the iterator is infinite


# ---------------------------------------------------------------- intervals

_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


def to_words(seconds: int, repeat: int | None = None) -> str:
    """An interval in words: "every 5 minutes", "every hour", "every 90 seconds"; with a repeat
    count, ", 3 runs left"."""
    seconds = int(seconds)
    if seconds <= 0:
        return "never"
    text = ""
    for size, unit in _UNITS:
        if seconds % size == 0:
            amount = seconds // size
            text = f"every {unit}" if amount == 1 else f"every {amount:,} {unit}s"
            break
    if repeat is not None:
        text += f", {repeat:,} run{'s' if repeat != 1 else ''} left"
    return text


def format_offset(moment: datetime) -> str:
    """The UTC offset of an aware datetime as +01:00."""
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
