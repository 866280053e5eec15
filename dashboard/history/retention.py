"""Chunked deletion of rows past their retention, one shape for every table the history process prunes
(job outcomes, incoming events, alert history). Flask-free."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa


def prune_older(
    connection: sa.Connection,
    table: sa.Table,
    moment: sa.Column,
    before: datetime,
    chunk: int = 5000,
    children: Sequence[sa.Column] = (),
) -> int:
    """Delete up to `chunk` rows of `table` whose `moment` is before `before` (oldest first), and first
    the rows of other tables that point at them through `children` (foreign-key columns: SQLite enforces
    no ON DELETE CASCADE without its pragma). One indexed range read + one delete per table; returns the
    rows of `table` deleted (0: nothing left to prune)."""
    key = table.c.id
    ids = list(connection.scalars(sa.select(key).where(moment < before).order_by(moment).limit(chunk)))
    if not ids:
        return 0
    for child in children:
        connection.execute(sa.delete(child.table).where(child.in_(ids)))
    connection.execute(sa.delete(table).where(key.in_(ids)))
    return len(ids)
