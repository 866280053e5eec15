"""The review of connection profiles, the proxy prefix, conditional polls and the overview at scale, as
an attacker and as an operator: one test per finding, each failing before its fix.

- A page's own address was written as `request.path` / `request.full_path`, which is the path *inside*
  the app: without the instance (/@staging) and the proxy prefix (/rq). The bulk move's "Create the queue
  and move" button posted to the default instance, the error groups' forms came back to the default
  instance outside the prefix, and the instance switcher dropped a path's percent-escapes.
- X-Forwarded-Prefix from a trusted proxy was believed whatever it said ("//evil.example" made every link
  and every redirect go to another host).
- The poll validator's data-volatile pattern could match a hostile name inside an attribute value and
  backtracked over it: a queue name repeating "data-volatile" made an overview poll quadratic (seconds
  for a few hundred KB, minutes for a megabyte).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from html import unescape

import pytest
from rq import Queue

from dashboard.rqlayer import keys
from tests.fixtures import ROLE_USERS
from tests.helpers import csrf_token, signed_in, wait_until
from tests.profiles_fixture import second_redis_server, two_instances  # noqa: F401  (fixtures "second_redis", "two")

POLL = {"HX-Request": "true", "X-Console-Poll": "1"}
PREFIXES = ("", "/rq")  # at the root, and under a URL prefix (SCRIPT_NAME=/rq, as gunicorn sets it)


def _admin(two):
    return signed_in(two.app, ROLE_USERS["admin"])


def _base(prefix: str) -> str:
    return "http://localhost" + prefix


# ---------------------------------------------------------------- a page's own address


@pytest.mark.parametrize("prefix", PREFIXES)
def test_the_bulk_move_confirmation_posts_back_to_the_instance_it_was_shown_on(two, prefix):
    for connection, count in ((two.prod, 2), (two.staging, 3)):
        for _ in range(count):
            Queue("jobs", connection=connection).enqueue("tests.jobfuncs.add", 1, 2)
    client = _admin(two)
    token = {"X-CSRFToken": csrf_token(client)}
    form = {"action": "move", "target": "brand-new", "all": "1"}
    refused = client.post("/@staging/queues/jobs/queued/bulk", base_url=_base(prefix), data=form, headers=token)
    assert refused.status_code == 409, refused.get_data(as_text=True)[:300]
    button = re.search(r'hx-post="([^"]+)"', refused.get_data(as_text=True))
    assert button and unescape(button.group(1)) == f"{prefix}/@staging/queues/jobs/queued/bulk", button

    # Pressing it (as htmx would, at that address) moves staging's jobs, and nothing of prod's.
    path = unescape(button.group(1))[len(prefix) :]
    confirmed = client.post(path, base_url=_base(prefix), data={**form, "create_queue": "1"}, headers=token)
    assert confirmed.status_code == 202, confirmed.get_data(as_text=True)[:300]
    wait_until(lambda: two.staging.llen(keys.queue("brand-new")) == 3, message="staging's jobs moved")
    assert two.prod.llen(keys.queue("jobs")) == 2 and not two.prod.exists(keys.queue("brand-new"))


def _plant_error_group(app, fingerprint: str = "f" * 32) -> str:
    from dashboard.extensions import db
    from dashboard.history.models import error_groups

    now = datetime.now(UTC).replace(tzinfo=None)
    with app.app_context():
        db.session.execute(
            error_groups.insert().values(
                fingerprint=fingerprint, exc_type="RuntimeError", message="boom", first_seen=now, last_seen=now, count=1
            )
        )
        db.session.commit()
    return fingerprint


@pytest.mark.parametrize("prefix", PREFIXES)
def test_an_error_groups_status_form_comes_back_to_the_page_under_its_instance_and_prefix(two, prefix):
    fingerprint = _plant_error_group(two.app)
    client = _admin(two)
    page = client.get("/@staging/errors?status=open", base_url=_base(prefix))
    assert page.status_code == 200
    nexts = {unescape(v) for v in re.findall(r'name="next" value="([^"]*)"', page.get_data(as_text=True))}
    assert nexts == {f"{prefix}/@staging/errors?status=open"}, nexts
    answer = client.post(
        f"/@staging/errors/{fingerprint}/resolve",
        base_url=_base(prefix),
        data={"next": nexts.pop()},
        headers={"X-CSRFToken": csrf_token(client)},
    )
    assert answer.status_code == 303 and answer.headers["Location"] == f"{prefix}/@staging/errors?status=open"


def test_the_switcher_keeps_the_escapes_of_the_path_it_links(two):
    """A job id with '?', '#', '%' or a space: the same page on the other instance, not another one."""
    client = _admin(two)
    html = client.get("/@staging/jobs/a%3Fb%23c%25d%20e?x=1").get_data(as_text=True)
    menu = html[html.index('id="profile-menu"') : html.index("</details>", html.index('id="profile-menu"'))]
    links = [unescape(h) for h in re.findall(r'href="([^"]+)"', menu)]
    assert links == ["/@prod/jobs/a%3Fb%23c%25d%20e?x=1", "/@staging/jobs/a%3Fb%23c%25d%20e?x=1"], links


def test_no_template_writes_the_path_inside_the_app_as_an_address():
    """The class of the bugs above: request.path and request.full_path lack SCRIPT_NAME (the proxy prefix
    and the instance), so a template that needs its page's address asks here_url() (web/links.py)."""
    from pathlib import Path

    from dashboard.settings import PROJECT_ROOT

    offenders = []
    for template in sorted(Path(PROJECT_ROOT, "templates").rglob("*.html")):
        for number, line in enumerate(template.read_text().splitlines(), 1):
            # The one use allowed: "Save this view" passes the in-app path as data (saved views are per instance).
            if (
                re.search(r"request\.(full_)?path\b", line)
                and "url_for('views.index', url=request.full_path" not in line
            ):
                offenders.append(f"{template.name}:{number}")
    assert not offenders, offenders


