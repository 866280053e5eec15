"""Publish a test event from /events/incoming in a real Chromium: the payload is checked as it is typed, a
refused payload enqueues nothing, a fixed one enqueues both subscribers and the live page shows them finish."""

from __future__ import annotations

from playwright.sync_api import expect

from dashboard.rqlayer import keys
from tests.browser import open_nav_link, sign_in
from tests.conftest import PASSWORD
from tests.helpers import work_in_process

GOOD = '{"order_id": "W-1", "customer": "web@example.com", "total": 20}'


def test_publish_a_test_event_from_the_form(page, live_server, conn, data_dir):
    sign_in(page, live_server.url, "oscar", PASSWORD)
    open_nav_link(page, "Incoming")
    expect(page.locator("#incoming-empty")).to_be_visible()
    expect(page.locator('#subscriptions-table tr[data-subscription="order.created"]')).to_contain_text("record_order")

    page.fill("#publish-payload", '{"order_id": "W-1", "total": "lots"}')
    expect(page.locator("#error-payload")).to_contain_text("payload.total: expected a number", timeout=15_000)
    page.click("#publish-submit")
    expect(page.locator("#publish-errors")).to_contain_text("Nothing was enqueued")
    assert conn.llen(keys.queue("high")) + conn.llen(keys.queue("default")) == 0

    page.fill("#publish-payload", GOOD)
    expect(page.locator("#error-payload")).to_have_text("", timeout=15_000)
    page.click("#publish-submit")
    expect(page.locator("#flash")).to_contain_text("2 job(s) enqueued")
    jobs = page.locator("#incoming-table ul.incoming-jobs li")
    expect(jobs).to_have_count(2)
    expect(page.locator('#incoming-table li[data-outcome="queued"]')).to_have_count(2)

    work_in_process(conn)
    expect(page.locator('#incoming-table li[data-outcome="finished"]')).to_have_count(2, timeout=10_000)
    # The only console error allowed is the browser noting the 422 answer of the refused submit.
    assert [e for e in page.js_errors if "422" not in e] == [], page.js_errors
