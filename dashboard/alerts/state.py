"""The state machine of one (rule, subject): ok -> firing -> ok, each transition written once.

    breached, state ok, cooldown over   -> firing (an event, one notification)
    breached, state ok, within cooldown -> stays ok, marked "breached" (held: fires once the cooldown ends)
    breached, state firing              -> stays firing (value refreshed, nothing sent: no storm)
    not breached, state firing          -> ok (an event "resolved", one notification)

The cooldown is counted from the last firing: after a resolve, a subject fires again only `cooldown_seconds`
after it last fired, so a flapping condition notifies at most twice per cooldown.

Several evaluators (history processes) may run at once. A transition is a conditional UPDATE of the state
row, `WHERE state = <the state it leaves>` (plus the cooldown and "the rule is still enabled"), and only
the evaluator whose UPDATE changed the row writes the event and notifies: PostgreSQL re-checks the WHERE
on the row it waited for, SQLite serialises writers, so two never both see rowcount 1. The row is first
created (INSERT ... ON CONFLICT DO NOTHING) so the UPDATE always has a row to race on. Each transition is
its own short transaction: the caller passes a Connection outside any transaction, and it is committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from dashboard.alerts.models import DETAIL, SUBJECT, alert_events, alert_rules, alert_states
from dashboard.alerts.observe import Observation
from dashboard.alerts.rules import Rule
from dashboard.history.outcomes import dialect_insert


@dataclass(frozen=True)
class StateRow:
    rule_id: int
    subject: str
    state: str
    breached: bool
    value: float | None
    detail: str
    since: datetime
    last_fired_at: datetime | None
    last_resolved_at: datetime | None
    last_notified_at: datetime | None


@dataclass(frozen=True)
class Transition:
    """An event this evaluator wrote (and must notify)."""

    event_id: int
    rule: Rule
    subject: str
    change: str  # firing | resolved
    value: float | None
    detail: str
    at: datetime


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def state_from_row(row: Any) -> StateRow:
    m = row._mapping
    return StateRow(
        rule_id=int(m["rule_id"]),
        subject=m["subject"],
        state=m["state"] if m["state"] in ("ok", "firing") else "ok",
        breached=bool(m["breached"]),
        value=m["value"],
        detail=m["detail"] or "",
        since=aware(m["since"]) or datetime.now(UTC),
        last_fired_at=aware(m["last_fired_at"]),
        last_resolved_at=aware(m["last_resolved_at"]),
        last_notified_at=aware(m["last_notified_at"]),
    )


def load_states(sql: sa.Connection, rule_ids: list[int] | None = None) -> dict[tuple[int, str], StateRow]:
    """The state rows of these rules (all with None). One SELECT; rows exist only for subjects ever breached."""
    query = sa.select(alert_states)
    if rule_ids is not None:
        query = query.where(alert_states.c.rule_id.in_(rule_ids or [-1]))
    return {(s.rule_id, s.subject): s for s in (state_from_row(r) for r in sql.execute(query))}


def write_event(sql: sa.Connection, rule: Rule, subject: str, change: str, obs: Observation, at: datetime) -> int:
    values = dict(
        rule_id=rule.id, rule_name=rule.name, severity=rule.severity, subject=subject[:SUBJECT], change=change,
        value=obs.value, detail=obs.detail[:DETAIL], at=naive(at), channels="[]", errors="",
    )  # fmt: skip
    return int(sql.execute(sa.insert(alert_events).values(**values).returning(alert_events.c.id)).scalar_one())


def _still_enabled(rule: Rule) -> Any:
    return sa.exists().where(alert_rules.c.id == rule.id, alert_rules.c.enabled.is_(True))


def _where(rule: Rule, subject: str) -> Any:
    s = alert_states.c
    return sa.and_(s.rule_id == rule.id, s.subject == subject[:SUBJECT])


def try_fire(sql: sa.Connection, rule: Rule, subject: str, obs: Observation, now: datetime) -> Transition | None:
    """ok -> firing when the cooldown since the last firing is over; the Transition when THIS call made it."""
    moment = naive(now)
    s = alert_states.c
    sql.execute(
        dialect_insert(sql, alert_states)
        .values(rule_id=rule.id, subject=subject[:SUBJECT], state="ok", since=moment, updated_at=moment)
        .on_conflict_do_nothing(index_elements=[s.rule_id, s.subject])
    )
    cutoff = moment - timedelta(seconds=rule.cooldown_seconds)
    cooled = sa.or_(s.last_fired_at.is_(None), s.last_fired_at <= cutoff)
    made = _move(sql, rule, subject, obs, now, ("ok", "firing"), [cooled, _still_enabled(rule)])
    if made is None:
        # Lost the race, or held by the cooldown: remember that it is breached (the page shows "held").
        sql.execute(
            sa.update(alert_states)
            .where(_where(rule, subject), s.state == "ok")
            .values(breached=True, value=obs.value, detail=obs.detail[:DETAIL], updated_at=moment)
        )
        sql.commit()
    return made


def try_resolve(sql: sa.Connection, rule: Rule, subject: str, obs: Observation, now: datetime) -> Transition | None:
    """firing -> ok; the Transition when THIS call made it."""
    made = _move(sql, rule, subject, obs, now, ("firing", "ok"), [])
    if made is None:
        sql.rollback()
    return made


def _move(
    sql: sa.Connection, rule: Rule, subject: str, obs: Observation, now: datetime, edge: tuple[str, str], where: list
) -> Transition | None:
    """The conditional UPDATE from edge[0] to edge[1] (and `where`); when it changed the row, the event too,
    committed. None (nothing committed) when another evaluator, the cooldown or the rule's state won."""
    moment = naive(now)
    change = "firing" if edge[1] == "firing" else "resolved"
    stamp = {"last_fired_at" if change == "firing" else "last_resolved_at": moment}
    changed = sql.execute(
        sa.update(alert_states)
        .where(_where(rule, subject), alert_states.c.state == edge[0], *where)
        .values(
            state=edge[1],
            breached=change == "firing",
            value=obs.value,
            detail=obs.detail[:DETAIL],
            since=moment,
            updated_at=moment,
            **stamp,
        )  # fmt: skip
    ).rowcount
    if changed != 1:
        return None
    event_id = write_event(sql, rule, subject, change, obs, now)
    sql.commit()
    return Transition(event_id, rule, subject, change, obs.value, obs.detail, now)


