"""Connection profiles in the web app: the instance is in every URL, `/@<profile>/...`.

A small WSGI middleware moves `/@<profile>` from PATH_INFO to the end of SCRIPT_NAME and records the
profile in the environ. Flask then routes the rest as usual, and url_for puts the instance in every link,
form action and hx-get/hx-post it generates, so an action always goes to the instance the page showed.
An unprefixed request is served by the default profile; with several profiles `/@<default>` is appended
to SCRIPT_NAME too, so every link of that page names its instance. The middleware runs inside the
reverse-proxy fix (which sets SCRIPT_NAME from X-Forwarded-Prefix) and only appends to SCRIPT_NAME.
The session cookie's path stays "/" (APPLICATION_ROOT), so one sign-in serves every instance.

An unknown `/@x` is a 404 page naming the known profiles. Pages that read the SQL history (recorded by
a collector for the default instance only) say so on another instance (partials/profile_notice.html).
"""

from __future__ import annotations

import re

from flask import current_app, request, url_for
from werkzeug.exceptions import NotFound

from dashboard.profile_config import NAME, Profile, Profiles

ENVIRON_PROFILE = "rq_console.profile"  # the request's profile name
ENVIRON_BASE = "rq_console.script_base"  # SCRIPT_NAME before the profile was appended (proxy prefix)
ENVIRON_UNKNOWN = "rq_console.unknown_profile"  # the name of a /@x that names no profile

# Blueprints whose pages read the SQL history, which has no instance column: on another profile they
# show the default instance's history, and say so.
SQL_HISTORY_AREAS = (
    "history.",
    "errors.",
    "functions.",
    "alerts.",
    "webhooks.",
    "workers.",
    "schedule_page.",
    "incoming.",
)
# Their API endpoints answer the same rows: on another instance they say whose in a response header.
SQL_HISTORY_API = (
    "api.history",
    "errors_api.",
    "alerts_api.",
    "metrics_api.",
    "webhooks_api.",
    "incoming_api.api_recent",
)
HISTORY_HEADER = "X-Console-History-Instance"


class ProfileRouting:
    """WSGI middleware: `/@<name>/rest` -> SCRIPT_NAME += "/@<name>", PATH_INFO = "/rest"."""

    def __init__(self, wsgi_app, profiles: Profiles) -> None:
        self.wsgi_app = wsgi_app
        self.profiles = profiles

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        script = environ.get("SCRIPT_NAME", "")
        environ[ENVIRON_BASE] = script
        name, named = self.profiles.default.name, False
        if path.startswith("/@"):
            head, _, rest = path[2:].partition("/")
            path = "/" + rest
            if self.profiles.get(head) is not None:
                name, named = head, True
            else:
                # WSGI's PATH_INFO holds the path's bytes as Latin-1: the 404 names it as it was typed (UTF-8).
                named_as = head[:256].encode("latin-1", "replace").decode("utf-8", "replace")
                environ[ENVIRON_UNKNOWN] = named_as[:64]  # the 404 page is rendered as the default instance's
        if named or self.profiles.several:
            script = f"{script}/@{name}"
        environ["PATH_INFO"] = path
        environ["SCRIPT_NAME"] = script
        environ[ENVIRON_PROFILE] = name
        return self.wsgi_app(environ, start_response)


def current_name() -> str | None:
    """The request's profile name (None outside a request or before the middleware)."""
    return request.environ.get(ENVIRON_PROFILE)


def _refuse_unknown(app):
    # Raised where Flask raises routing errors, after every before_request hook: the sign-in gate runs
    # first, so pages that need a sign-in send anonymous visitors to it.
    def check():
        unknown = request.environ.get(ENVIRON_UNKNOWN)
        if unknown is not None:
            request.routing_exception = _UnknownInstance(unknown, app.config["CONSOLE_PROFILES"].names())

    return check


