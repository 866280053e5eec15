"""Every set of SQLAlchemy Core tables the console owns beside its Flask-SQLAlchemy models, in one list:
migrations compare against it and tests create from it. Flask-free."""

from __future__ import annotations

import sqlalchemy as sa


def core_metadatas() -> list[sa.MetaData]:
    from dashboard.alerts.models import metadata as alerts
    from dashboard.history.models import metadata as history
    from dashboard.inbound.models import metadata as inbound
    from dashboard.webhooks.models import metadata as webhooks

    return [history, webhooks, inbound, alerts]


def create_all(engine: sa.Engine) -> None:
    """Create every Core table missing on `engine` (tests and benchmarks; deployments run migrations)."""
    for metadata in core_metadatas():
        metadata.create_all(engine)
