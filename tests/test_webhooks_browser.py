"""The admin's webhook flow in real Chromium: register an endpoint (a refused private URL first), copy the
secret shown once, send a test event, and watch its delivery turn from pending to succeeded in the log
without a reload; the destructive buttons ask first. No script error (the CSP holds)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from standardwebhooks import Webhook

from dashboard import accounts as service
from tests.browser import LiveServer, open_nav_link, sign_in
from tests.fixtures import PASSWORD, ROLE_USERS
from tests.helpers import build_app, make_env
from tests.webhook_receiver import Receiver, deliver


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def hook_server(redis_url, sqlite_url, data_dir, receiver, monkeypatch):
    env = make_env(redis_url, sqlite_url, data_dir, WEBHOOK_ALLOWED_HOSTS=receiver.host, POLL_SECONDS="1")
    for name, value in env.items():  # the delivery job runs in this process and reads the environment
        monkeypatch.setenv(name, value)
    app = build_app(env)
    with app.app_context():
        service.create_user(ROLE_USERS["admin"], PASSWORD, "admin", actor="test")
    server = LiveServer(app)
    yield server
    server.stop()
    with app.app_context():
        from dashboard.extensions import db

        db.engine.dispose()


def test_an_admin_registers_an_endpoint_and_watches_a_test_delivery(hook_server, page, conn, receiver):
    sign_in(page, hook_server.url, ROLE_USERS["admin"], PASSWORD)
    open_nav_link(page, "Webhooks")
    expect(page.locator("#no-webhooks")).to_be_visible()

    page.fill("#url", "http://10.1.2.3/hook")
    page.click("#create-webhook")
    expect(page.locator("#error-url")).to_contain_text("10.1.2.3, a private address")

    page.fill("#url", receiver.url)
    page.check("input[name=events][value='job.finished']")
    page.fill("#queues", "default")
    page.click("#create-webhook")
    secret = page.locator("#new-secret .secret").inner_text().strip()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/=]+", secret)
    expect(page.locator("#no-deliveries")).to_be_visible()

    page.click("button[data-action=test]")
    row = page.locator("#webhook-delivery-table tbody tr").first
    expect(row).to_have_attribute("data-status", "pending")
    assert page.locator("#new-secret").count() == 0, "the secret is not shown again"
    deliver(conn)
    expect(row).to_have_attribute("data-status", "succeeded", timeout=10_000)  # the log refreshed itself
    assert Webhook(secret).verify(receiver.received[0].body, receiver.received[0].headers)["type"] == "webhook.test"

    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("button[data-action=delete]")
    expect(page.locator("button[data-action=delete]")).to_be_visible()  # dismissed: still here
    # The only console error allowed is the browser noting the 422 answer of the refused URL.
    assert [e for e in page.js_errors if "422" not in e] == [], page.js_errors
