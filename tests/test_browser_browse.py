"""Browsing in a real Chromium: queue → state tab → deep page → job → back; search by id and text."""

from __future__ import annotations

from playwright.sync_api import expect
from rq import Queue

from tests.browser import sign_in
from tests.fixtures import PASSWORD, plant_raw
from tests.helpers import work_in_process


def test_walk_queue_state_deep_page_job_and_back(page, live_server, conn):
    for n in range(3):
        Queue("default", connection=conn).enqueue("tests.jobfuncs.fail", f"card declined #{n}")
    Queue("default", connection=conn).enqueue("tests.jobfuncs.fail", "disk quota exceeded")
    work_in_process(conn, ["default"])
    ids = plant_raw(conn, "default", "queued", 260, prefix="q")

    sign_in(page, live_server.url, "vera", PASSWORD)
    page.click('#queues tr[data-queue="default"] td.name a')
    # htmx attaches the filters' triggers at DOMContentLoaded, after the deferred scripts (the chart library
    # on a queue page): typing before that would send nothing.
    page.wait_for_load_state()
    expect(page.locator("h1")).to_contain_text("default")
    expect(page.locator('#state-tabs a[data-state="queued"] .count')).to_have_text("260")

    page.select_option('select[name="size"]', "25")
    expect(page.locator("#jobs tbody tr")).to_have_count(25)
    page.fill('input[name="page"]', "11")
    page.press('input[name="page"]', "Enter")
    expect(page.locator(".pager").first).to_contain_text("page 11 of 11")
    expect(page.locator("#jobs tbody tr")).to_have_count(10)
    deep_url = page.url
    page.click(f'#jobs tr[data-job="{ids[255]}"] a')
    expect(page.locator("#job-id")).to_have_text(ids[255])
    expect(page.locator("#job-status")).to_have_text("queued")
    page.go_back()
    assert page.url == deep_url
    expect(page.locator(f'#jobs tr[data-job="{ids[255]}"]')).to_be_visible()

    page.click('#state-tabs a[data-state="failed"]')
    page.wait_for_load_state()
    expect(page.locator("#jobs tbody tr")).to_have_count(4)
    page.fill('input[name="exc"]', "quota")
    expect(page.locator("#jobs tbody tr[data-job]")).to_have_count(1)
    expect(page.locator("#jobs")).to_contain_text("disk quota exceeded")
    assert "exc=quota" in page.url, "the filter lives in the URL"
    failed_id = page.locator("#jobs tbody tr[data-job]").first.get_attribute("data-job")

    page.fill('input[name="q"]', failed_id)
    page.press('input[name="q"]', "Enter")
    expect(page.locator("#job-id")).to_have_text(failed_id)
    expect(page.locator(".traceback-view")).to_contain_text("RuntimeError: disk quota exceeded")
    assert page.js_errors == [], page.js_errors


def test_job_page_updates_itself_until_the_job_finishes(page, live_server, conn, redis_url):
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 2, 3)
    sign_in(page, live_server.url, "vera", PASSWORD)
    page.goto(f"{live_server.url}/jobs/{job.id}")
    expect(page.locator("#job-status")).to_have_text("queued")
    work_in_process(conn, ["default"])
    expect(page.locator("#job-status")).to_have_text("finished", timeout=10_000)
    expect(page.locator("#job-result")).to_have_text("5")
    expect(page.locator(".live-note")).to_have_count(0)
    assert page.js_errors == [], page.js_errors
