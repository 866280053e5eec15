"""Sign in and sign out."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from dashboard import accounts, audit
from dashboard.auth import current_principal, safe_next
from dashboard.extensions import db, get_redis
from dashboard.models import utcnow
from dashboard.rqlayer.throttle import LoginThrottle

bp = Blueprint("auth", __name__)


def _throttle() -> LoginThrottle:
    settings = current_app.config["CONSOLE"]
    return LoginThrottle(get_redis(), settings.login_max_failures, settings.login_lockout_seconds)


def _locked_out(retry_after: int, username: str):
    message = f"Too many failed sign-ins. Try again in {retry_after} s."
    response = current_app.make_response(
        (render_template("pages/login.html", error=message, username=username, next=request.values.get("next")), 429))
    response.headers["Retry-After"] = str(retry_after)
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    # HEAD is a GET without a body: it must never count as a sign-in attempt.
    if current_principal() is not None and request.method != "POST":
        return redirect(safe_next(request.args.get("next")))
    next_url = request.values.get("next")
    if request.method != "POST":
        return render_template("pages/login.html", next=next_url, username="", error=None)

    username = (request.form.get("username") or "").strip()[:64]
    password = request.form.get("password") or ""
    address = request.remote_addr or "unknown"
    throttle = _throttle()
    state = throttle.state(address, username)
    if state.locked:
        audit.record(username or "-", "auth.login_refused", outcome="refused", remote_addr=address,
                     detail=f"throttled for {state.retry_after} s")
        return _locked_out(state.retry_after, username)

    user = accounts.find_user(username) if username else None
    if user is None or not user.check_password(password) or not login_user(user):
        state = throttle.record_failure(address, username)
        reason = "disabled" if user is not None and user.disabled else "bad credentials"
        audit.record(username or "-", "auth.login_failed", outcome="failed", remote_addr=address, detail=reason)
        time.sleep(throttle.delay_for(state.failures))
        if state.locked:
            return _locked_out(state.retry_after, username)
        return render_template("pages/login.html", error="Wrong username or password.", username=username,
                               next=next_url), 401

    throttle.reset_account(username)
    user.last_login_at = utcnow()
    audit.record(user.username, "auth.login", remote_addr=address, commit=False)
    db.session.commit()
    return redirect(safe_next(next_url))


@bp.post("/logout")
def logout():
    principal = current_principal()
    if current_user.is_authenticated:
        audit.record(principal.audit_name if principal else current_user.username, "auth.logout",
                     remote_addr=request.remote_addr)
        logout_user()
    return redirect(url_for("auth.login"))
