"""The console under SCRIPT_NAME=/rq in a real Chromium, served by a real gunicorn (the Procfile's web
line): sent to the login page and back to the page asked for, two pages through the main nav, a polled
fragment refreshing, an action and signing out. Every request the browser makes stays under /rq, none is
a 404, and there is no console error and no CSP violation."""

from __future__ import annotations

import re
from urllib.parse import unquote

from playwright.sync_api import expect

from tests.browser import open_nav_link
from tests.consoles import ConsoleProcess, console_env, seed_accounts
from tests.fixtures import PASSWORD, ROLE_USERS, plant_failed
from tests.helpers import worker_port

PREFIX = "/rq"
# Each violation, as the page sees it (a CSP report is also a console error, which `page` collects).
CSP_LISTENER = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"""


def test_signed_in_through_two_pages_and_a_poll_under_the_prefix(page, tmp_path, conn, redis_url):
    env = dict(console_env(redis_url, f"sqlite:///{tmp_path / 'console.db'}", tmp_path), SCRIPT_NAME=PREFIX)
    plant_failed(conn, 3)
    console = ConsoleProcess(env, worker_port(7701), tmp_path / "console.log")
    console.url += PREFIX
    try:
        seed_accounts(env)
        console.wait_ready()
        site = console.url.removesuffix(PREFIX)
        requested, missing = [], []
        page.on("request", lambda request: requested.append(request.url))
        page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
        page.add_init_script(CSP_LISTENER)

        # Signed out, the queue page sends to the login page, and signing in comes back to it.
        page.goto(f"{console.url}/queues/default/failed")
        expect(page).to_have_url(re.compile(r"/rq/login\?next="))
        assert unquote(page.url).rstrip("?") == f"{console.url}/login?next={PREFIX}/queues/default/failed"
        page.fill("#username", ROLE_USERS["operator"])
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{console.url}/queues/default/failed")
        expect(page.locator("#jobs tbody tr")).to_have_count(3)

        # Its pause panel's status is a polled fragment: it refreshes under the prefix.
        with page.expect_response(
            lambda r: r.url == f"{console.url}/queues/default/flow" and r.request.headers.get("hx-request") == "true",
            timeout=10_000,
        ) as polled:
            pass
        assert polled.value.status == 200

        # An action: pause the queue (HTMX posts the form, with its confirmation), seen in the panel.
        page.click("#flow-controls > summary")
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#flow-pause")
        expect(page.locator("#flow-paused")).to_contain_text(f"Paused by {ROLE_USERS['operator']}")

        # Two pages through the main nav.
        open_nav_link(page, "Failed")
        expect(page).to_have_url(f"{console.url}/failed")
        open_nav_link(page, "Schedules")
        expect(page).to_have_url(f"{console.url}/schedules")

        # Signing out lands on the prefixed login page.
        page.click("text=Sign out")
        expect(page).to_have_url(f"{console.url}/login")

        outside = [url for url in requested if not url.startswith(f"{console.url}/")]
        assert not outside, outside
        assert site and not missing, missing
        assert page.evaluate("window.__csp") == []
        assert page.js_errors == [], page.js_errors
    finally:
        console.stop()
