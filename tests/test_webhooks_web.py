"""The webhooks pages and API: roles (admin manages, operator sees URLs without their query and redelivers,
viewer sees nothing), CSRF, audit, the secret shown once, SSRF refusals as clear 422s, test event, rotation,
delete, redeliver, and the delivery log's keyset pages. One app for the module (building one costs ~2 s)."""

from __future__ import annotations

import re

import pytest
import redis
import sqlalchemy as sa
from standardwebhooks import Webhook

from dashboard import accounts as service
from dashboard.models import AuditEvent
from dashboard.webhooks import endpoints, outbox
from dashboard.webhooks.models import webhook_deliveries, webhook_endpoints
from tests.fixtures import PASSWORD, ROLE_USERS
from tests.helpers import build_app, csrf_token, make_env, signed_in
from tests.webhook_receiver import Receiver, deliver


@pytest.fixture(scope="module")
def site(private_redis, tmp_path_factory):
    """(app, receiver, tokens per role); the delivery jobs run in this process and read the environment."""
    receiver = Receiver()
    base = tmp_path_factory.mktemp("hooks")
    (base / "data").mkdir()
    env = make_env(
        private_redis.url,
        f"sqlite:///{base / 'console.db'}",
        base / "data",
        WEBHOOK_ALLOWED_HOSTS=receiver.host,
        WEBHOOK_RETRY_BASE="0",
    )
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        app = build_app(env)
        with app.app_context():
            tokens = {}
            for role, name in ROLE_USERS.items():
                service.create_user(name, PASSWORD, role, actor="test")
                tokens[role] = service.create_token(f"{role}-hooks", role, actor="test")[1]
        yield app, receiver, tokens
        with app.app_context():
            from dashboard.extensions import db

            db.engine.dispose()
    receiver.stop()


@pytest.fixture
def hooks(site, private_redis):
    """A clean slate per test: no endpoint, no delivery, an empty Redis, a receiver answering 200."""
    app, receiver, tokens = site
    connection = redis.Redis.from_url(private_redis.url)
    connection.flushall()
    with app.app_context():
        from dashboard.extensions import db

        with db.engine.begin() as sql:
            sql.execute(sa.delete(webhook_deliveries))
            sql.execute(sa.delete(webhook_endpoints))
    receiver.received.clear()
    receiver.statuses = [200]
    yield app, receiver, tokens, connection
    connection.close()


def client(app, role):
    c = signed_in(app, ROLE_USERS[role])
    c.csrf = csrf_token(c)
    return c


def engine(app):
    with app.app_context():
        from dashboard.extensions import db

        return db.engine


def audited(app, action):
    with app.app_context():
        from dashboard.extensions import db

        rows = db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == action)).scalars().all()
        return [(r.actor, r.target, r.detail) for r in rows]


def create(c, url, events=("job.failed",), **extra):
    return c.post("/webhooks", data={"csrf_token": c.csrf, "url": url, "events": list(events), **extra})


def api(app, tokens, role, method, path, **kw):
    return app.test_client().open(path, method=method, headers={"Authorization": f"Bearer {tokens[role]}"}, **kw)


def test_an_admin_creates_an_endpoint_and_sees_its_secret_once(hooks):
    app, receiver, _, _ = hooks
    admin = client(app, "admin")
    answer = create(
        admin, receiver.url, events=("job.failed", "alert.firing"), queues="default, high", functions="reports.*"
    )
    assert answer.status_code == 201
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", answer.get_data(as_text=True)).group(0)
    (endpoint,) = endpoints.list_endpoints(engine(app))
    assert (endpoint.url, endpoint.events, endpoint.queues, endpoint.functions) == (
        receiver.url,
        ("job.failed", "alert.firing"),
        ("default", "high"),
        ("reports.*",),
    )
    assert ("alice", f"webhook:{endpoint.id}", receiver.url) in audited(app, "webhook.create")
    for page in (admin.get("/webhooks"), admin.get(f"/webhooks/{endpoint.id}")):
        assert (
            page.status_code == 200
            and secret not in page.get_data(as_text=True)
            and "whsec_" not in page.get_data(as_text=True)
        )

    # The signing secret really is the one shown: a test event verifies with it.
    test = admin.post(f"/webhooks/{endpoint.id}/test", data={"csrf_token": admin.csrf})
    assert test.status_code == 303
    deliver(hooks[3])
    (got,) = receiver.received
    assert Webhook(secret).verify(got.body, got.headers)["type"] == outbox.TEST_TYPE
    assert audited(app, "webhook.test")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.0.0.7/hook", "10.0.0.7, a private address"),
        ("http://localhost/hook", "localhost resolves to"),
        ("http://169.254.169.254/latest", "cloud metadata"),
        ("ftp://example.com/x", "only http:// and https://"),
        ("https://user:pw@example.com/x", "user name or password"),
    ],
)
def test_a_refused_url_is_a_clear_422_and_nothing_is_saved(hooks, url, message):
    app, _, tokens, _ = hooks
    answer = create(client(app, "admin"), url)
    assert answer.status_code == 422 and message in answer.get_data(as_text=True)
    via_api = api(app, tokens, "admin", "POST", "/api/v1/webhooks", json={"url": url, "events": ["job.failed"]})
    assert via_api.status_code == 422 and message in via_api.get_json()["fields"]["url"]
    assert endpoints.list_endpoints(engine(app)) == []
    assert not audited(app, "webhook.create") or all(d != url for _, _, d in audited(app, "webhook.create"))


