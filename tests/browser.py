"""A live console server and a real Chromium for the operator-flow tests."""

from __future__ import annotations

import os
import shutil
import threading

from werkzeug.serving import make_server

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        raise RuntimeError("Chromium is missing: `make test` installs Debian's chromium package")
    return path


class LiveServer:
    """The Flask app served over real HTTP from a thread."""

    def __init__(self, app) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


def sign_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(base_url + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_selector(".whoami", state="attached")  # hidden in the closed menu on a phone


def open_nav_link(page, name: str) -> None:
    """Follow the main nav's link `name`, opening its "More" disclosure first when the link is in it, and
    wait for the new page's load: a click returns once the page commits, before its deferred scripts (htmx)
    bound its controls, and an input typed meanwhile goes unheard (a loaded machine showed it)."""
    link = page.locator('nav[aria-label="Main"]').get_by_role("link", name=name, exact=True)
    if page.locator(f'#nav-more a:text-is("{name}")').count():  # hidden while closed: not a role query
        page.click("#nav-more > summary")
    link.click()
    page.wait_for_load_state("load")


AXE_SCRIPT = os.path.join(os.path.dirname(__file__), "vendor", "axe-core-4.14.1.min.js")


def axe_violations(page, impacts=("serious", "critical"), rules: tuple[str, ...] = ()) -> list[dict]:
    """Run axe-core (WCAG 2 A/AA rules, or only the named `rules`) on the page as it is; the
    violations of the given impacts.

    The script is evaluated through the DevTools protocol, which the page's CSP does not govern, so
    the console never has to serve or allow it.
    """
    with open(AXE_SCRIPT, encoding="utf-8") as source:
        page.evaluate(source.read())
    result = page.evaluate(
        """async (rules) => {
            const only = rules.length ? {type: 'rule', values: rules}
                                      : {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']};
            const r = await axe.run(document, {runOnly: only});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + (n.failureSummary || ''))}));
        }""",
        list(rules),
    )
    return [v for v in result if v["impact"] in impacts]
