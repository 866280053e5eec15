"""What a delivery job needs in its worker process: the webhook settings and one SQLAlchemy engine per
database URL, both from the environment (load_settings: DATABASE_URL, or a live `make run`'s state file).
Kept per process, so a worker running thousands of deliveries opens one connection pool."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from dashboard.settings import WebhookSettings, load_settings, load_webhook_settings

_engines: dict[str, sa.Engine] = {}
_lock = threading.Lock()


def settings() -> WebhookSettings:
    return load_webhook_settings()


def engine() -> sa.Engine:
    """The engine for the current DATABASE_URL (created once; a changed URL, as in tests, gets its own and
    the previous one is disposed)."""
    url = load_settings().database_url
    with _lock:
        found = _engines.get(url)
        if found is None:
            for old in _engines.values():
                old.dispose()
            _engines.clear()
            found = _engines[url] = sa.create_engine(url, pool_pre_ping=True)
        return found
