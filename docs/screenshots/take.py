"""Screenshots of the console for the README: `python docs/screenshots/take.py after`.

Builds a throw-away console (private redis-server, SQLite in a temp folder) and gives it a short, real
past: the demo's jobs plus some more (three kinds of failure), run by burst `ConsoleWorker`s (the worker
extension) in two rounds in consecutive minutes, one schedule fired in each round, the history collector driven
synchronously after each (so outcomes, error groups and rollups exist; one group is resolved after the
first round and regresses in the second), then the demo's jobs once more so queues have work waiting.
It photographs the overview (charts, sparklines), a queue's failed tab (its charts), a failed job, the
schedules list and a schedule's page, /functions and a function's page, /history, /errors and an error
group, /events, and — last, with a worker running again under the same name — the worker's page, in both
themes at 1366 px and at 390 px (at most 3,000 px of each page). Run from a checkout's root; `--tree`
photographs another checkout (the "before" pictures were taken from the commit before issue 13 that way;
a tree without the history collector gets the first four pages only).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASIC_PAGES = ("overview", "failed-tab", "job", "schedules")
HISTORY_PAGES = ("functions", "function", "history", "errors", "error-group", "events", "schedule")
DEVICES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
THEMES = ("light", "dark")
MAX_HEIGHT = 3000  # px
ADMIN, PASSWORD = "operator", "screenshots-password-1"
WORKER_CLASS = "dashboard.rqlayer.telemetry.worker.ConsoleWorker"
WORKER_NAME = "worker-1"
EMAIL = "tasks.notifications.send_email_notification"
THUMBNAIL = "tasks.images.make_thumbnail"
RATE = "tasks.external.fetch_exchange_rate"
SCHEDULE = "default-demo-exchange-rate-hourly"


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


def worker_command(redis_url: str, extension: bool, burst: bool = True) -> list[str]:
    command = [sys.executable, "-m", "rq.cli", "worker", "--url", redis_url]
    if extension:
        command += ["-w", WORKER_CLASS, "--name", WORKER_NAME]
    return command + (["--burst"] if burst else []) + ["high", "default", "low"]


def fill(redis_url: str, tree: Path) -> str:
    """The demo's mix, worked once by a real stock worker, then enqueued again; returns a failed job id."""
    import redis

    from dashboard import demo

    connection = redis.Redis.from_url(redis_url)
    demo.fill(connection, batch_items=20)
    subprocess.run(worker_command(redis_url, False), cwd=tree, capture_output=True, timeout=300, check=False)
    demo.fill(connection, batch_items=20)
    return first_failed(connection)


def first_failed(connection) -> str:
    from rq.registry import FailedJobRegistry

    failed = FailedJobRegistry("default", connection=connection).get_job_ids()
    return failed[0] if failed else ""


def more_jobs(connection, round_no: int) -> None:
    """Besides the demo's: mail that goes out and mail that bounces (ValueError), thumbnails made and one
    whose photo is missing (FileNotFoundError), rate look-ups, one of which always times out (ConnectionError)."""
    from rq import Queue

    default, high = Queue("default", connection=connection), Queue("high", connection=connection)
    for n in range(14 if round_no == 1 else 9):
        kwargs = {"to": f"customer{n}@example.com", "subject": f"Your order #{1040 + n} has shipped"}
        (high if n % 3 == 0 else default).enqueue_call(EMAIL, kwargs=kwargs)
    for n in range(2 if round_no == 1 else 1):
        default.enqueue_call(EMAIL, kwargs={"to": f"customer-{n}-at-example.com", "subject": "Invoice"})
    for size in (64, 128, 256)[: 3 if round_no == 1 else 2]:
        default.enqueue_call(THUMBNAIL, kwargs={"size": size})
    default.enqueue_call(THUMBNAIL, kwargs={"source": f"uploads/photo-{round_no}.jpg"})
    for seed in range(4):
        default.enqueue_call(RATE, kwargs={"quote": ("USD", "GBP", "JPY", "CHF")[seed], "failure_rate": 0.0})
    default.enqueue_call(RATE, kwargs={"quote": "SEK", "failure_rate": 1.0})


def fire_schedule(connection) -> None:
    """What rq-scheduler does when the schedule is due: the schedule's own job goes to its queue."""
    import warnings

    from rq.job import Job

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # rq_scheduler's own deprecation notices
        from rq_scheduler import Scheduler

        Scheduler(connection=connection).enqueue_job(Job.fetch(SCHEDULE, connection=connection))