class _UnknownInstance(NotFound):
    """The 404 of an unknown /@name. The known instances are listed only to a signed-in operator or a valid
    token, read when the page is rendered (after the gate): the sign-in page, the health check, static
    files, the OpenAPI document and /metrics answer anonymous visitors too, and must not list them."""

    def __init__(self, unknown: str, known: tuple[str, ...]) -> None:
        super().__init__()
        self.unknown, self.known = unknown, known

    @property
    def description(self) -> str:  # type: ignore[override]  # NotFound's is a plain attribute
        from dashboard.auth import current_principal  # auth imports extensions, which imports this module

        told = f" Known instances: {', '.join(self.known)}." if current_principal() is not None else ""
        return f"There is no Redis instance named {self.unknown!r} here.{told}"


def _template_context(profiles: Profiles):
    def context() -> dict:
        # An unknown /@x is rendered by the default instance's app, but it is not that instance's page: no
        # badge then, rather than one saying "prod" on a page about no instance at all.
        if not profiles.shown or request.environ.get(ENVIRON_UNKNOWN) is not None:
            return {"profile_bar": None}
        current = profiles.get(request.environ.get(ENVIRON_PROFILE) or "") or profiles.default
        return {"profile_bar": _Bar(profiles, current)}

    return context


class _Bar:
    """What partials/profile_switch.html and partials/profile_notice.html show for the request."""

    def __init__(self, profiles: Profiles, current: Profile) -> None:
        self.current = current
        self.several = profiles.several
        self._profiles = profiles

    def links(self) -> list[tuple[Profile, str]]:
        """Each profile with the address of this page on it (same path, escapes kept, and query)."""
        from dashboard.web.links import here_url  # the web layer's; imported late (extensions imports us)

        # After a form's answer (a 409 page for a POST) this address takes no GET: the overview, then.
        here = here_url() if request.method in ("GET", "HEAD") else url_for("overview.index")
        return [(p, on_instance(here, p.name)) for p in self._profiles.all]

    @property
    def history_elsewhere(self) -> bool:
        """This page reads the SQL history, which is the default instance's, and this is another one."""
        endpoint = request.endpoint or ""
        return self.current is not self._profiles.default and endpoint.startswith(SQL_HISTORY_AREAS)

    @property
    def default_name(self) -> str:
        return self._profiles.default.name


def init_app(app, profiles: Profiles) -> None:
    """Route /@<profile>/ URLs and show the instance. Call before the proxy fix wraps wsgi_app, so that it
    runs inside it."""
    app.config["CONSOLE_PROFILES"] = profiles
    app.wsgi_app = ProfileRouting(app.wsgi_app, profiles)
    app.before_request(_refuse_unknown(app))
    app.context_processor(_template_context(profiles))
    app.after_request(_history_header(profiles))


def _history_header(profiles: Profiles):
    def hook(response):
        name = request.environ.get(ENVIRON_PROFILE)
        if name not in (None, profiles.default.name) and (request.endpoint or "").startswith(SQL_HISTORY_API):
            response.headers[HISTORY_HEADER] = profiles.default.name
        return response

    return hook


def on_instance(url: str, name: str) -> str:
    """`url` (from url_for in this request) on the instance `name` instead of the request's: the same
    page there (the switcher), or a shared record's target where it was acted on (the audit log)."""
    base = request.environ.get(ENVIRON_BASE, "")
    return f"{base}/@{name}{unprofiled(url)[len(base) :]}"


def acted_on(detail: str | None) -> str | None:
    """The instance an audit detail names ("[@staging] ...", audit.py), if it is one of this console's."""
    found = _ACTED_ON.match(detail or "")
    profiles = current_app.config.get("CONSOLE_PROFILES")
    if found is None or profiles is None or profiles.get(found.group(1)) is None:
        return None
    return found.group(1)


_ACTED_ON = re.compile(r"\[@(" + NAME.pattern.strip("^$") + r")\]")  # as audit.py writes it


def unprofiled(url: str) -> str:
    """`url` (from url_for in this request) without the instance segment: for what every instance shares,
    such as the sign-in device cookie's path."""
    base = request.environ.get(ENVIRON_BASE, "")
    name = request.environ.get(ENVIRON_PROFILE)
    marker = f"{base}/@{name}"
    if name is not None and (url == marker or url.startswith(marker + "/")):
        return base + url[len(marker) :] or "/"
    return url
