"""An operator raises a concurrency limit from its page in a real Chromium: the confirmation names the
limit, the answer says how many held-back jobs took the freed slots, and the page (not reloaded) shows
the new counts; a stale form (someone changed it meanwhile) gets the 409's message in place."""

from __future__ import annotations

from playwright.sync_api import expect
from rq import Queue
from rq.rate_limit import RateLimit

from dashboard.rqlayer import keys
from tests.browser import sign_in
from tests.fixtures import PASSWORD


def test_an_operator_raises_a_limit_from_its_page(page, live_server, conn):
    queue = Queue("default", connection=conn)
    for n in range(4):
        queue.enqueue("tests.jobfuncs.add", n, n, rate_limit=RateLimit("smtp", 1))
    sign_in(page, live_server.url, "oscar", PASSWORD)
    page.goto(f"{live_server.url}/limits")
    page.locator('#limits-table a[href="/limits/smtp"]').click()
    expect(page.locator("#limit-held")).to_have_text("3")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.locator("#limit-concurrency-input").fill("3")
    page.locator("#limit-set").click()
    expect(page.locator("#limit-answer")).to_contain_text("set from 1 to 3. 2 held-back job(s) took the freed slots")
    expect(page.locator("#limit-held")).to_have_text("1")
    assert dialogs and dialogs[0].startswith("Set the concurrency of smtp?"), dialogs
    assert conn.hget(keys.rate_limit_config("smtp"), "concurrency") == b"3"

    conn.hset(keys.rate_limit_config("smtp"), "concurrency", "7")  # someone else, meanwhile
    page.locator("#limit-concurrency-input").fill("4")
    page.locator("#limit-set").click()
    expect(page.locator("#limit-answer")).to_contain_text("changed meanwhile (it is now 7)")
    assert conn.hget(keys.rate_limit_config("smtp"), "concurrency") == b"7"
    # Chromium logs the 409 it got as a console error; anything else is a bug.
    assert [e for e in page.js_errors if "status of 409" not in e] == [], page.js_errors
