"""The read model of per-queue flow control, and the one place its stored values are written and parsed.

Stored in one Redis hash (keys.flow_state()), two fields per queue, each a small JSON object:

    pause:<queue>  {"by": "alice", "at": 1767000000.5, "until": 1767003600.0 | null}
    limit:<queue>  {"per_second": 10.0, "amount": 600, "unit": "minute", "by": "alice", "at": ...}

Times are epoch seconds (UTC). `per_second` is the limit normalised (what the take script enforces);
`amount` and `unit` are what the operator entered, shown back as entered ("600/min", not "10/s"). A pause
whose `until` has passed counts as resumed: no process has to wake up to end it. Two fields instead of one
JSON per queue, so that a pause and a limit set at the same moment by two consoles never overwrite each
other (each write is one HSET or HDEL). Pure: no Redis, no clock of its own (callers pass `now`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dashboard.rqlayer.decode import epoch, text
from dashboard.rqlayer.errors import InvalidInput

PAUSE = "pause:"
LIMIT = "limit:"
UNITS = {"second": 1.0, "minute": 60.0}  # unit -> seconds it spans
UNIT_WORDS = {"second": "s", "minute": "min"}
MAX_PER_SECOND = 1000.0  # above this a limit is no limit: one take per job costs more than the jobs
MIN_PER_SECOND = 1 / 3600  # one job an hour
MAX_PAUSE_SECONDS = 366 * 86400  # "until" at most a year ahead (longer: pause without an end)
MAX_ACTOR = 72  # the audit log's width for names


@dataclass(frozen=True)
class Pause:
    by: str
    at: float
    until: float | None  # None: until someone resumes it

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until

    @property
    def since(self) -> datetime | None:
        return epoch(self.at)

    @property
    def ends(self) -> datetime | None:
        return epoch(self.until) if self.until is not None else None


@dataclass(frozen=True)
class RateLimit:
    per_second: float  # normalised: what the workers enforce
    amount: float  # as entered
    unit: str  # "second" | "minute"
    by: str = ""
    at: float = 0.0

    @property
    def words(self) -> str:
        """As entered: "10/s", "600/min", "0.5/s"."""
        return f"{self.amount:g}/{UNIT_WORDS[self.unit]}"

    @property
    def interval_seconds(self) -> float:
        return 1.0 / self.per_second

    @property
    def since(self) -> datetime | None:
        return epoch(self.at) if self.at else None


@dataclass(frozen=True)
class QueueFlow:
    """One queue's flow state. `pause` is kept after its `until` passed (it is just no longer active)."""

    queue: str
    pause: Pause | None = None
    limit: RateLimit | None = None

    def paused(self, now: float) -> bool:
        return self.pause is not None and self.pause.active(now)

    def active_pause(self, now: float) -> Pause | None:
        return self.pause if self.paused(now) else None

    def restricted(self, now: float) -> bool:
        """Whether a worker must ask before running a job of this queue (paused or limited)."""
        return self.paused(now) or self.limit is not None


@dataclass(frozen=True)
class FlowBook:
    """Every queue's flow state, from one HGETALL. `unreadable`: fields whose value is not ours (planted,
    corrupt) — read as absent, named so a page can say so."""

    queues: dict[str, QueueFlow] = field(default_factory=dict)
    unreadable: tuple[str, ...] = ()

    def get(self, queue: str) -> QueueFlow:
        return self.queues.get(queue) or QueueFlow(queue)

    def paused_queues(self, now: float) -> list[QueueFlow]:
        return [q for q in self.queues.values() if q.paused(now)]

    def limited_queues(self) -> list[QueueFlow]:
        return [q for q in self.queues.values() if q.limit is not None]


