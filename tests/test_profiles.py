"""Connection profiles (dashboard/profiles.py): two real Redis servers named in REDIS_URLS, one console.

The instance is in every URL (/@<profile>/...): each page shows its instance's data, every link, form
action and hx-* URL it renders carries the prefix, an action posted under /@staging changes only staging,
the badge names the instance on every page type, and bad settings stop the console at start."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from rq import Queue

from dashboard.rqlayer import keys
from dashboard.rqlayer.telemetry.events import read_events
from tests.fixtures import ROLE_USERS, plant_every_state, plant_failed
from tests.helpers import csrf_token, signed_in, wait_until
from tests.profiles_fixture import (  # noqa: F401  (fixtures "second_redis", "two", "two_cached")
    second_redis_server,
    two_instances,
    two_instances_cached,
)

URL_ATTRIBUTES = ("href", "action", "src", "hx-get", "hx-post", "hx-put", "hx-patch", "hx-delete")


class _Urls(HTMLParser):
    """Every site-absolute URL an element names: links, form actions, scripts, hx-* and data-*url/src."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            wanted = name in URL_ATTRIBUTES or (name.startswith("data-") and name.endswith(("url", "src", "href")))
            if wanted and value and value.startswith("/") and not value.startswith("//"):
                self.found.append((tag, name, value))


def urls_of(html: str) -> list[tuple[str, str, str]]:
    parser = _Urls()
    parser.feed(html)
    return parser.found


def badge(html: str) -> tuple[str, str] | None:
    match = re.search(r'class="env-badge env-badge-([a-z]+)" id="env-badge" data-profile="([^"]+)"', html)
    return (match.group(2), match.group(1)) if match else None


def _admin(two):
    return signed_in(two.app, ROLE_USERS["admin"])


def _bearer(app) -> dict:
    """The header of a new viewer API token (tokens serve every instance)."""
    from dashboard import accounts

    with app.app_context():
        _, secret = accounts.create_token("ci", "viewer", actor="test")
    return {"Authorization": f"Bearer {secret}"}


def _one_job_each(two, job_id="same-id"):
    """A queued job with the same id on both instances, in queue "alpha" on prod and "beta" on staging."""
    Queue("alpha", connection=two.prod).enqueue("tests.jobfuncs.add", 1, 2, job_id=job_id)
    Queue("beta", connection=two.staging).enqueue("tests.jobfuncs.add", 1, 2, job_id=job_id)


