"""The review's findings as an operator meets them in Chromium (tests/test_review_findings.py has the rest).

On staging, a bulk move to a queue that does not exist asks first; its "Create the queue and move"
button posted to the path inside the app, which is the default instance's: it moved prod's jobs.
"""

from __future__ import annotations

from playwright.sync_api import expect
from rq import Queue

from dashboard.rqlayer import keys
from tests.browser import LiveServer, sign_in
from tests.fixtures import PASSWORD
from tests.helpers import wait_until
from tests.profiles_fixture import second_redis_server, two_instances  # noqa: F401  (fixtures "second_redis", "two")


def test_confirming_a_bulk_move_on_staging_moves_staging_s_jobs(page, two):
    for connection, count in ((two.prod, 2), (two.staging, 3)):
        for _ in range(count):
            Queue("jobs", connection=connection).enqueue("tests.jobfuncs.add", 1, 2)
    server = LiveServer(two.app)
    try:
        sign_in(page, server.url, "oscar", PASSWORD)
        page.goto(server.url + "/@staging/queues/jobs/queued")
        expect(page.locator("#env-badge")).to_have_attribute("data-profile", "staging")
        page.check("#select-page")
        expect(page.locator("[data-selected-count]")).to_have_text("3")
        page.fill('#bulk-form input[name="target"]', "brand-new")
        page.on("dialog", lambda dialog: dialog.accept())
        with page.expect_response(lambda r: "/bulk" in r.url and r.request.method == "POST") as asked:
            page.click('#bulk-form button[value="move"]')
        assert asked.value.status == 409 and "/@staging/" in asked.value.url
        confirm = page.locator('#bulk-move-confirm button[data-action="confirm-move"]')
        expect(confirm).to_be_visible()
        with page.expect_response(lambda r: "/bulk" in r.url and r.request.method == "POST") as moved:
            confirm.click()
        assert moved.value.status == 202 and moved.value.url == server.url + "/@staging/queues/jobs/queued/bulk"
        expect(page.locator('.bulk-progress[data-status="done"]')).to_be_visible(timeout=10_000)
        wait_until(lambda: two.staging.llen(keys.queue("brand-new")) == 3, message="staging's jobs moved")
        assert two.prod.llen(keys.queue("jobs")) == 2 and not two.prod.exists(keys.queue("brand-new"))
        # Chromium logs every 4xx answer as a console error: the 409 that asked is the one expected.
        unexpected = [e for e in page.js_errors if "status of 409" not in e]
        assert not unexpected, unexpected
    finally:
        server.stop()
