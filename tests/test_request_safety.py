"""Request safety, proven over the whole URL map: GET changes nothing; every mutating endpoint needs a
session, the declared permission and a CSRF token; every response carries the security headers.

Routes are discovered from `app.url_map`, so routes added later are covered without editing this file."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
import sqlalchemy
from rq import Queue
from werkzeug.routing.converters import AnyConverter, NumberConverter, UUIDConverter
from werkzeug.security import generate_password_hash

from dashboard import accounts as service
from dashboard import audit
from dashboard.extensions import db
from dashboard.models import User
from dashboard.permissions import ROLES, permissions_for
from tests.conftest import PASSWORD, ROLE_USERS
from tests.fixtures import plant_every_state
from tests.helpers import csrf_token

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KNOWN_GET_ENDPOINTS = {
    "overview.index",
    "health.healthz",
    "auth.login",
    "admin.users",
    "admin.audit_log",
    "api.queues",
    "api.workers",
}
KNOWN_GUARDED_ENDPOINTS = {
    "admin.create_user",
    "admin.set_role",
    "admin.disable_user",
    "admin.enable_user",
    "admin.create_token",
    "admin.revoke_token",
}
# Plausible form data for any mutating endpoint: were a check missing, this would really change something.
FORM = {
    "username": "mallory",
    "password": "mallory-password-1",
    "role": "admin",
    "name": "mallory-token",
    "queue": "default",
    "confirm_name": "default",
    "action": "delete",
    "all": "1",
    "position": "front",
}


@functools.cache
def password_hash() -> str:
    """The scrypt hash of PASSWORD, computed once: scrypt is slow on purpose (~0.1 s a hash)."""
    return generate_password_hash(PASSWORD)


@pytest.fixture
def accounts(app):
    """As conftest's `accounts` (one user per role, all with PASSWORD, audited as user.create), but reusing one
    real scrypt hash instead of computing three per test: this module builds many apps."""
    with app.app_context():
        for role, name in ROLE_USERS.items():
            db.session.add(User(username=name, role=role, password_hash=password_hash()))
            audit.record("test", "user.create", target=name, detail=f"role={role}", commit=False)
        db.session.commit()
    return ROLE_USERS


# ---------------------------------------------------------------- snapshots of everything


def redis_snapshot(conn) -> dict:
    """Every key of the private Redis: type, serialized value, and whether it has a TTL."""
    return {key: (conn.type(key), conn.dump(key), conn.pttl(key) >= 0) for key in conn.scan_iter(count=1000)}


BOOKKEEPING_COLUMNS = {"api_tokens": ("last_used_at",)}


def db_snapshot(app, exclude=()) -> dict:
    """Row count and a hash of every row, per table."""
    with app.app_context():
        engine = db.engine
        tables = sorted(set(sqlalchemy.inspect(engine).get_table_names()) - set(exclude))
        out = {}
        with engine.connect() as connection:
            for table in tables:
                rows = connection.execute(sqlalchemy.text(f'SELECT * FROM "{table}"')).mappings().all()
                # A token's last-use time is bookkeeping written on reads (at most once a minute), not state.
                skip = BOOKKEEPING_COLUMNS.get(table, ())
                rows = [tuple(v for k, v in r.items() if k not in skip) for r in rows]
                digest = hashlib.sha256("\n".join(sorted(repr(r) for r in rows)).encode()).hexdigest()
                out[table] = (len(rows), digest)
        return out


class Watch:
    """Compares the whole state (Redis + database) with the state when it was created."""

    def __init__(self, app, conn, exclude_tables=()):
        self.app, self.conn, self.exclude = app, conn, exclude_tables
        self.redis, self.db = redis_snapshot(conn), db_snapshot(app, exclude_tables)
        assert self.redis and self.db, "there is real state to watch"

    def changes(self, what: str) -> list[str]:
        """What changed since the last look, blamed on `what`; the new state becomes the baseline."""
        redis_now, db_now = redis_snapshot(self.conn), db_snapshot(self.app, self.exclude)
        found = []
        for key in sorted(set(self.redis) | set(redis_now)):
            if self.redis.get(key) != redis_now.get(key):
                kind = "added" if key not in self.redis else "removed" if key not in redis_now else "changed"
                found.append(f"{what}: Redis key {key!r} {kind}")
        for table in sorted(set(self.db) | set(db_now)):
            if self.db.get(table) != db_now.get(table):
                found.append(f"{what}: table {table} changed {self.db.get(table)} -> {db_now.get(table)}")
        self.redis, self.db = redis_now, db_now
        return found


# ---------------------------------------------------------------- a world with real data


@dataclass
class World:
    tokens: dict[str, str]
    job_id: str
    values: dict[str, str] = field(default_factory=dict)


def make_world(app, job_id: str) -> World:
    with app.app_context():
        tokens = {role: service.create_token(f"{role}-token", role, actor="test")[1] for role in ROLES}
        audit.record("alice", "jobs.retry", target="default", job_count=3)
        audit.record("oscar", "queue.empty", target="low", outcome="failed", detail="nope")
        audit.record("vera", "auth.login", remote_addr="192.0.2.1")
    # Path values that name real things, and destructive verbs: a missing check would show as a change.
    values = {
        "username": "vera",
        "name": "viewer-token",
        "queue": "default",
        "queue_name": "default",
        "job_id": job_id,
        "id": job_id,
        "state": "failed",
        "fmt": "csv",
        "action": "delete",
        "command": "shutdown",
    }
    return World(tokens=tokens, job_id=job_id, values=values)


@pytest.fixture
def world(app, accounts, conn):
    """Users, a token per role, audit rows, and jobs in every state."""
    planted = plant_every_state(conn)
    return make_world(app, planted.ids["failed"][0])


@pytest.fixture
def small_world(app, accounts, conn):
    """The same without running a worker: one queued job."""
    return make_world(app, Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2).id)


def plausible(rule, world: World) -> dict:
    values = {}
    converters = getattr(rule, "_converters", {})
    for arg in sorted(rule.arguments):
        converter = converters.get(arg)
        if isinstance(converter, NumberConverter):
            values[arg] = 1
        elif isinstance(converter, UUIDConverter):
            values[arg] = uuid.UUID(int=1)
        elif isinstance(converter, AnyConverter):
            values[arg] = sorted(converter.items)[0]
        elif arg == "name" and "/queues/" in rule.rule:
            values[arg] = "default"  # a queue's name, not a user's or a token's
        elif arg == "name" and "/workers/" in rule.rule:
            values[arg] = "x"
        elif arg in world.values:
            values[arg] = world.values[arg]
        elif "job" in arg:
            values[arg] = world.job_id
        elif "queue" in arg:
            values[arg] = "default"
        else:
            values[arg] = "x"
    return values


def url_for_rule(rule, world: World) -> str:
    built = rule.build(plausible(rule, world))
    assert built, f"cannot build a URL for {rule.rule}"
    return built[1]


def is_api(url: str) -> bool:
    return url.startswith("/api/")


def goes_to_login(response) -> bool:
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


# ---------------------------------------------------------------- GET changes nothing


def get_rules(app):
    return [rule for rule in app.url_map.iter_rules() if "GET" in rule.methods and rule.endpoint != "static"]


def walk_every_get(app, conn, client, world, api_token=None) -> dict[str, int]:
    """GET, HEAD and an HTMX GET of every GET route; returns the GET status per endpoint."""
    watch = Watch(app, conn)
    problems, statuses = [], {}
    for rule in get_rules(app):
        url = url_for_rule(rule, world)
        headers = {"Authorization": f"Bearer {api_token}"} if api_token and is_api(url) else {}
        for method, extra in (("GET", {}), ("HEAD", {}), ("GET", {"HX-Request": "true"})):
            response = client.open(url, method=method, headers={**headers, **extra})
            assert response.status_code < 500, f"{method} {url} -> {response.status_code}"
            if method == "GET" and not extra:
                statuses[rule.endpoint] = response.status_code
            problems += watch.changes(f"{method} {url}")
    assert not problems, "GET changed state:\n" + "\n".join(problems)
    assert KNOWN_GET_ENDPOINTS <= set(statuses), f"not visited: {KNOWN_GET_ENDPOINTS - set(statuses)}"
    return statuses


def test_get_changes_nothing_as_admin(app, conn, client, world):
    statuses = walk_every_get(app, conn, client, world, api_token=world.tokens["admin"])
    for endpoint in ("overview.index", "health.healthz", "admin.users", "admin.audit_log", "api.queues", "api.workers"):
        assert statuses[endpoint] == 200, endpoint
    assert statuses["auth.login"] == 302, "signed in: the login page sends you on"


def test_get_changes_nothing_as_viewer(app, conn, client_as, world):
    statuses = walk_every_get(app, conn, client_as("viewer"), world, api_token=world.tokens["viewer"])
    assert statuses["overview.index"] == 200
    assert statuses["admin.users"] == statuses["admin.audit_log"] == 403
    assert statuses["api.queues"] == statuses["api.workers"] == 200


def test_get_changes_nothing_anonymously(app, conn, anon_client, world):
    statuses = walk_every_get(app, conn, anon_client, world)
    assert statuses["health.healthz"] == 200
    assert statuses["auth.login"] == 200
    assert statuses["overview.index"] == statuses["admin.users"] == statuses["admin.audit_log"] == 302
    assert statuses["api.queues"] == statuses["api.workers"] == 401


# ---------------------------------------------------------------- every mutating endpoint is guarded


def mutating_routes(app, world):
    """(endpoint, method, url, required permission or None) for every rule taking a mutating method."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "auth.login":
            continue  # public by design: checked in test_login_requires_csrf
        for method in sorted(rule.methods & MUTATING_METHODS):
            permission = getattr(app.view_functions[rule.endpoint], "required_permission", None)
            routes.append((rule.endpoint, method, url_for_rule(rule, world), permission))
    assert routes, "the app has mutating endpoints"
    return routes