def test_each_instance_shows_its_own_queues(two):
    _one_job_each(two)
    client = _admin(two)
    for path, shown, hidden in (("/", "alpha", "beta"), ("/@prod/", "alpha", "beta"), ("/@staging/", "beta", "alpha")):
        response = client.get(path)
        html = response.get_data(as_text=True)
        assert response.status_code == 200, path
        assert f'href="/@{"staging" if shown == "beta" else "prod"}/queues/{shown}/queued"' in html, path
        assert f"/queues/{hidden}/" not in html, path
    fragment = client.get("/@staging/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "/@staging/queues/beta/" in fragment and "alpha" not in fragment
    assert client.get("/@staging/queues/alpha/queued").status_code == 404
    assert client.get("/@staging/jobs/same-id").status_code == 200


def test_every_url_of_every_page_carries_the_instance(two):
    planted = plant_every_state(two.staging, "beta")
    client = _admin(two)
    job_id = planted.ids["failed"][0]
    pages = [
        "/",
        "/failed",
        "/queues/beta/queued",
        "/queues/beta/failed",
        f"/jobs/{job_id}",
        "/schedules",
        "/events",
        "/history",
        "/errors",
        "/functions",
        "/views",
        "/enqueue",
        "/admin/audit",
        "/replays",
        "/alerts",
        "/webhooks",
        "/events/incoming",
    ]
    token = csrf_token(client)
    saved = client.post(
        "/@staging/views", data={"name": "beta failures", "url": "/queues/beta/failed"}, headers={"X-CSRFToken": token}
    )
    assert saved.status_code == 303
    client.post("/@staging/queues/beta/pause", headers={"X-CSRFToken": token})  # an audit row with a queue link
    pages += ["/palette?q=beta", "/palette?q=" + job_id[:8], "/?partial=1"]
    checked = 0
    for page in pages:
        response = client.get("/@staging" + page)
        assert response.status_code == 200, page
        found = urls_of(response.get_data(as_text=True))
        assert found, page
        stray = [u for u in found if not u[2].startswith("/@staging/") and not _switcher_link(u)]
        assert not stray, (page, stray[:5])
        checked += len(found)
    assert checked > 300
    # Unprefixed with several instances: the default one, and its links say so.
    for _, _, url in urls_of(client.get("/failed").get_data(as_text=True)):
        assert url.startswith(("/@prod/", "/@staging/")), url


def _switcher_link(found: tuple[str, str, str]) -> bool:
    # The switcher's own links go to the other instances on purpose.
    return found[0] == "a" and found[1] == "href" and found[2].startswith("/@prod/")


def test_the_switcher_links_the_same_page_on_each_instance(two):
    html = _admin(two).get("/@staging/queues/beta/failed?page=1").get_data(as_text=True)
    menu = html[html.index('id="profile-menu"') : html.index("</details>", html.index('id="profile-menu"'))]
    assert 'href="/@prod/queues/beta/failed?page=1"' in menu
    assert 'href="/@staging/queues/beta/failed?page=1" data-profile="staging" aria-current="true"' in menu


def test_after_a_form_the_switcher_links_each_instances_overview(two):
    client = _admin(two)
    answer = client.post(
        "/@staging/jobs/no-such-job/delete", data={"seen": "queued"}, headers={"X-CSRFToken": csrf_token(client)}
    )
    html = answer.get_data(as_text=True)
    assert answer.status_code >= 400 and 'id="profile-menu"' in html  # a page answering the form
    menu = html[html.index('id="profile-menu"') : html.index("</details>", html.index('id="profile-menu"'))]
    assert 'href="/@prod/"' in menu and "/delete" not in menu  # the POST's address takes no GET


def test_an_action_under_staging_changes_only_staging_and_is_audited_with_it(two):
    from dashboard.extensions import db
    from dashboard.models import AuditEvent

    _one_job_each(two)
    client = _admin(two)
    token = csrf_token(client)
    answer = client.post("/@staging/jobs/same-id/delete", data={"seen": "queued"}, headers={"X-CSRFToken": token})
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/@staging/")
    assert not two.staging.exists(keys.job("same-id")) and two.staging.llen(keys.queue("beta")) == 0
    assert two.prod.exists(keys.job("same-id")) and two.prod.llen(keys.queue("alpha")) == 1

    paused = client.post("/@staging/queues/beta/pause", data={}, headers={"X-CSRFToken": token})
    assert paused.status_code in (200, 303), paused.get_data(as_text=True)[:300]
    assert two.staging.hexists(keys.flow_state(), "pause:beta"), "staging holds the pause"
    assert not two.prod.exists(keys.flow_state()), "prod is untouched"

    with two.app.app_context():
        details = [
            e.detail or "" for e in db.session.scalars(db.select(AuditEvent).where(AuditEvent.action.like("job.%")))
        ]
    assert details and all(d.startswith("[@staging]") for d in details), details


def test_actions_without_a_prefix_go_to_the_default_instance(two):
    _one_job_each(two)
    client = _admin(two)
    answer = client.post("/jobs/same-id/delete", data={"seen": "queued"}, headers={"X-CSRFToken": csrf_token(client)})
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/@prod/")
    assert not two.prod.exists(keys.job("same-id")) and two.staging.exists(keys.job("same-id"))


def test_an_unknown_instance_is_a_404_naming_the_known_ones(two):
    client = _admin(two)
    for path in ("/@nope/", "/@nope/failed", "/@<b>x</b>/"):
        response = client.get(path)
        html = response.get_data(as_text=True)
        assert response.status_code == 404, path
        assert "Known instances: prod, staging." in html
        assert "<b>x</b>" not in html
        assert 'id="env-badge"' not in html  # no instance's badge on a page about none
    anonymous = two.app.test_client().get("/@nope/failed")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"], (
        "who is not signed in learns nothing"
    )
    api = two.app.test_client().get("/@nope/api/v1/queues", headers=_bearer(two.app))
    assert api.status_code == 404 and "Known instances: prod, staging." in api.get_json()["message"]
    assert two.app.test_client().get("/@nope/api/v1/queues").status_code == 401


