"""Schedules in a real Chromium: the live cron preview while typing, create, pause, resume, run now,
and a real `rqscheduler --burst` process firing a due schedule onto its queue."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect

from dashboard.rqlayer import keys
from tests.browser import sign_in
from tests.conftest import PASSWORD
from tests.helpers import PROJECT_ROOT, wait_until

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning:rq_scheduler")

CLEANUP = "tasks.maintenance.cleanup_old_files"


@pytest.fixture(autouse=True)
def schedules_blueprint(app):
    """Until the lead registers the blueprint in dashboard/web/__init__.py, register it here
    (before the live server answers its first request)."""
    from dashboard.web import schedules as views

    if "schedules" not in app.blueprints:
        app.register_blueprint(views.bp)


def only_schedule_id(conn) -> str:
    members = conn.zrange(keys.RQ_SCHEDULER_JOBS, 0, -1) + list(conn.hkeys(f"{keys.PREFIX}:console:paused-schedules"))
    assert len(members) == 1, members
    return members[0].decode()


def test_create_a_cron_schedule_with_the_live_preview_then_pause_resume_and_run_it(page, live_server, conn):
    sign_in(page, live_server.url, "oscar", PASSWORD)
    page.goto(f"{live_server.url}/schedules")
    expect(page.locator("#recurring-empty")).to_be_visible()
    page.click("#new-schedule")
    # The form's HTMX (a deferred script) must be bound before the task is chosen, or the change that loads
    # its parameters goes unheard: a click returns once the new page commits, before its scripts ran.
    page.wait_for_url(f"{live_server.url}/schedules/new", wait_until="load")
    page.select_option("#task", CLEANUP)
    expect(page.locator("#arg-max_age_hours")).to_have_value("24.0")
    expect(page.locator("#task-fields .task-doc-text")).to_contain_text("Delete generated files")

    page.fill("#cron", "61 * * * *")
    expect(page.locator("#cron-error")).to_contain_text("the minute field '61' is not valid")
    page.fill("#cron", "0 8 * * 1-5")
    expect(page.locator("#cron-words")).to_have_text("At 08:00, Monday through Friday")
    expect(page.locator("#next-runs li")).to_have_count(5)
    page.fill("#timezone", "Europe/Paris")
    expect(page.locator("#cron-preview")).to_contain_text("Next 5 runs in Europe/Paris")
    expect(page.locator("#next-runs li").first).to_contain_text("08:00")
    page.fill("#timezone", "Nowhere/Land")
    expect(page.locator("#tz-error")).to_contain_text("unknown timezone")
    page.fill("#timezone", "Europe/Paris")
    expect(page.locator("#next-runs li")).to_have_count(5)
    page.check("#arg-dry_run")
    page.click("#save-schedule")

    expect(page.locator("#flash")).to_contain_text("created")
    sid = only_schedule_id(conn)
    row = page.locator(f"#recurring #schedule-{sid}")
    expect(row).to_contain_text("At 08:00, Monday through Friday")
    expect(row).to_contain_text("Europe/Paris")
    expect(row).to_contain_text("dry_run=True")

    row.locator('button[data-action="pause"]').click()
    expect(page.locator("#flash")).to_contain_text(f"Schedule {sid} paused")
    expect(page.locator(f"#paused #schedule-{sid}")).to_be_visible()
    expect(page.locator("#recurring-empty")).to_be_visible()
    assert conn.zscore(keys.RQ_SCHEDULER_JOBS, sid) is None

    page.locator(f'#paused #schedule-{sid} button[data-action="resume"]').click()
    expect(page.locator("#flash")).to_contain_text(f"Schedule {sid} resumed")
    expect(page.locator(f"#recurring #schedule-{sid}")).to_be_visible()
    assert conn.zscore(keys.RQ_SCHEDULER_JOBS, sid) > datetime.now(UTC).timestamp()

    page.locator(f'#recurring #schedule-{sid} button[data-action="run-now"]').click()
    expect(page.locator("#flash")).to_contain_text("queued now as job")
    [job_id] = [i.decode() for i in conn.lrange(keys.queue("low"), 0, -1)]
    assert job_id != sid and job_id in page.locator("#flash").inner_text()
    page.goto(f"{live_server.url}/jobs/{job_id}")
    expect(page.locator("#job-status")).to_have_text("queued")
    assert conn.zscore(keys.RQ_SCHEDULER_JOBS, sid) is not None, "the schedule itself is untouched"
    assert page.js_errors == [], page.js_errors


def test_a_real_rqscheduler_fires_a_due_schedule_onto_its_queue(page, live_server, conn, redis_url):
    sign_in(page, live_server.url, "oscar", PASSWORD)
    page.goto(f"{live_server.url}/schedules/new")
    page.select_option("#task", CLEANUP)
    expect(page.locator("#arg-dry_run")).to_be_visible()
    page.check("#arg-dry_run")
    page.check("#kind-interval")
    expect(page.locator("#cron")).to_be_hidden()
    page.fill("#interval", "3600")
    page.click("#save-schedule")
    expect(page.locator("#flash")).to_contain_text("every hour")
    sid = only_schedule_id(conn)
    row = page.locator(f"#recurring #schedule-{sid}")
    expect(row).to_contain_text("never")

    rqscheduler = Path(sys.executable).with_name("rqscheduler")
    result = subprocess.run(
        [str(rqscheduler), "--burst", "--url", redis_url], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert conn.lrange(keys.queue("low"), 0, -1) == [sid.encode()], "the schedule's job landed on its queue"
    wait_until(
        lambda: (conn.zscore(keys.RQ_SCHEDULER_JOBS, sid) or 0) > datetime.now(UTC).timestamp() + 3000,
        message="rq-scheduler re-added it an hour later",
    )
    # The page refreshes by itself: the run shows up without a reload.
    expect(row.locator(".badge-queued")).to_have_text("queued", timeout=10_000)
    assert page.js_errors == [], page.js_errors
