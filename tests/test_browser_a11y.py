"""Accessibility in a real Chromium: an axe-core audit (no serious or critical finding) of every page an
operator uses, with real data on it, in the light and the dark theme; landmarks, one h1, no positive
tabindex; and the keyboard path from the top of a page (skip link, navigation, main) with a visible focus
ring."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from rq import Queue, Worker

from dashboard.rqlayer import schedules
from tasks.registry import get_task
from tests.browser import axe_violations, sign_in
from tests.fixtures import PASSWORD, plant_every_state, plant_raw
from tests.helpers import work_in_process

CLEANUP = "tasks.maintenance.cleanup_old_files"

# Structure axe's WCAG tags do not cover (they are "best practice" rules): checked on every page too.
STRUCTURE_RULES = [
    "landmark-one-main",
    "landmark-no-duplicate-banner",
    "landmark-no-duplicate-main",
    "landmark-unique",
    "page-has-heading-one",
    "heading-order",
    "skip-link",
    "tabindex",
    "empty-table-header",
]

# What the page itself must say about its structure (axe does not check all of it).
OWN_CHECKS = """() => {
    const problems = [];
    const h1 = document.querySelectorAll('h1');
    if (h1.length !== 1) problems.push(h1.length + ' h1 elements');
    if (!document.querySelector('header, [role=banner]')) problems.push('no banner landmark');
    if (!document.querySelector('main#main')) problems.push('no main#main');
    for (const nav of document.querySelectorAll('nav')) {
        if (!nav.getAttribute('aria-label') && !nav.getAttribute('aria-labelledby'))
            problems.push('a nav without a label');
    }
    for (const el of document.querySelectorAll('[tabindex]')) {
        if (el.tabIndex > 0) problems.push('positive tabindex on ' + el.outerHTML.slice(0, 80));
    }
    if (document.querySelectorAll('nav [aria-current=page]').length > 2) problems.push('several current pages');
    const skip = document.querySelector('a.skip-link');
    if (!skip || skip.getAttribute('href') !== '#main') problems.push('no skip link to #main');
    const flash = document.getElementById('flash');
    if (flash && !['status', 'alert'].includes(flash.getAttribute('role')))
        problems.push('#flash is not a live region');
    for (const table of document.querySelectorAll('main table')) {
        const named = table.querySelector('caption') || table.getAttribute('aria-label')
            || table.getAttribute('aria-labelledby');
        if (!named)
            problems.push('table without a caption or label: #' + (table.id || '?'));
        for (const th of table.querySelectorAll('thead th')) {
            if (!th.getAttribute('scope')) { problems.push('th without scope in #' + (table.id || '?')); break; }
        }
    }
    for (const p of document.querySelectorAll('progress, [role=progressbar]')) {
        const named = p.getAttribute('aria-label') || p.getAttribute('aria-labelledby')
            || (p.labels && p.labels.length);
        if (!named) problems.push('a progress bar without a label');
    }
    return problems;
}"""


def structure_violations(page) -> list[dict]:
    """axe's structural best-practice rules (any impact) on the page; axe_violations loaded axe."""
    return page.evaluate(
        """async (rules) => {
            const r = await axe.run(document, {runOnly: {type: 'rule', values: rules}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + (n.failureSummary || ''))}));
        }""",
        STRUCTURE_RULES,
    )


def readable(findings: dict[str, list]) -> str:
    lines = []
    for where, found in findings.items():
        lines.append(f"== {where}")
        for item in found:
            if isinstance(item, str):
                lines.append(f"  - {item}")
                continue
            lines.append(f"  - [{item['impact']}] {item['id']}: {item['help']}")
            lines.extend(f"      {node}" for node in item["nodes"])
    return "\n".join(lines)


def audit(page, name: str, findings: dict[str, list], structure: bool = True) -> None:
    """axe's WCAG rules; and (structure) the best-practice rules and OWN_CHECKS, which no theme changes."""
    found = axe_violations(page)
    if structure:
        found += structure_violations(page) + page.evaluate(OWN_CHECKS)
    if found:
        findings[name] = found


