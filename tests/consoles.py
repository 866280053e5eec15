"""The console as production runs it, for the two-console and fault tests: gunicorn started from the
Procfile's `web:` line in a subprocess (its own session, so stopping it stops its workers too)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import requests

from tests.fixtures import PASSWORD, ROLE_USERS
from tests.helpers import PROJECT_ROOT, build_app, make_env, wait_until


def page_csrf(page: str) -> str:
    """The CSRF token a page embeds (the HTMX header config, or a form's hidden field)."""
    match = re.search(r'"X-CSRFToken": "([^"]+)"', page) or re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def http_sign_in(session: requests.Session, base: str, username: str, password: str = PASSWORD):
    """Sign in over HTTP through the real form; returns the answer (the overview when it worked)."""
    token = page_csrf(session.get(f"{base}/login", timeout=10).text)
    data = {"username": username, "password": password, "csrf_token": token}
    return session.post(f"{base}/login", data=data, timeout=10)


def procfile_line(name: str) -> str:
    for line in (PROJECT_ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.partition(":")[2].strip()
    raise AssertionError(f"the Procfile has no {name}: line")


def console_env(redis_url: str, database_url: str, base: Path) -> dict:
    """What every console process of one deployment shares. HOME is private to the test, so whatever a
    process writes under ~ (gunicorn's default control socket) would show up there."""
    data = base / "data"
    data.mkdir(exist_ok=True)
    home = base / "home"
    home.mkdir(exist_ok=True)
    return make_env(redis_url, database_url, data, HOME=str(home))


def seed_accounts(env: dict) -> None:
    """Migrate the database and create one user per role (tests.fixtures.ROLE_USERS, PASSWORD)."""
    from dashboard import accounts
    from dashboard.extensions import db

    app = build_app(env)
    with app.app_context():
        for role, name in ROLE_USERS.items():
            accounts.create_user(name, PASSWORD, role, actor="test")
        db.engine.dispose()


class ConsoleProcess:
    """One gunicorn master (the Procfile's web line) on `port`, its output in `log_path`."""

    def __init__(self, env: dict, port: int, log_path: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        bin_dir = str(Path(sys.executable).parent)
        full_env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOST": "127.0.0.1", "PORT": str(port), **env}
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                # One gunicorn worker process (the line's threads) is enough here and boots in half the time.
                ["sh", "-c", f"exec {procfile_line('web')} --workers 1"],
                cwd=PROJECT_ROOT,
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30) -> None:
        def answers() -> bool:
            assert self.proc.poll() is None, f"the console exited:\n{self.log()}"
            try:
                return requests.get(f"{self.url}/healthz", timeout=2).status_code in (200, 503)
            except requests.RequestException:
                return False

        wait_until(answers, timeout=timeout, interval=0.1, message=f"console at {self.url}")

    def stop(self) -> None:
        stop_all([self])


def stop_all(consoles: list[ConsoleProcess]) -> None:
    """Stop them all at once (gunicorn's quick shutdown: the test is over), then wait for each."""
    running = [console for console in consoles if console.proc.poll() is None]
    for console in running:
        os.killpg(console.proc.pid, signal.SIGINT)
    for console in running:
        try:
            console.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(console.proc.pid, signal.SIGKILL)
            console.proc.wait(5)
