"""Flask extensions, created unbound here and bound to the app in create_app()."""

from __future__ import annotations

from flask import current_app, has_request_context, request
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx

from dashboard.profile_config import DEFAULT_NAME, Profile, Profiles
from dashboard.profiles import ENVIRON_PROFILE
from dashboard.rqlayer.connection import connect
from dashboard.rqlayer.console import Console

db = SQLAlchemy()
migrate = Migrate()
htmx = Htmx()
csrf = CSRFProtect()
login_manager = LoginManager()


class RedisConnections:
    """One Redis client (with its own pool) per app, not per module: tests and, later, several
    Redis instances each get their own. The app's front door to the RQ layer is built on it."""

    def init_app(
        self,
        app,
        url: str,
        timeout: float,
        unsafe: bool = False,
        read_cache_seconds: float = 0.0,
        profiles: Profiles | None = None,
    ) -> None:
        """One Console per connection profile (dashboard/profile_config.py), built now; the first (or
        `url` alone) is the default, whose client also serves get_redis()."""
        listed = profiles.all if profiles else (Profile(DEFAULT_NAME, url),)
        consoles = {}
        for profile in listed:
            consoles[profile.name] = Console(
                connect(profile.url, timeout=timeout),
                unsafe=unsafe,
                redis_url=profile.url,
                read_cache_seconds=read_cache_seconds,
                serializer=profile.serializer,
            )
        default_name, default_url = listed[0].name, listed[0].url
        app.extensions["consoles"] = consoles
        app.extensions["console"] = consoles[default_name]
        app.extensions["redis"] = consoles[default_name].connection
        app.extensions["redis_url"] = default_url
        if read_cache_seconds > 0:
            app.after_request(_after_action)


def _after_action(response):
    """A successful state change (any method but GET/HEAD/OPTIONS, answered below 400) may have changed
    what the overview shows: the request's instance's cached read is dropped in every console process,
    so the operator's next poll shows their own action."""
    if request.method not in ("GET", "HEAD", "OPTIONS") and response.status_code < 400:
        get_console().overview.invalidate()
    return response


redis_connections = RedisConnections()


def get_redis():
    """The current app's Redis client, always the default profile's: for sign-in throttles (shared by every
    instance). Everything else goes through get_console() (get_console(default=True) for what only the
    default instance has: webhooks and alerts)."""
    return current_app.extensions["redis"]


def get_console(default: bool = False) -> Console:
    """The front door to the RQ layer (dashboard/rqlayer/console.py) of the request's connection profile
    (dashboard/profiles.py); the default profile's outside a request, or with `default` (what only the
    default instance has: webhooks and alerts, whose deliveries its workers run)."""
    if has_request_context() and not default:
        name = request.environ.get(ENVIRON_PROFILE)
        if name is not None:
            return current_app.extensions["consoles"][name]
    return current_app.extensions["console"]
