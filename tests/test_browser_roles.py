"""The three roles in a real Chromium: what each sees, and what the server refuses."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser import open_nav_link, sign_in
from tests.conftest import PASSWORD


def test_locked_by_default_and_sign_in_returns_to_the_page(page, live_server):
    page.goto(f"{live_server.url}/failed")
    expect(page.locator("h1")).to_have_text("Sign in")
    page.fill("#username", "vera")
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    expect(page.locator(".banner-danger")).to_contain_text("Wrong username or password")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Failed jobs")
    page.click("text=Sign out")
    expect(page.locator("h1")).to_have_text("Sign in")
    page.goto(f"{live_server.url}/")
    expect(page.locator("h1")).to_have_text("Sign in")


def test_viewer_sees_no_admin_areas_and_is_refused(page, live_server):
    sign_in(page, live_server.url, "vera", PASSWORD)
    expect(page.locator("nav >> text=Audit")).to_have_count(0)
    expect(page.locator("nav >> text=Users")).to_have_count(0)
    response = page.goto(f"{live_server.url}/admin/users")
    assert response.status == 403
    expect(page.locator("h1")).to_contain_text("403")


def test_operator_is_not_an_admin(page, live_server):
    sign_in(page, live_server.url, "oscar", PASSWORD)
    expect(page.locator(".whoami")).to_contain_text("operator")
    expect(page.locator("nav >> text=Users")).to_have_count(0)
    assert page.goto(f"{live_server.url}/admin/audit").status == 403


def test_admin_creates_a_token_and_a_user_then_sees_the_audit(page, live_server):
    sign_in(page, live_server.url, "alice", PASSWORD)
    open_nav_link(page, "Users")
    page.fill('#new-token-form input[name="name"]', "ci-reader")
    page.select_option('#new-token-form select[name="role"]', "viewer")
    page.click('#new-token-form button[type="submit"]')
    secret = page.locator("#new-token .secret").inner_text()
    assert secret.startswith("rqc_")
    page.goto(f"{live_server.url}/admin/users")
    expect(page.locator("#new-token")).to_have_count(0)  # shown once only
    expect(page.locator('#tokens tr[data-token="ci-reader"]')).to_contain_text("active")

    page.fill('#new-user input[name="username"]', "nina")
    page.fill('#new-user input[name="password"]', "a-long-password")
    page.select_option('#new-user select[name="role"]', "operator")
    page.click('#new-user button[type="submit"]')
    expect(page.locator('#users tr[data-user="nina"]')).to_be_visible()

    open_nav_link(page, "Audit")
    expect(page.locator('#audit tr[data-action="token.create"]')).to_have_count(1)
    expect(page.locator('#audit tr[data-action="user.create"]').first).to_contain_text("nina")
    assert page.js_errors == [], page.js_errors
