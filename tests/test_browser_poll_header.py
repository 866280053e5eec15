"""Only a live region's own refresh is a poll: a control inside it that makes its own htmx request does not
inherit the region's `X-Console-Poll` header (static/js/live.js), so an operator's action there extends the
session's idle timer and is never answered as a poll (a 304, the shared rendering)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser import sign_in
from tests.conftest import PASSWORD


def test_a_control_inside_a_live_region_is_not_a_poll(page, live_server):
    seen: list[tuple[str, str | None]] = []
    page.on("request", lambda request: seen.append((request.url, request.headers.get("x-console-poll"))))
    sign_in(page, live_server.url, "alice", PASSWORD)
    page.select_option("#live-refresh", "1")
    page.wait_for_function("() => document.querySelector('#overview-live') !== null")

    def polls() -> list[str | None]:
        return [header for url, header in seen if url.rstrip("/") == live_server.url and header]

    expect(page.locator("#overview-live")).to_be_visible()
    page.wait_for_function("() => true")
    with page.expect_request(lambda request: request.headers.get("x-console-poll") == "1", timeout=10_000):
        pass  # the region's own refresh (every second now) is a poll
    page.select_option("#live-refresh", "off")  # no swap takes the control below away meanwhile
    # ...once a poll already sent has landed (under load one swapped the region after "off", taking the
    # control below with it, and the click waited 30 s for a button that was gone).
    page.wait_for_function(
        """() => !['htmx-request', 'htmx-swapping', 'htmx-settling'].some(
            c => document.querySelector('#overview-live').classList.contains(c))"""
    )
    assert polls() and set(polls()) == {"1"}

    # A control an operator uses inside the region (made the way htmx makes any): its request is no poll.
    page.evaluate(
        """() => {
            const button = document.createElement('button');
            button.id = 'inner-control';
            button.setAttribute('hx-get', document.querySelector('#overview-live').getAttribute('hx-get') + '?inner=1');
            button.setAttribute('hx-swap', 'none');
            button.textContent = 'inner';
            document.querySelector('#overview-live').prepend(button);
            htmx.process(button);
        }"""
    )
    with page.expect_request(lambda request: "inner=1" in request.url) as caught:
        page.click("#inner-control")
    assert caught.value.headers.get("x-console-poll") is None
    assert caught.value.headers.get("hx-request") == "true"
