"""Replaying an incident's failures in a real Chromium: the form from the nav, the count to confirm
(a dismissed confirmation starts nothing), the live progress to its end, and the link to the list of
exactly the jobs it touched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect
from rq import Queue

from dashboard.rqlayer import keys, replay
from tests.browser import axe_violations, open_nav_link, sign_in
from tests.fixtures import PASSWORD
from tests.helpers import work_in_process


def test_replay_an_incident_from_the_form_to_the_touched_jobs(page, live_server, conn):
    queue = Queue("mail", connection=conn)
    failed = [queue.enqueue("tests.jobfuncs.fail", f"boom {n}").id for n in range(3)]
    work_in_process(conn, ["mail"])
    sign_in(page, live_server.url, "oscar", PASSWORD)
    open_nav_link(page, "Replays")
    expect(page.locator("#no-replays")).to_be_visible()
    now = datetime.now(UTC)
    page.fill("#replay-name", "mail outage")
    page.fill("#replay-function", "tests.jobfuncs.fail")
    page.fill("#replay-since", (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#replay-until", (now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#replay-rate", "2")
    page.click("#replay-preview")
    expect(page.locator("#replay-confirm")).to_contain_text("3 jobs match")
    assert axe_violations(page) == []
    answers, messages = ["dismiss", "accept"], []

    def on_dialog(dialog):
        messages.append(dialog.message)
        getattr(dialog, answers.pop(0))()

    page.on("dialog", on_dialog)
    page.click("#replay-start")  # dismissed: nothing starts
    assert messages == ["Replay 3 job(s) of tests.jobfuncs.fail now?"] and not conn.zcard(keys.replays())
    page.click("#replay-start")
    expect(page.locator("#replay-title")).to_have_text("mail outage")
    done = page.locator(".bulk-progress[data-status=done]")
    expect(done).to_contain_text("3 jobs retried", timeout=10_000)  # 2 then 1, a second apart
    op_id = conn.zrange(keys.replays(), 0, 0)[0].decode()
    assert replay.touched(conn, op_id) == frozenset(failed)
    page.reload()
    assert axe_violations(page) == []
    page.click("#replay-places a")
    expect(page.locator("#jobs tbody tr[data-job]")).to_have_count(3)
    expect(page.locator("#touched-filter")).to_contain_text("Only the jobs touched by replay")
    assert page.url.endswith(f"/queues/mail/queued?op={op_id}")
    assert page.js_errors == [], page.js_errors
