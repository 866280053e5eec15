"""The console under a URL prefix, both ways the README's "Behind a reverse proxy" offers.

a) gunicorn with SCRIPT_NAME=/rq (the Procfile's web line, a real master): every link, form action, hx-*
   URL, static URL and data-* URL the pages render starts with /rq and is routed; signing in comes back to
   the page asked for, an action works, signing out; the session cookie is Path=/rq.
b) a proxy that strips the prefix and says it in X-Forwarded-Prefix: believed from TRUSTED_PROXIES only,
   as X-Forwarded-For and -Proto are; from anyone else the headers change nothing (METRICS_ALLOWED_IPS
   included)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import unquote

import pytest
import requests

from dashboard.settings import SettingsError, load_settings
from tests.consoles import ConsoleProcess, console_env, http_sign_in, page_csrf, seed_accounts
from tests.fixtures import PASSWORD, ROLE_USERS, plant_every_state, plant_failed
from tests.helpers import build_app, location, make_env, signed_in, worker_port

PREFIX = "/rq"
# Attributes that carry a URL the console made (data-* ones by name: data-url, data-chart-src, data-href...).
URL_ATTRIBUTES = {"href", "src", "action", "hx-get", "hx-post", "hx-put", "hx-patch", "hx-delete"}


class _Urls(HTMLParser):
    """(method, value) of every URL-valued attribute on a page: a form's action goes with its method, an
    hx-post with POST, and the rest (links, sources, hx-get, data-* URLs) are fetched with GET."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        form_method = (dict(attrs).get("method") or "get").upper()
        for name, value in attrs:
            is_data_url = name.startswith("data-") and re.search(r"(url|src|href)$", name)
            if not value or not (name in URL_ATTRIBUTES or is_data_url):
                continue
            method = form_method if name == "action" else name.removeprefix("hx-").upper()
            self.found.append((method if method in ("POST", "PUT", "PATCH", "DELETE") else "GET", value))


def page_urls(html: str) -> list[tuple[str, str]]:
    parser = _Urls()
    parser.feed(html)
    return [(method, value) for method, value in parser.found if not value.startswith(("#", "mailto:", "data:"))]


