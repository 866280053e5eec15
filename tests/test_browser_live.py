"""Live, and visibly so, in a real Chromium: the indicator (live, paused, paused by you, degraded), the
refresh selector remembered per browser, and the page telling the truth right after an action."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect
from rq import Queue

from dashboard.rqlayer import keys
from tests.browser import LiveServer, sign_in
from tests.conftest import PrivateRedis
from tests.fixtures import PASSWORD, plant_failed, seed_users
from tests.helpers import build_app, make_env, work_in_process

HIDE_TAB = """hidden => {
    Object.defineProperty(document, 'hidden', {configurable: true, get: () => hidden});
    Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => hidden ? 'hidden' : 'visible'});
    document.dispatchEvent(new Event('visibilitychange'));
}"""


def _queued(page, queue="default"):
    return page.locator(f'#queues tr[data-queue="{queue}"] td[data-state="queued"]')


def _tab_count(page, state):
    return page.locator(f'#state-tabs a[data-state="{state}"] .count')


def test_indicator_live_paused_and_the_remembered_refresh_choice(page, live_server, conn):
    queue = Queue("default", connection=conn)
    queue.enqueue("tests.jobfuncs.add", 1, 2)
    sign_in(page, live_server.url, "alice", PASSWORD)
    page.evaluate("window.__notReloaded = true")
    state, age = page.locator("#live-state"), page.locator("#live-age")
    expect(page.locator("#live-indicator")).to_be_visible()
    expect(state).to_have_text("Live")
    expect(state).to_have_attribute("aria-live", "polite")
    expect(age).to_have_text(re.compile(r"^· updated \d+ s ago$"))
    expect(page.locator("#live-refresh")).to_have_value("2")  # the server's POLL_SECONDS
    assert page.locator("label[for=live-refresh]").inner_text().startswith("Refresh")

    # 1 s: a change in Redis shows within about two seconds.
    page.select_option("#live-refresh", "1")
    queue.enqueue("tests.jobfuncs.add", 3, 4)
    expect(_queued(page)).to_have_text("2", timeout=2_500)

    # A hidden tab pauses (no requests), and refreshes at once when shown again.
    page.evaluate(HIDE_TAB, True)
    expect(state).to_have_text("Paused")
    polls = []
    page.on("request", lambda request: polls.append(request.url) if request.headers.get("hx-request") else None)
    queue.enqueue("tests.jobfuncs.add", 5, 6)
    page.wait_for_timeout(2_200)  # two intervals of the 1 s choice: proving an absence takes time
    assert polls == [], polls
    assert _queued(page).inner_text() == "2"
    page.select_option("#live-refresh", "15")  # the next tick is 15 s away: only the return refreshes
    expect(state).to_have_text("Paused")
    page.evaluate(HIDE_TAB, False)
    expect(state).to_have_text("Live")
    expect(_queued(page)).to_have_text("3", timeout=5_000)

    # Off: paused by the operator, remembered across a reload.
    page.select_option("#live-refresh", "off")
    expect(state).to_have_text("Paused by you")
    expect(page.locator("#live-indicator")).to_have_attribute("data-state", "paused-by-you")
    page.reload()
    expect(page.locator("#live-refresh")).to_have_value("off")
    expect(state).to_have_text("Paused by you")
    assert page.evaluate("localStorage.getItem('rqc-refresh')") == "off"
    assert page.js_errors == [], page.js_errors


def test_no_indicator_on_a_page_that_does_not_refresh_itself(page, live_server):
    sign_in(page, live_server.url, "alice", PASSWORD)
    page.goto(f"{live_server.url}/admin/audit")
    expect(page.locator(".whoami")).to_be_visible()
    expect(page.locator("#live-indicator")).to_be_hidden()


def test_degraded_while_redis_is_down_then_live_again(chromium, sqlite_url, data_dir):
    """A private redis-server of this test alone, stopped and started again on the same port."""
    redis_server = PrivateRedis()
    app = build_app(make_env(redis_server.url, sqlite_url, data_dir))
    seed_users(app)
    server = LiveServer(app)
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, server.url, "alice", PASSWORD)
        page.select_option("#live-refresh", "1")
        expect(page.locator("#live-state")).to_have_text("Live")
        redis_server.stop()
        expect(page.locator("#live-state")).to_have_text("Degraded · Redis unreachable", timeout=5_000)
        expect(page.locator("#live-indicator")).to_have_attribute("data-state", "degraded")
        redis_server = PrivateRedis(redis_server.port)
        expect(page.locator("#live-state")).to_have_text("Live", timeout=5_000)

        # A slow answer (held back here for 1.7 s) degrades too, and says how slow.
        def slow(route):
            if route.request.headers.get("hx-request"):
                time.sleep(1.7)
            route.continue_()

        page.route(re.compile(r"/$"), slow)
        expect(page.locator("#live-state")).to_have_text(re.compile(r"^Degraded · slow \(\d+\.\d s\)$"), timeout=6_000)
        page.unroute(re.compile(r"/$"))
        expect(page.locator("#live-state")).to_have_text("Live", timeout=5_000)
    finally:
        context.close()
        server.stop()
        redis_server.stop()


def test_rows_update_after_a_bulk_action(page, live_server, conn):
    """The Done-when case: select rows on a failed tab, bulk retry; without a reload the rows leave the
    failed list, the tab counts change, the selection clears, and a message appears, then fades."""
    ids = plant_failed(conn, 5)
    sign_in(page, live_server.url, "oscar", PASSWORD)
    page.goto(f"{live_server.url}/queues/default/failed")
    page.evaluate("window.__notReloaded = true")
    expect(_tab_count(page, "failed")).to_have_text("5")
    chosen = ids[:3]
    for job_id in chosen:
        page.check(f'#row-{job_id} input[name="ids"]')
    expect(page.locator("[data-selected-count]")).to_have_text("3")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click('#bulk-form button[value="retry"]')

    for job_id in chosen:
        expect(page.locator(f"#row-{job_id}")).to_have_count(0, timeout=10_000)
    expect(page.locator("#jobs tbody tr[data-job]")).to_have_count(2)
    expect(_tab_count(page, "failed")).to_have_text("2")
    expect(_tab_count(page, "queued")).to_have_text("3")
    expect(page.locator("[data-selected-count]")).to_have_text("0")
    expect(page.locator('#jobs input[name="ids"]:checked')).to_have_count(0)
    message = page.locator("#flash .banner")
    expect(message).to_have_text(re.compile(r"^Finished retry 3 selected job\(s\): 3 jobs retried\."))
    expect(message).to_have_attribute("role", "status")
    assert conn.llen(keys.queue("default")) == 3

    # The message describes "3 retried, waiting": once a worker runs them, the next refresh no longer
    # matches it and it fades away.
    work_in_process(conn, ["default"])
    expect(_tab_count(page, "finished")).to_have_text("3", timeout=10_000)
    expect(message).to_have_count(0, timeout=10_000)
    assert page.evaluate("window.__notReloaded === true"), "updated in place, not reloaded"
    assert page.js_errors == [], page.js_errors


def test_a_row_action_updates_counts_and_a_deleted_row_leaves(page, live_server, conn):
    ids = plant_failed(conn, 3)
    sign_in(page, live_server.url, "oscar", PASSWORD)
    page.goto(f"{live_server.url}/queues/default/failed")
    page.evaluate("window.__notReloaded = true")
    page.check(f'#row-{ids[2]} input[name="ids"]')
    page.on("dialog", lambda dialog: dialog.accept())
    page.click(f'#row-{ids[0]} button[data-action="delete"]')
    expect(page.locator(f"#row-{ids[0]}")).to_have_count(0)
    expect(_tab_count(page, "failed")).to_have_text("2")
    expect(page.locator("[data-selected-count]")).to_have_text("0")
    message = page.locator("#flash .banner")
    expect(message).to_contain_text(ids[0])

    # Hovered, it stays past its time; dismissed, it goes.
    page.evaluate("window.rqcLive.fadeAfterMs = 300")
    page.hover("#flash .banner")
    page.wait_for_timeout(800)
    expect(message).to_have_count(1)
    page.click("#flash .flash-dismiss")
    expect(message).to_have_count(0)

    # Unattended, a message fades after its time.
    page.click(f'#row-{ids[1]} button[data-action="retry"]')
    expect(_tab_count(page, "failed")).to_have_text("1")
    expect(page.locator(f"#row-{ids[1]} .badge")).to_have_text("queued")
    page.mouse.move(0, 0)
    expect(message).to_have_count(0, timeout=3_000)
    assert page.evaluate("window.__notReloaded === true")
    assert page.js_errors == [], page.js_errors
