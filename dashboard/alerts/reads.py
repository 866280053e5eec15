"""What the alerts page, the API and the nav read: each rule with its subjects' states, the event history in
keyset pages, the number of firing alerts (cached), and the test event of "test notification". Flask-free.

Costs: `rule_views` two SELECTs (rules, their state rows); `events_page` one SELECT of at most size + 1
rows on the (at, id) or (rule_id, at, id) index, never OFFSET, never a count; `firing_count` one COUNT on
the state index, remembered FIRING_CACHE_SECONDS per database in process memory.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from dashboard.alerts.models import alert_events, alert_states
from dashboard.alerts.observe import Observation
from dashboard.alerts.rules import Rule, list_rules
from dashboard.alerts.state import StateRow, Transition, aware, load_states, write_event

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
FIRING_CACHE_SECONDS = 5
_CURSOR = re.compile(r"^(\d{1,17})\.(\d{1,18})$")
_EPOCH = datetime(1970, 1, 1)


class BadCursor(ValueError):
    """An `after` that no page gave (edited or broken link)."""


@dataclass(frozen=True)
class RuleView:
    rule: Rule
    states: list[StateRow]  # firing first, then held (breached in cooldown), then the rest

    @property
    def firing(self) -> list[StateRow]:
        return [s for s in self.states if s.state == "firing"]

    @property
    def held(self) -> list[StateRow]:
        return [s for s in self.states if s.state == "ok" and s.breached]

    def held_until(self, state: StateRow) -> datetime | None:
        """When a breached subject held by the cooldown may fire."""
        if state.last_fired_at is None:
            return None
        return state.last_fired_at + timedelta(seconds=self.rule.cooldown_seconds)

    @property
    def status(self) -> str:
        if not self.rule.enabled:
            return "disabled"
        if self.firing:
            return "firing"
        return "held" if self.held else "ok"


@dataclass(frozen=True)
class AlertEvent:
    id: int
    rule_id: int
    rule_name: str
    severity: str
    subject: str
    change: str
    value: float | None
    detail: str
    at: datetime
    channels: list[dict[str, Any]]
    errors: list[str]


@dataclass(frozen=True)
class EventPage:
    events: list[AlertEvent]
    next_cursor: str | None


def rule_views(sql: sa.Connection) -> list[RuleView]:
    rules = list_rules(sql)
    states = load_states(sql, [r.id for r in rules])
    order = {"firing": 0}
    views = []
    for rule in rules:
        mine = [s for (rule_id, _), s in states.items() if rule_id == rule.id]
        mine.sort(key=lambda s: (order.get(s.state, 1), not s.breached, s.subject))
        views.append(RuleView(rule, mine))
    return views


def _channels(raw: str | None) -> list[dict[str, Any]]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    return [c for c in value if isinstance(c, dict)] if isinstance(value, list) else []


def event_from_row(row: Any) -> AlertEvent:
    m = row._mapping
    return AlertEvent(
        id=int(m["id"]),
        rule_id=int(m["rule_id"]),
        rule_name=m["rule_name"],
        severity=m["severity"],
        subject=m["subject"] or "",
        change=m["change"],
        value=m["value"],
        detail=m["detail"] or "",
        at=aware(m["at"]) or datetime.now(UTC),
        channels=_channels(m["channels"]),
        errors=[line for line in (m["errors"] or "").splitlines() if line],
    )


def encode_cursor(event: AlertEvent) -> str:
    at = event.at.astimezone(UTC).replace(tzinfo=None)
    return f"{(at - _EPOCH) // timedelta(microseconds=1)}.{event.id}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    match = _CURSOR.fullmatch(cursor or "")
    if not match:
        raise BadCursor("this page of alert history does not exist (the link is broken): start from the newest")
    try:
        return _EPOCH + timedelta(microseconds=int(match.group(1))), int(match.group(2))
    except OverflowError:
        raise BadCursor("this page of alert history does not exist (the link is broken)") from None


def events_page(
    sql: sa.Connection, rule_id: int | None = None, after: str | None = None, size: int = PAGE_SIZE
) -> EventPage:
    """Events newest first (of one rule, or all), the page after `after` (BadCursor when it is not one)."""
    size = max(1, min(int(size), MAX_PAGE_SIZE))
    e = alert_events.c
    query = sa.select(alert_events)
    if rule_id is not None:
        query = query.where(e.rule_id == rule_id)
    if after:
        at, event_id = decode_cursor(after)
        query = query.where(sa.tuple_(e.at, e.id) < sa.tuple_(sa.literal(at, sa.DateTime()), sa.literal(event_id)))
    rows = [event_from_row(r) for r in sql.execute(query.order_by(e.at.desc(), e.id.desc()).limit(size + 1))]
    more = len(rows) > size
    rows = rows[:size]
    return EventPage(rows, encode_cursor(rows[-1]) if more and rows else None)


_firing: dict[str, tuple[float, int]] = {}
_firing_lock = threading.Lock()


def firing_count(sql: sa.Connection, cache_key: str) -> int:
    """How many (rule, subject) alerts fire now, remembered FIRING_CACHE_SECONDS per `cache_key`."""
    with _firing_lock:
        hit = _firing.get(cache_key)
    if hit and time.monotonic() - hit[0] < FIRING_CACHE_SECONDS:
        return hit[1]
    count = int(
        sql.execute(
            sa.select(sa.func.count()).select_from(alert_states).where(alert_states.c.state == "firing")
        ).scalar()
        or 0
    )
    with _firing_lock:
        _firing[cache_key] = (time.monotonic(), count)
    return count


def forget_firing_count() -> None:
    """Drop the cached counts (after a change the page itself made, and in tests)."""
    with _firing_lock:
        _firing.clear()


def test_event(sql: sa.Connection, rule: Rule, actor: str, now: datetime | None = None) -> Transition:
    """A "test" event for the rule (written, not committed: the caller commits it with its audit entry);
    notify.send then sends it on the rule's channels."""
    now = now or datetime.now(UTC)
    obs = Observation(False, None, f"a test notification sent by {actor}")
    event_id = write_event(sql, rule, "", "test", obs, now)
    return Transition(event_id, rule, "", "test", None, obs.detail, now)
