"""In Chromium: from the overview, a worker's name leads to its page (showing the job it runs, live), and
a count leads to its queue's tab."""

from __future__ import annotations

import contextlib

from playwright.sync_api import expect
from rq import Queue
from rq.command import send_stop_job_command

from dashboard.rqlayer import keys
from tests.browser import axe_violations, sign_in
from tests.conftest import PASSWORD
from tests.fixtures import plant_failed
from tests.helpers import start_job_on_real_worker, wait_until


def test_overview_worker_name_and_count_lead_to_the_worker_page_and_the_tab(page, live_server, conn, redis_url):
    plant_failed(conn, 2, prefix="bf")  # RQ-like scores: the worker's clean-up keeps them
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.sleep_for", 60)
    worker = start_job_on_real_worker(conn, redis_url, job.id)
    try:
        name = conn.hget(keys.job(job.id), "worker_name").decode()
        sign_in(page, live_server.url, "alice", PASSWORD)

        page.locator(f'#workers tr[data-worker="{name}"] td.name a').click()
        expect(page).to_have_url(f"{live_server.url}/workers/{name}")
        expect(page.locator("#worker-name")).to_have_text(name)
        running = page.locator(f'#worker-jobs tr[data-job="{job.id}"]')
        expect(running).to_contain_text("tests.jobfuncs.sleep_for")
        expect(page.locator("[data-worker-state]")).to_have_text("busy")
        expect(page.locator("#worker-queues a")).to_have_text(["default"])
        assert axe_violations(page) == []
        page.set_viewport_size({"width": 390, "height": 800})  # a phone: the page is never wider than it
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.set_viewport_size({"width": 1400, "height": 900})

        running.locator(f'a[href="/jobs/{job.id}"]').click()
        expect(page.locator("#job-id")).to_contain_text(job.id)
        page.locator(f'a[href="/workers/{name}"]').first.click()  # the job page names its worker as a link
        expect(page).to_have_url(f"{live_server.url}/workers/{name}")

        send_stop_job_command(conn, job.id)  # the worker page follows by itself: nothing runs any more
        expect(page.locator("#worker-idle, #worker-missing")).to_be_visible(timeout=15_000)

        wait_until(lambda: conn.zcard(keys.registry("failed", "default")) == 3, message="the stopped job failed")
        page.goto(live_server.url + "/")
        page.locator('#queues tr[data-queue="default"] td[data-state="failed"] a').click()
        expect(page).to_have_url(f"{live_server.url}/queues/default/failed")
        expect(page.locator("#jobs tbody tr")).to_have_count(3)  # two planted, one stopped
        page.goto(live_server.url + "/")
        page.locator(".cards a.card-link", has_text="failed").click()
        expect(page).to_have_url(f"{live_server.url}/failed")
        assert page.js_errors == [], page.js_errors
    finally:
        with contextlib.suppress(Exception):  # already stopped above, unless an assertion failed first
            send_stop_job_command(conn, job.id)
        worker.wait(timeout=30)
