"""Two console processes side by side, as behind a load balancer: two gunicorn masters started from the
Procfile's `web:` line on different ports, with the same REDIS_URL, DATABASE_URL and SECRET_KEY. One
browser's requests alternate between them: the session, the login throttle, a bulk action's progress,
a queue pause, a rate limit and the audit log are shared, and the two masters share no control socket."""

from __future__ import annotations

import re

import pytest
import requests
import sqlalchemy

from tests.conftest import SQL_BACKENDS, _reset_postgres
from tests.consoles import ConsoleProcess, console_env, http_sign_in, page_csrf, seed_accounts, stop_all
from tests.fixtures import plant_failed
from tests.helpers import wait_until, worker_port

PORTS = (worker_port(7500), worker_port(7501))


def _htmx_post(session: requests.Session, base: str, path: str, **data) -> requests.Response:
    token = page_csrf(session.get(f"{base}/", timeout=10).text)
    headers = {"X-CSRFToken": token, "HX-Request": "true"}
    return session.post(f"{base}{path}", data=data, headers=headers, timeout=10)


@pytest.fixture
def shared_database_url(request, tmp_path):
    """PostgreSQL when reachable (what several console machines share), else one SQLite file."""
    if "postgresql" in SQL_BACKENDS or "postgresql-missing" in SQL_BACKENDS:
        url = request.getfixturevalue("postgres_database")
        _reset_postgres(url)
        return url
    return f"sqlite:///{tmp_path / 'console.db'}"


@pytest.fixture
def consoles(tmp_path, conn, redis_url, shared_database_url):
    env = console_env(redis_url, shared_database_url, tmp_path)
    # The masters boot while the database is migrated: no request reaches them before wait_ready.
    started = [ConsoleProcess(env, port, tmp_path / f"console-{port}.log") for port in PORTS]
    try:
        seed_accounts(env)
        for console in started:
            console.wait_ready()
        yield started
    finally:
        stop_all(started)


def test_two_consoles_serve_one_browser_alike(consoles, conn, shared_database_url, tmp_path):
    a, b = (console.url for console in consoles)

    # A session made on one console is good on the other.
    browser = requests.Session()
    signed = http_sign_in(browser, a, "oscar")
    assert signed.status_code == 200 and "whoami" in signed.text, signed.text[:300]
    other = browser.get(f"{b}/", timeout=10)
    assert other.status_code == 200 and re.search(r'class="whoami">oscar\b', other.text)

    # The login throttle is kept in Redis: failures counted on both add up (the fifth, LOGIN_MAX_FAILURES,
    # starts the pair's wait), and then either console refuses.
    guesser = requests.Session()
    for attempt in range(4):
        refused = http_sign_in(guesser, (a, b)[attempt % 2], "vera", "wrong-password-x")
        assert refused.status_code in (200, 401) and "whoami" not in refused.text, refused.status_code
    for base in (a, b):
        throttled = http_sign_in(guesser, base, "vera", "wrong-password-x")
        assert throttled.status_code == 429 and throttled.headers.get("Retry-After"), (base, throttled.status_code)

    # A bulk action started on one console shows its progress (and its end) on the other.
    plant_failed(conn, 40, prefix="f")
    started = _htmx_post(browser, a, "/failed/retry-all")
    assert started.status_code == 202, started.text[:300]
    op_id = re.search(r'id="bulk-([0-9a-f]+)"', started.text).group(1)
    wait_until(
        lambda: 'data-status="done"' in browser.get(f"{b}/bulk/{op_id}", timeout=10).text,
        timeout=20,
        message="the bulk retry done, as the other console reads it",
    )
    assert conn.llen("rq:queue:default") == 40 and conn.zcard("rq:failed:default") == 0

    # A pause set on one console is what the other shows.
    paused = _htmx_post(browser, b, "/queues/default/pause")
    assert paused.status_code == 200, paused.text[:300]
    status = browser.get(f"{a}/queues/default/flow", timeout=10)
    assert status.status_code == 200 and "paused" in status.text.lower() and "oscar" in status.text
    # And so is a rate limit.
    limited = _htmx_post(browser, a, "/queues/default/rate-limit", amount="7", unit="second")
    assert limited.status_code == 200, limited.text[:300]
    assert "7/s" in browser.get(f"{b}/queues/default/flow", timeout=10).text

    # Both consoles wrote to the one audit log.
    engine = sqlalchemy.create_engine(shared_database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            sqlalchemy.text("SELECT action, outcome FROM audit_events WHERE actor = 'oscar' ORDER BY id")
        ).all()
    engine.dispose()
    assert ("auth.login", "ok") in rows
    assert ("bulk.retry", "started") in rows and ("bulk.retry", "done") in rows
    assert ("queue.pause", "ok") in rows and ("queue.rate-limit", "ok") in rows

    # Two masters on one host: neither listens on gunicorn's (per-user, shared by default) control socket.
    for console in consoles:
        assert "Control socket" not in console.log(), console.log()
    assert not (tmp_path / "home" / ".gunicorn").exists()
