"""Themes in a real Chromium: the system's choice by default, a toggle remembered per browser, no flash
of the wrong theme, WCAG AA contrast (axe-core's color-contrast rule) in both themes, and status shown
by more than colour."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser import axe_violations, sign_in
from tests.fixtures import LONG_QUEUE, PASSWORD

LIGHT_BG = "rgb(245, 246, 248)"
DARK_BG = "rgb(14, 18, 32)"

# Records, from before any page script runs, when data-theme first appears on <html> and whether the
# body had been parsed by then (it must not: the theme is set before the first paint).
WATCH_THEME = """
window.__theme = {setBeforeBody: null, atDomContentLoaded: null};
new MutationObserver((records, observer) => {
  for (const r of records) {
    if (r.target === document.documentElement && r.attributeName === 'data-theme') {
      window.__theme.setBeforeBody = document.body === null;
      observer.disconnect();
    }
  }
}).observe(document, {attributes: true, subtree: true, attributeFilter: ['data-theme']});
document.addEventListener('DOMContentLoaded', () => {
  window.__theme.atDomContentLoaded = document.documentElement.getAttribute('data-theme');
});
"""


def body_bg(page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def stored(page):
    return page.evaluate("localStorage.getItem('rqc-theme')")


def test_the_system_theme_is_the_default(chromium, hostile_site):
    for scheme, expected in (("light", LIGHT_BG), ("dark", DARK_BG)):
        context = chromium.new_context(viewport={"width": 1366, "height": 900}, color_scheme=scheme)
        page = context.new_page()
        page.goto(hostile_site["url"] + "/login")
        assert page.evaluate("document.documentElement.hasAttribute('data-theme')") is False
        assert body_bg(page) == expected, scheme
        sign_in(page, hostile_site["url"], "alice", PASSWORD)
        toggle = page.locator("#theme-toggle")
        expect(toggle).to_have_attribute("data-choice", "system")
        expect(toggle).to_have_accessible_name("Theme: system (follows your device). Switch to light")
        context.close()


def test_the_sign_in_page_has_the_toggle_at_any_width(chromium, hostile_site):
    for width in (1366, 390):
        context = chromium.new_context(viewport={"width": width, "height": 844}, color_scheme="light")
        page = context.new_page()
        page.goto(hostile_site["url"] + "/login")
        toggle = page.locator("#theme-toggle")
        expect(toggle).to_be_visible()
        toggle.click()
        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        toggle.click()
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        assert body_bg(page) == DARK_BG, width
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), width
        context.close()


def test_the_toggle_cycles_system_light_dark_and_is_remembered(chromium, hostile_site):
    context = chromium.new_context(viewport={"width": 1366, "height": 900}, color_scheme="dark")
    page = context.new_page()
    sign_in(page, hostile_site["url"], "alice", PASSWORD)
    toggle = page.locator("#theme-toggle")
    assert body_bg(page) == DARK_BG, "the system says dark"

    toggle.click()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    expect(toggle).to_have_accessible_name("Theme: light. Switch to dark")
    expect(toggle).to_contain_text("Light")
    assert stored(page) == "light"
    assert body_bg(page) == LIGHT_BG, "a stored choice wins over the system"
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    expect(toggle).to_have_attribute("data-choice", "light")
    assert body_bg(page) == LIGHT_BG

    toggle.click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert stored(page) == "dark"
    page.goto(hostile_site["url"] + "/failed")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(toggle).to_have_accessible_name("Theme: dark. Switch to system")

    # Keyboard works too: back to the system's choice, the stored value gone.
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("data-choice", "system")
    assert stored(page) is None
    assert page.evaluate("document.documentElement.hasAttribute('data-theme')") is False
    assert body_bg(page) == DARK_BG
    context.close()


def test_no_flash_the_stored_theme_is_set_before_the_body_exists(chromium, hostile_site):
    context = chromium.new_context(viewport={"width": 1366, "height": 900}, color_scheme="light")
    context.add_init_script("localStorage.setItem('rqc-theme', 'dark');")
    context.add_init_script(WATCH_THEME)
    page = context.new_page()
    page.goto(hostile_site["url"] + "/login")
    watched = page.evaluate("window.__theme")
    assert watched == {"setBeforeBody": True, "atDomContentLoaded": "dark"}, watched
    assert body_bg(page) == DARK_BG
    context.close()


def test_text_contrast_meets_wcag_aa_in_both_themes(chromium, hostile_site):
    """axe-core's color-contrast rule (4.5:1 for text, 3:1 for large text) on the main pages, in the
    light theme, the dark theme chosen by the system, and the dark theme stored over a light system."""
    hostile = hostile_site["hostile"]
    paths = [
        "/",
        f"/queues/{LONG_QUEUE}/failed",
        "/queues/default/finished",
        "/failed",
        f"/jobs/{hostile['failed']}",
        "/schedules",
    ]
    problems = []
    for scheme, choice in (("light", None), ("dark", None), ("light", "dark")):
        context = chromium.new_context(viewport={"width": 1366, "height": 900}, color_scheme=scheme)
        if choice:
            context.add_init_script(f"localStorage.setItem('rqc-theme', '{choice}');")
        page = context.new_page()
        label = f"{scheme} system" + (f", {choice} stored" if choice else "")
        page.goto(hostile_site["url"] + "/login")
        problems += [
            (label, "/login", v) for v in axe_violations(page, rules=("color-contrast",)) if v["id"] == "color-contrast"
        ]
        sign_in(page, hostile_site["url"], "alice", PASSWORD)
        for path in paths:
            page.goto(hostile_site["url"] + path)
            if path == "/failed":
                page.wait_for_selector("#groups-coverage")
            expected = LIGHT_BG if (choice or scheme) == "light" else DARK_BG
            assert body_bg(page) == expected, (label, path)
            problems += [
                (label, path, v) for v in axe_violations(page, rules=("color-contrast",)) if v["id"] == "color-contrast"
            ]
        context.close()
    assert not problems, "\n".join(f"{label} {path}: {v['nodes']}" for label, path, v in problems)


def test_states_are_told_by_a_glyph_and_a_word_not_only_by_colour(chromium, hostile_site):
    context = chromium.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    sign_in(page, hostile_site["url"], "alice", PASSWORD)
    glyphs = {}
    for state in ("queued", "started", "deferred", "scheduled", "finished", "failed", "canceled"):
        page.goto(f"{hostile_site['url']}/queues/{LONG_QUEUE}/{state}")
        badge = page.locator(f"#jobs .badge-{state}").first
        expect(badge).to_have_text(state)
        glyphs[state] = badge.evaluate("b => getComputedStyle(b, '::before').content")
    assert all(g not in ("none", "normal", '""') for g in glyphs.values()), glyphs
    assert len(set(glyphs.values())) == len(glyphs), f"each state has its own glyph: {glyphs}"
    page.goto(hostile_site["url"] + "/")
    banner = page.locator(".banner-danger").first
    assert banner.evaluate("b => getComputedStyle(b, '::before').content") not in ("none", "normal")
    context.close()
