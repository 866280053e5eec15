"""The users/tokens CLI against the real app and database (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select

from dashboard import accounts as service
from dashboard.extensions import db
from dashboard.models import ApiToken, AuditEvent, utcnow
from tests.helpers import PROJECT_ROOT, build_app, make_env

NEW_PASSWORD = "cli-password-123"


@pytest.fixture
def cli_app(redis_url, database_url, data_dir):
    """The app on each SQL backend in turn."""
    app = build_app(make_env(redis_url, database_url, data_dir))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def run(app):
    """run("users", "list", input=...) through Flask's CLI runner (stdin is not a TTY there)."""
    return lambda *args, **kwargs: invoke(app, *args, **kwargs)


def invoke(app, *args, input=None, env=None):
    # ADMIN_PASSWORD must come only from the test that sets it.
    return app.test_cli_runner().invoke(args=list(args), input=input, env={"ADMIN_PASSWORD": None, **(env or {})})


def user_row(app, name):
    with app.app_context():
        user = service.find_user(name)
        if user is None:
            return None
        return {"role": user.role, "disabled": user.disabled, "password_hash": user.password_hash}


def password_ok(app, name, password) -> bool:
    with app.app_context():
        user = service.find_user(name)
        return user is not None and user.check_password(password)


def actions(app) -> list[tuple[str, str, str | None]]:
    with app.app_context():
        return [(e.actor, e.action, e.target) for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def sign_in(client, username, password):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


# ---------------------------------------------------------------- on every SQL backend


def test_users_create_reads_the_password_from_stdin(cli_app):
    result = invoke(cli_app, "users", "create", "nina", "--role", "operator", input=NEW_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "created user nina with role operator" in result.output
    assert NEW_PASSWORD not in result.output
    assert user_row(cli_app, "nina")["role"] == "operator"
    assert password_ok(cli_app, "nina", NEW_PASSWORD)
    assert not password_ok(cli_app, "nina", NEW_PASSWORD + "\n")
    assert actions(cli_app) == [("cli", "user.create", "nina")]

    default_role = invoke(cli_app, "users", "create", "otto", input=NEW_PASSWORD + "\n")
    assert default_role.exit_code == 0, default_role.output
    assert user_row(cli_app, "otto")["role"] == "viewer"

    duplicate = invoke(cli_app, "users", "create", "nina", "--role", "admin", input="another-password-9\n")
    assert duplicate.exit_code != 0
    assert "already exists" in duplicate.output
    assert user_row(cli_app, "nina")["role"] == "operator"
    assert password_ok(cli_app, "nina", NEW_PASSWORD)


def test_users_list(cli_app):
    for name, role in (("zed", "viewer"), ("amy", "admin"), ("olga", "operator")):
        assert invoke(cli_app, "users", "create", name, "--role", role, input=NEW_PASSWORD + "\n").exit_code == 0
    assert invoke(cli_app, "users", "disable", "zed").exit_code == 0

    result = invoke(cli_app, "users", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["amy", "admin", "active"],
        ["olga", "operator", "active"],
        ["zed", "viewer", "disabled"],
    ]
    assert all("last sign-in: never" in line for line in lines)
    assert "scrypt" not in result.output and "$" not in result.output, "no password hash is shown"


def test_users_ensure_admin_creates_admin_once_with_a_random_password(cli_app):
    first = invoke(cli_app, "users", "ensure-admin")
    assert first.exit_code == 0, first.output
    match = re.search(r"password: (\S+)", first.output)
    assert match, first.output
    password = match.group(1)
    assert len(password) >= 16
    assert first.output.count(password) == 1, "printed exactly once"
    row = user_row(cli_app, "admin")
    assert row["role"] == "admin" and row["disabled"] is False
    assert password_ok(cli_app, "admin", password)
    assert actions(cli_app) == [("system", "user.create", "admin")]

    second = invoke(cli_app, "users", "ensure-admin")
    assert second.exit_code == 0
    assert second.output == ""
    assert password_ok(cli_app, "admin", password), "the second run changed nothing"
    with cli_app.app_context():
        assert [u.username for u in service.list_users()] == ["admin"]

    other = build_app(
        make_env(
            cli_app.extensions["redis_url"],
            cli_app.config["SQLALCHEMY_DATABASE_URI"],
            cli_app.config["CONSOLE"].data_dir,
        )
    )
    try:
        assert invoke(other, "users", "ensure-admin").output == "", "another process sees the admin too"
    finally:
        with other.app_context():
            db.engine.dispose()


def test_users_ensure_admin_takes_admin_password_from_the_environment(cli_app):
    secret = "from-the-environment-42"
    result = invoke(cli_app, "users", "ensure-admin", env={"ADMIN_PASSWORD": secret})
    assert result.exit_code == 0, result.output
    assert secret not in result.output
    assert "(from ADMIN_PASSWORD)" in result.output
    assert password_ok(cli_app, "admin", secret)
    assert user_row(cli_app, "admin")["role"] == "admin"


def test_users_ensure_admin_does_nothing_when_users_exist(cli_app):
    assert invoke(cli_app, "users", "create", "vera", "--role", "viewer", input=NEW_PASSWORD + "\n").exit_code == 0
    result = invoke(cli_app, "users", "ensure-admin", env={"ADMIN_PASSWORD": "from-the-environment-42"})
    assert result.exit_code == 0
    assert result.output == ""
    assert user_row(cli_app, "admin") is None


def test_tokens_create_list_revoke(cli_app):
    created = invoke(cli_app, "tokens", "create", "deploy-bot", "--role", "operator")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert re.fullmatch(r"rqc_[A-Za-z0-9_-]{40,}", secret), created.stdout
    assert secret not in created.stderr
    assert "shown only this once" in created.stderr

    with cli_app.app_context():
        row = db.session.scalar(select(ApiToken).where(ApiToken.name == "deploy-bot"))
        assert row.role == "operator" and row.token_hash == ApiToken.hash(secret)
        assert secret not in {str(v) for v in vars(row).values()}

    api = cli_app.test_client()
    response = api.get("/api/v1/queues", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    assert response.get_json()["queues"] == []

    listed = invoke(cli_app, "tokens", "list")
    assert listed.exit_code == 0
    assert listed.output.split()[:7] == ["deploy-bot", "operator", "active", "expires:", "never", "last", "used:"]
    assert re.search(r"last used: \d{4}-\d\d-\d\d \d\d:\d\d$", listed.output.strip()), "the API call was recorded"
    assert "rqc_" not in listed.output and secret[4:12] not in listed.output

    revoked = invoke(cli_app, "tokens", "revoke", "deploy-bot")
    assert revoked.exit_code == 0, revoked.output
    assert api.get("/api/v1/queues", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert re.match(r"deploy-bot\s+operator\s+revoked \d{4}-\d\d-\d\d", invoke(cli_app, "tokens", "list").output)
    assert [a[1] for a in actions(cli_app)] == ["token.create", "token.revoke"]


def test_tokens_create_with_expiry(cli_app):
    created = invoke(cli_app, "tokens", "create", "short-lived", "--role", "viewer", "--expires-in", "30d")
    assert created.exit_code == 0, created.output
    secret = created.stdout.splitlines()[0]
    assert re.fullmatch(r"rqc_[A-Za-z0-9_-]{40,}", secret), "the secret is still alone on the first stdout line"
    assert "expires" in created.stderr
    with cli_app.app_context():
        row = db.session.scalar(select(ApiToken).where(ApiToken.name == "short-lived"))
        assert timedelta(days=29, hours=23) < row.expires_at - utcnow() <= timedelta(days=30)
    assert cli_app.test_client().get("/api/v1/queues", headers={"Authorization": f"Bearer {secret}"}).status_code == 200

    for n, bad in enumerate(("30", "30y", "0d", "-1d", "99999w")):
        refused = invoke(cli_app, "tokens", "create", f"bad-{n}", "--expires-in", bad)
        assert refused.exit_code != 0 and "expiry must" in refused.output, bad
        assert "rqc_" not in refused.output


# ---------------------------------------------------------------- SQLite only


def test_users_create_refuses_a_short_password(app, run):
    result = run("users", "create", "nina", "--role", "viewer", input="short\n")
    assert result.exit_code != 0
    assert "password must be at least 10 characters" in result.output
    assert user_row(app, "nina") is None

    empty = run("users", "create", "nina", input="")
    assert empty.exit_code != 0
    assert user_row(app, "nina") is None
    assert actions(app) == []


def test_users_create_refuses_a_bad_role_and_a_bad_name(app, run):
    bad_role = run("users", "create", "nina", "--role", "root", input=NEW_PASSWORD + "\n")
    assert bad_role.exit_code == 2
    assert "root" in bad_role.output
    bad_name = run("users", "create", "nina smith", input=NEW_PASSWORD + "\n")
    assert bad_name.exit_code != 0
    assert "username may contain" in bad_name.output
    with app.app_context():
        assert service.list_users() == []


def test_users_set_role(app, run, accounts):
    result = run("users", "set-role", "vera", "operator")
    assert result.exit_code == 0, result.output
    assert "vera is now operator" in result.output
    assert user_row(app, "vera")["role"] == "operator"
    assert actions(app)[-1] == ("cli", "user.set_role", "vera")

    assert run("users", "set-role", "vera", "root").exit_code == 2
    assert user_row(app, "vera")["role"] == "operator"
    missing = run("users", "set-role", "nobody", "admin")
    assert missing.exit_code != 0
    assert "no user named 'nobody'" in missing.output


def test_users_disable_and_enable(app, run, accounts):
    client = app.test_client()
    assert sign_in(client, "oscar", "correct-horse-battery").status_code == 302

    result = run("users", "disable", "oscar")
    assert result.exit_code == 0, result.output
    assert user_row(app, "oscar")["disabled"] is True
    assert client.get("/").status_code == 302, "the running session ends at the next request"
    assert sign_in(app.test_client(), "oscar", "correct-horse-battery").status_code == 401

    result = run("users", "enable", "oscar")
    assert result.exit_code == 0, result.output
    assert user_row(app, "oscar")["disabled"] is False
    assert sign_in(app.test_client(), "oscar", "correct-horse-battery").status_code == 302
    changes = [
        (actor, action, target) for actor, action, target in actions(app) if action in ("user.disable", "user.enable")
    ]
    assert changes == [("cli", "user.disable", "oscar"), ("cli", "user.enable", "oscar")]

    missing = run("users", "disable", "nobody")
    assert missing.exit_code != 0 and "no user named" in missing.output


def test_users_set_password(app, run, accounts):
    client = app.test_client()
    assert sign_in(client, "vera", "correct-horse-battery").status_code == 302
    before = user_row(app, "vera")["password_hash"]

    short = run("users", "set-password", "vera", input="tiny\n")
    assert short.exit_code != 0
    assert "password must be at least 10 characters" in short.output
    assert user_row(app, "vera")["password_hash"] == before
    assert client.get("/").status_code == 200, "a refused change keeps the session"

    result = run("users", "set-password", "vera", input=NEW_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "password of vera changed" in result.output
    assert password_ok(app, "vera", NEW_PASSWORD)
    assert not password_ok(app, "vera", "correct-horse-battery")
    assert client.get("/").status_code == 302, "existing sessions end"
    assert actions(app)[-1] == ("cli", "user.set_password", "vera")

    missing = run("users", "set-password", "nobody", input=NEW_PASSWORD + "\n")
    assert missing.exit_code != 0 and "no user named" in missing.output


def test_ensure_admin_refuses_a_short_admin_password(app, run):
    result = run("users", "ensure-admin", env={"ADMIN_PASSWORD": "short"})
    assert result.exit_code != 0
    assert "ADMIN_PASSWORD" in result.output and "at least 10 characters" in result.output
    assert "short" not in result.output.replace("at least", "")
    assert user_row(app, "admin") is None


def test_tokens_errors(app, run):
    assert run("tokens", "create", "ci", "--role", "viewer").exit_code == 0
    duplicate = run("tokens", "create", "ci", "--role", "admin")
    assert duplicate.exit_code != 0
    assert "already exists" in duplicate.output
    assert "rqc_" not in duplicate.output, "no secret printed"
    missing = run("tokens", "revoke", "nope")
    assert missing.exit_code != 0 and "no token named 'nope'" in missing.output
    with app.app_context():
        assert [(t.name, t.role) for t in service.list_tokens()] == [("ci", "viewer")]


def test_cli_in_a_real_process_pipes_password_and_prints_secret_alone(redis_url, sqlite_url, data_dir):
    env = dict(make_env(redis_url, sqlite_url, data_dir), PATH="/usr/bin:/bin")

    def flask(*args, stdin=""):
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", *args],
            cwd=PROJECT_ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    app = build_app(make_env(redis_url, sqlite_url, data_dir))  # migrated here: two processes are enough
    created = flask("users", "create", "piper", "--role", "admin", stdin=NEW_PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    token = flask("tokens", "create", "pipeline", "--role", "viewer")
    assert token.returncode == 0, token.stderr
    assert re.fullmatch(r"rqc_[A-Za-z0-9_-]{40,}\n", token.stdout), "stdout carries the secret alone"

    try:
        assert password_ok(app, "piper", NEW_PASSWORD)
        response = app.test_client().get("/api/v1/workers", headers={"Authorization": f"Bearer {token.stdout.strip()}"})
        assert response.status_code == 200
    finally:
        with app.app_context():
            db.engine.dispose()
