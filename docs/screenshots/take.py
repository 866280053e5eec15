"""Screenshots of the console for the README: `python docs/screenshots/take.py after`.

Builds a throw-away console (private redis-server, SQLite in a temp folder), fills it with the
demo's jobs and runs a real burst worker so there are finished and failed jobs, then photographs the
overview, a failed tab, a failed job's page and /schedules in both themes, at 1366 px and at 390 px.
Run from a checkout's root; `--tree` photographs another checkout (the "before" pictures were taken
from the commit before issue 13 that way).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAGES = ("overview", "failed-tab", "job", "schedules")
DEVICES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
THEMES = ("light", "dark")
ADMIN, PASSWORD = "operator", "screenshots-password-1"


def start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    process = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    return process, f"redis://127.0.0.1:{port}/0"


def fill(redis_url: str, tree: Path) -> str:
    """The demo's mix, worked once by a real worker, then enqueued again; returns a failed job id."""
    import redis
    from rq.registry import FailedJobRegistry

    from dashboard import demo

    connection = redis.Redis.from_url(redis_url)
    demo.fill(connection, batch_items=20)
    worker = [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", redis_url, "high", "default", "low"]
    subprocess.run(worker, cwd=tree, capture_output=True, timeout=300, check=False)
    demo.fill(connection, batch_items=20)
    failed = FailedJobRegistry("default", connection=connection).get_job_ids()
    return failed[0] if failed else ""


def serve(env: dict):
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from dashboard import accounts, create_app
    from dashboard.settings import load_settings

    app = create_app(load_settings(env))
    with app.app_context():
        upgrade()
        accounts.create_user(ADMIN, PASSWORD, "admin", actor="screenshots")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def photograph(base: str, job_id: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    urls = {
        "overview": "/",
        "failed-tab": "/queues/default/failed",
        "job": f"/jobs/{job_id}",
        "schedules": "/schedules",
    }
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"]  # fmt: skip
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        for device, viewport in DEVICES.items():
            for theme in THEMES:
                context = browser.new_context(viewport=viewport, color_scheme=theme, timezone_id="Europe/Paris")
                context.add_init_script(f"try {{ localStorage.setItem('rqc-theme', '{theme}'); }} catch (e) {{}}")
                page = context.new_page()
                page.goto(base + "/login")
                page.fill("#username", ADMIN)
                page.fill("#password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_load_state("networkidle")
                for name in PAGES:
                    page.goto(base + urls[name])
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=str(out / f"{name}-{theme}-{device}.png"), full_page=True)
                context.close()
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("label", help="folder under docs/screenshots/, e.g. before or after")
    parser.add_argument("--tree", default=".", help="the checkout to photograph (default: this one)")
    options = parser.parse_args()
    tree = Path(options.tree).resolve()
    sys.path.insert(0, str(tree))
    os.chdir(tree)
    out = HERE / options.label
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        redis_process, redis_url = start_redis(folder)
        try:
            env = {
                "REDIS_URL": redis_url,
                "DATABASE_URL": f"sqlite:///{folder / 'console.db'}",
                "SECRET_KEY": "screenshots-secret-key-0123456789",
                "CONSOLE_DATA_DIR": str(folder),
            }
            os.environ.update(env)
            job_id = fill(redis_url, tree)
            server, base = serve(env)
            try:
                photograph(base, job_id, out)
            finally:
                server.shutdown()
        finally:
            redis_process.terminate()
            redis_process.wait(10)
    print(f"RESULT screenshots={len(list(out.glob('*.png')))} folder={out}")


if __name__ == "__main__":
    main()
