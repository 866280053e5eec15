"""GET /metrics for Prometheus: the exposition format (dashboard/rqlayer/exposition.py).

Access: a bearer API token of any role (`Authorization: Bearer <token>`, checked by the same code as the
JSON API's: dashboard/auth.py), or a client address in METRICS_ALLOWED_IPS (the address after the
TRUSTED_PROXIES rules, as everywhere else). No session cookie is needed or used, and there is nothing to
post (GET only), so no CSRF. Refusals: 401 without a token (and a token that does not check out), 403
for an address METRICS_ALLOWED_IPS does not list.
"""

from __future__ import annotations

import ipaddress

from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST

from dashboard.auth import current_principal
from dashboard.extensions import get_console

bp = Blueprint("prometheus", __name__)


def _allowed_address() -> bool:
    networks = current_app.config["CONSOLE"].metrics_allowed_ips
    if not networks or not request.remote_addr:
        return False
    try:
        address = ipaddress.ip_address(request.remote_addr)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network) for network in networks)


def _refused(status: int, message: str) -> Response:
    response = Response(message + "\n", status=status, mimetype="text/plain")
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="rq-console"'
    return response


@bp.get("/metrics")
def metrics() -> Response:
    if current_principal() is None and not _allowed_address():
        if request.headers.get("Authorization"):
            return _refused(401, "This API token is not valid (unknown, revoked or expired).")
        if current_app.config["CONSOLE"].metrics_allowed_ips:
            return _refused(403, "This address is not in METRICS_ALLOWED_IPS: send Authorization: Bearer <token>.")
        return _refused(401, "Send an API token: Authorization: Bearer <token>.")
    response = Response(get_console().exposition.render(), mimetype=None)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.headers["Cache-Control"] = "no-store"
    return response