def test_the_badge_names_the_instance_on_every_page_type(two):
    planted = plant_every_state(two.staging, "beta")
    client = _admin(two)
    pages = {
        "/": ("prod", "red"),
        "/@prod/failed": ("prod", "red"),
        "/@staging/": ("staging", "amber"),
        "/@staging/queues/beta/queued": ("staging", "amber"),
        f"/@staging/jobs/{planted.ids['failed'][0]}": ("staging", "amber"),
        "/@staging/jobs/no-such-job": ("staging", "amber"),  # the missing-job page
        "/@staging/schedules": ("staging", "amber"),
        "/@staging/history": ("staging", "amber"),
        "/@staging/admin/users": ("staging", "amber"),
        "/@staging/queues/none/queued": ("staging", "amber"),  # an error page
    }
    for path, expected in pages.items():
        html = client.get(path).get_data(as_text=True)
        assert badge(html) == expected, path
        assert f"<title>[{expected[0]}] " in html, "the browser tab names the instance too"
    login = two.app.test_client().get("/@staging/login").get_data(as_text=True)
    assert badge(login) == ("staging", "amber"), "the sign-in page says where one signs in"
    assert 'action="/@staging/login' in login
    assert 'id="profile-menu"' not in login, "the instance list is for signed-in operators"


def test_history_pages_say_they_show_the_default_instance(two):
    client = _admin(two)
    for path in (
        "/@staging/history",
        "/@staging/errors",
        "/@staging/functions",
        "/@staging/alerts",
        "/@staging/webhooks",
    ):
        html = client.get(path).get_data(as_text=True)
        assert 'id="profile-history-notice"' in html, path
        assert "recorded for the default instance, <strong>prod</strong>, only" in html
    for path in ("/history", "/@prod/errors", "/@staging/", "/@staging/failed", "/@staging/events"):
        assert 'id="profile-history-notice"' not in client.get(path).get_data(as_text=True), path
    incoming = client.get("/@staging/events/incoming").get_data(as_text=True)
    assert 'id="profile-history-notice"' in incoming and "listed for every instance together" in incoming
    # The API answers the same rows; a header says whose they are.
    bearer = _bearer(two.app)
    for path in ("/api/v1/history", "/api/v1/error-groups", "/api/v1/alerts", "/api/v1/incoming-events"):
        elsewhere = client.get("/@staging" + path, headers=bearer)
        assert elsewhere.status_code == 200 and elsewhere.headers["X-Console-History-Instance"] == "prod", path
        assert "X-Console-History-Instance" not in client.get(path, headers=bearer).headers, path
    assert "X-Console-History-Instance" not in client.get("/@staging/api/v1/queues", headers=bearer).headers