@pytest.fixture
def console_with_data(conn):
    """Queues with jobs in every state, a failed job with a traceback, a live worker and a schedule."""
    plant_every_state(conn, "default")
    Queue("low", connection=conn).enqueue("tests.jobfuncs.fail", "disk quota exceeded")
    work_in_process(conn, ["low"])
    failed_id = Queue("low", connection=conn).failed_job_registry.get_job_ids()[0]
    plant_raw(conn, "default", "queued", 3, prefix="a11y")  # ids a11y0000000..2: a prefix matching several
    worker = Worker(["default", "low"], connection=conn, name="a11y-worker")
    worker.register_birth()
    schedule_id = schedules.create_cron(
        conn, get_task(CLEANUP), {"dry_run": True}, "0 8 * * 1-5", "Europe/Paris", "low"
    )
    return {"failed_id": failed_id, "schedule_id": schedule_id}


def pages_to_audit(data: dict) -> list[tuple[str, str, str]]:
    """(name, path, selector to wait for: the data or the htmx-loaded fragment the audit must see)."""
    return [
        ("overview", "/", '#queues tr[data-queue="default"]'),
        ("queue: queued tab", "/queues/default/queued", "#jobs tbody tr[data-job] >> nth=0"),
        ("queue: failed tab", "/queues/default/failed", "#jobs tbody tr[data-job] >> nth=0"),
        ("/failed with groups", "/failed", "#groups-exc"),
        ("failed job page", f"/jobs/{data['failed_id']}", ".traceback-view"),
        ("/enqueue", "/enqueue", "#tasks"),
        ("task form", f"/enqueue/{CLEANUP}", "form button[type=submit]"),
        ("batch enqueue form", f"/enqueue/{CLEANUP}/batch", "input[type=file]"),
        ("/schedules", "/schedules", f'[data-schedule="{data["schedule_id"]}"]'),
        ("new schedule form", "/schedules/new", "#cron"),
        ("edit schedule form", f"/schedules/{data['schedule_id']}/edit", "#cron"),
        ("schedule page", f"/schedules/{data['schedule_id']}", "#schedule-facts"),
        ("worker page", "/workers/a11y-worker", "main h1"),
        ("unknown job", "/jobs/no-such-job", "main h1"),
        ("id prefix matching several jobs", "/jobs/search?q=a11y00000", "#job-matches li"),
        ("not found page", "/queues/default/no-such-state", "main h1"),
        ("/events", "/events", "main h1"),
        ("/history", "/history", "main h1"),
        ("/errors", "/errors", "main h1"),
        ("/functions", "/functions", "main h1"),
        ("/admin/users", "/admin/users", "main table"),
        ("/admin/audit", "/admin/audit", "main table"),
    ]


# (name, the browser's preference, the choice stored in localStorage "rqc-theme" that theme.js reads)
THEMES = [("light", "light", "light"), ("dark", "dark", "dark"), ("dark by the system", "dark", None)]

# Which theme the page shows: theme.js's attribute and how dark the page background really is.
SHOWN_THEME = """() => {
    const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\\d+/g).map(Number);
    return {attribute: document.documentElement.getAttribute('data-theme'),
            dark: (0.2126 * r + 0.7152 * g + 0.0722 * b) < 128};
}"""


def use_theme(page, scheme: str, stored: str | None) -> None:
    page.emulate_media(color_scheme=scheme)
    if stored:
        page.add_init_script(f"try {{ localStorage.setItem('rqc-theme', '{stored}'); }} catch (e) {{}}")