def test_mutating_endpoints_refuse_anonymous(app, conn, anon_client, world):
    # Even with a valid CSRF token from the login page: the session check comes first.
    page = anon_client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {**FORM, "ids": world.job_id}
    watch = Watch(app, conn)
    problems, seen = [], set()
    for endpoint, method, url, _ in mutating_routes(app, world):
        for data in ({**form, "csrf_token": token}, form):
            response = anon_client.open(url, method=method, data=data)
            if is_api(url):
                assert response.status_code == 401, f"{method} {url}"
            else:
                assert goes_to_login(response), f"{method} {url} -> {response.status_code}"
            problems += watch.changes(f"anonymous {method} {url}")
        response = anon_client.open(url, method=method, data=form, headers={"HX-Request": "true"})
        assert response.status_code == 401, f"HTMX {method} {url}"
        seen.add(endpoint)
    assert not problems, "\n".join(problems)
    assert KNOWN_GUARDED_ENDPOINTS | {"auth.logout"} <= seen


def test_mutating_endpoints_refuse_roles_without_the_permission(app, conn, client_as, world):
    form = {**FORM, "ids": world.job_id}
    watch = Watch(app, conn)
    problems, checked = [], set()
    clients = {role: client_as(role) for role in ROLES}
    tokens = {role: csrf_token(client) for role, client in clients.items()}
    for endpoint, method, url, permission in mutating_routes(app, world):
        if permission is None:
            continue
        lacking = [role for role in ROLES if permission not in permissions_for(role)]
        for role in lacking:
            if is_api(url):
                response = app.test_client().open(
                    url, method=method, data=form, headers={"Authorization": f"Bearer {world.tokens[role]}"}
                )
            else:
                response = clients[role].open(url, method=method, data={**form, "csrf_token": tokens[role]})
            assert response.status_code == 403, f"{role} {method} {url} -> {response.status_code}"
            problems += watch.changes(f"{role} {method} {url}")
            checked.add(endpoint)
    assert not problems, "\n".join(problems)
    assert KNOWN_GUARDED_ENDPOINTS <= checked
    assert clients["viewer"].get("/").status_code == 200, "refused requests leave the session alone"


