"""The webhooks tables (SQLAlchemy Core on their own metadata, like dashboard/history/models.py: the RQ jobs and
processes that write them run without a Flask app). Times are naive UTC datetimes.

An endpoint's subscriptions (`events`, `queues`, `functions`) are JSON arrays of strings; an empty `queues` or
`functions` list matches every queue or function. Secrets are kept in clear text: HMAC signing needs them.
One delivery row per (event, endpoint); `idem_key` (with the endpoint) makes a replayed event a no-op. The
deliveries log is read newest first in keyset pages on (created_at, id) per endpoint.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

URL = 2000
SECRET = 100
STATUSES = ("pending", "retrying", "succeeded", "failed")
RESPONSE_BYTES = 1024  # first bytes of a response body kept per delivery

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("url", sa.String(URL), nullable=False),
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    sa.Column("events", sa.Text, nullable=False, server_default="[]"),
    sa.Column("queues", sa.Text, nullable=False, server_default="[]"),
    sa.Column("functions", sa.Text, nullable=False, server_default="[]"),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    # Why it was disabled when the console did it (a 410 Gone answer), empty when an operator did.
    sa.Column("disabled_reason", sa.String(500), nullable=False, server_default=""),
    sa.Column("secret", sa.String(SECRET), nullable=False),
    # After a rotation the old secret still signs (a second signature) until previous_expires_at.
    sa.Column("previous_secret", sa.String(SECRET)),
    sa.Column("previous_expires_at", sa.DateTime),
    sa.Column("created_by", sa.String(72), nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("endpoint_id", sa.Integer, sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False),
    # The Standard Webhooks message id (header webhook-id): the same for every attempt and redelivery.
    sa.Column("msg_id", sa.String(64), nullable=False),
    sa.Column("idem_key", sa.String(300)),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # the exact body sent: {"type", "timestamp", "data"}
    sa.Column("status", sa.String(12), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime),
    sa.Column("last_status", sa.Integer),  # HTTP status of the last answer, NULL when none came
    sa.Column("response_ms", sa.Integer),
    sa.Column("response_body", sa.Text),  # first RESPONSE_BYTES bytes, decoded with replacement
    sa.Column("error", sa.String(500), nullable=False, server_default=""),
    sa.Column("redelivery_of", BigId),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("endpoint_id", "idem_key", name="uq_webhook_deliveries_key"),
    sa.Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at", "id"),
    sa.Index("ix_webhook_deliveries_created", "created_at", "id"),
    # The repair pass: unfinished deliveries whose attempt is overdue (dispatcher.py).
    sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)
