"""The console's SQL database unavailable (PostgreSQL: its connections dropped and the database renamed
away, as a failover or an operator's mistake would): signed-in operators keep the pages that read only
Redis; actions, which must be audited, are refused with 503 and a message before anything changes; pages
that read SQL answer 503, never 500; once the database is back, everything works and is audited."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import pytest
import sqlalchemy
from rq import Queue

from dashboard.rqlayer import keys
from tests.conftest import _postgres_admin_url, _reset_postgres
from tests.fixtures import PASSWORD, ROLE_USERS, plant_failed
from tests.helpers import PROJECT_ROOT, build_app, make_env, post, signed_in, text, wait_until


@pytest.fixture
def pg_url(postgres_database):
    _reset_postgres(postgres_database)
    return postgres_database


@contextlib.contextmanager
def database_away(url: str):
    """Drop every connection to the database and rename it, so nothing can reach it; then put it back."""
    name = sqlalchemy.engine.make_url(url).database
    admin = sqlalchemy.create_engine(_postgres_admin_url(), isolation_level="AUTOCOMMIT")

    def rename_away() -> bool:
        # A client may reconnect between the two statements (the rename then refuses): try again.
        with admin.connect() as connection:
            connection.execute(
                sqlalchemy.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            try:
                connection.execute(sqlalchemy.text(f'ALTER DATABASE "{name}" RENAME TO "{name}_away"'))
                return True
            except sqlalchemy.exc.OperationalError:
                return False

    wait_until(rename_away, timeout=10, interval=0.05, message="the database renamed away")
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


def _outcomes(engine) -> list[tuple]:
    from dashboard.history.models import job_outcomes

    with engine.connect() as sql:
        return sql.execute(sqlalchemy.select(job_outcomes.c.job_id, job_outcomes.c.attempt)).all()


def _run_jobs(conn, count: int) -> list[str]:
    from dashboard.rqlayer.telemetry.worker import ConsoleSimpleWorker

    queue = Queue("default", connection=conn)
    ids = [queue.enqueue("tests.jobfuncs.add", n, 1).id for n in range(count)]
    ConsoleSimpleWorker([queue], connection=conn).work(burst=True)
    return ids


def test_the_collector_catches_up_once_the_database_is_back(redis_url, conn, pg_url, tmp_path):
    from dashboard.core_tables import create_all
    from dashboard.rqlayer.telemetry.consumer import GROUP, collector_status, ensure_group

    engine = sqlalchemy.create_engine(pg_url, pool_pre_ping=True)
    create_all(engine)
    ensure_group(conn)
    env = dict(os.environ, **make_env(redis_url, pg_url, tmp_path))
    command = [sys.executable, "-m", "dashboard.history", "run", "--batch", "5", "--block-ms", "200"]
    collector = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        before = _run_jobs(conn, 4)
        wait_until(lambda: len(_outcomes(engine)) == 4, timeout=20, message="the first jobs in SQL")
        with database_away(pg_url):
            went_away = time.time()
            during = _run_jobs(conn, 6)  # the workers need only Redis

            # The collector read them and failed to write them: they stay pending in the stream, unacked.
            def refused() -> bool:
                status = collector_status(conn)
                failed_since = status.last_error_at is not None and status.last_error_at.timestamp() >= went_away
                return failed_since and conn.xpending(keys.events(), GROUP)["pending"] > 0

            wait_until(refused, timeout=15, message="the collector's write refused, its batch pending")
        wait_until(lambda: len(_outcomes(engine)) == 10, timeout=40, message="the collector caught up")
        rows = _outcomes(engine)
        assert len(set(rows)) == len(rows) == 10, "an outcome doubled"
        assert {job_id for job_id, _ in rows} == set(before) | set(during), "an outcome lost"
    finally:
        collector.terminate()
        collector.wait(15)
        engine.dispose()
