"""Error pages: every failure answers with a clear page (or JSON for the API), never a traceback."""

from __future__ import annotations

from flask import current_app, jsonify, render_template, request
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from dashboard.rqlayer.connection import UNREACHABLE_ERRORS
from dashboard.rqlayer.errors import Conflict, InvalidInput, LayerError, NotFound

# The one place a layer refusal becomes an HTTP status (and the API's `error` word).
LAYER_STATUSES = ((NotFound, 404, "not_found"), (Conflict, 409, "conflict"), (InvalidInput, 422, "validation"))
# A view's own abort() with one of those statuses answers the same word: one vocabulary for API clients.
STATUS_WORDS = {code: word for _, code, word in LAYER_STATUSES}


def layer_status(error: LayerError) -> tuple[int, str]:
    """The status and error word for a layer error: the most specific family member wins."""
    for family, code, word in LAYER_STATUSES:
        if isinstance(error, family):
            return code, word
    return 400, "bad_request"


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _redis_unreachable(error):
    from dashboard.extensions import get_console  # the request's instance (dashboard/profiles.py)

    url = get_console().redis_url
    current_app.logger.warning("Redis unreachable at %s: %s", url, error)
    message = f"Redis is unreachable at {url}"
    if wants_json():
        return jsonify(error="redis_unreachable", message=message), 503
    template = "partials/redis_down.html" if request.headers.get("HX-Request") else "pages/redis_down.html"
    response = current_app.make_response((render_template(template, redis_url=url, error=str(error)), 503))
    response.headers["Retry-After"] = "2"
    return response


def _sql_unreachable(error):
    # The console's own database is down (dashboard/sqlguard.py): a clear 503, never a 500 page.
    from dashboard.extensions import db
    from dashboard.sqlguard import MESSAGE

    current_app.logger.warning("SQL database unreachable on %s %s: %s", request.method, request.path, error)
    db.session.rollback()
    return _http_error(ServiceUnavailable(description=MESSAGE))


def _http_error(error: HTTPException):
    if wants_json():
        word = STATUS_WORDS.get(error.code or 0) or error.name.lower().replace(" ", "_")
        return jsonify(error=word, message=error.description), error.code
    if request.headers.get("HX-Request"):
        return render_template("partials/flash_error.html", message=error.description), error.code
    return render_template("pages/error.html", error=error), error.code


def _layer_error(error: LayerError):
    code, word = layer_status(error)
    message = error.message or "The request was refused."
    if wants_json():
        body = {"error": word, "message": message}
        if error.fields:
            body["fields"] = error.fields
        return jsonify(body), code
    if request.headers.get("HX-Request"):
        return render_template("partials/flash_error.html", message=message), code
    return render_template("pages/error.html", error=_Shown(code, message)), code


class _Shown:
    """What pages/error.html reads from an HTTPException: a code and a description."""

    def __init__(self, code: int, description: str) -> None:
        self.code = code
        self.description = description
        self.name = {404: "Not Found", 409: "Conflict", 422: "Unprocessable Entity"}.get(code, "Bad Request")


def _unexpected(error):
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    if wants_json():
        return jsonify(error="internal_error", message="The console hit an unexpected error; it was logged."), 500
    return render_template("pages/error.html", error=None), 500


def init_app(app) -> None:
    for exc in UNREACHABLE_ERRORS:
        app.register_error_handler(exc, _redis_unreachable)
    for exc in (OperationalError, InterfaceError):
        app.register_error_handler(exc, _sql_unreachable)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(LayerError, _layer_error)
    app.register_error_handler(Exception, _unexpected)
