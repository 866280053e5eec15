"""Sign in and sign out."""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from itsdangerous import BadSignature, URLSafeTimedSerializer

from dashboard import accounts, audit
from dashboard.auth import current_principal, safe_next
from dashboard.extensions import db, get_redis
from dashboard.models import utcnow
from dashboard.profiles import unprofiled
from dashboard.rqlayer.throttle import LoginThrottle

bp = Blueprint("auth", __name__)

# A browser that signed in as an account before gets its own throttle bucket for that account, so
# failures from other people at the same address (one unlisted proxy, one NAT) cannot lock it out.
DEVICE_COOKIE = "console_device"
DEVICE_MAX_AGE = timedelta(days=180)


def _throttle() -> LoginThrottle:
    settings = current_app.config["CONSOLE"]
    return LoginThrottle(
        get_redis(),
        settings.login_max_failures,
        settings.login_lockout_seconds,
        settings.login_max_failures_per_address,
    )


def _devices() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="console-login-device")


def _device_of(account: str) -> str | None:
    """This browser's device id when its device cookie was issued for `account`, else None."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw or not account:
        return None
    try:
        claim = _devices().loads(raw, max_age=int(DEVICE_MAX_AGE.total_seconds()))
    except BadSignature:  # tampered, foreign or expired: an ordinary, address-bucketed attempt
        return None
    if not isinstance(claim, dict) or claim.get("u") != account.lower() or not isinstance(claim.get("d"), str):
        return None
    return claim["d"]


def _remember_device(response, account: str, device: str | None) -> None:
    value = _devices().dumps({"u": account.lower(), "d": device or secrets.token_hex(16)})
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=int(DEVICE_MAX_AGE.total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
        path=unprofiled(url_for("auth.login")),  # one cookie for every instance (dashboard/profiles.py)
    )


def _next_field() -> str | None:
    """The `next` to carry through the form: only one safe_next would follow, so a bad one is dropped."""
    target = request.values.get("next")
    return target if target and safe_next(target) == target.rstrip("?") else None


def _login_page(status: int, error: str | None, username: str = "", retry_after: int | None = None):
    response = current_app.make_response(
        (render_template("pages/login.html", error=error, username=username, next=_next_field()), status)
    )
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _too_many(retry_after: int, username: str):
    return _login_page(429, f"Too many failed sign-ins. Try again in {retry_after} s.", username, retry_after)


@bp.route("/login", methods=["GET", "POST"])
def login():
    # HEAD is a GET without a body: it must never count as a sign-in attempt.
    if current_principal() is not None and request.method != "POST":
        return redirect(safe_next(request.args.get("next")))
    if request.method != "POST":
        return _login_page(200, None)

    username = (request.form.get("username") or "").strip()[:64]
    password = request.form.get("password") or ""
    address = request.remote_addr or "unknown"
    device = _device_of(username)
    throttle = _throttle()
    state = throttle.state(address, username, device)
    if state.pair_waiting:
        audit.record_refused_sign_in(
            username or "-", "auth.login_refused", outcome="refused", remote_addr=address, detail="throttled"
        )
        return _too_many(state.retry_after, username)

    user = accounts.verify_credentials(username, password)
    if user is None or not login_user(user):
        state = throttle.record_failure(address, username, device)
        reason = "disabled" if user is not None else "bad credentials"
        audit.record_refused_sign_in(username or "-", "auth.login_failed", remote_addr=address, detail=reason)
        if state.pair_waiting or state.address_failing:
            return _too_many(state.retry_after, username)
        return _login_page(401, "Wrong username or password.", username)

    throttle.reset_pair(address, username, device)
    # A token planted before sign-in (a shared computer, a fixated cookie) must not outlive it.
    session.pop("csrf_token", None)
    user.last_login_at = utcnow()
    audit.record(user.username, "auth.login", remote_addr=address, commit=False)
    db.session.commit()
    response = redirect(safe_next(request.form.get("next")))
    _remember_device(response, username, device)
    return response


@bp.post("/logout")
def logout():
    principal = current_principal()
    if current_user.is_authenticated:
        audit.record(
            principal.audit_name if principal else current_user.username, "auth.logout", remote_addr=request.remote_addr
        )
        # The cookie is client-side: without this, a copy taken before sign-out would still work.
        accounts.end_sessions(current_user._get_current_object())
        logout_user()
    session.clear()  # also rotates the CSRF token
    return redirect(url_for("auth.login"))
