"""Enqueue from the form in a real Chromium: an inline validation error first, then the job runs."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser import sign_in
from tests.conftest import PASSWORD
from tests.helpers import work_in_process


def test_enqueue_from_the_form_with_a_validation_error_first(page, live_server, conn, data_dir):
    sign_in(page, live_server.url, "oscar", PASSWORD)
    page.click("nav >> text=Enqueue")
    page.click('#tasks tr[data-task="tasks.external.fetch_exchange_rate"] a >> nth=0')
    expect(page.locator("h1")).to_contain_text("fetch_exchange_rate")
    expect(page.locator("#arg-failure_rate")).to_have_value("0.3")

    page.fill("#arg-failure_rate", "lots")
    expect(page.locator("#error-arg-failure_rate")).to_have_text("expected a number", timeout=5_000)
    page.click("button:has-text('Enqueue')")
    expect(page.locator("#form-errors")).to_contain_text("Nothing was enqueued")
    expect(page.locator("#error-arg-failure_rate")).to_have_text("expected a number")
    assert conn.llen("rq:queue:default") == 0

    page.fill("#arg-failure_rate", "0")
    page.fill("#arg-quote", "CHF")
    expect(page.locator("#error-arg-failure_rate")).to_have_text("", timeout=5_000)
    page.click("button:has-text('Enqueue')")
    expect(page.locator("#job-status")).to_have_text("queued")
    job_id = page.locator("#job-id").inner_text()
    work_in_process(conn, ["default"])
    expect(page.locator("#job-status")).to_have_text("finished", timeout=10_000)
    expect(page.locator("#job-result")).not_to_be_empty()
    assert conn.hget(f"rq:job:{job_id}", "origin") == b"default"
    # The only console error allowed is the browser noting the 422 answer of the invalid submit.
    assert [e for e in page.js_errors if "422" not in e] == [], page.js_errors
