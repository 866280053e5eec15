"""Connection profiles in a real Chromium: an operator signs in once, sees the default instance's queue
and badge, switches instance with the header's switcher and sees the other instance's queue and badge,
its live overview keeps polling that instance, and the badge passes axe-core in both themes."""

from __future__ import annotations

from playwright.sync_api import expect
from rq import Queue

from tests.browser import LiveServer, sign_in
from tests.fixtures import PASSWORD
from tests.profiles_fixture import second_redis_server, two_instances  # noqa: F401  (fixtures "second_redis", "two")
from tests.test_browser_a11y import audit, readable, use_theme

AMBER = "rgb(242, 185, 98)"  # profiles.css: env-badge-amber
RED = "rgb(176, 38, 28)"


def _badge_colour(page) -> str:
    return page.evaluate("() => getComputedStyle(document.getElementById('env-badge')).backgroundColor")


def test_switching_instance_in_the_header(page, two):
    Queue("alpha", connection=two.prod).enqueue("tests.jobfuncs.add", 1, 2)
    Queue("beta", connection=two.staging).enqueue("tests.jobfuncs.add", 1, 2)
    server = LiveServer(two.app)
    try:
        sign_in(page, server.url, "alice", PASSWORD)
        page.goto(server.url + "/@prod/")
        badge = page.locator("#env-badge")
        expect(badge).to_have_attribute("data-profile", "prod")
        expect(badge).to_contain_text("prod")
        assert _badge_colour(page) == RED
        main = page.locator("#main")
        expect(main.get_by_role("link", name="alpha", exact=True).first).to_be_visible()
        expect(main.get_by_role("link", name="beta", exact=True)).to_have_count(0)

        menu = page.locator("#profile-menu")
        page.click("#profile-menu > summary")
        expect(menu).to_have_attribute("open", "")
        page.keyboard.press("Escape")  # closes like a menu, focus back on its summary
        expect(menu).not_to_have_attribute("open", "")
        assert page.evaluate("() => document.activeElement.closest('#profile-menu') !== null")
        page.click("#profile-menu > summary")
        page.click("main h1")  # a click elsewhere closes it too
        expect(menu).not_to_have_attribute("open", "")
        page.click("#profile-menu > summary")
        menu.get_by_role("link", name="staging").click()
        page.wait_for_url(server.url + "/@staging/")
        expect(badge).to_have_attribute("data-profile", "staging")
        assert _badge_colour(page) == AMBER
        expect(main.get_by_role("link", name="beta", exact=True).first).to_be_visible()
        expect(main.get_by_role("link", name="alpha", exact=True)).to_have_count(0)

        # The live overview polls the instance the page shows: a queue new on staging appears by itself.
        Queue("gamma", connection=two.staging).enqueue("tests.jobfuncs.add", 1, 2)
        expect(main.get_by_role("link", name="gamma", exact=True).first).to_be_visible(timeout=15_000)
        expect(main.get_by_role("link", name="alpha", exact=True)).to_have_count(0)

        # A link followed on staging stays on staging.
        page.locator('nav[aria-label="Main"]').get_by_role("link", name="Failed", exact=True).click()
        page.wait_for_url(server.url + "/@staging/failed")
        expect(badge).to_have_attribute("data-profile", "staging")
        assert not page.js_errors, page.js_errors
    finally:
        server.stop()


def test_the_badge_and_switcher_pass_the_audit_in_both_themes(chromium, two):
    Queue("beta", connection=two.staging).enqueue("tests.jobfuncs.add", 1, 2)
    server = LiveServer(two.app)
    findings: dict[str, list] = {}
    try:
        for scheme in ("light", "dark"):
            context = chromium.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            use_theme(page, scheme, scheme)
            page.goto(server.url + "/@staging/login")
            expect(page.locator("#env-badge")).to_be_visible()
            audit(page, f"{scheme}: /@staging/login", findings, structure=scheme == "light")
            sign_in(page, server.url, "alice", PASSWORD)
            for path in ("/@staging/", "/@staging/history", "/@prod/", "/@nope/"):
                page.goto(server.url + path)
                page.wait_for_selector("#env-badge" if path != "/@nope/" else "main")  # no instance, no badge
                audit(page, f"{scheme}: {path}", findings, structure=scheme == "light")
            page.goto(server.url + "/@staging/")
            page.click("#profile-menu > summary")
            expect(page.locator("#profile-menu nav")).to_be_visible()
            audit(page, f"{scheme}: switcher open", findings, structure=scheme == "light")
            context.close()
        assert not findings, readable(findings)
    finally:
        server.stop()
