"""The alerts tables (SQLAlchemy Core on their own metadata, like dashboard/history/models.py: the RQ jobs and
processes that write them run without a Flask app). Times are naive UTC datetimes.

    alert_rules   what an admin set: kind, target, threshold, window, severity, cooldown, channels, enabled
    alert_states  one row per (rule, subject) that was ever breached: ok | firing, since when, last value,
                  when it last fired / resolved / notified. Transitions are conditional UPDATEs on this row
                  (WHERE state = <the state read>), so of two evaluators exactly one wins each transition.
    alert_events  the history: one row per transition (firing, resolved) and per test notification, with
                  the value, the channels notified and the errors met; keyset pages on (at, id).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

NAME = 120
SUBJECT = 300
DETAIL = 500

alert_rules = sa.Table(
    "alert_rules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(NAME), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    # Kind-specific: a queue ("" = every queue), "queue:<q>" / "function:<f>" / "" (failure_rate), a
    # scheduler (scheduler_missing), a schedule id ("" = every recurring schedule: missed_runs).
    sa.Column("target", sa.String(SUBJECT), nullable=False, server_default=""),
    sa.Column("threshold", sa.Float, nullable=False, server_default="0"),
    sa.Column("window_minutes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("severity", sa.String(12), nullable=False, server_default="warning"),
    sa.Column("cooldown_seconds", sa.Integer, nullable=False, server_default="300"),
    sa.Column("webhook_ids", sa.Text, nullable=False, server_default="[]"),  # JSON list of endpoint ids
    sa.Column("emails", sa.Text, nullable=False, server_default="[]"),  # JSON list of addresses
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.String(72), nullable=False, server_default=""),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("updated_by", sa.String(72), nullable=False, server_default=""),
    sa.Column("evaluated_at", sa.DateTime),
    sa.Column("eval_error", sa.String(DETAIL), nullable=False, server_default=""),
    sa.UniqueConstraint("name", name="uq_alert_rules_name"),
)

alert_states = sa.Table(
    "alert_states",
    metadata,
    sa.Column("rule_id", sa.Integer, sa.ForeignKey("alert_rules.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("subject", sa.String(SUBJECT), primary_key=True),
    sa.Column("state", sa.String(8), nullable=False, server_default="ok"),
    sa.Column("breached", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("value", sa.Float),
    sa.Column("detail", sa.String(DETAIL), nullable=False, server_default=""),
    sa.Column("since", sa.DateTime, nullable=False),
    sa.Column("last_fired_at", sa.DateTime),
    sa.Column("last_resolved_at", sa.DateTime),
    sa.Column("last_notified_at", sa.DateTime),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # The nav's count of firing alerts, and each page's firing list.
    sa.Index("ix_alert_states_state", "state"),
)

alert_events = sa.Table(
    "alert_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    # No foreign key: the history outlives a deleted rule (its name and severity are copied).
    sa.Column("rule_id", sa.Integer, nullable=False),
    sa.Column("rule_name", sa.String(NAME), nullable=False),
    sa.Column("severity", sa.String(12), nullable=False),
    sa.Column("subject", sa.String(SUBJECT), nullable=False, server_default=""),
    sa.Column("change", sa.String(12), nullable=False),  # firing | resolved | test
    sa.Column("value", sa.Float),
    sa.Column("detail", sa.String(DETAIL), nullable=False, server_default=""),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("channels", sa.Text, nullable=False, server_default="[]"),  # JSON: what was sent where
    sa.Column("errors", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_alert_events_at", "at", "id"),
    sa.Index("ix_alert_events_rule", "rule_id", "at", "id"),
)
