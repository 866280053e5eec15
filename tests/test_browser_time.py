"""Time as the operator lives it, in a real Chromium under non-UTC browser timezones: local wall times,
the UTC switch (remembered across reloads), relative text that advances without a reload, a schedule's
own zone beside the operator's, when a scheduled job runs and what a deferred job waits for."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from rq import Queue

from dashboard.rqlayer import keys, schedules
from tasks.registry import get_task
from tests.browser import sign_in
from tests.conftest import PASSWORD
from tests.fixtures import FMT

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning:rq_scheduler")

CLEANUP = "tasks.maintenance.cleanup_old_files"


def browser_page(chromium, timezone_id: str):
    context = chromium.new_context(timezone_id=timezone_id, locale="en-US", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return context, page, errors


def wall(moment: datetime, zone: str, now: datetime | None = None) -> str:
    """What time.js shows for `moment` in `zone` (en-US): "17:33:12" today there, else "Dec 1, 17:33"."""
    here = moment.astimezone(ZoneInfo(zone))
    today = (now or datetime.now(UTC)).astimezone(ZoneInfo(zone)).date()
    if here.date() == today:
        return here.strftime("%H:%M:%S")
    if here.year == today.year:
        return f"{here:%b} {here.day}, {here:%H:%M}"
    return f"{here:%b} {here.day}, {here.year}, {here:%H:%M}"


def planted_at(conn, moment: datetime) -> str:
    """A queued job whose enqueued_at is `moment` (as RQ writes it)."""
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    conn.hset(keys.job(job.id), mapping={"enqueued_at": moment.strftime(FMT), "created_at": moment.strftime(FMT)})
    return job.id


def test_kolkata_local_times_utc_switch_live_relative_text_and_scheduled_and_deferred_jobs(chromium, live_server, conn):
    # A known UTC instant, whole seconds, 90 s ago: IST is UTC+5:30, so the half hour proves a real zone.
    moment = (datetime.now(UTC) - timedelta(seconds=90)).replace(microsecond=0)
    job_id = planted_at(conn, moment)
    queue = Queue("default", connection=conn)
    scheduled = queue.enqueue_in(timedelta(minutes=54, seconds=30), "tests.jobfuncs.add", 3, 4)
    run_at = datetime.fromtimestamp(conn.zscore(keys.registry("scheduled", "default"), scheduled.id), UTC)
    parent = queue.enqueue("tests.jobfuncs.add", 5, 6)
    child = queue.enqueue("tests.jobfuncs.add", 7, 8, depends_on=parent)

    context, page, errors = browser_page(chromium, "Asia/Kolkata")
    try:
        page.clock.install()  # the real time now, but under the test's control: fast_forward moves it
        sign_in(page, live_server.url, "alice", PASSWORD)

        # The job page shows relative and wall time, in the browser's zone, UTC in the title.
        page.goto(f"{live_server.url}/jobs/{job_id}")
        enqueued = page.locator("#timeline li", has_text="enqueued").locator("time")
        local = wall(moment, "Asia/Kolkata")
        expect(enqueued).to_have_text(f"1 min ago · {local}")
        assert local != wall(moment, "UTC")
        title = enqueued.get_attribute("title") or ""
        assert "GMT+5:30" in title and f"{moment:%H:%M:%S} UTC" in title, title
        # Keyboard users get the other form too: the time is focusable and shows its title on focus.
        assert enqueued.get_attribute("tabindex") == "0"

        # The relative text advances without a reload (one timer for the page).
        page.clock.fast_forward("02:00")
        expect(enqueued).to_have_text(f"3 min ago · {local}")

        # UTC for every time, remembered across a reload; and back.
        expect(page.locator("#time-zone-mode")).to_have_value("local")
        page.select_option("#time-zone-mode", "utc")
        expect(enqueued).to_have_text(f"3 min ago · {moment:%H:%M:%S} UTC")
        assert "GMT+5:30" in (enqueued.get_attribute("title") or ""), "the other form (local) on hover"
        page.reload()
        expect(page.locator("#time-zone-mode")).to_have_value("utc")
        expect(page.locator("#timeline li", has_text="created").locator("time")).to_contain_text(
            f"{moment:%H:%M:%S} UTC"
        )

        # The queue list: rows show relative text, the wall time of the chosen zone in the title.
        page.goto(f"{live_server.url}/queues/default/queued")
        cell = page.locator(f"#row-{job_id} td[data-label=Enqueued] time")
        expect(cell).to_have_text(re.compile(r"^\d+ min ago$"))
        expect(cell).to_have_attribute("title", re.compile(rf"^[^·]*{moment:%H:%M:%S} UTC · your time: "))
        page.select_option("#time-zone-mode", "local")
        ist = moment.astimezone(ZoneInfo("Asia/Kolkata"))
        expect(cell).to_have_attribute("title", re.compile(rf"^[^·]*{ist:%H:%M:%S} GMT\+5:30 · "))

        # A scheduled job says when it runs: in its list and on its page, in the browser's zone.
        page.goto(f"{live_server.url}/queues/default/scheduled")
        expect(page.locator("#jobs thead")).to_contain_text("Runs")
        runs = page.locator(f"#row-{scheduled.id} td.runs-at time")
        expect(runs).to_have_text(re.compile(rf"^in 5[34] min · {re.escape(wall(run_at, 'Asia/Kolkata'))}$"))
        page.goto(f"{live_server.url}/jobs/{scheduled.id}")
        expect(page.locator("#job-runs-at")).to_have_text(
            re.compile(rf"^Runs in 5[34] min · {re.escape(wall(run_at, 'Asia/Kolkata'))}$")
        )

        # A deferred job says what it waits for: its parent, linked, with the parent's status.
        page.goto(f"{live_server.url}/jobs/{child.id}")
        waits = page.locator("#job-waits-for")
        expect(waits).to_contain_text("Waits for its parent job to finish")
        expect(waits.locator(f"a[href='/jobs/{parent.id}']")).to_have_text(parent.id)
        expect(waits.locator(".badge")).to_have_text("queued")
        # ... and its row in the deferred tab names the parent too.
        page.goto(f"{live_server.url}/queues/default/deferred")
        expect(page.locator("#jobs thead")).to_contain_text("Waits for")
        expect(page.locator(f"#row-{child.id} td.waits-for a[href='/jobs/{parent.id}']")).to_have_attribute(
            "title", parent.id
        )
        assert errors == [], errors
    finally:
        context.close()


def test_new_york_wall_time_and_a_paris_schedule_in_both_zones(chromium, live_server, conn):
    moment = (datetime.now(UTC) - timedelta(hours=2, seconds=5)).replace(microsecond=0)
    job_id = planted_at(conn, moment)
    sid = schedules.create_cron(conn, get_task(CLEANUP), {}, "0 9 * * *", "Europe/Paris", "low")
    next_run = datetime.fromtimestamp(conn.zscore(keys.RQ_SCHEDULER_JOBS, sid), UTC)

    context, page, errors = browser_page(chromium, "America/New_York")
    try:
        sign_in(page, live_server.url, "alice", PASSWORD)
        page.goto(f"{live_server.url}/jobs/{job_id}")
        enqueued = page.locator("#timeline li", has_text="enqueued").locator("time")
        expect(enqueued).to_have_text(f"2 h ago · {wall(moment, 'America/New_York')}")
        assert re.search(r"\b(EST|EDT) · ", enqueued.get_attribute("title") or ""), "EST or EDT in the title"

        # Times in a region the page refreshes by itself are rendered again after each swap.
        page.goto(f"{live_server.url}/")
        oldest = "#queues tr[data-queue='default'] time"
        expect(page.locator(oldest)).to_have_attribute("title", re.compile(r"\b(EST|EDT) · "))
        page.evaluate("selector => { document.querySelector(selector).dataset.seen = '1'; }", oldest)
        swapped = "selector => { const t = document.querySelector(selector); return t && !t.dataset.seen; }"
        page.wait_for_function(swapped, arg=oldest)
        expect(page.locator(oldest)).to_have_attribute("title", re.compile(r"\b(EST|EDT) · "))
        expect(page.locator(oldest)).to_have_text("2 h ago")

        # The schedule's next run: relative · the operator's wall time · the schedule's own zone's.
        page.goto(f"{live_server.url}/schedules")
        shown = page.locator(f"#schedule-{sid} .next-run time")
        paris = wall(next_run, "Europe/Paris")
        assert paris.endswith("09:00") or paris.endswith("09:00:00"), paris
        in_new_york = re.escape(wall(next_run, "America/New_York"))
        expect(shown).to_have_text(re.compile(rf"^in .+ · {in_new_york} · {re.escape(paris)} Europe/Paris$"))
        # In UTC the schedule's own zone still shows beside it.
        page.select_option("#time-zone-mode", "utc")
        in_utc = re.escape(wall(next_run, "UTC"))
        expect(shown).to_have_text(re.compile(rf"^in .+ · {in_utc} UTC · {re.escape(paris)} Europe/Paris$"))

        # A new schedule's zone field offers the operator's own zone; the preview follows it.
        page.goto(f"{live_server.url}/schedules/new")
        page.fill("#cron", "0 8 * * *")
        expect(page.locator("#next-runs li")).to_have_count(5)
        page.click("button.use-my-zone:has-text('Use my timezone (America/New_York)')")
        expect(page.locator("#timezone")).to_have_value("America/New_York")
        expect(page.locator("#cron-preview")).to_contain_text("Next 5 runs in America/New_York")
        assert errors == [], errors
    finally:
        context.close()