def test_mutating_endpoints_require_csrf(app, conn, client_as, world):
    form = {**FORM, "ids": world.job_id}
    watch = Watch(app, conn)
    problems, checked = [], set()
    for endpoint, method, url, permission in mutating_routes(app, world):
        holders = [role for role in ROLES if permission is None or permission in permissions_for(role)]
        assert holders, f"no role may call {endpoint}"
        for role in holders:
            client = client_as(role)
            real = csrf_token(client)
            forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
            for label, data, headers in (
                ("no token", form, {}),
                ("forged token", {**form, "csrf_token": forged}, {}),
                ("forged header", form, {"X-CSRFToken": forged, "HX-Request": "true"}),
            ):
                response = client.open(url, method=method, data=data, headers=headers)
                if is_api(url):
                    # The API takes no cookies at all, so a cookie-borne request is not authenticated.
                    assert response.status_code == 401, f"{role} {method} {url} with a session cookie"
                else:
                    assert response.status_code == 400, f"{role} {method} {url} {label} -> {response.status_code}"
                problems += watch.changes(f"{role} {method} {url} ({label})")
            assert client.get("/").status_code == 200, f"{role} is still signed in after {method} {url}"
            checked.add(endpoint)
    assert not problems, "\n".join(problems)
    assert KNOWN_GUARDED_ENDPOINTS | {"auth.logout"} <= checked


