"""/failed in a real Chromium: a failure group's link shows exactly that group with its count, "Retry this
group (N)" asks about N and those jobs leave the list, and filters apply as the operator types."""

from __future__ import annotations

import re
import zlib

from playwright.sync_api import expect

from dashboard.rqlayer import keys
from tests.browser import sign_in
from tests.fixtures import PASSWORD, plant_raw


def _plant(conn) -> dict[str, list[str]]:
    def tb(line: str) -> bytes:
        return zlib.compress(f'Traceback (most recent call last):\n  File "x.py", line 1, in f\n{line}'.encode())

    return {
        "vb": plant_raw(conn, "default", "failed", 3, prefix="vb", func="a.b", exc_info=tb("ValueError: bad")),
        "mv": plant_raw(conn, "default", "failed", 2, prefix="mv", func="a.bc", exc_info=tb("MyValueError: worse")),
    }


def test_group_link_then_retry_this_group(page, live_server, conn):
    planted = _plant(conn)
    sign_in(page, live_server.url, "oscar", PASSWORD)
    page.goto(f"{live_server.url}/failed?window=all")
    group = page.locator('#groups-exc tr[data-group="ValueError"]')
    group.locator("a.group-link").click()
    expect(page).to_have_url(re.compile(r"exc=ValueError&exc_match=is"))
    expect(page.locator("#failed-count")).to_have_text("3 matches")
    expect(page.locator("#jobs tbody tr[data-job]")).to_have_count(3)
    expect(page.locator("#exc-match")).to_have_value("is")

    page.goto(f"{live_server.url}/failed?window=all")
    button = page.locator('#groups-exc tr[data-group="ValueError"] .retry-group-button')
    expect(button).to_have_text("Retry this group (3)")
    messages = []
    page.on("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    button.click()
    expect(page.locator('.bulk-progress[data-status="done"]')).to_be_visible(timeout=15_000)
    assert messages and messages[0].startswith("Retry 3 failed jobs where exception is 'ValueError'"), messages
    # The list refreshes after the operation: the group's jobs leave it, the other group stays.
    expect(page.locator('#jobs tbody tr[data-job^="vb"]')).to_have_count(0, timeout=10_000)
    expect(page.locator('#jobs tbody tr[data-job^="mv"]')).to_have_count(2)
    assert all(conn.hget(keys.job(job_id), "status") == b"queued" for job_id in planted["vb"])
    assert page.js_errors == [], page.js_errors


def test_filters_apply_as_the_operator_types(page, live_server, conn):
    _plant(conn)
    sign_in(page, live_server.url, "oscar", PASSWORD)
    page.goto(f"{live_server.url}/failed?window=all")
    page.locator("#exc-text").press_sequentially("ValueError", delay=20)  # no Enter: the filter applies itself
    expect(page.locator("#failed-count")).to_have_text("5 matches")  # contains: MyValueError too
    expect(page).to_have_url(re.compile(r"exc=ValueError"))
    page.select_option("#exc-match", "is")
    expect(page.locator("#failed-count")).to_have_text("3 matches")
    expect(page.locator("#jobs tbody tr[data-job]")).to_have_count(3)
    expect(page).to_have_url(re.compile(r"exc_match=is"))
    page.fill("#exc-text", "ValueErro")
    expect(page.locator("#no-matches")).to_be_visible()
    page.locator("#no-matches a", has_text="Clear the filter").click()
    expect(page.locator("#jobs tbody tr[data-job]")).to_have_count(5)

    # A queue page's filters work the same way, with their own count.
    page.goto(f"{live_server.url}/queues/default/failed")
    page.select_option("#func-match", "is")
    page.locator("#func-text").press_sequentially("a.b", delay=20)
    expect(page.locator(".scan-more .match-count")).to_contain_text("3 matches")
    expect(page).to_have_url(re.compile(r"func=a.b&func_match=is|func_match=is&func=a.b"))
    assert page.js_errors == [], page.js_errors
