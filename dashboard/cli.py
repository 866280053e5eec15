"""Flask CLI commands: `flask --app app demo | users … | tokens …`."""

from __future__ import annotations

import os
import sys

import click
from flask.cli import AppGroup

from dashboard import accounts
from dashboard.extensions import get_console
from dashboard.models import ValidationError, parse_duration
from dashboard.permissions import ROLES

users = AppGroup("users", help="Console accounts.")
tokens = AppGroup("tokens", help="API tokens for /api/v1/.")
schedules_cli = AppGroup("schedules", help="Default schedules declared in tasks/schedules.py.")
ROLE = click.Choice(list(ROLES))


def _fail(error: Exception):
    raise click.ClickException(str(error))


def _apply(change, done: str) -> None:
    """Run an account change; a refused one becomes a one-line CLI error."""
    try:
        change()
    except ValidationError as error:
        _fail(error)
    click.echo(done)


def _read_password(prompt: str = "Password") -> str:
    # Scripts pipe the password on stdin; people type it twice at a hidden prompt.
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    return click.prompt(prompt, hide_input=True, confirmation_prompt=True)


@users.command("create")
@click.argument("name")
@click.option("--role", type=ROLE, default="viewer", show_default=True)
def users_create(name, role):
    """Create a user; the password is read from stdin (or a hidden prompt)."""
    try:
        accounts.create_user(name, _read_password(), role)
    except ValidationError as error:
        _fail(error)
    click.echo(f"created user {name} with role {role}")


@users.command("ensure-admin")
def users_ensure_admin():
    """With no user yet, create `admin` (password from ADMIN_PASSWORD, else random, printed once)."""
    try:
        created = accounts.ensure_admin(os.environ.get("ADMIN_PASSWORD") or None)
    except ValidationError as error:
        _fail(f"ADMIN_PASSWORD: {error}")
    if created is None:
        return
    _, password = created
    shown = "(from ADMIN_PASSWORD)" if os.environ.get("ADMIN_PASSWORD") else password
    click.echo("=" * 64)
    click.echo("First start: created the console account  admin")
    click.echo(f"  password: {shown}")
    click.echo("  It is shown only this once. Change it: flask --app app users set-password admin")
    click.echo("=" * 64)


@users.command("list")
def users_list():
    """List users with their role and status."""
    for user in accounts.list_users():
        status = "disabled" if user.disabled else "active"
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "never"
        click.echo(f"{user.username:<24} {user.role:<9} {status:<9} last sign-in: {last}")


@users.command("set-role")
@click.argument("name")
@click.argument("role", type=ROLE)
def users_set_role(name, role):
    """Change a user's role."""
    _apply(lambda: accounts.set_role(name, role), f"{name} is now {role}")


@users.command("disable")
@click.argument("name")
def users_disable(name):
    """Disable a user: their sessions end at the next request."""
    _apply(lambda: accounts.set_disabled(name, True), f"{name} is disabled")


@users.command("enable")
@click.argument("name")
def users_enable(name):
    """Enable a disabled user again."""
    _apply(lambda: accounts.set_disabled(name, False), f"{name} is enabled")


@users.command("set-password")
@click.argument("name")
def users_set_password(name):
    """Set a user's password (stdin or prompt); their other sessions end."""
    _apply(lambda: accounts.set_password(name, _read_password("New password")), f"password of {name} changed")


@tokens.command("create")
@click.argument("name")
@click.option("--role", type=ROLE, default="viewer", show_default=True)
@click.option(
    "--expires-in",
    "expires_in",
    default="",
    metavar="DURATION",
    help="Stop working after this long: 90m, 12h, 30d, 2w (default: never).",
)
def tokens_create(name, role, expires_in):
    """Create an API token; it is printed once (alone on the first line) and stored hashed."""
    try:
        lifetime = parse_duration(expires_in) if expires_in else None
        token, secret = accounts.create_token(name, role, expires_in=lifetime)
    except ValidationError as error:
        _fail(error)
    click.echo(secret)
    until = f", expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else ""
    click.echo(f"token {name} ({role}) created{until}; it is shown only this once", err=True)


@tokens.command("list")
def tokens_list():
    """List API tokens (never their secrets)."""
    for token in accounts.list_tokens():
        status = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else token.status
        expires = f"{token.expires_at:%Y-%m-%d %H:%M}" if token.expires_at else "never"
        used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
        click.echo(f"{token.name:<24} {token.role:<9} {status:<24} expires: {expires}  last used: {used}")


@tokens.command("revoke")
@click.argument("name")
def tokens_revoke(name):
    """Revoke an API token at once."""
    _apply(lambda: accounts.revoke_token(name), f"token {name} revoked")


@schedules_cli.command("register-defaults")
def schedules_register_defaults():
    """Register tasks/' default schedules (idempotent; paused ones stay paused)."""
    from dashboard.rqlayer.serializers import JSON, SCHEDULER_REFUSAL
    from tasks.schedules import DEFAULT_SCHEDULES

    if get_console().capabilities.serializer == JSON:  # the release goes on: nothing to register here
        click.echo(f"default schedules: none registered: {SCHEDULER_REFUSAL}.")
        return
    report = get_console().schedules.register_defaults(DEFAULT_SCHEDULES)
    click.echo(
        f"default schedules: {len(report.created)} created, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.paused)} paused (left alone)"
    )
    for name, error in report.errors.items():
        click.echo(f"  {name}: {error}", err=True)
    if report.errors:
        raise click.ClickException("some default schedules are invalid")


@click.command("demo")
def demo_command():
    """Fill Redis with a realistic mix of demo jobs and two recurring schedules."""
    import redis

    from dashboard import demo
    from dashboard.settings import redis_source

    url = get_console().redis_url
    # Said first: when the Redis is not the console's, the user sees which one was used and why.
    click.echo(f"Redis: {url} (from {redis_source()})")
    try:
        report = demo.fill(get_console().connection)
    except redis.RedisError as error:
        raise click.ClickException(f"cannot reach Redis at {url}: {error}; is `make run` running?") from None
    click.echo(
        f"enqueued {len(report.enqueued)} jobs, scheduled {len(report.scheduled)} for later, "
        f"registered {len(report.schedules)} new recurring schedule(s)"
    )
    click.echo("Open the console to watch them run (a worker must be running: `make run` starts one).")


def init_app(app) -> None:
    app.cli.add_command(demo_command)
    app.cli.add_command(users)
    app.cli.add_command(tokens)
    app.cli.add_command(schedules_cli)