def test_login_requires_csrf(app, conn, anon_client, small_world):
    watch = Watch(app, conn)
    good = {"username": "alice", "password": PASSWORD}
    assert anon_client.post("/login", data=good).status_code == 400
    assert anon_client.post("/login", data={**good, "csrf_token": "forged"}).status_code == 400
    assert goes_to_login(anon_client.get("/")), "no sign-in without the form's token"
    assert not watch.changes("POST /login without a CSRF token"), "refused before anything is counted or audited"

    # With the token, a failed attempt is audited (and counted in Redis) by design; every other table stays as it was.
    before = db_snapshot(app, exclude=("audit_events",))
    audited = db_snapshot(app)["audit_events"][0]
    page = anon_client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = anon_client.post("/login", data={"username": "alice", "password": "wrong-password", "csrf_token": token})
    assert response.status_code == 401
    assert db_snapshot(app, exclude=("audit_events",)) == before
    assert db_snapshot(app)["audit_events"][0] == audited + 1, "the failure is audited"
    assert anon_client.post("/login", data={**good, "csrf_token": token}).status_code == 302


def test_head_login_is_not_a_sign_in_attempt(app, conn, anon_client, small_world):
    """HEAD is a GET without the body (RFC 9110): it must never run the sign-in branch, which would count and
    audit a failure, and, since CSRF protection does not cover HEAD, could sign in without a token."""
    watch = Watch(app, conn)
    response = anon_client.open("/login", method="HEAD")
    assert response.status_code == 200
    assert not watch.changes("HEAD /login"), "HEAD /login counted or audited a sign-in"

    with_credentials = anon_client.open("/login", method="HEAD", data={"username": "alice", "password": PASSWORD})
    assert with_credentials.status_code == 200
    assert goes_to_login(anon_client.get("/")), "HEAD /login signed in without a CSRF token"
    assert not watch.changes("HEAD /login with credentials")


# ---------------------------------------------------------------- security headers


def assert_security_headers(response, what: str, cacheable: bool = False) -> None:
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    directives = {d.strip().split()[0]: d.strip().split()[1:] for d in csp.split(";") if d.strip()}
    assert directives.get("frame-ancestors") == ["'none'"], what
    assert "script-src 'self'" in csp and directives.get("script-src") == ["'self'"], what
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, what
    assert headers.get("X-Content-Type-Options") == "nosniff", what
    assert headers.get("X-Frame-Options") == "DENY", what
    assert headers.get("Referrer-Policy"), what
    if cacheable:
        assert "no-store" not in headers.get("Cache-Control", ""), what
    else:
        assert "no-store" in headers.get("Cache-Control", ""), what


def test_security_headers_on_every_kind_of_response(app, client_as, anon_client, small_world):
    admin, viewer = client_as("admin"), client_as("viewer")
    bearer = {"Authorization": f"Bearer {small_world.tokens['viewer']}"}
    cases = [
        ("login page", anon_client.get("/login"), 200),
        ("redirect to login", anon_client.get("/"), 302),
        ("overview", admin.get("/"), 200),
        ("overview partial", admin.get("/", headers={"HX-Request": "true"}), 200),
        ("users page", admin.get("/admin/users"), 200),
        ("404", admin.get("/no/such/page"), 404),
        ("403", viewer.get("/admin/users"), 403),
        ("400", admin.post("/admin/users", data=FORM), 400),
        ("API", anon_client.get("/api/v1/queues", headers=bearer), 200),
        ("API 401", anon_client.get("/api/v1/queues"), 401),
        ("API 404", anon_client.get("/api/v1/nothing", headers=bearer), 404),
        ("health", anon_client.get("/healthz"), 200),
    ]
    for what, response, status in cases:
        assert response.status_code == status, what
        assert_security_headers(response, what)

    for path in ("/static/css/console.css", "/static/js/console.js"):
        static = anon_client.get(path)
        assert static.status_code == 200
        assert_security_headers(static, path, cacheable=True)


