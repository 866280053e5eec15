"""The overview in a real Chromium: live counts change without a reload."""

from __future__ import annotations

from playwright.sync_api import expect
from rq import Queue

from tests.browser import sign_in
from tests.conftest import PASSWORD
from tests.helpers import run_burst_worker


def _cell(page, queue, state):
    return page.locator(f'#queues tr[data-queue="{queue}"] td[data-state="{state}"]')


def test_overview_shows_a_queue_and_updates_live(page, live_server, conn, redis_url, data_dir):
    queue = Queue("default", connection=conn)
    queue.enqueue("tests.jobfuncs.add", 1, 2)

    sign_in(page, live_server.url, "alice", PASSWORD)
    assert _cell(page, "default", "queued").inner_text() == "1"
    assert _cell(page, "default", "finished").inner_text() == "0"
    page.evaluate("window.__notReloaded = true")

    queue.enqueue("tests.jobfuncs.add", 3, 4)
    expect(_cell(page, "default", "queued")).to_have_text("2", timeout=10_000)
    run_burst_worker(redis_url, ["default"])
    expect(_cell(page, "default", "finished")).to_have_text("2", timeout=10_000)
    assert _cell(page, "default", "queued").inner_text() == "0"
    assert page.evaluate("window.__notReloaded === true"), "the page was updated in place, not reloaded"
    assert page.js_errors == [], page.js_errors


def test_empty_console_then_first_queue_appears(page, live_server, conn):
    sign_in(page, live_server.url, "alice", PASSWORD)
    assert page.locator(".empty-state h2").inner_text() == "No queues yet"
    Queue("high", connection=conn).enqueue("tests.jobfuncs.add", 1, 1)
    page.wait_for_selector('#queues tr[data-queue="high"]', timeout=10_000)
    assert page.js_errors == [], page.js_errors
