"""Keyboard first, in a real Chromium: `/`, `?`, `g` + letter, j / k / x / Enter on rows, the Ctrl-K palette
and the jump box's suggestions. Letters do nothing while the operator types in a field."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from rq import Queue

from tests.browser import axe_violations, sign_in
from tests.fixtures import PASSWORD, plant_raw


def ready(page) -> None:
    """keys.js is deferred: after a navigation, wait until it listens before pressing keys."""
    page.wait_for_selector("html[data-keys=ready]", state="attached")


def test_slash_help_and_g_go_and_nothing_while_typing(page, live_server):
    sign_in(page, live_server.url, "alice", PASSWORD)
    ready(page)
    page.keyboard.press("/")
    expect(page.locator("#jump-input")).to_be_focused()
    # Typing in the box: the letters land in the box, no shortcut fires.
    page.keyboard.type("gf?jx")
    expect(page.locator("#jump-input")).to_have_value("gf?jx")
    expect(page.locator("#shortcuts-help")).to_be_hidden()
    assert not page.url.endswith("/failed")
    page.locator("#jump-input").fill("")
    page.locator("#jump-input").blur()

    page.keyboard.press("?")
    help_dialog = page.locator("#shortcuts-help")
    expect(help_dialog).to_be_visible()
    for text in ("/", "Ctrl", "g", "j", "x", "Enter", "Esc", "Failed jobs", "Users", "Audit log"):
        expect(help_dialog).to_contain_text(text)
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()

    # The visible control opens the same help, and closing it gives focus back to the control.
    button = page.get_by_role("button", name=re.compile("Shortcuts"))
    button.click()
    expect(help_dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    expect(button).to_be_focused()
    page.locator("h1").first.click()

    page.keyboard.press("g")
    expect(page.locator("#key-pending")).to_contain_text("g")
    page.keyboard.press("f")
    expect(page).to_have_url(re.compile(r"/failed$"))
    ready(page)
    page.keyboard.press("g")
    page.keyboard.press("o")
    expect(page).to_have_url(live_server.url + "/")
    assert page.js_errors == [], page.js_errors


def test_viewer_gets_only_its_pages_and_j_o_on_overview_queue_rows(page, live_server, conn):
    plant_raw(conn, "aaa-first", "queued", 1, prefix="ov")
    sign_in(page, live_server.url, "vera", PASSWORD)
    ready(page)
    expect(page.locator('#shortcuts-help [data-go-key="s"]')).to_have_count(1)
    expect(page.locator('#shortcuts-help [data-go-key="u"]')).to_have_count(0)
    first = page.locator("#main tr[data-queue]").first
    name = first.get_attribute("data-queue")
    page.keyboard.press("j")
    expect(first).to_have_class(re.compile(r"\brow-cursor\b"))
    page.keyboard.press("o")
    expect(page).to_have_url(re.compile(f"/queues/{name}/queued$"))
    ready(page)
    page.keyboard.press("g")
    page.keyboard.press("u")  # not a page this role may open: nothing happens
    page.keyboard.press("g")
    page.keyboard.press("s")
    expect(page).to_have_url(re.compile(r"/schedules$"))
    assert page.js_errors == [], page.js_errors


def test_j_k_x_and_enter_on_job_rows(page, live_server, conn):
    ids = plant_raw(conn, "default", "failed", 3, prefix="row")
    sign_in(page, live_server.url, "alice", PASSWORD)
    ready(page)
    page.goto(f"{live_server.url}/queues/default/failed")
    ready(page)
    rows = page.locator("#jobs tbody tr[data-job]")
    expect(rows).to_have_count(3)
    first_id, second_id = rows.nth(0).get_attribute("data-job"), rows.nth(1).get_attribute("data-job")
    assert {first_id, second_id} <= set(ids)
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class(re.compile(r"\brow-cursor\b"))
    page.keyboard.press("x")
    expect(page.locator(f'#jobs tr[data-job="{second_id}"] input[type=checkbox]')).to_be_checked()
    expect(page.locator(f'#jobs tr[data-job="{first_id}"] input[type=checkbox]')).not_to_be_checked()
    expect(page.locator("#bulk-form [data-selected-count]")).to_have_text("1")
    page.keyboard.press("x")
    expect(page.locator("#bulk-form [data-selected-count]")).to_have_text("0")
    page.keyboard.press("k")
    expect(rows.nth(0)).to_have_class(re.compile(r"\brow-cursor\b"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/jobs/{first_id}$"))
    assert page.js_errors == [], page.js_errors


def test_palette_finds_a_queue_and_a_job_prefix(page, live_server, conn):
    job = Queue("emails", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    sign_in(page, live_server.url, "alice", PASSWORD)
    ready(page)
    page.keyboard.press("Control+k")
    palette = page.locator("#palette")
    expect(palette).to_be_visible()
    expect(page.locator("#palette-input")).to_be_focused()
    page.keyboard.type("emai")
    chosen = page.locator('#palette-listbox [role=option][aria-selected="true"]')
    expect(chosen).to_contain_text("emails")
    expect(page.locator("#palette-input")).to_have_attribute("aria-activedescendant", re.compile(r"^pal-queue-1$"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/queues/emails/queued$"))
    ready(page)

    # The visible control, and the 8-character prefix the tables show.
    page.get_by_role("button", name=re.compile("Search")).first.click()
    expect(palette).to_be_visible()
    page.locator("#palette-input").press_sequentially(job.id[:8])
    expect(chosen).to_contain_text(job.id)
    expect(chosen).to_contain_text("tests.jobfuncs.add")
    page.keyboard.press("Enter")
    expect(page.locator("#job-id")).to_have_text(job.id)
    ready(page)

    # Arrow keys move through the options; Esc closes and nothing navigates.
    page.keyboard.press("Control+k")
    page.keyboard.type("e")
    expect(page.locator("#palette-listbox [role=option]").nth(1)).to_be_attached()
    page.keyboard.press("ArrowDown")
    expect(page.locator("#palette-listbox [role=option]").nth(1)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Escape")
    expect(palette).to_be_hidden()
    expect(page.locator("#job-id")).to_have_text(job.id)
    assert page.js_errors == [], page.js_errors


def test_jump_box_offers_the_match_and_selecting_it_navigates(page, live_server, conn):
    queue = Queue("default", connection=conn)
    job = queue.enqueue("tests.jobfuncs.add", 1, 2)
    queue.enqueue("tests.jobfuncs.add", 3, 4)
    sign_in(page, live_server.url, "vera", PASSWORD)
    ready(page)
    box = page.locator("#jump-input")
    box.click()
    box.press_sequentially(job.id[:8])
    listbox = page.locator("#jump-listbox")
    expect(listbox).to_be_visible()
    expect(listbox.locator("[role=option]")).to_have_count(1)
    expect(listbox.locator("[role=option]")).to_contain_text(job.id)
    expect(box).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("ArrowDown")
    expect(listbox.locator("[role=option]").first).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")
    expect(page.locator("#job-id")).to_have_text(job.id)
    ready(page)

    # A click on a suggestion goes there too; Esc closes the list and keeps the text.
    page.goto(live_server.url + "/failed")
    ready(page)
    box = page.locator("#jump-input")
    box.click()
    box.press_sequentially(job.id[:8])
    page.locator("#jump-listbox [role=option]").click()
    expect(page.locator("#job-id")).to_have_text(job.id)
    ready(page)
    box.click()
    box.press_sequentially(job.id[:8])
    expect(page.locator("#jump-listbox [role=option]")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.locator("#jump-listbox")).to_be_hidden()
    expect(box).to_have_value(job.id[:8])
    assert page.js_errors == [], page.js_errors


def test_overlays_and_suggestions_pass_the_accessibility_audit(page, live_server, conn):
    job = Queue("emails", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    sign_in(page, live_server.url, "alice", PASSWORD)
    ready(page)
    mine = ("#shortcuts-help", "#palette", "#jump-", ".key-", ".palette", "#key-pending")

    def violations() -> list[dict]:
        return [v for v in axe_violations(page) if any(m in node for node in v["nodes"] for m in mine)]

    for theme in ("light", "dark"):
        page.evaluate(f"document.documentElement.setAttribute('data-theme', '{theme}')")
        page.keyboard.press("?")
        expect(page.locator("#shortcuts-help")).to_be_visible()
        assert violations() == [], (theme, "help")
        page.keyboard.press("Escape")
        page.keyboard.press("Control+k")
        expect(page.locator("#palette-listbox [role=option]").first).to_be_visible()
        page.keyboard.press("ArrowDown")
        assert violations() == [], (theme, "palette")
        page.keyboard.press("Escape")
        box = page.locator("#jump-input")
        box.fill("")
        box.press_sequentially(job.id[:8])
        expect(page.locator("#jump-listbox [role=option]")).to_be_visible()
        page.keyboard.press("ArrowDown")
        assert violations() == [], (theme, "jump box")
        box.blur()