def test_hsts_over_https_only(client):
    assert "Strict-Transport-Security" not in client.get("/").headers
    assert "max-age=" in client.get("/", base_url="https://localhost").headers["Strict-Transport-Security"]


# ---------------------------------------------------------------- CSRF through the HTMX header


def test_csrf_token_in_htmx_header_is_accepted(app, client):
    token = csrf_token(client)
    response = client.post(
        "/admin/users",
        data={"username": "hx-user", "password": "hx-password-12", "role": "viewer"},
        headers={"X-CSRFToken": token, "HX-Request": "true"},
    )
    assert response.status_code != 400
    assert response.status_code in (200, 302)
    with app.app_context():
        user = service.find_user("hx-user")
        assert user is not None and user.role == "viewer"

    # The same request with the header carrying a token from another session is refused.
    other = app.test_client()
    other_token = re.search(r'name="csrf_token" value="([^"]+)"', other.get("/login").get_data(as_text=True)).group(1)
    refused = client.post(
        "/admin/users",
        data={"username": "hx-user2", "password": "hx-password-12", "role": "viewer"},
        headers={"X-CSRFToken": other_token, "HX-Request": "true"},
    )
    assert refused.status_code == 400
    with app.app_context():
        assert service.find_user("hx-user2") is None


# ---------------------------------------------------------------- odd values in every path argument

ODD_VALUES = (
    "{parent}:dependents",
    "{child}:dependencies",
    "{parent}:",
    "a\r\nb",
    "x" * 5000,
    "jöb-ü✓",
    "a\x00b",
    "..",
    " ",
    "a b",
    "<script>",
)


def odd_values(planted) -> list[str]:
    parent, child = planted.ids["queued"][0], planted.ids["deferred"][0]
    return [value.format(parent=parent, child=child) for value in ODD_VALUES]


def string_arguments(rule) -> list[str]:
    converters = getattr(rule, "_converters", {})
    return [
        arg
        for arg in sorted(rule.arguments)
        if not isinstance(converters.get(arg), NumberConverter | UUIDConverter | AnyConverter)
    ]


def test_odd_ids_in_every_path_argument_are_clear_4xx(app, conn, client_as, accounts):
    """A job id with a sibling key's suffix (`<id>:dependents` names a set), CR/LF, a NUL, 5,000 characters,
    non-latin text: in any <job_id>, <name>, <schedule_id>… of any route, a 4xx with a message, never a 500
    and never a change (an id must not reach a key that is not the job's)."""
    planted = plant_every_state(conn)
    world = make_world(app, planted.ids["failed"][0])
    client = client_as("admin")
    token = csrf_token(client)
    watch = Watch(app, conn, exclude_tables=("audit_events",))
    failures = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "auth.login", "auth.logout"):
            continue
        for arg in string_arguments(rule):
            for odd in odd_values(planted):
                url = rule.build({**plausible(rule, world), arg: odd})[1]
                for method in sorted(rule.methods & {"GET", "POST"}):
                    data = {**FORM, "csrf_token": token} if method == "POST" else None
                    response = client.open(url, method=method, data=data, headers={"X-CSRFToken": token})
                    body = response.get_data(as_text=True)
                    if not 400 <= response.status_code < 500 or response.status_code == 405 or not body.strip():
                        failures.append(f"{method} {rule.rule} {arg}={odd[:40]!r} -> {response.status_code}")
                    failures += watch.changes(f"{method} {url[:80]}")
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------- schedules whose stored cron string is malformed


