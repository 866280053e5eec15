"""Admin area: users, API tokens and the audit log."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, redirect, render_template, request, url_for

from dashboard import accounts, audit
from dashboard.auth import current_principal, requires
from dashboard.models import ValidationError, parse_duration, utcnow
from dashboard.permissions import AUDIT_VIEW, ROLES, USERS_MANAGE
from dashboard.web.rendering import SUCCESS, notify, page_or_partial

bp = Blueprint("admin", __name__, url_prefix="/admin")

AUDIT_WINDOWS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1), "all": None}


def _actor() -> str:
    return current_principal().audit_name


def _users_page(status: int = 200, error: str | None = None, new_token: tuple[str, str] | None = None):
    return render_template(
        "pages/users.html",
        users=accounts.list_users(),
        tokens=accounts.list_tokens(),
        roles=list(ROLES),
        error=error,
        new_token=new_token,
    ), status


@bp.get("/users")
@requires(USERS_MANAGE)
def users():
    return _users_page()


def _apply(change, success: str):
    try:
        change()
    except ValidationError as error:
        return _users_page(422, error=str(error))
    notify(success, SUCCESS)
    return redirect(url_for("admin.users"))


@bp.post("/users")
@requires(USERS_MANAGE)
def create_user():
    form = request.form
    name, role = form.get("username", ""), form.get("role", "viewer")
    return _apply(
        lambda: accounts.create_user(name, form.get("password", ""), role, actor=_actor()),
        f"User {name} created with role {role}.",
    )


@bp.post("/users/<username>/role")
@requires(USERS_MANAGE)
def set_role(username):
    role = request.form.get("role", "")
    if username == current_principal().name and role != "admin":
        return _users_page(409, error="You cannot remove your own admin role; ask another admin.")
    return _apply(lambda: accounts.set_role(username, role, actor=_actor()), f"{username} is now {role}.")


@bp.post("/users/<username>/disable")
@requires(USERS_MANAGE)
def disable_user(username):
    if username == current_principal().name:
        return _users_page(409, error="You cannot disable your own account.")
    return _apply(lambda: accounts.set_disabled(username, True, actor=_actor()), f"{username} is disabled.")


@bp.post("/users/<username>/enable")
@requires(USERS_MANAGE)
def enable_user(username):
    return _apply(lambda: accounts.set_disabled(username, False, actor=_actor()), f"{username} is enabled.")


@bp.post("/tokens")
@requires(USERS_MANAGE)
def create_token():
    name, role = request.form.get("name", ""), request.form.get("role", "viewer")
    expires_in = request.form.get("expires_in", "").strip()
    principal = current_principal()
    # Made from the web, the token belongs to its creator's account: disabling the account stops it.
    creator = accounts.find_user(principal.name) if principal.kind == "user" else None
    try:
        lifetime = parse_duration(expires_in) if expires_in else None
        _, secret = accounts.create_token(name, role, actor=_actor(), creator=creator, expires_in=lifetime)
    except ValidationError as error:
        return _users_page(422, error=str(error))
    # Shown once, in this response only: it is never stored in clear.
    return _users_page(201, new_token=(name, secret))


@bp.post("/tokens/<name>/revoke")
@requires(USERS_MANAGE)
def revoke_token(name):
    return _apply(lambda: accounts.revoke_token(name, actor=_actor()), f"Token {name} revoked.")


@bp.get("/audit")
@requires(AUDIT_VIEW)
def audit_log():
    window = request.args.get("window", "all")
    if window not in AUDIT_WINDOWS:
        abort(400, description=f"window must be one of {', '.join(AUDIT_WINDOWS)}")
    span = AUDIT_WINDOWS[window]
    filters = audit.AuditFilter(
        actor=request.args.get("actor", "").strip(),
        action=request.args.get("action", "").strip(),
        since=(utcnow() - span) if span else None,
    )
    result = audit.page(filters, cursor=request.args.get("cursor"))
    return page_or_partial(
        "pages/audit.html",
        "partials/audit_rows.html",
        page=result,
        filters=filters,
        window=window,
        windows=list(AUDIT_WINDOWS),
        actions=audit.known_actions(),
    )
