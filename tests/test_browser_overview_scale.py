"""The overview at 1,000 queues and 500 workers in a real Chromium: the idle queues collapsed into one line,
the name filter finding one of them, the workers' pages, polls the browser revalidates (304s) while the
region stays live, and the controls passing axe-core's WCAG 2 A/AA audit."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from dashboard.rqlayer import keys
from tests.browser import axe_violations, sign_in
from tests.conftest import PASSWORD
from tests.test_overview_scale import plant_scale


def _record_poll_statuses(app, monkeypatch) -> list[int]:
    """The status the server sends each poll (the browser reports a revalidated answer as its kept 200)."""
    statuses: list[int] = []
    inner = app.wsgi_app

    def recording(environ, start_response):
        def start(status, headers, *rest):
            if environ.get("HTTP_X_CONSOLE_POLL"):
                statuses.append(int(status[:3]))
            return start_response(status, headers, *rest)

        return inner(environ, start)

    monkeypatch.setattr(app, "wsgi_app", recording)
    return statuses


def test_filter_an_idle_queue_page_the_workers_and_polls_revalidate(page, app, live_server, conn, monkeypatch):
    plant_scale(conn)
    polls = _record_poll_statuses(app, monkeypatch)
    sign_in(page, live_server.url, "alice", PASSWORD)
    expect(page.locator("#idle-queues strong")).to_have_text("950 idle queues")
    expect(page.locator("#queues tbody tr")).to_have_count(50)
    page.select_option("#live-refresh", "1")

    # Unchanged polls come back as 304s (the browser hands htmx the body it kept) and the page stays whole.
    deadline = time.monotonic() + 20
    while polls.count(304) < 2:  # Playwright delivers response events while it waits, not in time.sleep
        assert time.monotonic() < deadline, f"two polls answered 304, got {polls}"
        page.wait_for_timeout(100)
    expect(page.locator("#queues tbody tr")).to_have_count(50)

    # What is typed in the filter survives the polls that land meanwhile (hx-preserve).
    page.locator("#queue-filter").press_sequentially("idle-012", delay=150)
    expect(page.locator("#queue-filter")).to_have_value("idle-012")
    page.locator("#queue-filter").press("Enter")
    expect(page.locator("#queue-selection")).to_contain_text("10 of 1,000 queues match “idle-012”.")
    expect(page.locator("#queues tbody tr")).to_have_count(10)
    row = page.locator('#queues tr[data-queue="idle-0123"]')
    expect(row.locator('td[data-state="queued"]')).to_have_text("0")
    conn.rpush(keys.queue("idle-0123"), "waiting-job")  # the filtered region keeps polling its own address
    expect(row.locator('td[data-state="queued"]')).to_have_text("1", timeout=10_000)
    assert "q=idle-012" in page.url

    page.locator('[data-pager="worker"] a[rel="next"]').click()
    expect(page.locator('[data-pager="worker"]')).to_contain_text("Workers 26–50 of 500")
    expect(page.locator("#workers tbody tr")).to_have_count(25)
    assert "wpage=2" in page.url and "q=idle-012" in page.url
    page.select_option("#live-refresh", "off")  # audit a page that holds still
    assert axe_violations(page) == []  # the filter, the selection line and both pagers pass WCAG 2 A/AA
    assert page.js_errors == [], page.js_errors
