"""The console's SQL database unavailable (PostgreSQL: its connections dropped and the database renamed
away, as a failover or an operator's mistake would): signed-in operators keep the pages that read only
Redis; actions, which must be audited, are refused with 503 and a message before anything changes; pages
that read SQL answer 503, never 500; once the database is back, everything works and is audited."""

from __future__ import annotations

import contextlib

import pytest
import sqlalchemy

from dashboard.rqlayer import keys
from tests.conftest import _postgres_admin_url, _reset_postgres
from tests.fixtures import PASSWORD, ROLE_USERS, plant_failed
from tests.helpers import build_app, make_env, post, signed_in, text


@pytest.fixture
def pg_url(postgres_database):
    _reset_postgres(postgres_database)
    return postgres_database


@contextlib.contextmanager
def database_away(url: str):
    """Drop every connection to the database and rename it, so nothing can reach it; then put it back."""
    name = sqlalchemy.engine.make_url(url).database
    admin = sqlalchemy.create_engine(_postgres_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(
            sqlalchemy.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
        connection.execute(sqlalchemy.text(f'ALTER DATABASE "{name}" RENAME TO "{name}_away"'))
    try:
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'ALTER DATABASE "{name}_away" RENAME TO "{name}"'))
        admin.dispose()


def test_sql_down_keeps_redis_pages_and_refuses_unaudited_actions(redis_url, conn, pg_url, data_dir):
    from dashboard import accounts
    from dashboard.extensions import db
    from dashboard.models import AuditEvent

    app = build_app(make_env(redis_url, pg_url, data_dir))
    with app.app_context():
        accounts.create_user(ROLE_USERS["operator"], PASSWORD, "operator", actor="test")
    failed = plant_failed(conn, 3, prefix="f")
    client = signed_in(app, ROLE_USERS["operator"])
    assert client.get("/").status_code == 200  # the session is confirmed by SQL once

    try:
        with database_away(pg_url):
            # Pages that read only Redis keep working for the signed-in operator.
            for path in ("/", "/queues/default/failed", f"/jobs/{failed[0]}", "/failed"):
                answer = client.get(path)
                assert answer.status_code == 200, (path, answer.status_code)
            # A page that reads SQL says why it cannot, with 503.
            audit_page = client.get("/history")
            assert audit_page.status_code == 503 and "database cannot be reached" in text(audit_page)
            # Actions are refused before anything changes in Redis.
            for path in (f"/jobs/{failed[0]}/retry", "/failed/retry-all", "/queues/default/pause"):
                refused = post(client, path)
                assert refused.status_code == 503, (path, refused.status_code)
                assert "could not be written to the audit log" in text(refused)
            assert conn.zcard(keys.registry("failed", "default")) == 3
            assert conn.llen(keys.queue("default")) == 0 and not conn.keys("*bulk*")
            # Signing in needs the database too: refused the same way, not a 500.
            fresh = app.test_client()
            assert fresh.post("/login", data={"username": "x", "password": "y"}).status_code in (400, 503)
            # A session SQL never confirmed in this process gets no access from the fallback.
            assert app.test_client().get("/").status_code == 302

        # The database is back: the same session acts, and the action is audited.
        retried = post(client, f"/jobs/{failed[0]}/retry")
        assert retried.status_code in (200, 303), retried.status_code
        assert conn.llen(keys.queue("default")) == 1
        with app.app_context():
            actions = [e.action for e in db.session.scalars(sqlalchemy.select(AuditEvent)).all()]
        assert actions.count("job.retry") == 1, actions
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
