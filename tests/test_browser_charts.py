"""The overview's chart in a real Chromium: it moves while a real worker runs jobs (no reload), its table holds
the same numbers, no CSP violation, readable in the dark theme; then a job row leads to its function page."""

from __future__ import annotations

from playwright.sync_api import expect
from rq import Queue

from dashboard.rqlayer.telemetry.worker import ConsoleSimpleWorker
from tests.browser import AXE_SCRIPT, sign_in
from tests.fixtures import PASSWORD

# What the throughput chart draws (uPlot's own data) and what its table says, read in one go.
CHART_AND_TABLE = """() => {
    const u = window.rqcCharts.get('chart-throughput');
    if (!u) return null;
    const sum = (values) => values.reduce((a, v) => a + (v || 0), 0);
    const rows = [...document.querySelectorAll('#chart-throughput .chart-table tbody tr')];
    const cell = (tr, i) => Number((tr.children[i] && tr.children[i].textContent.trim()) || 0) || 0;
    return {finished: sum(u.data[1]), failed: sum(u.data[2]),
            tableFinished: rows.reduce((a, tr) => a + cell(tr, 1), 0),
            tableFailed: rows.reduce((a, tr) => a + cell(tr, 2), 0)};
}"""

STROKE = """() => {
    const u = window.rqcCharts.get('chart-throughput');
    const s = u.series[1].stroke;
    return [typeof s === 'function' ? s(u, 1) : s,
            getComputedStyle(document.documentElement).getPropertyValue('--ok').trim()];
}"""


def contrast_violations(page, selector: str) -> list:
    with open(AXE_SCRIPT, encoding="utf-8") as source:
        page.evaluate(source.read())
    return page.evaluate(
        """async (selector) => {
            const only = {runOnly: {type: 'rule', values: ['color-contrast']}};
            const r = await axe.run(document.querySelector(selector), only);
            return r.violations.map(v => v.nodes.map(n => n.target.join(' ') + ' :: ' + n.failureSummary));
        }""",
        selector,
    )


def test_the_overview_chart_moves_while_a_worker_runs_then_a_job_row_opens_its_function(page, live_server, conn):
    queue = Queue("default", connection=conn)
    queue.enqueue("tests.jobfuncs.add", 1, 1)
    ConsoleSimpleWorker([queue], connection=conn).work(burst=True, logging_level="WARNING")

    sign_in(page, live_server.url, "alice", PASSWORD)
    page.select_option("#live-refresh", "1")
    page.wait_for_function("() => window.rqcCharts && window.rqcCharts.get('chart-throughput')")
    page.evaluate("window.__notReloaded = true")
    before = page.evaluate(CHART_AND_TABLE)
    assert before["finished"] == 1 and before["failed"] == 0
    page.locator("#chart-throughput .chart-table summary").click()

    for n in range(4):
        queue.enqueue("tests.jobfuncs.add", n, 2)
    queue.enqueue("tests.jobfuncs.fail")
    # A real worker (RQ's SimpleWorker with the console's extension) in this process while the page polls.
    ConsoleSimpleWorker([queue], connection=conn).work(burst=True, logging_level="WARNING")

    page.wait_for_function(f"() => ({CHART_AND_TABLE})().finished >= 5", timeout=10_000)
    after = page.evaluate(CHART_AND_TABLE)
    assert page.evaluate("window.__notReloaded") is True  # moved by the live refresh, not a reload
    assert (after["finished"], after["failed"]) == (5, 1)
    assert (after["tableFinished"], after["tableFailed"]) == (5, 1)
    expect(page.locator("#chart-throughput .chart-table")).to_have_attribute("open", "")  # kept across swaps
    assert page.locator("#queues svg.sparkline").count() == 1

    # Dark theme: the chart is drawn again in the dark tokens, and its text stays readable.
    toggle = page.locator("#theme-toggle")
    while page.evaluate("document.documentElement.getAttribute('data-theme')") != "light":
        toggle.click()
    light, light_token = page.evaluate(STROKE)
    while page.evaluate("document.documentElement.getAttribute('data-theme')") != "dark":
        toggle.click()
    stroke, token = page.evaluate(STROKE)
    assert (light, stroke) == (light_token, token) and token != light_token
    assert contrast_violations(page, "#chart-throughput") == []

    # A job row's function leads to the function page, whose charts draw too.
    page.goto(f"{live_server.url}/queues/default/finished")
    page.locator("#job-list a.function-link").first.click()
    expect(page).to_have_url(f"{live_server.url}/functions/tests.jobfuncs.add")
    page.wait_for_function("() => window.rqcCharts && window.rqcCharts.get('chart-run-time')")
    expect(page.locator("#function-facts dd").first).to_have_text("5")
    assert contrast_violations(page, "main") == []
    assert page.js_errors == [], page.js_errors  # CSP violations are console errors
