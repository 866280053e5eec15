"""Accounts and roles against the real app: sign-in, throttling, sessions, roles, API tokens, proxy SSO, audit."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import timedelta
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from rq import Queue, Worker
from sqlalchemy import select

from dashboard import accounts as service
from dashboard.extensions import db
from dashboard.models import ApiToken, AuditEvent, utcnow
from dashboard.rqlayer import keys
from dashboard.rqlayer.throttle import LoginThrottle
from dashboard.settings import SettingsError, load_settings
from tests.fixtures import PASSWORD, ROLE_USERS, seed_users
from tests.helpers import build_app, csrf_token, goes_to_login, location, make_env, sign_in, text, wait_until


@pytest.fixture
def accounts(app):
    """As conftest's `accounts` (one user per role, all with PASSWORD, audited as user.create), but reusing one
    real scrypt hash instead of computing three per test: this module builds many apps."""
    seed_users(app)
    return ROLE_USERS


# ---------------------------------------------------------------- helpers


def audit_events(app, action=None):
    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            query = query.where(AuditEvent.action == action)
        return [
            {
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "outcome": e.outcome,
                "detail": e.detail,
                "remote_addr": e.remote_addr,
                "repeats": e.repeats,
            }
            for e in db.session.scalars(query)
        ]


def get_user(app, username):
    with app.app_context():
        user = service.find_user(username)
        if user is None:
            return None
        return {"role": user.role, "disabled": user.disabled, "last_login_at": user.last_login_at}


def user_count(app) -> int:
    with app.app_context():
        return len(service.list_users())


@pytest.fixture
def make_app(redis_url, sqlite_url, data_dir):
    """Build extra apps on the same private Redis and database (other settings, other 'workers')."""
    built = []

    def make(**extra):
        app = build_app(make_env(redis_url, sqlite_url, data_dir, **extra))
        built.append(app)
        return app

    yield make
    for app in built:
        with app.app_context():
            db.engine.dispose()


# ---------------------------------------------------------------- anonymous


def test_anonymous_page_is_sent_to_login_with_next(anon_client):
    response = anon_client.get("/admin/audit?window=day")
    assert goes_to_login(response)
    query = parse_qs(urlsplit(location(response)).query)
    assert query["next"] == ["/admin/audit?window=day"]

    root = anon_client.get("/")
    assert goes_to_login(root)
    assert parse_qs(urlsplit(location(root)).query)["next"][0].startswith("/")


def test_anonymous_reaches_health_and_static(anon_client, client):
    health = anon_client.get("/healthz")
    assert health.status_code == 200
    assert health.get_json() == {"status": "ok"}, "anonymous callers learn ok / not ok, never the Redis URL"
    detailed = client.get("/healthz").get_json()
    assert (detailed["status"], detailed["redis"], detailed["database"]) == ("ok", "ok", "ok")
    assert detailed["redis_url"].startswith("redis://127.0.0.1:"), "signed-in users see more"

    css = anon_client.get("/static/css/console.css")
    assert css.status_code == 200
    assert css.mimetype == "text/css"
    assert len(css.get_data()) > 0


def test_anonymous_api_gets_401_json(anon_client):
    response = anon_client.get("/api/v1/queues")
    assert response.status_code == 401
    assert response.is_json
    assert response.get_json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_anonymous_unknown_path_is_redirected_not_shown(anon_client):
    response = anon_client.get("/no/such/page")
    assert goes_to_login(response)
    assert "Not Found" not in response.get_data(as_text=True)


def test_anonymous_htmx_request_gets_401_with_hx_redirect(anon_client):
    response = anon_client.get("/", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert urlsplit(response.headers["HX-Redirect"]).path == "/login"


# ---------------------------------------------------------------- sign-in


def test_sign_in_redirects_to_next_and_audits(app, accounts):
    client = app.test_client()
    response = sign_in(client, "alice", next_url="/admin/audit?window=day")
    assert response.status_code == 302
    assert location(response) == "/admin/audit?window=day"
    assert client.get("/admin/users").status_code == 200, "signed in as the admin"

    logins = audit_events(app, "auth.login")
    assert len(logins) == 1
    assert logins[0]["actor"] == "alice"
    assert logins[0]["remote_addr"] == "127.0.0.1"
    assert get_user(app, "alice")["last_login_at"] is not None


def test_sign_in_from_another_address_records_it(app, accounts):
    client = app.test_client()
    response = sign_in(client, "vera", environ_base={"REMOTE_ADDR": "192.0.2.44"})
    assert response.status_code == 302
    assert audit_events(app, "auth.login")[-1]["remote_addr"] == "192.0.2.44"


def test_sign_in_never_redirects_off_site(app, accounts):
    for target in ("//evil.example", "https://evil.example"):
        response = sign_in(app.test_client(), "alice", next_url=target)
        assert response.status_code == 302
        assert location(response) == "/", target
    # Browsers read "/\evil.example" as "//evil.example": nothing may come out as another host.
    for target in (
        "https://evil.example/admin",
        "///evil.example",
        "javascript:alert(1)",
        "/\\evil.example",
        "http:evil.example",
    ):
        response = sign_in(app.test_client(), "alice", next_url=target)
        assert response.status_code == 302
        assert not location(response).startswith(("//", "/\\")), target
        resolved = urlsplit(urljoin("http://localhost/", location(response)))
        assert resolved.scheme == "http" and resolved.netloc == "localhost", (target, location(response))


def test_wrong_password_is_401_and_audited(app, accounts):
    client = app.test_client()
    response = sign_in(client, "alice", password="not-the-password")
    assert response.status_code == 401
    assert "Wrong username or password" in text(response)
    assert goes_to_login(client.get("/")), "not signed in"

    failures = audit_events(app, "auth.login_failed")
    assert len(failures) == 1
    assert failures[0]["actor"] == "alice"
    assert failures[0]["outcome"] == "failed"
    assert failures[0]["remote_addr"] == "127.0.0.1"
    assert audit_events(app, "auth.login") == []


def test_unknown_user_cannot_sign_in(app, accounts):
    client = app.test_client()
    assert sign_in(client, "nobody", password=PASSWORD).status_code == 401
    assert goes_to_login(client.get("/"))


def test_disabled_user_cannot_sign_in(app, accounts):
    with app.app_context():
        service.set_disabled("vera", True, actor="test")
    client = app.test_client()
    response = sign_in(client, "vera")
    assert response.status_code == 401
    assert goes_to_login(client.get("/"))
    failed = audit_events(app, "auth.login_failed")
    assert failed[-1]["actor"] == "vera"
    assert failed[-1]["detail"] == "disabled"
    assert audit_events(app, "auth.login") == []


# ---------------------------------------------------------------- throttling


def test_guessing_one_account_from_one_address_gets_429_in_every_worker(make_app, conn):
    first = make_app(LOGIN_MAX_FAILURES="3", LOGIN_LOCKOUT_SECONDS="60")
    seed_users(first)

    statuses = [sign_in(first.test_client(), "alice", password="wrong-password-x").status_code for _ in range(3)]
    assert statuses == [401, 401, 429], "the failure that reaches the limit already answers 429"

    client = first.test_client()
    waiting = sign_in(client, "alice", password=PASSWORD)
    assert waiting.status_code == 429, "the right password does not help the address that was guessing"
    assert 1 <= int(waiting.headers["Retry-After"]) <= 15, "a first wait of 15 s, not a fixed lockout"
    assert "Too many failed sign-ins" in text(waiting)
    assert goes_to_login(client.get("/")), "a refused attempt does not sign in"
    assert audit_events(first, "auth.login_refused")[-1]["actor"] == "alice"

    # The state is in Redis, not in the process: another gunicorn worker sees it too.
    pair = keys.login_failures("pair", "ip:127.0.0.1|alice")
    assert int(conn.get(pair)) == 3, "refused attempts are not counted as guesses"
    second = make_app(LOGIN_MAX_FAILURES="3", LOGIN_LOCKOUT_SECONDS="60")
    other = second.test_client()
    refused = sign_in(other, "alice", password=PASSWORD)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert goes_to_login(other.get("/"))


def test_failures_from_other_addresses_never_lock_the_account(make_app):
    """Regression: five bad passwords from anywhere used to lock the account (admin included) everywhere."""
    app = make_app(LOGIN_MAX_FAILURES="2", LOGIN_LOCKOUT_SECONDS="60")
    seed_users(app)
    attacker = {"REMOTE_ADDR": "198.51.100.66"}
    statuses = [
        sign_in(app.test_client(), "alice", password="wrong-password-x", environ_base=attacker).status_code
        for _ in range(6)
    ]
    assert statuses[-1] == 429, "the guessing address is throttled"
    for n in range(3):
        address = {"REMOTE_ADDR": f"198.51.100.{n}"}
        assert sign_in(app.test_client(), "alice", environ_base=address).status_code == 302, address


def test_behind_an_unlisted_proxy_nobody_is_locked_out_by_someone_else(make_app):
    """Every request comes from the proxy's address. The attacker's failures throttle the attacker's own
    guesses; people whose own bucket is clean still sign in (slowed), and a browser that signed in as the
    attacked account before keeps its own bucket."""
    app = make_app(LOGIN_MAX_FAILURES="3", LOGIN_LOCKOUT_SECONDS="60", LOGIN_MAX_FAILURES_PER_ADDRESS="5")
    seed_users(app)
    alices_browser = app.test_client()
    assert sign_in(alices_browser, "alice").status_code == 302
    alices_browser.post("/logout", data={"csrf_token": csrf_token(alices_browser)})

    attacker = [
        sign_in(app.test_client(), name, password=f"guess-{n}-xxxxx").status_code
        for n, name in enumerate(["alice"] * 4 + ["zed", "yan", "xi"])
    ]
    assert attacker[-1] == 429

    assert sign_in(app.test_client(), "vera").status_code == 302, "a clean (account, address) pair succeeds"
    assert sign_in(alices_browser, "alice").status_code == 302, "alice's own browser is not locked out"
    assert sign_in(app.test_client(), "alice").status_code == 429, "a new browser for the attacked account waits"
    assert sign_in(app.test_client(), "oscar", password="wrong-password-x").status_code == 429, (
        "failing attempts from the failing address are refused"
    )


def test_one_address_guessing_many_accounts_gets_429(make_app):
    app = make_app(LOGIN_MAX_FAILURES="3", LOGIN_LOCKOUT_SECONDS="60", LOGIN_MAX_FAILURES_PER_ADDRESS="4")
    seed_users(app)
    spray = {"REMOTE_ADDR": "192.0.2.9"}
    statuses = [
        sign_in(app.test_client(), f"user{n}", password="wrong-password-x", environ_base=spray).status_code
        for n in range(6)
    ]
    assert statuses == [401, 401, 401, 429, 429, 429]
    assert sign_in(app.test_client(), "vera", environ_base={"REMOTE_ADDR": "192.0.2.10"}).status_code == 302


def test_waits_double_up_to_the_lockout_setting(conn):
    throttle = LoginThrottle(conn, max_failures=3, lockout_seconds=100, address_max_failures=50)
    waits = []
    for _ in range(5):
        state = throttle.record_failure("192.0.2.1", "alice")
        waits.append(state.pair_retry_after)
        # Let the wait run out without sleeping: it is a key with a TTL, exactly what expiry removes.
        conn.delete(keys.login_failures("wait", "ip:192.0.2.1|alice"))
    assert waits[:2] == [0, 0]
    assert 10 <= waits[2] <= 15 and 25 <= waits[3] <= 30 and 55 <= waits[4] <= 60
    assert throttle.wait_for(12) == 100, "capped by LOGIN_LOCKOUT_SECONDS"
    assert throttle.state("192.0.2.2", "alice").pair_failures == 0, "another address is untouched"


def test_successful_sign_in_resets_its_own_pair(make_app, conn):
    app = make_app(LOGIN_MAX_FAILURES="3", LOGIN_LOCKOUT_SECONDS="60")
    seed_users(app)
    address = {"REMOTE_ADDR": "203.0.113.1"}
    for _ in range(2):
        assert sign_in(app.test_client(), "oscar", password="wrong-password-x", environ_base=address).status_code == 401
    pair = keys.login_failures("pair", "ip:203.0.113.1|oscar")
    assert int(conn.get(pair)) == 2

    assert sign_in(app.test_client(), "oscar", environ_base=address).status_code == 302
    assert conn.get(pair) is None
    for _ in range(2):
        response = sign_in(app.test_client(), "oscar", password="wrong-password-x", environ_base=address)
        assert response.status_code == 401, "four failures in all, but the success in between reset the count"
    assert sign_in(app.test_client(), "oscar", environ_base=address).status_code == 302


# ---------------------------------------------------------------- sessions


def set_cookie_headers(response) -> list[str]:
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]


def test_session_cookie_is_httponly_lax_and_secure_over_https(app, accounts):
    client = app.test_client()
    response = sign_in(client, "alice")
    cookie = set_cookie_headers(response)
    assert cookie, "signing in sets the session cookie"
    assert "HttpOnly" in cookie[0]
    assert "SameSite=Lax" in cookie[0]
    assert "Secure" not in cookie[0], "plain HTTP (tests, local dev) cannot carry a Secure cookie"

    over_https = client.get("/", base_url="https://localhost")
    assert over_https.status_code == 200
    secure = set_cookie_headers(over_https)
    assert secure and "Secure" in secure[0] and "HttpOnly" in secure[0]
    assert "SameSite=Lax" in secure[0]


def test_polling_does_not_extend_the_session(app, accounts):
    client = app.test_client()
    assert sign_in(client, "alice").status_code == 302
    normal = client.get("/")
    assert normal.status_code == 200
    assert set_cookie_headers(normal), "a normal request refreshes the idle session"

    for _ in range(2):
        poll = client.get("/", headers={"X-Console-Poll": "1", "HX-Request": "true"})
        assert poll.status_code == 200
        assert set_cookie_headers(poll) == [], "a poll must not refresh the session cookie"
    assert set_cookie_headers(client.get("/")), "normal requests still refresh it"


def test_idle_session_expires(app, accounts):
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=1)
    client = app.test_client()
    assert sign_in(client, "alice").status_code == 302
    assert client.get("/").status_code == 200
    cookie = client.get_cookie("session").value

    def with_idle_cookie():
        # A fresh client each time, carrying the cookie as it was: nothing refreshes it while we wait.
        idle = app.test_client()
        idle.set_cookie("session", cookie)
        return idle.get("/")

    expired = wait_until(lambda: goes_to_login(with_idle_cookie()), timeout=10, message="the idle session to expire")
    assert expired


def test_disabling_a_user_ends_their_session(app, accounts, client):
    vera = app.test_client()
    assert sign_in(vera, "vera").status_code == 302
    assert vera.get("/").status_code == 200

    response = client.post("/admin/users/vera/disable", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert goes_to_login(vera.get("/"))
    assert vera.get("/api/v1/queues").status_code == 401


def test_password_change_ends_existing_sessions(app, accounts):
    vera = app.test_client()
    assert sign_in(vera, "vera").status_code == 302
    assert vera.get("/").status_code == 200
    with app.app_context():
        service.set_password("vera", "a-brand-new-password", actor="test")
    assert goes_to_login(vera.get("/"))
    assert sign_in(app.test_client(), "vera").status_code == 401
    assert sign_in(app.test_client(), "vera", password="a-brand-new-password").status_code == 302


def test_sign_out_ends_the_session(app, accounts):
    client = app.test_client()
    assert sign_in(client, "oscar").status_code == 302
    response = client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert goes_to_login(response)
    assert goes_to_login(client.get("/"))
    assert audit_events(app, "auth.logout")[-1]["actor"] == "oscar"


# ---------------------------------------------------------------- roles and the admin area


def test_admin_pages_are_for_admins_only(client_as):
    for role in ("viewer", "operator", "admin"):
        client = client_as(role)
        for path in ("/admin/users", "/admin/audit"):
            assert client.get(path).status_code == (200 if role == "admin" else 403), (role, path)


def test_nav_shows_admin_links_to_admin_only(client_as):
    for role in ("admin", "operator", "viewer"):
        page = client_as(role).get("/").get_data(as_text=True)
        nav = re.search(r"<nav[^>]*>(.*?)</nav>", page, re.S).group(1)
        assert 'href="/"' in nav
        assert ('href="/admin/audit"' in nav) is (role == "admin"), role
        assert ('href="/admin/users"' in nav) is (role == "admin"), role


def test_users_page_lists_users(client):
    page = client.get("/admin/users").get_data(as_text=True)
    listed = re.findall(r'<tr data-user="([^"]+)"', page)
    assert listed == sorted(ROLE_USERS.values())


def test_admin_creates_a_user(app, client):
    response = client.post(
        "/admin/users",
        data={"username": "nina", "password": "nina-password-1", "role": "operator", "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 302
    assert urlsplit(location(response)).path == "/admin/users"
    assert get_user(app, "nina") == {"role": "operator", "disabled": False, "last_login_at": None}
    created = audit_events(app, "user.create")[-1]
    assert (created["actor"], created["target"], created["detail"]) == ("alice", "nina", "role=operator")
    assert "User nina created" in client.get("/admin/users").get_data(as_text=True)
    assert sign_in(app.test_client(), "nina", password="nina-password-1").status_code == 302


def test_admin_changes_a_role(app, client):
    response = client.post("/admin/users/vera/role", data={"role": "operator", "csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert get_user(app, "vera")["role"] == "operator"
    event = audit_events(app, "user.set_role")[-1]
    assert (event["actor"], event["target"], event["detail"]) == ("alice", "vera", "viewer -> operator")


def test_admin_disables_and_enables_a_user(app, client):
    token = csrf_token(client)
    assert client.post("/admin/users/oscar/disable", data={"csrf_token": token}).status_code == 302
    assert get_user(app, "oscar")["disabled"] is True
    assert sign_in(app.test_client(), "oscar").status_code == 401

    assert client.post("/admin/users/oscar/enable", data={"csrf_token": token}).status_code == 302
    assert get_user(app, "oscar")["disabled"] is False
    assert sign_in(app.test_client(), "oscar").status_code == 302

    assert [e["target"] for e in audit_events(app, "user.disable")] == ["oscar"]
    assert [e["actor"] for e in audit_events(app, "user.enable")] == ["alice"]


def test_admin_creates_and_revokes_a_token(app, client):
    response = client.post("/admin/tokens", data={"name": "ci", "role": "viewer", "csrf_token": csrf_token(client)})
    assert response.status_code == 201
    secrets_shown = re.findall(r"rqc_[A-Za-z0-9_-]{20,}", response.get_data(as_text=True))
    assert len(set(secrets_shown)) == 1, "the new secret is shown, once"
    secret = secrets_shown[0]

    with app.app_context():
        row = db.session.scalar(select(ApiToken).where(ApiToken.name == "ci"))
        assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert row.role == "viewer" and row.created_by == "alice"
        stored = [str(v) for v in db.session.execute(select(ApiToken.__table__)).one()]
    assert not any(secret in value or secret[4:] in value for value in stored), "the secret is never stored"
    assert secret not in client.get("/admin/users").get_data(as_text=True), "shown only in the creating response"
    assert audit_events(app, "token.create")[-1]["target"] == "ci"

    bearer = {"Authorization": f"Bearer {secret}"}
    assert app.test_client().get("/api/v1/queues", headers=bearer).status_code == 200

    revoked = client.post("/admin/tokens/ci/revoke", data={"csrf_token": csrf_token(client)})
    assert revoked.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(ApiToken).where(ApiToken.name == "ci")).revoked_at is not None
    event = audit_events(app, "token.revoke")[-1]
    assert (event["actor"], event["target"]) == ("alice", "ci")
    assert app.test_client().get("/api/v1/queues", headers=bearer).status_code == 401


def test_admin_cannot_disable_themselves(app, client):
    response = client.post("/admin/users/alice/disable", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 409
    assert "cannot disable your own account" in text(response)
    assert get_user(app, "alice")["disabled"] is False
    assert audit_events(app, "user.disable") == []


def test_admin_cannot_drop_their_own_admin_role(app, client):
    for role in ("operator", "viewer"):
        response = client.post("/admin/users/alice/role", data={"role": role, "csrf_token": csrf_token(client)})
        assert response.status_code == 409
        assert "cannot remove your own admin role" in text(response)
        assert get_user(app, "alice")["role"] == "admin"
    assert audit_events(app, "user.set_role") == []


INVALID_USERS = [
    ({"username": "nina", "password": "short", "role": "viewer"}, "password must be at least 10 characters"),
    ({"username": "nina", "password": "long-enough-pw", "role": "root"}, "role must be one of"),
    ({"username": "vera", "password": "long-enough-pw", "role": "admin"}, "user 'vera' already exists"),
    ({"username": "bad name!", "password": "long-enough-pw", "role": "viewer"}, "username may contain"),
    ({"username": "", "password": "long-enough-pw", "role": "viewer"}, "username must be 1 to 64 characters"),
]


def test_invalid_new_user_is_422_and_creates_nothing(app, client):
    token = csrf_token(client)
    before_users, before_events = user_count(app), len(audit_events(app))
    for form, message in INVALID_USERS:
        response = client.post("/admin/users", data={**form, "csrf_token": token})
        assert response.status_code == 422, form
        assert message in text(response), form
    assert user_count(app) == before_users
    assert len(audit_events(app)) == before_events
    assert get_user(app, "vera")["role"] == "viewer", "the duplicate did not overwrite the existing user"
    assert get_user(app, "nina") is None


def test_invalid_role_change_is_422(app, client):
    response = client.post("/admin/users/vera/role", data={"role": "root", "csrf_token": csrf_token(client)})
    assert response.status_code == 422
    assert "role must be one of" in text(response)
    assert get_user(app, "vera")["role"] == "viewer"


def test_invalid_token_is_422_and_creates_nothing(app, client):
    token = csrf_token(client)
    for form, message in [
        ({"name": "ci", "role": "root"}, "role must be one of"),
        ({"name": "", "role": "viewer"}, "username must be 1 to"),
    ]:
        response = client.post("/admin/tokens", data={**form, "csrf_token": token})
        assert response.status_code == 422, form
        assert message in text(response), form
    with app.app_context():
        assert service.list_tokens() == []

    with app.app_context():
        service.create_token("ci", "viewer", actor="test")
    response = client.post("/admin/tokens", data={"name": "ci", "role": "admin", "csrf_token": token})
    assert response.status_code == 422
    assert "already exists" in text(response)
    with app.app_context():
        assert [(t.name, t.role) for t in service.list_tokens()] == [("ci", "viewer")]
    assert [e["target"] for e in audit_events(app, "token.create")] == ["ci"]


# ---------------------------------------------------------------- API tokens


@pytest.fixture
def viewer_token(app, accounts):
    with app.app_context():
        _, secret = service.create_token("reader", "viewer", actor="test")
    return secret


def test_bearer_token_reads_queues_and_workers(app, conn, viewer_token):
    Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 3, 4)
    worker = Worker(["default"], connection=conn, name="api-test-worker")
    worker.register_birth()
    bearer = {"Authorization": f"Bearer {viewer_token}"}
    api = app.test_client()

    queues = api.get("/api/v1/queues", headers=bearer)
    assert queues.status_code == 200 and queues.is_json
    body = queues.get_json()
    by_name = {q["name"]: q for q in body["queues"]}
    assert by_name["default"]["counts"]["queued"] == 2
    assert by_name["default"]["total"] == 2
    assert body["totals"]["queued"] == 2
    assert body["suspended"] is False

    workers = api.get("/api/v1/workers", headers=bearer)
    assert workers.status_code == 200
    listed = workers.get_json()["workers"]
    assert [w["name"] for w in listed] == ["api-test-worker"]
    assert listed[0]["queues"] == ["default"]
    assert "Set-Cookie" not in queues.headers, "the API does not start sessions"


def test_bad_tokens_are_401(app, viewer_token):
    def status(header):
        codes = set()
        for path in ("/api/v1/queues", "/api/v1/workers"):
            response = app.test_client().get(path, headers={"Authorization": header})
            assert response.is_json
            if response.status_code == 401:
                assert response.get_json()["error"] == "unauthorized"
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
            codes.add(response.status_code)
        assert len(codes) == 1
        return codes.pop()

    assert status(f"bearer {viewer_token}") == 200, "the scheme is case-insensitive"
    assert status("Bearer rqc_" + "A" * 43) == 401, "wrong token"
    assert status(f"Bearer {viewer_token[len('rqc_') :]}") == 401, "token without the rqc_ prefix"
    assert status(f"Basic {viewer_token}") == 401, "not a bearer token"
    assert status("Bearer ") == 401, "empty token"
    assert status(viewer_token) == 401, "no scheme"

    # A row whose hash matches a secret without the rqc_ prefix must still not authenticate.
    with app.app_context():
        db.session.add(ApiToken(name="legacy", token_hash=ApiToken.hash("plain-secret-value"), role="admin"))
        db.session.commit()
    assert status("Bearer plain-secret-value") == 401, "no prefix, even with a matching stored hash"

    with app.app_context():
        service.revoke_token("reader", actor="test")
    assert status(f"Bearer {viewer_token}") == 401, "revoked"


def test_session_cookie_alone_does_not_authenticate_the_api(client):
    assert client.get("/").status_code == 200, "the admin session works for pages"
    response = client.get("/api/v1/queues")
    assert response.status_code == 401
    assert response.is_json


# ---------------------------------------------------------------- proxy header SSO


@pytest.fixture
def proxy_app(make_app, accounts):
    app = make_app(TRUST_PROXY_USER_HEADER="X-Remote-User", TRUSTED_PROXIES="127.0.0.1")
    return app


def test_trusted_proxy_header_signs_in(proxy_app):
    client = proxy_app.test_client()
    header = {"X-Remote-User": "vera"}
    page = client.get("/", headers=header)
    assert page.status_code == 200
    assert re.search(r'class="whoami">vera <span class="badge">viewer', page.get_data(as_text=True))
    assert client.get("/admin/users", headers=header).status_code == 403
    assert client.get("/admin/users", headers={"X-Remote-User": "alice"}).status_code == 200
    assert goes_to_login(client.get("/")), "without the header there is no session to fall back on"


def test_proxy_header_from_untrusted_address_is_ignored(proxy_app):
    client = proxy_app.test_client()
    response = client.get("/", headers={"X-Remote-User": "alice"}, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert goes_to_login(response)
    # Claiming to come through the proxy does not help either.
    forged = client.get(
        "/",
        headers={"X-Remote-User": "alice", "X-Forwarded-For": "127.0.0.1"},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert goes_to_login(forged)


def test_proxy_header_for_unknown_or_disabled_user_is_not_signed_in(proxy_app):
    assert proxy_app.test_client().get("/", headers={"X-Remote-User": "oscar"}).status_code == 200
    with proxy_app.app_context():
        service.set_disabled("oscar", True, actor="test")
    for name in ("oscar", "nobody", "", "Vera"):
        response = proxy_app.test_client().get("/", headers={"X-Remote-User": name})
        assert goes_to_login(response), name


def test_forwarded_for_from_untrusted_peer_is_not_believed(proxy_app):
    """With TRUSTED_PROXIES set, only those peers may say who the client is; anyone else's X-Forwarded-For
    must not change the address that is throttled and audited."""
    for spoofed in ("203.0.113.1", "203.0.113.2"):
        client = proxy_app.test_client()
        sign_in(
            client,
            "alice",
            password="wrong-password-x",
            environ_base={"REMOTE_ADDR": "10.1.2.3"},
            headers={"X-Forwarded-For": spoofed},
        )
    failed = audit_events(proxy_app, "auth.login_failed")
    assert [(e["remote_addr"], e["repeats"]) for e in failed] == [("10.1.2.3", 2)], "one counted row"


def test_forwarded_for_from_trusted_proxy_is_used(proxy_app):
    client = proxy_app.test_client()
    sign_in(client, "alice", environ_base={"REMOTE_ADDR": "127.0.0.1"}, headers={"X-Forwarded-For": "198.51.100.9"})
    assert audit_events(proxy_app, "auth.login")[-1]["remote_addr"] == "198.51.100.9"


def test_proxy_header_without_trusted_proxies_is_a_settings_error(redis_url, sqlite_url, data_dir):
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        load_settings(make_env(redis_url, sqlite_url, data_dir, TRUST_PROXY_USER_HEADER="X-Remote-User"))


# ---------------------------------------------------------------- audit page


def plant_events(app, events):
    """events: (actor, action, at) triples, written as real rows."""
    with app.app_context():
        for actor, action, at in events:
            db.session.add(AuditEvent(actor=actor, action=action, at=at, outcome="ok"))
        db.session.commit()


def audit_table(response) -> list[tuple[str, str, str]]:
    """(when as its <time datetime>, who, action) of every row shown."""
    body = response.get_data(as_text=True)
    row = (
        r'<tr data-action="[^"]*">\s*<td><time datetime="([^"]*)"[^>]*>[^<]*</time></td>'
        r"<td>([^<]*)</td><td>([^<]*)</td>"
    )
    return [tuple(html.unescape(c) for c in cells) for cells in re.findall(row, body)]


def test_audit_page_newest_first(app, client):
    now = utcnow()
    plant_events(
        app,
        [
            ("bob", "jobs.retry", now - timedelta(minutes=30)),
            ("bob", "jobs.delete", now - timedelta(minutes=5)),
            ("carol", "jobs.retry", now - timedelta(minutes=10)),
        ],
    )
    rows = audit_table(client.get("/admin/audit?actor=bob"))
    assert [r[2] for r in rows] == ["jobs.delete", "jobs.retry"]
    everything = audit_table(client.get("/admin/audit"))
    stamps = [r[0] for r in everything]
    assert stamps == sorted(stamps, reverse=True)
    assert len(everything) == 3 + len(ROLE_USERS), "the three planted plus the accounts' user.create"


def test_audit_filters_by_actor_and_action(app, client):
    now = utcnow()
    plant_events(app, [("bob", "jobs.retry", now), ("bob", "jobs.delete", now), ("carol", "jobs.retry", now)])
    by_actor = audit_table(client.get("/admin/audit?actor=carol"))
    assert [(r[1], r[2]) for r in by_actor] == [("carol", "jobs.retry")]
    by_action = audit_table(client.get("/admin/audit?action=jobs.retry"))
    assert sorted(r[1] for r in by_action) == ["bob", "carol"]
    both = audit_table(client.get("/admin/audit?actor=bob&action=jobs.delete"))
    assert [(r[1], r[2]) for r in both] == [("bob", "jobs.delete")]
    none = client.get("/admin/audit?actor=nobody")
    assert audit_table(none) == [] and "No audit entry matches" in none.get_data(as_text=True)


def test_audit_filters_by_window(app, client):
    now = utcnow()
    plant_events(
        app,
        [
            ("recent", "x.a", now - timedelta(minutes=10)),
            ("hours", "x.a", now - timedelta(hours=5)),
            ("days", "x.a", now - timedelta(days=3)),
            ("ancient", "x.a", now - timedelta(days=30)),
        ],
    )
    expected = {
        "hour": ["recent"],
        "day": ["recent", "hours"],
        "week": ["recent", "hours", "days"],
        "all": ["recent", "hours", "days", "ancient"],
    }
    for window, actors in expected.items():
        rows = audit_table(client.get(f"/admin/audit?action=x.a&window={window}"))
        assert [r[1] for r in rows] == actors, window
    assert [r[1] for r in audit_table(client.get("/admin/audit?action=x.a"))] == expected["all"], "default: all"

    response = client.get("/admin/audit?window=fortnight")
    assert response.status_code == 400
    assert "window must be one of" in text(response)


def test_audit_keyset_pagination(app, client):
    base = utcnow() - timedelta(minutes=30)
    # Groups of equal timestamps straddle the page boundaries: (at, id) must break the ties.
    plant_events(app, [("pager", f"page.n{i:03d}", base + timedelta(seconds=i // 7)) for i in range(120)])

    def page(url):
        response = client.get(url)
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        link = re.search(r'<a href="([^"]+)">Older entries', body)
        return [r[2] for r in audit_table(response)], (html.unescape(link.group(1)) if link else None)

    first, older = page("/admin/audit?actor=pager")
    assert len(first) == 50
    assert older, "an 'Older entries' link"
    assert parse_qs(urlsplit(older).query)["actor"] == ["pager"], "the link keeps the filters"
    second, older2 = page(older)
    assert len(second) == 50
    assert not set(first) & set(second), "no repeats"
    third, older3 = page(older2)
    assert len(third) == 20 and older3 is None
    seen = first + second + third
    assert sorted(seen) == sorted(f"page.n{i:03d}" for i in range(120)), "every entry exactly once"
    assert seen == [f"page.n{i:03d}" for i in reversed(range(120))], "newest first, ties by id"


def test_audit_page_rows_partial_for_htmx(app, client):
    plant_events(app, [("bob", "jobs.retry", utcnow())])
    response = client.get("/admin/audit?actor=bob", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body and 'id="audit"' in body