def fill_with_history(redis_url: str, tree: Path, env: dict) -> dict:
    """Two rounds of real work by burst ConsoleWorkers a minute apart, each collected into SQL; returns
    the ids the pictured pages need."""
    import redis
    import sqlalchemy as sa

    from dashboard import demo
    from dashboard.history import error_groups, schedule_notes
    from dashboard.history.collector import drain
    from dashboard.history.models import error_groups as groups_table
    from dashboard.settings import load_settings

    connection = redis.Redis.from_url(redis_url)
    settings = load_settings(env, use_run_state=False)
    engine = sa.create_engine(env["DATABASE_URL"])
    worker = worker_command(redis_url, True)
    demo.fill(connection, batch_items=20)
    for round_no in (1, 2):
        if round_no == 2:  # the next minute, so the charts have two buckets and the group regresses
            time.sleep(61 - time.time() % 60)
        more_jobs(connection, round_no)
        fire_schedule(connection)
        subprocess.run(worker, cwd=tree, capture_output=True, timeout=300, check=False)
        drain(connection, engine, settings, force=True)
        if round_no == 1:
            with engine.begin() as sql:
                missing = sql.execute(
                    sa.select(groups_table.c.fingerprint).where(groups_table.c.exc_type == "FileNotFoundError")
                ).scalar()
                if missing:
                    error_groups.set_status(sql, missing, "resolve", ADMIN)
                schedule_notes.save_note(
                    sql, SCHEDULE, "EUR/USD rate", "Refreshes the exchange rate the invoices use.", ADMIN
                )
    with engine.connect() as sql:
        regressed = sql.execute(
            sa.select(groups_table.c.fingerprint).order_by(groups_table.c.status != "regressed")
        ).scalar()
    engine.dispose()
    job_id = first_failed(connection)
    demo.fill(connection, batch_items=20)
    return {"job": job_id, "group": regressed or ""}


def serve(env: dict):
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from dashboard import accounts, create_app
    from dashboard.settings import load_settings

    app = create_app(load_settings(env))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per picture's request
    with app.app_context():
        upgrade()
        accounts.create_user(ADMIN, PASSWORD, "admin", actor="screenshots")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def urls_for(ids: dict) -> dict[str, str]:
    return {
        "overview": "/",
        "failed-tab": "/queues/default/failed",
        "job": f"/jobs/{ids['job']}",
        "schedules": "/schedules",
        "functions": "/functions",
        "function": f"/functions/{EMAIL}",
        "history": "/history",
        "errors": "/errors",
        "error-group": f"/errors/{ids.get('group', '')}",
        "events": "/events",
        "schedule": f"/schedules/{SCHEDULE}",
        "worker": f"/workers/{WORKER_NAME}",
    }


# Every chart drawn (uPlot's element in its plot) or saying it has no data.
CHARTS_DRAWN = """() => [...document.querySelectorAll('.chart-plot')]
  .every(p => p.querySelector('.uplot, .chart-empty'))"""


def settle(page) -> None:
    """Loaded, quiet (pages that long-poll the event feed never go quiet: a bounded wait), charts drawn."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.wait_for_load_state("load")
    for wait in (lambda: page.wait_for_load_state("networkidle", timeout=4000),
                 lambda: page.wait_for_function(CHARTS_DRAWN, timeout=4000)):  # fmt: skip
        with contextlib.suppress(PlaywrightTimeout):
            wait()
    page.wait_for_timeout(300)  # the last frame of a chart's first draw


def photograph(base: str, urls: dict[str, str], pages: tuple[str, ...], out: Path) -> None:
    from playwright.sync_api import sync_playwright

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
                for name in pages:
                    page.goto(base + urls[name])
                    settle(page)
                    # The whole page, up to MAX_HEIGHT: a feed of 100 events on a phone is 18,000 px (1.4 MB).
                    height = min(MAX_HEIGHT, page.evaluate("document.documentElement.scrollHeight"))
                    clip = {"x": 0, "y": 0, "width": viewport["width"], "height": height}
                    page.screenshot(path=str(out / f"{name}-{theme}-{device}.png"), full_page=True, clip=clip)
                context.close()
        browser.close()


def photograph_live_worker(base: str, redis_url: str, tree: Path, urls: dict[str, str], out: Path) -> None:
    """The worker's page while a worker of that name runs again (it takes the jobs waiting meanwhile)."""
    import redis
    from rq import Worker

    connection = redis.Redis.from_url(redis_url)
    process = subprocess.Popen(worker_command(redis_url, True, burst=False), cwd=tree,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while WORKER_NAME not in [w.name for w in Worker.all(connection=connection)]:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the worker did not start")
            time.sleep(0.1)
        photograph(base, urls, ("worker",), out)
    finally:
        process.terminate()
        process.wait(30)


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
    with_history = (tree / "dashboard" / "history" / "collector.py").exists()
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
            if not with_history:
                ids = {"job": fill(redis_url, tree)}
            server, base = serve(env)  # migrates the database the collector writes to
            try:
                if with_history:
                    ids = fill_with_history(redis_url, tree, env)
                urls = urls_for(ids)
                quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
                collector = [sys.executable, "-m", "dashboard.history", "run"]
                history = subprocess.Popen(collector, cwd=tree, **quiet) if with_history else None
                try:
                    photograph(base, urls, BASIC_PAGES + (HISTORY_PAGES if with_history else ()), out)
                    if with_history:
                        photograph_live_worker(base, redis_url, tree, urls, out)
                finally:
                    if history:
                        history.terminate()
                        history.wait(30)
            finally:
                server.shutdown()
        finally:
            redis_process.terminate()
            redis_process.wait(10)
    print(f"RESULT screenshots={len(list(out.glob('*.png')))} folder={out}")


if __name__ == "__main__":
    main()