# ---------------------------------------------------------------- hostile instance names, error pages


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/@../", ".."),
        ("/@%2e%2e/queues", ".."),
        ("/@%2F/", ""),
        ("/@", ""),
        ("/@Staging/", "Staging"),
        ("/@@staging/", "@staging"),
        ("/@%C3%BCn%C3%AF/failed", "ünï"),  # shown as typed (UTF-8), not as its Latin-1 bytes "Ã¼nÃ¯"
        ("/@%F0%9F%98%80/", "😀"),
        ("/@%FF%FE/", "\ufffd\ufffd"),
        ("/@%3Cb%3Ex%3C%2Fb%3E/", "<b>x<"),  # %2F is a slash by then: the segment ends there
        ("/@" + "x" * 5000 + "/", "x" * 64),
        ("/@nope/static/js/live.js", "nope"),
    ],
)
def test_an_unknown_or_hostile_instance_name_is_a_clean_404(two, path, named):
    answer = _admin(two).get(path)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 404, path
    shown = re.search(r"There is no Redis instance named (.*?) here\. Known instances: prod, staging\.", html)
    assert shown and unescape(shown.group(1)) == repr(named), (path, shown and shown.group(1))
    assert "<b>x</b>" not in html and len(html) < 20_000


@pytest.mark.parametrize(
    "path",
    ["/@nope/login", "/@nope/healthz", "/@nope/static/js/live.js", "/@nope/api/v1/openapi.json", "/@nope/metrics"],
)
def test_an_anonymous_visitor_is_not_told_the_instances_through_a_public_page(two, path):
    """The sign-in page, the health check, static files, the OpenAPI document and /metrics answer without
    a sign-in: under an unknown /@name their 404 listed every instance ("Known instances: prod, staging")."""
    answer = two.app.test_client().get(path)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 404 and "no Redis instance named &#39;nope&#39;" in html.replace("'", "&#39;")
    assert "staging" not in html and "Known instances" not in html