@pytest.mark.parametrize(("theme", "scheme", "stored"), THEMES, ids=[t[0] for t in THEMES])
def test_every_page_passes_the_audit(page, live_server, console_with_data, theme, scheme, stored):
    use_theme(page, scheme, stored)
    findings: dict[str, list] = {}

    def check(name: str) -> None:
        audit(page, name, findings, structure=theme == "light")

    page.goto(live_server.url + "/login")
    expect(page.locator("#username")).to_be_visible()
    assert page.evaluate(SHOWN_THEME) == {"attribute": stored, "dark": scheme == "dark"}, "the theme is applied"
    check("/login")

    sign_in(page, live_server.url, "alice", PASSWORD)
    for name, path, ready in pages_to_audit(console_with_data):
        seen = len(page.js_errors)
        response = page.goto(live_server.url + path)
        page.wait_for_selector(ready)
        check(name)
        if response.status == 404:  # the browser logs the page's own expected status as an error
            page.js_errors[seen:] = [e for e in page.js_errors[seen:] if "status of 404" not in e]
    current = page.locator('nav[aria-label="Main"] [aria-current="page"]')
    expect(current).to_have_text("Audit")  # the last page audited: the nav says where the operator is

    # A task form refused with a field error: the field says it is invalid and points at the message.
    page.goto(f"{live_server.url}/enqueue/{CLEANUP}")
    page.fill("#arg-max_age_hours", "soon")
    seen = len(page.js_errors)
    page.click("main form button[type=submit]")
    field = page.locator("#arg-max_age_hours")
    expect(field).to_have_attribute("aria-invalid", "true")
    assert page.locator("#" + field.get_attribute("aria-describedby")).inner_text().strip(), "the error is described"
    check("task form with a field error")
    page.js_errors[seen:] = [e for e in page.js_errors[seen:] if "status of 422" not in e]

    # The keyboard overlays, open: the command palette with matches, then the shortcut help.
    page.click('button[data-open-dialog="palette"]')
    page.fill("#palette-input", "def")
    page.wait_for_selector("#palette-listbox [role=option]")
    check("command palette open")
    page.keyboard.press("Escape")
    expect(page.locator("#palette")).to_be_hidden()
    page.click('button[data-open-dialog="shortcuts-help"]')
    expect(page.locator("#shortcuts-help")).to_be_visible()
    check("shortcut help open")
    page.keyboard.press("Escape")

    # A bulk action's progress bar, its result and the selection toolbar in use (changes the data: last).
    page.goto(live_server.url + "/queues/default/failed")
    page.check("#select-page")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click('#bulk-form button[value="retry"]')
    expect(page.locator('.bulk-progress[data-status="done"]')).to_be_visible(timeout=10_000)
    check("queue: after a bulk retry")
    assert page.evaluate(SHOWN_THEME)["dark"] is (scheme == "dark")

    assert not findings, f"accessibility findings in the {theme} theme:\n" + readable(findings)
    assert page.js_errors == [], page.js_errors


FOCUS = """() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    const ring = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2) || style.boxShadow !== 'none';
    const region = el.closest('main') ? 'main' : el.closest('nav[aria-label="Main"]') ? 'nav'
        : el.classList.contains('skip-link') ? 'skip' : el.closest('header') ? 'header' : 'other';
    const box = el.getBoundingClientRect();
    return {region, ring, visible: box.width > 0 && box.height > 0 && box.bottom > 0 && box.top < innerHeight,
            focusVisible: el.matches(':focus-visible'), what: el.outerHTML.slice(0, 100)};
}"""


def test_keyboard_path_skip_link_nav_main_with_a_visible_ring(page, live_server, console_with_data):
    sign_in(page, live_server.url, "alice", PASSWORD)
    page.goto(live_server.url + "/queues/default/queued")
    page.wait_for_selector("#jobs tbody tr[data-job] >> nth=0")

    page.keyboard.press("Tab")
    first = page.evaluate(FOCUS)
    assert first["region"] == "skip", f"the first Tab stop is the skip link, not {first['what']}"
    assert first["visible"] and first["ring"] and first["focusVisible"], first

    regions = [first]
    for _ in range(60):
        page.keyboard.press("Tab")
        regions.append(page.evaluate(FOCUS))
        if regions[-1]["region"] == "main":
            break
    order = [r["region"] for r in regions]
    assert "main" in order, f"Tab never reached the main content: {[r['what'] for r in regions]}"
    assert "nav" in order and order.index("nav") < order.index("main"), order
    assert set(order[: order.index("main")]) <= {"skip", "header", "nav"}, [r["what"] for r in regions]
    for stop in regions:
        assert stop["ring"] and stop["focusVisible"], f"no visible focus ring on {stop['what']}"

    # The skip link jumps over the header: the next Tab stop after it is inside main.
    page.goto(live_server.url + "/queues/default/queued")
    page.wait_for_selector("#jobs tbody tr[data-job] >> nth=0")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    page.keyboard.press("Tab")
    after = page.evaluate(FOCUS)
    assert after["region"] == "main" and after["ring"], after

    # A mouse click does not draw the keyboard ring.
    page.click('#state-tabs a[data-state="failed"]')
    page.wait_for_selector("#jobs tbody tr[data-job] >> nth=0")
    page.click("#jobs tbody tr[data-job] >> nth=0 >> input[type=checkbox]")
    clicked = page.evaluate(FOCUS)
    assert not clicked["focusVisible"], clicked
    assert page.js_errors == [], page.js_errors