# ---------------------------------------------------------------- parsing what Redis holds (never raises)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _object(raw: bytes | str) -> dict[str, Any] | None:
    try:
        value = json.loads(text(raw)[:4096])
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def parse_pause(raw: bytes | str) -> Pause | None:
    data = _object(raw)
    if data is None:
        return None
    at, until = _number(data.get("at")), data.get("until")
    until_number = None if until is None else _number(until)
    if at is None or (until is not None and until_number is None):
        return None
    return Pause(str(data.get("by", ""))[:MAX_ACTOR], at, until_number)


def parse_limit(raw: bytes | str) -> RateLimit | None:
    data = _object(raw)
    if data is None:
        return None
    per_second, amount, unit = _number(data.get("per_second")), _number(data.get("amount")), data.get("unit")
    if per_second is None or per_second <= 0 or amount is None or unit not in UNITS:
        return None
    return RateLimit(per_second, amount, unit, str(data.get("by", ""))[:MAX_ACTOR], _number(data.get("at")) or 0.0)


def parse_book(fields: Mapping[bytes, bytes] | Mapping[str, str]) -> FlowBook:
    """The book from the hash's HGETALL reply. A value that does not parse is left out and named."""
    pauses: dict[str, Pause] = {}
    limits: dict[str, RateLimit] = {}
    unreadable = []
    for raw_name, raw_value in fields.items():
        name = text(raw_name)
        if name.startswith(PAUSE):
            pause = parse_pause(raw_value)
            if pause is not None:
                pauses[name[len(PAUSE) :]] = pause
                continue
        elif name.startswith(LIMIT):
            limit = parse_limit(raw_value)
            if limit is not None:
                limits[name[len(LIMIT) :]] = limit
                continue
        unreadable.append(name[:200])
    queues = {q: QueueFlow(q, pauses.get(q), limits.get(q)) for q in sorted(pauses.keys() | limits.keys())}
    return FlowBook(queues, tuple(sorted(unreadable)))


# ---------------------------------------------------------------- what an operator asks for (validated)


def pause_value(actor: str, now: float, until: float | None) -> str:
    if until is not None and not now < until <= now + MAX_PAUSE_SECONDS:
        raise InvalidInput(
            "The end of a pause must be in the future, at most a year ahead.", fields={"until": "not in range"}
        )
    return json.dumps({"by": actor[:MAX_ACTOR], "at": round(now, 3), "until": until}, separators=(",", ":"))


def limit_from(per_second: Any = None, per_minute: Any = None) -> tuple[float, str]:
    """(amount, unit) from exactly one of the two, each a positive number within bounds; InvalidInput
    (422) naming the field otherwise. Numbers only (JSON numbers; a form's text is converted first):
    strings and booleans are refused."""
    pairs = (("per_second", per_second), ("per_minute", per_minute))
    given = {name: value for name, value in pairs if value is not None}
    if len(given) != 1:
        raise InvalidInput(
            'Give exactly one of "per_second" or "per_minute".', fields={"per_second": "exactly one of the two"}
        )
    name, value = next(iter(given.items()))
    amount = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    unit = "second" if name == "per_second" else "minute"
    scale = UNITS[unit]
    if amount is None or not math.isfinite(amount) or amount <= 0:
        raise InvalidInput(f"{name} must be a positive number.", fields={name: "a positive number"})
    per = amount / scale
    if not MIN_PER_SECOND <= per <= MAX_PER_SECOND:
        low, high = MIN_PER_SECOND * scale, MAX_PER_SECOND * scale
        raise InvalidInput(
            f"{name} must be between {low:.4g} and {high:g}.", fields={name: f"between {low:.4g} and {high:g}"}
        )
    return float(amount), unit


def limit_value(amount: float, unit: str, actor: str, now: float) -> tuple[RateLimit, str]:
    limit = RateLimit(amount / UNITS[unit], amount, unit, actor[:MAX_ACTOR], round(now, 3))
    data = {"per_second": limit.per_second, "amount": amount, "unit": unit, "by": limit.by, "at": limit.at}
    return limit, json.dumps(data, separators=(",", ":"))