def test_one_sign_in_serves_every_instance(two):
    client = two.app.test_client()
    login = client.get("/@staging/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
    from tests.fixtures import PASSWORD

    answer = client.post("/@staging/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
    assert answer.status_code in (302, 303)
    cookies = {c.split("=", 1)[0]: c for c in answer.headers.getlist("Set-Cookie")}
    assert "Path=/;" in cookies["session"] or cookies["session"].endswith("Path=/"), cookies["session"]
    assert "Path=/login;" in cookies["console_device"], "the known-device cookie serves every instance's sign-in"
    assert client.get("/@prod/").status_code == 200 and client.get("/@staging/failed").status_code == 200


def test_the_api_answers_for_the_instance_in_its_url(two):

    _one_job_each(two)
    client = two.app.test_client()
    bearer = _bearer(two.app)
    staging = client.get("/@staging/api/v1/queues", headers=bearer)
    default = client.get("/api/v1/queues", headers=bearer)
    assert staging.status_code == 200 and default.status_code == 200
    assert "beta" in staging.get_data(as_text=True) and "alpha" not in staging.get_data(as_text=True)
    assert "alpha" in default.get_data(as_text=True) and "beta" not in default.get_data(as_text=True)
    assert "beta" in str(client.get("/@staging/api/v1/jobs/same-id", headers=bearer).get_json()["job"])


def test_redis_alone_keeps_one_unprefixed_console_without_badge(app, client):
    html = client.get("/").get_data(as_text=True)
    assert badge(html) is None and 'id="profile-menu"' not in html and "profiles.css" not in html
    assert all(not u.startswith("/@") for _, _, u in urls_of(html))
    assert "<title>Overview · RQ Console</title>" in html, "no instance in the title"
    assert app.config["CONSOLE"].profiles.default.name == "default"


def test_under_a_url_prefix_the_instance_goes_after_it(two):
    """Behind a proxy prefix (SCRIPT_NAME=/rq, set before this middleware runs) the instance is appended."""
    _one_job_each(two)
    client = _admin(two)
    response = client.get("/@staging/", base_url="http://localhost/rq")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and badge(html) == ("staging", "amber")
    found = urls_of(html)
    assert found and all(url.startswith(("/rq/@staging/", "/rq/@prod/")) for _, _, url in found), found[:5]
    assert 'href="/rq/@staging/queues/beta/queued"' in html and 'href="/rq/@prod/"' in html
    token = csrf_token(client)
    answer = client.post(
        "/@staging/jobs/same-id/delete",
        base_url="http://localhost/rq",
        data={"seen": "queued"},
        headers={"X-CSRFToken": token},
    )
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/rq/@staging/")
    assert not two.staging.exists(keys.job("same-id")) and two.prod.exists(keys.job("same-id"))


def test_background_work_runs_on_the_instance_it_was_started_on(two):
    """A bulk retry started under /@staging runs on a background thread, off the request: it retries
    staging's failed jobs only, its summary event is in staging's stream and its audit says staging."""
    from dashboard.extensions import db
    from dashboard.models import AuditEvent

    plant_failed(two.prod, 3, queue="jobs", prefix="p")
    plant_failed(two.staging, 4, queue="jobs", prefix="s")
    client = _admin(two)
    started = client.post(
        "/@staging/queues/jobs/failed/bulk",
        data={"action": "retry", "all": "1"},
        headers={"X-CSRFToken": csrf_token(client)},
    )
    assert started.status_code == 202, started.get_data(as_text=True)[:300]
    assert "/@staging/bulk/" in started.get_data(as_text=True), "its progress polls staging"
    wait_until(lambda: two.staging.llen(keys.queue("jobs")) == 4, message="staging's failures retried")
    assert two.staging.zcard(keys.registry("failed", "jobs")) == 0
    assert two.prod.zcard(keys.registry("failed", "jobs")) == 3 and two.prod.llen(keys.queue("jobs")) == 0

    def ended():
        with two.app.app_context():
            rows = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "bulk.retry")).all()
            return [r for r in rows if r.outcome != "started"]

    done = wait_until(ended, message="the bulk retry's end audited")
    assert done[0].detail.startswith("[@staging]") and done[0].job_count == 4
    summary = wait_until(
        lambda: [e for e in read_events(two.staging, count=100).events if e.type.startswith("bulk_")],
        message="the summary event in staging's stream",
    )
    assert summary[0].extra["count"] == "4"
    assert not read_events(two.prod, count=100).events, "prod's stream is untouched"


def test_each_instance_has_its_own_shared_overview_read(two_cached):
    """With the overview read shared between polls, a poll of one instance never shows the other's, and
    an action on staging makes staging's next poll read afresh."""
    two = two_cached
    _one_job_each(two)
    client = _admin(two)
    poll = {"HX-Request": "true", "X-Console-Poll": "1"}
    assert "beta" in client.get("/@staging/", headers=poll).get_data(as_text=True)
    assert "alpha" in client.get("/@prod/", headers=poll).get_data(as_text=True)
    Queue("gamma", connection=two.staging).enqueue("tests.jobfuncs.add", 1, 2)
    cached = client.get("/@staging/", headers=poll).get_data(as_text=True)
    assert "gamma" not in cached and "alpha" not in cached, "the cached read, of staging"
    paused = client.post("/@staging/queues/beta/pause", headers={"X-CSRFToken": csrf_token(client)})
    assert paused.status_code < 400
    fresh = client.get("/@staging/", headers=poll).get_data(as_text=True)
    assert "gamma" in fresh and "alpha" not in fresh
    assert "gamma" not in client.get("/@prod/", headers=poll).get_data(as_text=True)


def test_an_instance_that_is_down_says_so_and_the_others_keep_working(private_redis, tmp_path):
    from tests.fixtures import seed_users
    from tests.helpers import build_app, free_port, make_env

    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    (tmp_path / "data").mkdir()
    app = build_app(
        make_env(
            private_redis.url,
            f"sqlite:///{tmp_path / 'console.db'}",
            tmp_path / "data",
            REDIS_URLS=f"prod={private_redis.url},dead={dead}",
        )
    )
    seed_users(app)
    client = signed_in(app, ROLE_USERS["admin"])
    down = client.get("/@dead/")
    assert down.status_code == 503 and dead in down.get_data(as_text=True)
    assert badge(down.get_data(as_text=True)) == ("dead", "plain")
    assert client.get("/@prod/").status_code == 200
    api = client.get("/@dead/api/v1/queues", headers=_bearer(app))
    assert api.status_code == 503 and api.get_json()["error"] == "redis_unreachable"
    with app.app_context():
        from dashboard.extensions import db

        db.engine.dispose()
