"""The console's schema is managed by migrations, on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

import sqlalchemy

from tests.helpers import PROJECT_ROOT, make_env

TABLES = {
    "users",
    "api_tokens",
    "audit_events",
    "alembic_version",
    "job_outcomes",
    "job_outcome_attributes",
    "metric_rollups",
    "error_groups",
    "schedule_notes",
    "webhook_endpoints",
    "webhook_deliveries",
    "incoming_events",
    "incoming_event_jobs",
    "alert_rules",
    "alert_states",
    "alert_events",
}


def _flask(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=PROJECT_ROOT,
        env=dict(env, PATH="/usr/bin:/bin"),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _tables(url):
    engine = sqlalchemy.create_engine(url)
    try:
        return set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_db_upgrade_creates_and_downgrade_removes_the_schema(database_url, redis_url, data_dir):
    env = make_env(redis_url, database_url, data_dir)

    first = _flask(env, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert TABLES <= _tables(database_url)

    again = _flask(env, "db", "upgrade")
    assert again.returncode == 0, again.stderr

    down = _flask(env, "db", "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert not (TABLES - {"alembic_version"}) & _tables(database_url)

    assert _flask(env, "db", "upgrade").returncode == 0
    assert TABLES <= _tables(database_url)


def test_models_match_the_migrations(database_url, redis_url, data_dir):
    """No model change is left without its migration."""
    env = make_env(redis_url, database_url, data_dir)
    assert _flask(env, "db", "upgrade").returncode == 0
    check = _flask(env, "db", "check")
    assert check.returncode == 0, check.stdout + check.stderr
