"""Acting on jobs in a real Chromium: retry and watch it run, bulk retry with progress, move, stop."""

from __future__ import annotations

from playwright.sync_api import expect
from rq import Queue

from dashboard.rqlayer import keys
from tests.browser import sign_in
from tests.fixtures import PASSWORD, plant_failed
from tests.helpers import start_job_on_real_worker, work_in_process


def test_retry_a_failed_job_from_its_row_and_watch_it_run(page, live_server, conn):
    [job_id] = plant_failed(conn, 1)
    sign_in(page, live_server.url, "oscar", PASSWORD)
    page.goto(f"{live_server.url}/queues/default/failed")
    page.click(f'#row-{job_id} button[data-action="retry"]')
    expect(page.locator(f"#row-{job_id} .badge")).to_have_text("queued")
    expect(page.locator("#flash")).to_contain_text(f"Job {job_id} retried.")
    page.click(f"#row-{job_id} a")
    expect(page.locator("#job-status")).to_have_text("queued")
    work_in_process(conn, ["default"])
    expect(page.locator("#job-status")).to_have_text("finished", timeout=10_000)
    assert conn.hget("test:runs", job_id) == b"1"
    assert page.js_errors == [], page.js_errors


def test_bulk_retry_a_filtered_selection_with_progress(page, live_server, conn):
    plant_failed(conn, 40, prefix="keep")
    queue = Queue("default", connection=conn)
    for n in range(12):
        queue.enqueue("tests.jobfuncs.fail", f"smtp timeout {n}")
    work_in_process(conn, ["default"])
    sign_in(page, live_server.url, "oscar", PASSWORD)
    page.goto(f"{live_server.url}/queues/default/failed")
    page.fill('input[name="exc"]', "smtp")
    expect(page.locator("#jobs tbody tr[data-job]")).to_have_count(12)

    page.check("#select-page")
    expect(page.locator("#select-all-banner")).to_be_hidden()  # all 12 matches are on the page
    page.uncheck('#jobs tbody tr[data-job] >> nth=0 >> input[name="ids"]')
    expect(page.locator("[data-selected-count]")).to_have_text("11")
    messages = []
    page.on("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    page.click('#bulk-form button[value="retry"]')
    expect(page.locator('.bulk-progress[data-status="done"]')).to_be_visible(timeout=10_000)
    expect(page.locator(".bulk-progress progress")).to_have_attribute("value", "100.0")
    assert messages and messages[0].startswith("Retry 11 failed job(s) of queue default")
    assert conn.llen(keys.queue("default")) == 11
    assert conn.zcard(keys.registry("failed", "default")) == 41
    assert page.js_errors == [], page.js_errors


def test_select_all_matching_beyond_the_page(page, live_server, conn):
    plant_failed(conn, 120)
    sign_in(page, live_server.url, "oscar", PASSWORD)
    page.goto(f"{live_server.url}/queues/default/failed?size=25")
    page.check("#select-page")
    expect(page.locator("#select-all-banner")).to_be_visible()
    page.click("#select-all-matching")
    expect(page.locator('#bulk-form button[value="retry"]')).to_contain_text("all 120 matching")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click('#bulk-form button[value="retry"]')
    expect(page.locator('.bulk-progress[data-status="done"]')).to_be_visible(timeout=10_000)
    assert conn.llen(keys.queue("default")) == 120


def test_move_a_job_to_another_queue(page, live_server, conn):
    job = Queue("low", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    sign_in(page, live_server.url, "oscar", PASSWORD)
    page.goto(f"{live_server.url}/jobs/{job.id}")
    page.fill('#move-form input[name="queue"]', "high")
    page.click('#move-form button[type="submit"]')
    # "high" does not exist yet and no worker listens to it: the console asks before creating it.
    expect(page.locator("#move-confirm")).to_contain_text("does not exist and no worker listens to it")
    assert conn.llen(keys.queue("low")) == 1
    page.click('#move-confirm button[type="submit"]')
    expect(page.locator("#flash")).to_contain_text("moved to high")
    assert conn.lrange(keys.queue("high"), 0, -1) == [job.id.encode()]
    assert conn.llen(keys.queue("low")) == 0


def test_stop_a_running_job(page, live_server, conn, redis_url):
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.sleep_for", 60)
    worker = start_job_on_real_worker(conn, redis_url, job.id)
    try:
        sign_in(page, live_server.url, "oscar", PASSWORD)
        page.goto(f"{live_server.url}/jobs/{job.id}")
        expect(page.locator("#job-status")).to_have_text("started")
        page.on("dialog", lambda dialog: dialog.accept())
        page.click('#job-actions button[data-action="stop"]')
        expect(page.locator("#flash")).to_contain_text("Stop sent to worker")
        expect(page.locator("#job-status")).to_have_text("stopped", timeout=20_000)
    finally:
        worker.wait(timeout=30)
    assert conn.zscore(keys.registry("failed", "default"), job.id) is not None
