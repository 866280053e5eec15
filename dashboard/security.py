"""Response headers that make every page safe to show hostile data in."""

from __future__ import annotations

from flask import request

# No inline script or style at all: htmx's own indicator style is turned off in base.html, and
# everything else lives in static/. Data can therefore never become code or styling.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def _security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    # Pages and API answers show job data: keep them out of every cache. Static files may be cached.
    if request.endpoint != "static":
        headers["Cache-Control"] = "no-store"
    return response


def init_app(app) -> None:
    app.after_request(_security_headers)