def test_the_badge_names_the_instance_on_error_pages_too(two, monkeypatch):
    """403, 400, 409, 500 and the Redis-down 503 of staging: the operator still sees which instance."""
    import redis

    job = Queue("beta", connection=two.staging).enqueue("tests.jobfuncs.add", 1, 2)
    admin, viewer = _admin(two), signed_in(two.app, ROLE_USERS["viewer"])
    token = {"X-CSRFToken": csrf_token(admin)}

    def boom(*_, **__):
        raise RuntimeError("unexpected")

    def unreachable(*_, **__):
        raise redis.ConnectionError("staging is down")

    monkeypatch.setitem(two.app.view_functions, "views.stuck", boom)
    answers = {
        403: viewer.get("/@staging/admin/users"),
        400: admin.post("/@staging/workers/suspend"),  # no CSRF token
        409: admin.post(f"/@staging/jobs/{job.id}/delete", data={"seen": "failed"}, headers=token),
        500: admin.get("/@staging/views/stuck"),
    }
    for code, answer in answers.items():
        html = answer.get_data(as_text=True)
        assert answer.status_code == code, (code, html[:200])
        assert re.search(r'id="env-badge" data-profile="staging"', html), code
    console = two.app.extensions["consoles"]["staging"]
    monkeypatch.setattr(console.overview, "read", unreachable)
    down = admin.get("/@staging/")
    assert down.status_code == 503 and re.search(r'data-profile="staging"', down.get_data(as_text=True))


def test_the_audit_log_links_each_target_on_the_instance_it_was_acted_on(two):
    """The audit log is shared (SQL); a row says "[@staging] ..." but its target's link was built on the
    instance of the page reading it: from /@prod it opened prod's job of the same id (or none)."""
    Queue("beta", connection=two.staging).enqueue("tests.jobfuncs.add", 1, 2, job_id="acted-on")
    Queue("alpha", connection=two.prod).enqueue("tests.jobfuncs.add", 1, 2, job_id="acted-on")
    client = _admin(two)
    token = {"X-CSRFToken": csrf_token(client)}
    assert client.post("/@staging/queues/beta/pause", headers=token).status_code < 400
    assert client.post("/@staging/jobs/acted-on/delete", data={"seen": "queued"}, headers=token).status_code == 303
    for prefix, page in (
        ("", "/@prod/admin/audit"),
        ("", "/@staging/admin/audit"),
        ("", "/admin/audit"),
        ("/rq", "/admin/audit"),
    ):
        html = client.get(page, base_url=_base(prefix)).get_data(as_text=True)
        links = {unescape(h) for h in re.findall(r'<a href="([^"]+)">(?:acted-on|beta)</a>', html)}
        assert links == {f"{prefix}/@staging/jobs/acted-on", f"{prefix}/@staging/queues/beta/queued"}, (page, links)


# ---------------------------------------------------------------- what only the default instance has


def test_webhook_changes_and_deliveries_made_on_another_instance_go_to_the_default_one(two):
    """Webhooks follow the default instance (its stream feeds them, its workers deliver them): a test
    event, a redelivery and an endpoint change made from /@staging must reach prod's Redis, or the delivery
    waits for the repair pass on a queue no worker reads and the dispatcher misses the change for a minute."""
    from dashboard.extensions import db
    from dashboard.webhooks import endpoints, jobs

    with two.app.app_context():
        endpoint, _ = endpoints.create(db.engine, two.prod, url="https://hooks.example/in", events=["job.failed"])
    two.prod.delete(keys.webhook_endpoints_version())
    client = _admin(two)
    token = {"X-CSRFToken": csrf_token(client)}
    sent = client.post(f"/@staging/webhooks/{endpoint.id}/test", headers=token)
    assert sent.status_code == 303 and sent.headers["Location"].startswith("/@staging/webhooks/")
    first = jobs.job_id(_latest_delivery(two.app), 1)
    assert two.prod.exists(keys.job(first)) and not two.staging.exists(keys.job(first)), "delivered from prod"

    again = client.post(f"/@staging/webhooks/deliveries/{_latest_delivery(two.app)}/redeliver", headers=token)
    assert again.status_code == 303
    second = jobs.job_id(_latest_delivery(two.app), 1)
    assert second != first and two.prod.exists(keys.job(second)) and not two.staging.exists(keys.job(second))

    assert client.post(f"/@staging/webhooks/{endpoint.id}/disable", headers=token).status_code == 303
    assert two.prod.exists(keys.webhook_endpoints_version()), "prod's dispatcher hears of the change at once"
    assert not two.staging.exists(keys.webhook_endpoints_version())
    assert not two.staging.keys("*"), "nothing of the webhooks is written to staging"