@pytest.mark.parametrize(
    "bad_cron", ["61 * * * *", "not a cron", "* * * *", "*/0 * * * *", "0 8 * * mon-xyz", "x" * 5000, "0 0 31 2 *"]
)
def test_schedule_with_a_malformed_stored_cron_is_shown_broken_and_refused_cleanly(conn, client_as, bad_cron):
    """rq-scheduler's data written by hand (or by another tool) with a cron string no parser accepts: the page
    lists it as broken, resume answers 422 with a message and changes nothing, the other actions still work."""
    import pickle

    from dashboard.rqlayer import keys, schedules
    from tasks.registry import get_task

    spec = get_task("tasks.maintenance.cleanup_old_files")
    sid = schedules.create_cron(conn, spec, {"dry_run": True}, "0 8 * * *", "UTC", "default")
    meta = pickle.loads(conn.hget(keys.job(sid), "meta"))
    conn.hset(keys.job(sid), "meta", pickle.dumps({**meta, "cron_string": bad_cron}))
    client = client_as("operator")
    token = csrf_token(client)

    page = client.get("/schedules")
    assert page.status_code == 200
    row = re.search(rf'<tr id="schedule-{sid}".*?</tr>', page.get_data(as_text=True), re.S).group(0)
    assert "broken" in row and "not valid" in row
    assert client.get(f"/schedules/{sid}/edit").status_code in (200, 409)

    assert client.post(f"/schedules/{sid}/pause", data={"csrf_token": token}).status_code == 303
    paused = conn.hget(keys.paused_schedules(), sid)
    response = client.post(f"/schedules/{sid}/resume", data={"csrf_token": token})
    assert response.status_code == 422
    assert "cron" in response.get_data(as_text=True) and "not valid" in response.get_data(as_text=True)
    assert conn.hget(keys.paused_schedules(), sid) == paused, "a refused resume leaves the schedule paused"
    assert conn.zscore(keys.RQ_SCHEDULER_JOBS, sid) is None
    assert client.get("/schedules").status_code == 200

    assert client.post(f"/schedules/{sid}/run-now", data={"csrf_token": token}).status_code == 303
    assert client.post(f"/schedules/{sid}/delete", data={"csrf_token": token}).status_code == 303
    assert not conn.exists(keys.job(sid))


# ---------------------------------------------------------------- data in attributes is JSON-serialised


class _JsonAttributes(HTMLParser):
    """Every hx-vals / hx-headers attribute of a page, parsed as the browser (then htmx) would."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("hx-vals", "hx-headers"):
                self.found.append((name, json.loads(value)))


def json_attributes(html: str) -> list[tuple[str, dict]]:
    parser = _JsonAttributes()
    parser.feed(html)
    return parser.found


EVIL_STATUS = 'x", "evil": "1'


def test_a_planted_status_cannot_add_keys_to_requests(app, conn, client_as, accounts):
    """hx-vals carry job fields as JSON: a status `x", "evil": "1` stays one string value, never a new key."""
    import pickle
    import zlib

    from dashboard.rqlayer import keys

    evil = "evilstatus01"
    conn.hset(
        keys.job(evil),
        mapping={
            "status": EVIL_STATUS,
            "origin": "default",
            "data": zlib.compress(pickle.dumps(("tests.jobfuncs.add", None, (1,), {}))),
        },
    )
    conn.zadd(keys.registry("failed", "default"), {evil: 1})
    conn.sadd(keys.queues(), keys.queue("default"))
    client = client_as("operator")
    page = client.get("/queues/default/failed").get_data(as_text=True)
    found = json_attributes(page)
    row_values = [values for name, values in found if name == "hx-vals" and "seen" in values]
    assert row_values, "the row's action buttons carry hx-vals"
    assert all(values == {"seen": EVIL_STATUS} for values in row_values), row_values
    assert ("hx-vals", {"state": "failed"}) in found
    assert all(
        set(values) == {"X-CSRFToken"} for name, values in found if name == "hx-headers" and "X-CSRFToken" in values
    )

    # The row answer after an action renders the same buttons.
    answer = client.post(
        f"/jobs/{evil}/delete",
        data={"seen": EVIL_STATUS, "state": "failed"},
        headers={"HX-Request": "true", "HX-Target": f"row-{evil}", "X-CSRFToken": csrf_token(client)},
    )
    assert answer.status_code < 500
    for name, values in json_attributes(answer.get_data(as_text=True)):
        assert name != "hx-vals" or set(values) <= {"seen", "state"}, values

    form = client.get("/enqueue/tasks.maintenance.cleanup_old_files").get_data(as_text=True)
    assert all(set(values) == {"field"} for name, values in json_attributes(form) if name == "hx-vals")
