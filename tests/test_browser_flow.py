"""Pausing a queue from its page in a real Chromium: the confirmation (dismissed: nothing happens), the
panel's answer in place, a rate limit set and shown, and the live status following a resume made elsewhere."""

from __future__ import annotations

from playwright.sync_api import expect
from rq import Queue

from dashboard.rqlayer.flow import state
from tests.browser import sign_in
from tests.fixtures import PASSWORD


def test_pause_limit_and_see_a_resume_from_elsewhere_on_the_queue_page(page, live_server, conn):
    queue = Queue("mail", connection=conn)
    for i in range(4):
        queue.enqueue("tests.jobfuncs.add", 1, i)
    sign_in(page, live_server.url, "oscar", PASSWORD)
    page.goto(f"{live_server.url}/queues/mail/queued")
    expect(page.locator("#flow-status")).to_contain_text("Not paused, no rate limit")
    page.click("#flow-controls summary")
    answers = ["dismiss", "accept"]
    messages = []

    def on_dialog(dialog):
        messages.append(dialog.message)
        getattr(dialog, answers.pop(0))()

    page.on("dialog", on_dialog)
    posts = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    page.click("#flow-pause")  # dismissed
    page.click("#flow-pause")  # accepted
    expect(page.locator("#flow-paused")).to_contain_text("Paused by oscar")
    expect(page.locator("#flow-paused")).to_contain_text("4 queued jobs wait")
    expect(page.locator("#flow-message")).to_contain_text("no worker running the console's extension")
    assert messages[1].startswith("Pause queue mail?") and state.read_book(conn).get("mail").pause.by == "oscar"
    assert posts == [f"{live_server.url}/queues/mail/pause"]  # the dismissed confirmation sent nothing

    page.fill("#flow-amount", "20")
    page.select_option("#flow-unit", "minute")
    page.click("#flow-set-limit")
    expect(page.locator("#flow-limited")).to_contain_text("Rate limit 20/min")
    assert state.read_book(conn).get("mail").limit.words == "20/min"

    state.resume(conn, "mail")  # from elsewhere (another operator, the API): the live status follows
    expect(page.locator("#flow-paused")).to_have_count(0, timeout=10_000)
    expect(page.locator("#flow-limited")).to_be_visible()
    page.click("#flow-clear-limit")
    expect(page.locator("#flow-status")).to_contain_text("Not paused, no rate limit")
    assert not state.read_book(conn).queues
    assert page.js_errors == [], page.js_errors
