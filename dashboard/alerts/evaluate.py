"""One evaluation pass over every enabled rule: observe (observe.py), move each subject through the state
machine (state.py), notify the transitions this evaluator made (notify.py). The history process runs it
every INTERVAL seconds (dashboard/history/periodic.py, task "alerts"); tests call it directly.

Cost of a pass: one SELECT of the rules and one of their states; the readers' reads, each once per pass
whatever the number of rules (observe.Sources); writes only for subjects whose state or value changed, plus
one UPDATE of the rules' evaluated_at. Without an enabled rule: one SELECT. A rule whose observation
fails (Redis or SQL down, a reader's error) keeps its states and records the error on the rule; the other
rules are evaluated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis
import sqlalchemy as sa

from dashboard.alerts import notify
from dashboard.alerts.models import DETAIL, alert_rules
from dashboard.alerts.observe import Sources, observe
from dashboard.alerts.rules import list_rules
from dashboard.alerts.state import Transition, apply, load_states, naive
from dashboard.settings import TelemetrySettings

log = logging.getLogger(__name__)
INTERVAL = 15


@dataclass
class Report:
    rules: int = 0
    transitions: list[Transition] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)  # rule id -> what failed


def evaluate(
    engine: sa.Engine,
    connection: redis.Redis,
    now: datetime | None = None,
    telemetry: TelemetrySettings | None = None,
) -> Report:
    """Evaluate every enabled rule once and notify what fired or resolved (see the module docstring)."""
    now = now or datetime.now(UTC)
    report = Report()
    with engine.connect() as sql:
        rules = list_rules(sql, enabled_only=True)
        report.rules = len(rules)
        if not rules:
            return report
        states = load_states(sql, [r.id for r in rules])
        sql.commit()
        sources = Sources(connection, sql, now, telemetry or TelemetrySettings())
        for rule in rules:
            try:
                observed = observe(sources, rule)
                sql.commit()  # end the read transaction: on SQLite a reader would block the writers
                mine = {subject: s for (rule_id, subject), s in states.items() if rule_id == rule.id}
                report.transitions += apply(sql, rule, observed, mine, now)
            except Exception as error:  # noqa: BLE001 - one rule's failure never stops the others
                sql.rollback()
                first_line = (str(error).splitlines() or [""])[0][:300]
                report.errors[rule.id] = f"{type(error).__name__}: {first_line}"
                log.warning("alert rule %s failed: %s", rule.id, report.errors[rule.id])
        _record(sql, [r.id for r in rules], report.errors, now)
    for transition in report.transitions:
        try:
            notify.send(engine, connection, transition)
        except Exception as error:  # noqa: BLE001 - the event is written; the others still get notified
            log.warning("alert event %s: notifying failed: %s: %s", transition.event_id, type(error).__name__, error)
    return report


def _record(sql: sa.Connection, rule_ids: list[int], errors: dict[int, str], now: datetime) -> None:
    ok = [rule_id for rule_id in rule_ids if rule_id not in errors]
    r = alert_rules.c
    if ok:
        sql.execute(sa.update(alert_rules).where(r.id.in_(ok)).values(evaluated_at=naive(now), eval_error=""))
    for rule_id, error in errors.items():
        sql.execute(
            sa.update(alert_rules).where(r.id == rule_id).values(evaluated_at=naive(now), eval_error=error[:DETAIL])
        )
    sql.commit()