def _latest_delivery(app) -> int:
    import sqlalchemy as sa

    from dashboard.extensions import db
    from dashboard.webhooks.models import webhook_deliveries

    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.max(webhook_deliveries.c.id))))


def test_long_polls_of_every_instance_share_the_process_waiting_slots(two):
    """WAITERS long polls may wait at once in a process (the Procfile gives it 64 threads, so pages keep
    16): with one event feed per instance each had its own 48, and two instances' polls could hold every
    thread. A poll on staging while prod's polls hold every slot answers at once, busy."""
    import contextlib

    from dashboard.rqlayer.feed import WAITERS

    prod, staging = (two.app.extensions["consoles"][name].events for name in ("prod", "staging"))
    with contextlib.ExitStack() as held:
        assert all(held.enter_context(prod.waiting_slot()) for _ in range(WAITERS))
        with staging.waiting_slot() as got:
            assert not got, "staging's poll must not take a 49th thread"
        began = time.monotonic()
        answer = _admin(two).get("/@staging/events/poll?wait=5", headers={"Accept": "application/json"})
        assert answer.status_code == 200 and answer.get_json()["busy"] is True
        assert time.monotonic() - began < 4, "answered at once, without waiting"
    with staging.waiting_slot() as got:
        assert got, "free again once prod's polls end"


# ---------------------------------------------------------------- X-Forwarded-Prefix


@pytest.fixture
def behind_proxy(redis_url, sqlite_url, data_dir):
    from tests.fixtures import seed_users
    from tests.helpers import build_app, make_env

    app = build_app(make_env(redis_url, sqlite_url, data_dir, TRUSTED_PROXIES="10.0.0.1"))
    seed_users(app)
    yield app
    with app.app_context():
        from dashboard.extensions import db

        db.engine.dispose()


@pytest.mark.parametrize(
    "prefix",
    ["//evil.example", "/\\evil.example", "https://evil.example", "/rq/../..", "/rq%0d%0aSet-Cookie:x=y", "rq", "/r q"],
)
def test_a_forwarded_prefix_that_is_not_a_plain_path_is_not_believed(behind_proxy, prefix):
    proxied = {"REMOTE_ADDR": "10.0.0.1"}
    client = signed_in(behind_proxy, ROLE_USERS["admin"])
    page = client.get("/failed", headers={"X-Forwarded-Prefix": prefix}, environ_base=proxied)
    assert page.status_code == 200
    assert "evil.example" not in page.get_data(as_text=True)
    assert 'href="/failed"' in page.get_data(as_text=True), "the links as without the header"
    anonymous = behind_proxy.test_client().get("/failed", headers={"X-Forwarded-Prefix": prefix}, environ_base=proxied)
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login"), anonymous.headers


def test_a_plain_forwarded_prefix_is_still_followed_with_or_without_its_trailing_slash(behind_proxy):
    proxied = {"REMOTE_ADDR": "10.0.0.1"}
    for prefix in ("/console", "/console/", "/ops/rq-1.2_x~"):
        answer = behind_proxy.test_client().get("/failed", headers={"X-Forwarded-Prefix": prefix}, environ_base=proxied)
        assert answer.status_code == 302, prefix
        assert answer.headers["Location"].startswith(prefix.rstrip("/") + "/login?next="), answer.headers["Location"]


