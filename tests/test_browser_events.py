"""The live event feed in real Chromium: /events fills itself while a real worker runs a burst of jobs (no
reload), and a running job's page shows it finished as soon as its event arrives, with the page's own
refresh turned off (so only the feed can have refreshed it)."""

from __future__ import annotations

import subprocess
import sys

from playwright.sync_api import expect
from rq import Queue

from dashboard.rqlayer import keys
from tests.browser import sign_in
from tests.fixtures import PASSWORD, ROLE_USERS
from tests.helpers import PROJECT_ROOT, run_burst_worker, wait_until

FORKING = "dashboard.rqlayer.telemetry.worker.ConsoleWorker"


def test_the_feed_and_the_job_page_follow_a_real_worker(live_server, page, conn, redis_url):
    sign_in(page, live_server.url, ROLE_USERS["viewer"], PASSWORD)
    page.goto(live_server.url + "/events")
    assert page.locator("#event-empty").is_visible()
    assert page.locator("#event-no-worker").is_visible(), "no worker event was ever seen"
    page.wait_for_selector("#event-feed[data-state=live]")
    page.click("#event-pause")
    page.wait_for_selector("#event-feed[data-state=paused]")
    assert page.locator("#event-pause").get_attribute("aria-pressed") == "true"
    page.click("#event-pause")
    page.wait_for_selector("#event-feed[data-state=live]")

    queue = Queue("default", connection=conn)
    jobs = [queue.enqueue("tests.jobfuncs.add", n, n) for n in range(3)]
    run_burst_worker(redis_url, queues=("-w", FORKING, "default"))
    rows = page.locator("#event-rows tr")
    expect(rows).to_have_count(6, timeout=15_000)  # started and finished, for each of the 3 jobs
    assert rows.first.locator(".badge").inner_text() == "finished", "newest first"
    assert rows.first.locator("a").inner_text() == jobs[-1].id
    assert rows.first.locator("a").get_attribute("href") == f"/jobs/{jobs[-1].id}"
    assert page.locator("#event-empty").is_hidden() and page.locator("#event-no-worker").is_hidden()

    # The job page of a running job, with its periodic refresh off: the feed's event refreshes it.
    page.evaluate("window.localStorage.setItem('rqc-refresh', 'off')")
    job = queue.enqueue("tests.jobfuncs.sleep_for", 2)
    worker = subprocess.Popen(
        [sys.executable, "-m", "rq.cli", "worker", "--burst", "-w", FORKING, "--url", redis_url, "default"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: conn.hget(keys.job(job.id), "status") == b"started", timeout=20, message="job started")
        page.goto(f"{live_server.url}/jobs/{job.id}")
        assert page.locator("#job-status").inner_text() == "started"
        assert page.locator("#live-refresh").input_value() == "off"
        expect(page.locator("#job-status")).to_have_text("finished", timeout=15_000)
        assert worker.wait(20) == 0
    finally:
        worker.kill()
    assert page.js_errors == []