def outside_prefix(urls: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The URLs on this site that escape the prefix (an external http(s) link is someone else's site)."""
    return [
        (name, value)
        for name, value in urls
        if not value.startswith(("http://", "https://")) and not (value == PREFIX or value.startswith(PREFIX + "/"))
    ]


@pytest.fixture
def prefixed(tmp_path, conn, redis_url):
    """A gunicorn master from the Procfile's web line with SCRIPT_NAME=/rq, and some data to link to."""
    env = console_env(redis_url, f"sqlite:///{tmp_path / 'console.db'}", tmp_path)
    env["SCRIPT_NAME"] = PREFIX
    plant_every_state(conn)
    plant_failed(conn, 3, queue="low")
    console = ConsoleProcess(env, worker_port(7700), tmp_path / "console.log")
    console.url += PREFIX  # what wait_ready asks (/rq/healthz) and the tests' base: the console lives there
    try:
        seed_accounts(env)
        console.wait_ready()
        yield console
    finally:
        console.stop()


def test_every_url_under_the_prefix_is_prefixed_and_routed(prefixed):
    base = prefixed.url.removesuffix(PREFIX)
    browser = requests.Session()

    # Signed out, a page sends to the login page with the whole path (prefix included) to come back to.
    sent = browser.get(f"{base}{PREFIX}/queues/default/queued", allow_redirects=False, timeout=10)
    assert sent.status_code == 302
    assert unquote(sent.headers["Location"]).rstrip("?") == f"{PREFIX}/login?next={PREFIX}/queues/default/queued"
    login = browser.get(f"{base}{sent.headers['Location']}", timeout=10)
    assert login.status_code == 200 and not outside_prefix(page_urls(login.text)), outside_prefix(page_urls(login.text))
    assert f'name="next" value="{PREFIX}/queues/default/queued' in login.text, "the form carries next on"
    data = {"username": ROLE_USERS["operator"], "password": PASSWORD, "csrf_token": page_csrf(login.text)}
    data["next"] = f"{PREFIX}/queues/default/queued"
    back = browser.post(f"{base}{PREFIX}/login", data=data, allow_redirects=False, timeout=10)
    assert back.status_code == 302 and back.headers["Location"] == f"{PREFIX}/queues/default/queued", back.headers
    # The session cookie is the console's own: sent to /rq only, not to other applications on the host.
    assert "Path=/rq;" in back.headers["Set-Cookie"] and "HttpOnly" in back.headers["Set-Cookie"]

    # Crawl: the overview, every page it links to, and every URL those pages render.
    pages, checked, gets, posts = [f"{PREFIX}/"], set(), set(), set()
    for depth in range(2):
        next_pages = []
        for path in pages:
            answer = browser.get(f"{base}{path}", timeout=10)
            if depth and answer.status_code != 200:
                continue  # a GET form's action without its fields (400): checked with the rest below
            assert answer.status_code == 200, (path, answer.status_code)
            assert "Content-Security-Policy" in answer.headers
            urls = page_urls(answer.text)
            assert not outside_prefix(urls), (path, outside_prefix(urls))
            for method, value in urls:
                if value.startswith(("http://", "https://")) or "JOB-ID" in value:
                    continue  # another site, or a template the script fills in (data-job-url)
                (gets if method == "GET" else posts).add((method, value))
                is_static = value.startswith(f"{PREFIX}/static/")
                if depth == 0 and method == "GET" and value not in checked and not is_static:
                    next_pages.append(value)
                    checked.add(value)
        pages = next_pages
    assert len(gets) > 50 and len(posts) > 5, (len(gets), len(posts))
    assert any(url.startswith(f"{PREFIX}/static/") for _, url in gets), "static URLs follow the prefix"
    # OPTIONS: whether a route takes the URL and with which methods, without running (or changing) anything.
    for method, url in sorted(gets | posts):
        answer = browser.options(f"{base}{url}", timeout=10)
        allowed = answer.headers.get("Allow", "")
        assert answer.status_code == 200 and method in allowed, (method, url, answer.status_code)
    answered = {}
    for _, url in sorted(gets):
        answer = browser.get(f"{base}{url}", timeout=10, allow_redirects=False)
        answered[url] = answer.status_code
        assert answer.status_code < 500, (url, answer.status_code)
        if answer.is_redirect:
            assert answer.headers["Location"].startswith(PREFIX + "/"), (url, answer.headers["Location"])
    # Routed, yet a 404 of the data: a function page for planted jobs no metrics or history know.
    missing = {url for url, status in answered.items() if status == 404}
    assert all(url.startswith(f"{PREFIX}/functions/") for url in missing), missing

    # An action under the prefix: pause a queue through the form HTMX posts, then see it on its page.
    token = page_csrf(browser.get(f"{base}{PREFIX}/queues/default/queued", timeout=10).text)
    headers = {"X-CSRFToken": token, "HX-Request": "true"}
    paused = browser.post(f"{base}{PREFIX}/queues/default/pause", data={}, headers=headers, timeout=10)
    assert paused.status_code == 200 and "paused" in paused.text.lower(), paused.text[:300]
    assert not outside_prefix(page_urls(paused.text))
    status = browser.get(f"{base}{PREFIX}/queues/default/flow", timeout=10)
    assert "paused" in status.text.lower() and ROLE_USERS["operator"] in status.text

    # Signing out lands on the prefixed login page, and the session is gone.
    out = browser.post(f"{base}{PREFIX}/logout", data={"csrf_token": token}, allow_redirects=False, timeout=10)
    assert out.status_code == 302 and out.headers["Location"].startswith(f"{PREFIX}/login"), out.headers
    again = browser.get(f"{base}{PREFIX}/", allow_redirects=False, timeout=10)
    assert again.status_code == 302 and again.headers["Location"].startswith(f"{PREFIX}/login")


def test_a_htmx_request_signed_out_is_sent_to_the_prefixed_login(prefixed):
    base = prefixed.url.removesuffix(PREFIX)
    answer = requests.get(f"{base}{PREFIX}/failed", headers={"HX-Request": "true"}, timeout=10)
    assert answer.status_code == 401
    assert unquote(answer.headers["HX-Redirect"]).rstrip("?") == f"{PREFIX}/login?next={PREFIX}/failed"
    # Outside the prefix gunicorn itself refuses (its "Configuration problem" 500, the README says so): the
    # proxy must pass the prefix on, not strip it, in this set-up.
    outside = requests.get(f"{base}/failed", timeout=10, allow_redirects=False)
    assert outside.status_code == 500 and "does not start with SCRIPT_NAME" in outside.text
    # The API describes itself under the prefix too.
    spec = requests.get(f"{base}{PREFIX}/api/v1/openapi.json", timeout=10).json()
    assert spec["servers"] == [{"url": f"{PREFIX}/api/v1"}]
    # A signed-in session from the plain HTTP form works the same under the prefix.
    browser = requests.Session()
    assert "whoami" in http_sign_in(browser, prefixed.url, ROLE_USERS["viewer"]).text


# ---------------------------------------------------------------- b) X-Forwarded-Prefix from a proxy

TRUSTED = {"REMOTE_ADDR": "127.0.0.1"}
UNTRUSTED = {"REMOTE_ADDR": "10.9.9.9"}
FORWARDED = {"X-Forwarded-Prefix": "/console", "X-Forwarded-Proto": "https", "X-Forwarded-For": "10.1.2.3"}


@pytest.fixture
def proxy_env(redis_url, sqlite_url, data_dir):
    return make_env(redis_url, sqlite_url, data_dir, METRICS_ALLOWED_IPS="10.1.2.3/32")


def _links(response) -> list[tuple[str, str]]:
    return [(n, v) for n, v in page_urls(response.get_data(as_text=True)) if not v.startswith(("http://", "https://"))]


def test_forwarded_prefix_is_followed_from_a_trusted_proxy(proxy_env, accounts):
    app = build_app(dict(proxy_env, TRUSTED_PROXIES="127.0.0.1"))
    client = signed_in(app, ROLE_USERS["admin"])
    page = client.get("/failed", headers=FORWARDED, environ_base=TRUSTED)
    assert page.status_code == 200
    links = _links(page)
    assert len(links) > 20 and all(value.startswith("/console/") for _, value in links), [
        v for _, v in links if not v.startswith("/console/")
    ][:5]
    # Redirects too: signed out, the login page is under the prefix and so is where it comes back to.
    anon = app.test_client().get("/failed", headers=FORWARDED, environ_base=TRUSTED)
    assert unquote(location(anon)).rstrip("?") == "/console/login?next=/console/failed"
    # The forwarded address is the client's: inside METRICS_ALLOWED_IPS.
    assert app.test_client().get("/metrics", headers=FORWARDED, environ_base=TRUSTED).status_code == 200


def test_forwarded_headers_from_anyone_else_change_nothing(proxy_env, accounts):
    for env in (dict(proxy_env, TRUSTED_PROXIES="127.0.0.1"), proxy_env):  # another peer; no proxy configured
        app = build_app(env)
        client = signed_in(app, ROLE_USERS["admin"])
        spoofer = UNTRUSTED if env.get("TRUSTED_PROXIES") else TRUSTED
        page = client.get("/failed", headers=FORWARDED, environ_base=spoofer)
        links = _links(page)
        assert page.status_code == 200 and links and not any(value.startswith("/console/") for _, value in links)
        anon = app.test_client().get("/failed", headers=FORWARDED, environ_base=spoofer)
        assert unquote(location(anon)).rstrip("?") == "/login?next=/failed"
        # Not https because a header says so: the session cookie is not marked for a connection it was not.
        cookie = app.test_client().get("/login", headers=FORWARDED, environ_base=spoofer).headers["Set-Cookie"]
        assert "session=" in cookie and "Secure" not in cookie, cookie
        # And X-Forwarded-For does not get the spoofer into METRICS_ALLOWED_IPS.
        refused = app.test_client().get("/metrics", headers=FORWARDED, environ_base=spoofer)
        assert refused.status_code in (401, 403), refused.status_code


def test_a_trusted_https_proxy_gets_secure_cookies(proxy_env, accounts):
    app = build_app(dict(proxy_env, TRUSTED_PROXIES="127.0.0.1"))
    client = app.test_client()
    login = client.get("/login", headers=FORWARDED, environ_base=TRUSTED)
    cookie = login.headers.get("Set-Cookie", "")
    assert "Secure" in cookie and "Path=/;" in cookie, cookie


def test_script_name_is_validated(proxy_env):
    assert load_settings(dict(proxy_env, SCRIPT_NAME="/ops/rq")).script_name == "/ops/rq"
    assert load_settings(proxy_env).script_name == ""
    for bad in ("rq", "/rq/", "/", "//rq", "/r q", "/rq?x=1", "/rq\n"):
        with pytest.raises(SettingsError, match="SCRIPT_NAME"):
            load_settings(dict(proxy_env, SCRIPT_NAME=bad))


def test_the_forwarded_prefix_goes_outside_the_instance_segment(redis_url, sqlite_url, data_dir, accounts):
    """ProxyFix runs first (it wraps the profile routing): /console from the proxy, then /@staging."""
    staging = redis_url.rsplit("/", 1)[0] + "/1"
    env = make_env(
        redis_url, sqlite_url, data_dir, TRUSTED_PROXIES="127.0.0.1", REDIS_URLS=f"prod={redis_url} staging={staging}"
    )
    app = build_app(env)
    page = signed_in(app, ROLE_USERS["admin"]).get("/@staging/failed", headers=FORWARDED, environ_base=TRUSTED)
    assert page.status_code == 200
    links = _links(page)
    assert links and all(value.startswith("/console/") for _, value in links), links[:5]
    assert ("GET", "/console/@staging/history") in links and ("GET", "/console/@prod/failed") in links  # the switcher
    anon = app.test_client().get("/@staging/failed", headers=FORWARDED, environ_base=TRUSTED)
    assert unquote(location(anon)).rstrip("?") == "/console/@staging/login?next=/console/@staging/failed"