@pytest.mark.parametrize("value", ["/rq/..", "/..", "/rq/./x"])
def test_script_name_refuses_dot_segments(tmp_path, value):
    """A browser resolves "/rq/../queues" to "/queues": outside the prefix, and outside the cookie's path."""
    from dashboard.settings import SettingsError, load_settings

    env = {"SECRET_KEY": "test-secret-key-0123456789", "CONSOLE_DATA_DIR": str(tmp_path), "DATABASE_URL": "sqlite://"}
    with pytest.raises(SettingsError, match="SCRIPT_NAME: expected a path like /rq"):
        load_settings({**env, "SCRIPT_NAME": value}, use_run_state=False)
    assert load_settings({**env, "SCRIPT_NAME": "/rq/v1.2"}, use_run_state=False).script_name == "/rq/v1.2"


# ---------------------------------------------------------------- the overview over corrupted data


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400", "NaN", "Infinity"])
def test_a_worker_hash_with_a_non_finite_number_never_fails_the_overview(conn, client, value):
    """One worker hash with total_working_time "nan" (or inf) made the overview, its poll and the worker's
    page a 500 for everyone: float() reads it, int() of it raises. Non-finite numbers read as absent."""
    conn.sadd(keys.workers(), keys.worker("odd"))
    conn.hset(
        keys.worker("odd"),
        mapping={"queues": "default", "state": "busy", "total_working_time": value, "successful_job_count": value},
    )
    for url, headers in (("/", {}), ("/", POLL), ("/workers/odd", {}), ("/?show=idle", {})):
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200, (url, value, answer.get_data(as_text=True)[:300])
    assert "odd" in client.get("/").get_data(as_text=True)


def test_durations_of_non_finite_values_are_shown_as_unknown():
    from dashboard.web.formatting import duration

    assert [duration(v) for v in (float("nan"), float("inf"), float("-inf"), None)] == ["—"] * 4
    assert duration(61) == "1 min 1 s"


# ---------------------------------------------------------------- the poll validator and hostile names


def test_a_hostile_name_repeating_data_volatile_keeps_the_poll_linear(conn, client):
    """A queue and a worker whose names repeat the marker the validator strips: the poll answers in about
    the time of the page (before the fix: ~13 s here for 280 KB names, growing with the square)."""
    name = "data-volatile " * 20_000
    conn.sadd(keys.queues(), keys.queue(name))
    conn.rpush(keys.queue(name), "some-job")
    conn.sadd(keys.workers(), keys.worker(name))
    conn.hset(keys.worker(name), mapping={"queues": name, "state": "idle", "birth": "2026-01-01T00:00:00Z"})
    client.get("/", headers=POLL)  # templates compiled, caches warm
    began = time.thread_time()
    poll = client.get("/", headers=POLL)
    spent = time.thread_time() - began
    assert poll.status_code == 200 and poll.headers.get("ETag")
    assert spent < 4, f"the poll took {spent:.1f} s of CPU"


def test_data_volatile_inside_an_attribute_value_is_not_a_volatile_element(app):
    """Only an element that has the data-volatile attribute is left out of the validator; a name that
    merely says it (in a title) stays in, so a change beside it is a new ETag at once."""
    from dashboard.web import conditional

    def tag(body: bytes) -> str:
        with app.test_request_context("/"):
            return conditional.validator(body)

    assert tag(b'<p>1</p><div class="live-stamp" data-volatile>updated 12:00:01</div>') == tag(
        b'<p>1</p><div class="live-stamp" data-volatile>updated 12:00:09</div>'
    )
    assert tag(b"<p>1</p><dd data-volatile>3 MB</dd>") == tag(b"<p>1</p><dd data-volatile>4 MB</dd>")
    hostile = b'<td title="x data-volatile y">%s</td>'
    assert tag(hostile % b"1") != tag(hostile % b"2")
    assert tag(b'<td title="data-volatile" data-volatile>1</td>') == tag(
        b'<td title="data-volatile" data-volatile>2</td>'
    )