def refresh(sql: sa.Connection, rule: Rule, subject: str, obs: Observation, now: datetime) -> None:
    """No transition: keep the row's value, sentence and breached flag current (no event, nothing sent)."""
    sql.execute(
        sa.update(alert_states)
        .where(_where(rule, subject))
        .values(breached=obs.breached, value=obs.value, detail=obs.detail[:DETAIL], updated_at=naive(now))
    )
    sql.commit()


def apply(
    sql: sa.Connection, rule: Rule, observed: dict[str, Observation], states: dict[str, StateRow], now: datetime
) -> list[Transition]:
    """Every subject of the rule through the machine; the transitions this evaluator made. A subject that
    has a row but was not observed (its queue is gone) counts as not breached. Writes only what changed."""
    gone = Observation(False, None, "no longer reported")
    made = []
    for subject in sorted(set(observed) | set(states)):
        obs = observed.get(subject, gone)
        row = states.get(subject)
        transition = None
        if obs.breached and (row is None or row.state == "ok"):
            transition = try_fire(sql, rule, subject, obs, now)
        elif not obs.breached and row is not None and row.state == "firing":
            transition = try_resolve(sql, rule, subject, obs, now)
        elif row is not None and (row.breached, row.value, row.detail) != (
            obs.breached,
            obs.value,
            obs.detail[:DETAIL],
        ):
            refresh(sql, rule, subject, obs, now)
        if transition is not None:
            made.append(transition)
    return made
