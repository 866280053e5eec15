"""Error groups in a real Chromium (the issue's "Done when"): an operator opens /errors, resolves a group, a
new failure of the same kind is collected, and the list (refreshing itself) shows the group "Regressed";
then the group's page retries its live failed jobs with their exact count through the bulk progress UI."""

from __future__ import annotations

from playwright.sync_api import expect
from rq import Queue

from dashboard.extensions import db
from dashboard.history.collector import collect_once
from tests.browser import sign_in
from tests.fixtures import PASSWORD
from tests.helpers import run_burst_worker

FORKING = "dashboard.rqlayer.telemetry.worker.ConsoleWorker"


def fail_and_collect(app, conn, redis_url: str, *messages: str) -> None:
    queue = Queue("default", connection=conn)
    for message in messages:
        queue.enqueue("tests.jobfuncs.fail", message)
    run_burst_worker(redis_url, queues=("-w", FORKING, "default"))
    with app.app_context():
        collect_once(conn, db.engine, app.config["CONSOLE"], force=True)


def test_resolve_a_group_then_it_regresses(page, live_server, app, conn, redis_url):
    fail_and_collect(app, conn, redis_url, "order 1001 rejected by https://pay.example.com/v2/charge")
    sign_in(page, live_server.url, "oscar", PASSWORD)
    page.goto(f"{live_server.url}/errors")
    row = page.locator("tr.error-group-row")
    expect(row).to_have_count(1)
    expect(row.locator(".error-message")).to_have_text("order <n> rejected by <url>")
    expect(row.locator(".badge")).to_have_text("Open")

    row.locator("button.group-resolve").click()
    expect(row.locator('.badge[data-status="resolved"]')).to_have_text("Resolved")
    expect(row.locator(".status-by")).to_contain_text("by oscar")

    # The same bug again, with another order and another URL: collected into the same group.
    fail_and_collect(app, conn, redis_url, "order 2002 rejected by https://pay.example.com/v3/other")
    expect(row.locator('.badge[data-status="regressed"]')).to_have_text("Regressed", timeout=15_000)  # live refresh
    expect(row.locator("td.num")).to_have_text("2")
    page.locator("#error-tabs a[data-status=regressed]").click()
    expect(page.locator("tr.error-group-row.status-regressed")).to_have_count(1)

    # Its page: both live failed jobs, and "Retry this group" with their exact count.
    page.locator("tr.error-group-row .error-title a").click()
    expect(page.locator("#live-jobs tbody tr[data-job]")).to_have_count(2)
    messages = []
    page.on("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    page.locator("#retry-group .retry-group-button").click()
    expect(page.locator('.bulk-progress[data-status="done"]')).to_be_visible(timeout=15_000)
    assert messages and messages[0].startswith("Retry 2 failed jobs where error group is"), messages
    assert len(Queue("default", connection=conn)) == 2
    assert page.js_errors == [], page.js_errors