def test_roles_and_csrf(hooks):
    app, receiver, _, _ = hooks
    admin, operator, viewer = client(app, "admin"), client(app, "operator"), client(app, "viewer")
    assert create(admin, receiver.url).status_code == 201
    (endpoint,) = endpoints.list_endpoints(engine(app))

    assert viewer.get("/webhooks").status_code == 403
    assert viewer.get(f"/webhooks/{endpoint.id}").status_code == 403
    assert "Webhooks</a>" not in viewer.get("/").get_data(as_text=True)
    listed = operator.get("/webhooks").get_data(as_text=True)
    assert "/hook?…" in listed and "token=abc" not in listed, "operators do not see the query (a token)"
    assert "token=abc" in admin.get("/webhooks").get_data(as_text=True)
    assert create(operator, receiver.url).status_code == 403
    for action in ("disable", "rotate", "delete", "test"):
        assert operator.post(f"/webhooks/{endpoint.id}/{action}", data={"csrf_token": operator.csrf}).status_code == 403
    no_csrf = admin.post(f"/webhooks/{endpoint.id}/delete", data={})
    assert no_csrf.status_code == 400
    assert endpoints.get_endpoint(engine(app), endpoint.id) is not None, "nothing deleted"


def test_disable_rotate_and_delete(hooks):
    app, receiver, _, conn = hooks
    admin = client(app, "admin")
    create(admin, receiver.url)
    (endpoint,) = endpoints.list_endpoints(engine(app))
    url = f"/webhooks/{endpoint.id}"

    assert admin.post(f"{url}/disable", data={"csrf_token": admin.csrf}).status_code == 303
    assert not endpoints.get_endpoint(engine(app), endpoint.id).enabled
    assert admin.post(f"{url}/test", data={"csrf_token": admin.csrf}).status_code == 409
    assert admin.post(f"{url}/enable", data={"csrf_token": admin.csrf}).status_code == 303

    assert admin.post(f"{url}/rotate", data={"csrf_token": admin.csrf, "overlap_hours": "999"}).status_code == 422
    rotated = admin.post(f"{url}/rotate", data={"csrf_token": admin.csrf, "overlap_hours": "24"})
    assert rotated.status_code == 200 and "whsec_" in rotated.get_data(as_text=True)
    assert endpoints.get_endpoint(engine(app), endpoint.id).overlapping()
    assert [d for _, _, d in audited(app, "webhook.rotate")][-1] == "previous secret signs for 24 h"

    saved = admin.post(
        url, data={"csrf_token": admin.csrf, "url": receiver.url, "events": ["job.finished"], "queues": ""}
    )
    assert saved.status_code == 303
    assert endpoints.get_endpoint(engine(app), endpoint.id).events == ("job.finished",)
    bad = admin.post(url, data={"csrf_token": admin.csrf, "url": receiver.url, "events": []})
    assert bad.status_code == 422 and "choose at least one event" in bad.get_data(as_text=True)

    assert admin.post(f"{url}/delete", data={"csrf_token": admin.csrf}).status_code == 303
    assert admin.get(url).status_code == 404
    assert [
        a for a in ("webhook.disable", "webhook.enable", "webhook.update", "webhook.delete") if not audited(app, a)
    ] == []


