"""The console's history in SQL: job outcomes, error groups and rolled-up metrics (beyond Redis' TTLs).

Flask-free on purpose: the collector process and the benchmarks use it with a plain SQLAlchemy engine; the
web views pass `db.session` / `db.engine`. The tables live in `models.metadata` (Alembic manages them with the
console's other tables, see migrations/env.py).
"""
