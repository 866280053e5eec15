"""What an operator does before htmx bound the page is neither lost nor misrouted: the page's scripts are held
back while the test types or clicks, as a slow network or a loaded machine does. A typed value is still checked
(it used to go unchecked and a stale error stayed: two browser tests failed so in CI), and a click on an htmx
form's button is replayed through htmx once it is bound (it used to submit the form as a GET of the page, and a
bulk retry never started: a third CI failure)."""

from __future__ import annotations

from playwright.sync_api import expect
from rq import Queue

from dashboard.rqlayer import keys
from tests.browser import sign_in
from tests.conftest import PASSWORD
from tests.helpers import wait_until

TASK = "tasks.external.fetch_exchange_rate"


def hold_htmx(page) -> list:
    """Hold back the htmx script (and with it every deferred script after it) until released."""
    held: list = []
    page.route("**/vendor/htmx-*.js", lambda route: held.append(route))
    return held


def release(page, held: list) -> None:
    page.wait_for_function("() => true")  # lets Playwright dispatch the route it is holding
    assert held, "the page never asked for htmx"
    for route in held:
        route.continue_()
    page.unroute("**/vendor/htmx-*.js")
    page.wait_for_function("() => window.htmx !== undefined")


def test_a_value_typed_before_htmx_bound_the_field_is_checked(page, live_server):
    sign_in(page, live_server.url, "oscar", PASSWORD)
    held = hold_htmx(page)
    page.goto(f"{live_server.url}/enqueue/{TASK}", wait_until="commit")
    page.fill("#arg-failure_rate", "lots")
    assert page.evaluate("() => window.htmx === undefined"), "htmx ran before the test typed"
    release(page, held)
    expect(page.locator("#error-arg-failure_rate")).to_have_text("expected a number", timeout=5_000)
    expect(page.locator("#arg-failure_rate")).to_have_value("lots")


def test_a_stale_error_clears_when_the_fix_was_typed_before_htmx_bound(page, live_server):
    sign_in(page, live_server.url, "oscar", PASSWORD)
    page.goto(f"{live_server.url}/enqueue/{TASK}")
    page.fill("#arg-failure_rate", "lots")
    expect(page.locator("#error-arg-failure_rate")).to_have_text("expected a number", timeout=5_000)
    held = hold_htmx(page)
    page.click("button:has-text('Enqueue')")  # a full-page answer: the refused form, its error rendered
    expect(page.locator("#form-errors")).to_contain_text("Nothing was enqueued")
    page.fill("#arg-failure_rate", "0")
    assert page.evaluate("() => window.htmx === undefined"), "htmx ran before the test typed"
    release(page, held)
    expect(page.locator("#error-arg-failure_rate")).to_have_text("", timeout=5_000)
    expect(page.locator("#arg-failure_rate")).to_have_value("0")


def test_an_untouched_field_is_not_announced(page, live_server):
    """Only fields that differ from what was served are re-announced: a page opened and left alone makes no
    check requests."""
    sign_in(page, live_server.url, "oscar", PASSWORD)
    checks: list[str] = []
    page.on("request", lambda r: checks.append(r.url) if "/check" in r.url else None)
    page.goto(f"{live_server.url}/enqueue/{TASK}")
    page.wait_for_function("() => window.htmx !== undefined")
    page.fill("#arg-quote", "CHF")  # one real edit, so the test can tell when the checks have run
    expect(page.locator("#error-arg-quote")).to_have_text("", timeout=5_000)
    page.wait_for_function("() => performance.getEntriesByType('resource').some(e => e.name.includes('/check'))")
    assert len(checks) == 1, checks


def test_a_click_on_an_htmx_form_before_htmx_bound_it_is_replayed_through_htmx(page, live_server, conn):
    queue = Queue("mail", connection=conn)
    for i in range(3):
        queue.enqueue("tests.jobfuncs.add", 1, i)
    sign_in(page, live_server.url, "alice", PASSWORD)  # emptying a queue is an admin's
    held = hold_htmx(page)
    address = f"{live_server.url}/queues/mail/queued"
    page.goto(address, wait_until="commit")
    page.click("#empty-zone summary")
    page.fill('#empty-zone input[name="confirm_name"]', "mail")
    posts: list[dict] = []
    page.on("request", lambda r: posts.append(r.headers) if r.method == "POST" else None)
    page.click('#empty-zone button[type="submit"]')
    assert page.evaluate("() => window.htmx === undefined"), "htmx ran before the test clicked"
    assert page.url == address  # not submitted as a GET of the page (an hx-post form has no action)
    assert conn.llen(keys.queue("mail")) == 3
    release(page, held)
    expect(page.locator("#bulk-area")).to_contain_text("mail", timeout=10_000)
    wait_until(lambda: conn.llen(keys.queue("mail")) == 0, timeout=10)
    assert page.url == address
    assert len(posts) == 1 and posts[0].get("hx-request") == "true", posts


def test_a_link_in_a_polled_region_clicked_before_htmx_bound_it_navigates(page, live_server, conn):
    """A link inside a live region (which has hx-get itself) is a link: never held, it opens its page."""
    Queue("mail", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    sign_in(page, live_server.url, "oscar", PASSWORD)
    held = hold_htmx(page)
    page.goto(f"{live_server.url}/", wait_until="commit")
    link = page.locator('#overview-live a[href$="/queues/mail/queued"]').first
    with page.expect_navigation(wait_until="commit"):
        link.click()
    assert page.url.endswith("/queues/mail/queued")
    release(page, held)
