"""Who is asking, and may they: sessions, API tokens, a trusted proxy's header, permissions.

Locked by default: every endpoint needs a signed-in user (or, under /api/, a bearer token) except
the login page, the health check and static files. Features declare a named permission with
`@requires(...)`; the server refuses (403) whatever the buttons showed.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import abort, current_app, g, jsonify, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from dashboard import accounts, sqlguard
from dashboard.extensions import db, login_manager
from dashboard.models import User
from dashboard.permissions import permissions_for
from dashboard.settings import URL_PREFIX

PUBLIC_ENDPOINTS = frozenset({"auth.login", "health.healthz", "static"})
POLL_HEADER = "X-Console-Poll"


@dataclass(frozen=True)
class Principal:
    """The authenticated party of one request: a user or an API token."""

    name: str
    role: str
    kind: str  # "user" or "token"
    permissions: frozenset[str]

    @property
    def audit_name(self) -> str:
        return self.name if self.kind == "user" else f"token:{self.name}"


def current_principal() -> Principal | None:
    return g.get("principal")


def can(permission: str) -> bool:
    principal = current_principal()
    return principal is not None and permission in principal.permissions


def requires(permission: str):
    """Refuse the view with 403 unless the principal holds `permission`."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not can(permission):
                abort(403, description=f"Your role may not do this (needs the {permission!r} permission).")
            return view(*args, **kwargs)

        wrapper.required_permission = permission
        return wrapper

    return decorator


def _principal_for(user: User, kind: str = "user") -> Principal:
    settings = current_app.config["CONSOLE"]
    perms = permissions_for(user.role, settings.hide_job_values_from_viewers)
    return Principal(user.username, user.role, kind, perms)


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    ident, _, fingerprint = session_id.partition(":")
    if not ident.isdigit():
        return None
    try:
        user = db.session.get(User, int(ident))
    except SQLAlchemyError:  # the database is down: a session SQL confirmed moments ago keeps its role
        db.session.rollback()
        return sqlguard.remembered(session_id)
    if user is None or user.disabled or user.get_id() != session_id:
        return None
    sqlguard.remember(user)
    return user


def _bearer_principal() -> Principal | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    token = accounts.authenticate_token(secret.strip())
    if token is None:
        return None
    hide = current_app.config["CONSOLE"].hide_job_values_from_viewers
    return Principal(token.name, token.role, "token", permissions_for(token.role, hide))


def _proxy_principal() -> Principal | None:
    settings = current_app.config["CONSOLE"]
    # The peer that actually connected, before ProxyFix rewrote remote_addr from X-Forwarded-For.
    peer = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR", request.remote_addr)
    if not settings.trust_proxy_user_header or peer not in settings.trusted_proxies:
        return None
    name = request.headers.get(settings.trust_proxy_user_header, "").strip()
    user = accounts.find_user(name) if name else None
    return _principal_for(user) if user is not None and not user.disabled else None


def _gate():
    if request.endpoint == "prometheus.metrics":
        # Its own rule (web/prometheus.py): a bearer token of any role, or an address in METRICS_ALLOWED_IPS.
        g.principal = _bearer_principal()
        return None
    if request.path.startswith("/api/"):
        g.principal = _bearer_principal()
        if request.endpoint == "api.openapi":
            return None
        if g.principal is None:
            response = jsonify(error="unauthorized", message="Send an API token: Authorization: Bearer <token>.")
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer realm="rq-console"'
            return response
        return None
    principal = _proxy_principal()
    if principal is None and current_user.is_authenticated:
        principal = _principal_for(current_user)
        if not session.permanent:  # setting it always would mark every poll's session as modified
            session.permanent = True
    g.principal = principal
    if principal is not None or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    # The whole browser path, URL prefix (SCRIPT_NAME) included: safe_next redirects to it as it is.
    back = request.script_root + request.full_path if request.method == "GET" else None
    login_url = url_for("auth.login", next=back)
    if request.headers.get("HX-Request"):
        response = current_app.response_class(status=401)
        response.headers["HX-Redirect"] = login_url
        return response
    return redirect(login_url)


def safe_next(target: str | None) -> str:
    """Only a path on this site, else the overview: never an open redirect to another host, and never a
    header a control character would break (CR/LF in Location is a 500 in Werkzeug, or a split header)."""
    fallback = url_for("overview.index")
    if not target or len(target) > 2048 or any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in target):
        return fallback
    # Browsers read a backslash as a slash ("/\\host" is "//host"), so none is allowed anywhere.
    if "\\" in target or not target.startswith("/") or target.startswith("//"):
        return fallback
    try:
        parts = urlsplit(target)
    except ValueError:  # e.g. an unbalanced "[" read as an IPv6 host
        return fallback
    if parts.scheme or parts.netloc:
        return fallback
    return target.rstrip("?")


class _TrustedProxyFix:
    """X-Forwarded-* headers are believed only from the configured proxies; from anyone else they
    would let a client pick its own address (and dodge the per-address login throttle)."""

    def __init__(self, wsgi_app, trusted: tuple[str, ...]) -> None:
        self.direct = wsgi_app
        # x_prefix: a proxy that strips the console's URL prefix says it in X-Forwarded-Prefix, so links,
        # redirects and static URLs carry it again (README "Behind a reverse proxy").
        self.proxied = ProxyFix(wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1)
        self.trusted = frozenset(trusted)

    def __call__(self, environ, start_response):
        if environ.get("REMOTE_ADDR") in self.trusted:
            _plain_prefix(environ)
            return self.proxied(environ, start_response)
        return self.direct(environ, start_response)


def _plain_prefix(environ) -> None:
    """X-Forwarded-Prefix becomes every link's and redirect's start (SCRIPT_NAME): only a plain path, as
    SCRIPT_NAME itself must be (settings.URL_PREFIX), is believed; "//evil.example" would send every link
    and every sign-in redirect to another host. A trusted proxy may still pass on a client's own header
    (nginx does unless told otherwise). Anything else is dropped, with one warning per process."""
    raw = environ.get("HTTP_X_FORWARDED_PREFIX")
    if raw is None:
        return
    value = raw.rsplit(",", 1)[-1].strip().rstrip("/")  # ProxyFix x_prefix=1 believes the last value
    if value and URL_PREFIX.fullmatch(value):
        environ["HTTP_X_FORWARDED_PREFIX"] = value
        return
    del environ["HTTP_X_FORWARDED_PREFIX"]
    if value and not _ignored_prefix:
        _ignored_prefix.append(value)
        logging.getLogger(__name__).warning(
            "X-Forwarded-Prefix %r from %s ignored: expected a path like /rq", value[:80], environ.get("REMOTE_ADDR")
        )


_ignored_prefix: list[str] = []  # the first one ignored (its warning is logged once)


class _SessionInterface(SecureCookieSessionInterface):
    """Secure cookies whenever the request came over HTTPS; polling does not extend the session."""

    def get_cookie_secure(self, app) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def should_set_cookie(self, app, session) -> bool:
        if request.headers.get(POLL_HEADER):
            return session.modified
        return super().should_set_cookie(app, session)


def _template_helpers():
    return {"can": can, "principal": current_principal()}


def init_app(app) -> None:
    """Bind sign-in, the gate and the template helpers; call before CSRF so anonymous requests are
    sent to the login page first."""
    settings = app.config["CONSOLE"]
    if settings.trusted_proxies:
        app.wsgi_app = _TrustedProxyFix(app.wsgi_app, settings.trusted_proxies)
    app.session_interface = _SessionInterface()
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"
    app.before_request(_gate)
    app.context_processor(_template_helpers)
