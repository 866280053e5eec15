"""Alert rules: what each kind means, checking a rule's fields (one message per field, for the form's inline
validation and the save alike), and reading / writing the alert_rules table. Flask-free.

Kinds (the `target`, `threshold` and `window_minutes` columns mean what the kind says):

    queue_depth        jobs waiting in a queue > threshold            target: a queue, "" = every queue
    oldest_job_age     the oldest waiting job older than threshold s  target: a queue, "" = every queue
    failure_rate       final failures > threshold % of the jobs that ended in the last window minutes
                       (retried attempts are not failures: a job that failed, was retried and succeeded
                       counts once, as finished)           target: "queue:<q>", "function:<f>", "" = all
    no_worker          jobs waiting and no live worker listening    target: a queue, "" = every queue
    scheduler_missing  a scheduler not seen for threshold s         target: rq-cron | rq-scheduler | worker
    error_group        a new (first seen after the rule was made) or regressed error group that failed in
                       the last window minutes; one subject per group
    cron_duplicate     two live `rq cron` processes run the same cron entries (RQ has no lock between them:
                       every run is enqueued twice)
    missed_runs        a recurring schedule missed >= threshold runs in the last window minutes
                       target: a schedule id, "" = every recurring schedule

Checking a rule's fields is checks.py's. Costs: every function here is one or two statements on alert_rules
(by primary key, or the whole table: rules are few, MAX_RULES at most). The caller commits (the web commits
with its audit entry).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from dashboard.alerts.checks import RuleInput

from dashboard.alerts.models import alert_rules, alert_states

MAX_RULES = 200
MAX_EMAILS = 20
MAX_WEBHOOKS = 20
SEVERITIES = ("info", "warning", "critical")
SCHEDULERS = ("rq-cron", "rq-scheduler", "worker")
MAX_COOLDOWN = 7 * 86400
MAX_WINDOW = 24 * 60


@dataclass(frozen=True)
class Kind:
    label: str
    target: str  # "queue", "scope", "scheduler", "schedule" or "" (no target)
    threshold: str  # the unit in words ("" = the kind takes none)
    window: bool  # takes window_minutes
    default_threshold: float = 0
    default_window: int = 0
    minimum: float = 0  # threshold must be >= this (> 0 for counts)


KINDS: dict[str, Kind] = {
    "queue_depth": Kind("Queue depth above N", "queue", "jobs", False, 100),
    "oldest_job_age": Kind("Oldest waiting job older than T", "queue", "seconds", False, 300),
    "failure_rate": Kind("Failure rate above X % over W minutes", "scope", "percent", True, 10, 15),
    "no_worker": Kind("Jobs waiting and no worker listening", "queue", "", False),
    "scheduler_missing": Kind("Scheduler not seen for T", "scheduler", "seconds", False, 300),
    "error_group": Kind("A new or regressed error group", "", "", True, 0, 60),
    "cron_duplicate": Kind("Two rq cron processes run the same entries", "", "", False),
    "missed_runs": Kind("A schedule missed runs", "schedule", "missed runs", True, 1, 60, 1),
}
FIELDS = ("name", "kind", "target", "threshold", "window_minutes", "severity", "cooldown_seconds", "webhooks", "emails")


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    kind: str
    target: str = ""
    threshold: float = 0
    window_minutes: int = 0
    severity: str = "warning"
    cooldown_seconds: int = 300
    webhook_ids: tuple[int, ...] = ()
    emails: tuple[str, ...] = ()
    enabled: bool = True
    created_at: datetime | None = None
    created_by: str = ""
    updated_at: datetime | None = None
    updated_by: str = ""
    evaluated_at: datetime | None = None
    eval_error: str = ""

    @property
    def spec(self) -> Kind:
        return KINDS[self.kind]

    @property
    def condition(self) -> str:
        """The rule in words, e.g. "queue default: more than 100 jobs waiting"."""
        return describe(self.kind, self.target, self.threshold, self.window_minutes)

    @property
    def channels(self) -> int:
        return len(self.webhook_ids) + len(self.emails)


def number_text(value: float) -> str:
    return f"{value:g}"


def describe(kind: str, target: str, threshold: float, window: int) -> str:
    spec = KINDS.get(kind)
    if spec is None:
        return kind
    where = f"queue {target}" if target else "every queue"
    if kind == "queue_depth":
        return f"{where}: more than {number_text(threshold)} jobs waiting"
    if kind == "oldest_job_age":
        return f"{where}: the oldest waiting job is older than {number_text(threshold)} s"
    if kind == "no_worker":
        return f"{where}: jobs wait and no worker listens"
    if kind == "failure_rate":
        scope = target.replace(":", " ", 1) if target else "all jobs"
        return f"{scope}: more than {number_text(threshold)} % final failures over {window} min"
    if kind == "scheduler_missing":
        return f"{target or 'a scheduler'} not seen for {number_text(threshold)} s"
    if kind == "error_group":
        return f"a new or regressed error group that failed in the last {window} min"
    if kind == "missed_runs":
        which = f"schedule {target}" if target else "any recurring schedule"
        return f"{which}: at least {number_text(threshold)} missed run(s) in the last {window} min"
    return spec.label


# ---------------------------------------------------------------- reading and writing


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _json_list(raw: str | None) -> list[Any]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def rule_from_row(row: Any) -> Rule:
    m = row._mapping
    kind = m["kind"] if m["kind"] in KINDS else "queue_depth"
    return Rule(
        id=int(m["id"]),
        name=m["name"],
        kind=kind,
        target=m["target"] or "",
        threshold=float(m["threshold"] or 0),
        window_minutes=int(m["window_minutes"] or 0),
        severity=m["severity"] if m["severity"] in SEVERITIES else "warning",
        cooldown_seconds=int(m["cooldown_seconds"] or 0),
        webhook_ids=tuple(int(v) for v in _json_list(m["webhook_ids"]) if isinstance(v, int)),
        emails=tuple(str(v) for v in _json_list(m["emails"]) if isinstance(v, str)),
        enabled=bool(m["enabled"]),
        created_at=_aware(m["created_at"]),
        created_by=m["created_by"] or "",
        updated_at=_aware(m["updated_at"]),
        updated_by=m["updated_by"] or "",
        evaluated_at=_aware(m["evaluated_at"]),
        eval_error=m["eval_error"] or "",
    )


class RuleConflict(ValueError):
    """Another rule has this name, or there are MAX_RULES already."""


def list_rules(sql: sa.Connection, enabled_only: bool = False) -> list[Rule]:
    """Every rule by name (at most MAX_RULES). One SELECT."""
    query = sa.select(alert_rules).order_by(alert_rules.c.name, alert_rules.c.id).limit(MAX_RULES)
    if enabled_only:
        query = query.where(alert_rules.c.enabled.is_(True))
    return [rule_from_row(r) for r in sql.execute(query)]


def get_rule(sql: sa.Connection, rule_id: int) -> Rule | None:
    row = sql.execute(sa.select(alert_rules).where(alert_rules.c.id == rule_id)).first()
    return rule_from_row(row) if row else None


def _columns(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": values["name"],
        "kind": values["kind"],
        "target": values["target"],
        "threshold": float(values["threshold"]),
        "window_minutes": int(values["window_minutes"]),
        "severity": values["severity"],
        "cooldown_seconds": int(values["cooldown_seconds"]),
        "webhook_ids": json.dumps(list(values["webhooks"])),
        "emails": json.dumps(list(values["emails"])),
        "enabled": bool(values["enabled"]),
    }


def _name_taken(sql: sa.Connection, name: str, other_than: int | None = None) -> bool:
    query = sa.select(alert_rules.c.id).where(alert_rules.c.name == name)
    if other_than is not None:
        query = query.where(alert_rules.c.id != other_than)
    return sql.execute(query.limit(1)).first() is not None


def _require_ok(checked: RuleInput) -> None:
    if not checked.ok:
        raise ValueError(f"the rule has invalid fields: {', '.join(checked.errors)}")


def _reread(sql: sa.Connection, rule_id: int) -> Rule:
    rule = get_rule(sql, rule_id)
    if rule is None:
        raise RuleConflict("the rule was deleted meanwhile")
    return rule


def create_rule(sql: sa.Connection, checked: RuleInput, actor: str, now: datetime | None = None) -> Rule:
    """Insert a checked rule; RuleConflict when its name is taken or MAX_RULES exist. The caller commits."""
    _require_ok(checked)
    if _name_taken(sql, checked.values["name"]):
        raise RuleConflict(f"a rule named {checked.values['name']!r} exists already")
    if (sql.execute(sa.select(sa.func.count()).select_from(alert_rules)).scalar() or 0) >= MAX_RULES:
        raise RuleConflict(f"at most {MAX_RULES} rules")
    moment = _naive(now or datetime.now(UTC))
    columns = _columns(checked.values) | {
        "created_at": moment,
        "created_by": actor[:72],
        "updated_at": moment,
        "updated_by": actor[:72],
    }
    new_id = sql.execute(sa.insert(alert_rules).values(**columns).returning(alert_rules.c.id)).scalar_one()
    return _reread(sql, int(new_id))


def update_rule(sql: sa.Connection, rule: Rule, checked: RuleInput, actor: str, now: datetime | None = None) -> Rule:
    """Replace a rule's fields. A rule whose condition changed (kind, target, threshold, window) starts over:
    its states are dropped (a firing subject is not resolved by notification: the history says "edited")."""
    _require_ok(checked)
    if _name_taken(sql, checked.values["name"], rule.id):
        raise RuleConflict(f"a rule named {checked.values['name']!r} exists already")
    columns = _columns(checked.values) | {"updated_at": _naive(now or datetime.now(UTC)), "updated_by": actor[:72]}
    sql.execute(sa.update(alert_rules).where(alert_rules.c.id == rule.id).values(**columns))
    changed = (rule.kind, rule.target, rule.threshold, rule.window_minutes) != (
        columns["kind"],
        columns["target"],
        columns["threshold"],
        columns["window_minutes"],
    )
    if changed:
        sql.execute(sa.delete(alert_states).where(alert_states.c.rule_id == rule.id))
    return _reread(sql, rule.id)


def set_enabled(sql: sa.Connection, rule: Rule, enabled: bool, actor: str) -> Rule:
    """Enable or disable; disabling drops the rule's states (nothing stays "firing" while nobody evaluates)."""
    sql.execute(
        sa.update(alert_rules)
        .where(alert_rules.c.id == rule.id)
        .values(enabled=enabled, updated_at=_naive(datetime.now(UTC)), updated_by=actor[:72])
    )
    if not enabled:
        sql.execute(sa.delete(alert_states).where(alert_states.c.rule_id == rule.id))
    return replace(rule, enabled=enabled)


def delete_rule(sql: sa.Connection, rule: Rule) -> None:
    """The rule and its states; its events stay (history keeps the rule's name)."""
    sql.execute(sa.delete(alert_states).where(alert_states.c.rule_id == rule.id))
    sql.execute(sa.delete(alert_rules).where(alert_rules.c.id == rule.id))


def as_form(rule: Rule) -> dict[str, Any]:
    """A rule's values as the form shows them."""
    return {
        "name": rule.name,
        "kind": rule.kind,
        "target": rule.target,
        "threshold": number_text(rule.threshold) if rule.spec.threshold else "",
        "window_minutes": str(rule.window_minutes) if rule.spec.window else "",
        "severity": rule.severity,
        "cooldown_seconds": str(rule.cooldown_seconds),
        "webhooks": ", ".join(str(i) for i in rule.webhook_ids),
        "emails": ", ".join(rule.emails),
        "enabled": rule.enabled,
    }