def test_the_delivery_log_pages_and_redeliver(hooks):
    app, receiver, tokens, conn = hooks
    receiver.statuses = [500, 200]
    endpoint, _ = endpoints.create(engine(app), conn, url=receiver.url, events=["job.finished"])
    settings = app.config["CONSOLE"].webhooks
    ids = [outbox.send(engine(app), conn, "job.finished", {"n": n}, settings=settings)[0] for n in range(5)]
    page = client(app, "operator").get(f"/webhooks/{endpoint.id}")
    assert page.status_code == 200 and page.get_data(as_text=True).count('data-status="pending"') == 5

    seen, after = [], None
    while True:
        query = {"limit": 2, **({"after": after} if after else {})}
        answer = api(app, tokens, "viewer", "GET", f"/api/v1/webhooks/{endpoint.id}/deliveries", query_string=query)
        assert answer.status_code == 403, "viewers see no webhooks"
        answer = api(app, tokens, "operator", "GET", f"/api/v1/webhooks/{endpoint.id}/deliveries", query_string=query)
        body = answer.get_json()
        seen += [d["id"] for d in body["deliveries"]]
        after = body["next"]
        if not after:
            break
    assert seen == sorted(ids, reverse=True), "newest first, each once"
    assert (
        api(app, tokens, "operator", "GET", f"/api/v1/webhooks/{endpoint.id}/deliveries?after=nonsense").status_code
        == 400
    )

    deliver(conn)
    operator = client(app, "operator")
    assert 'id="no-deliveries"' in operator.get(f"/webhooks/{endpoint.id}?status=failed").get_data(as_text=True)
    assert operator.get(f"/webhooks/{endpoint.id}?status=nonsense").status_code == 400
    log_page = operator.get(f"/webhooks/{endpoint.id}").get_data(as_text=True)
    assert log_page.count('data-status="succeeded"') == 5
    assert "&lt;b&gt;answer 200&lt;/b&gt;" in log_page and "<b>answer" not in log_page, "response bytes escaped"

    again = operator.post(f"/webhooks/deliveries/{ids[0]}/redeliver", data={"csrf_token": operator.csrf})
    assert again.status_code == 303
    assert api(app, tokens, "operator", "POST", f"/api/v1/webhooks/deliveries/{ids[1]}/redeliver").status_code == 202
    assert api(app, tokens, "viewer", "POST", f"/api/v1/webhooks/deliveries/{ids[1]}/redeliver").status_code == 403
    assert operator.post("/webhooks/deliveries/999999/redeliver", data={"csrf_token": operator.csrf}).status_code == 404
    deliver(conn)
    assert len(audited(app, "webhook.redeliver")) >= 2
    bodies = [r.body for r in receiver.received]
    assert bodies.count(bodies[-1]) >= 2, "a redelivery sends the same body"


def test_the_api(hooks):
    app, receiver, tokens, _ = hooks
    body = {"url": receiver.url, "events": ["job.failed", "job.stopped"], "queues": ["default"], "functions": []}
    assert api(app, tokens, "operator", "POST", "/api/v1/webhooks", json=body).status_code == 403
    created = api(app, tokens, "admin", "POST", "/api/v1/webhooks", json=body)
    assert created.status_code == 201
    data = created.get_json()
    assert data["secret"].startswith("whsec_") and data["events"] == ["job.failed", "job.stopped"]
    assert audited(app, "webhook.create")[-1][0] == "token:admin-hooks"

    listed = api(app, tokens, "operator", "GET", "/api/v1/webhooks").get_json()["webhooks"]
    assert [w["id"] for w in listed] == [data["id"]] and "secret" not in listed[0]
    assert listed[0]["url"].endswith("/hook?…")
    assert api(app, tokens, "admin", "GET", f"/api/v1/webhooks/{data['id']}").get_json()["url"] == receiver.url

    for bad, field in (
        ({"url": receiver.url, "events": ["job.exploded"]}, "events"),
        ({"url": receiver.url, "events": "job.failed", "queues": [1]}, "queues"),
        ({"url": receiver.url, "events": ["job.failed"], "colour": "red"}, "colour"),
    ):
        answer = api(app, tokens, "admin", "POST", "/api/v1/webhooks", json=bad)
        assert answer.status_code == 422 and field in answer.get_json()["fields"], bad
    assert api(app, tokens, "admin", "POST", "/api/v1/webhooks", data="not json").status_code == 400

    assert api(app, tokens, "operator", "DELETE", f"/api/v1/webhooks/{data['id']}").status_code == 403
    assert api(app, tokens, "admin", "DELETE", f"/api/v1/webhooks/{data['id']}").status_code == 204
    assert api(app, tokens, "admin", "DELETE", f"/api/v1/webhooks/{data['id']}").status_code == 404
    assert api(app, tokens, "admin", "GET", f"/api/v1/webhooks/{data['id']}/deliveries").status_code == 404
