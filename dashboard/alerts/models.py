"""The alerts tables (SQLAlchemy Core on their own metadata, like dashboard/history/models.py: the RQ jobs and
processes that write them run without a Flask app). Times are naive UTC datetimes."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
