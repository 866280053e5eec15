"""Flask extensions, created unbound here and bound to the app in create_app()."""

from __future__ import annotations

from flask import current_app, request
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx

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

    def init_app(self, app, url: str, timeout: float, unsafe: bool = False, read_cache_seconds: float = 0.0) -> None:
        connection = connect(url, timeout=timeout)
        app.extensions["redis"] = connection
        app.extensions["redis_url"] = url
        app.extensions["console"] = console = Console(
            connection, unsafe=unsafe, redis_url=url, read_cache_seconds=read_cache_seconds
        )
        if read_cache_seconds > 0:
            app.after_request(_after_action(console))


def _after_action(console: Console):
    """A successful state change (any method but GET/HEAD/OPTIONS, answered below 400) may have changed
    what the overview shows: its cached read is dropped in every console process, so the operator's
    next poll shows their own action."""

    def hook(response):
        if request.method not in ("GET", "HEAD", "OPTIONS") and response.status_code < 400:
            console.overview.invalidate()
        return response

    return hook


redis_connections = RedisConnections()


def get_redis():
    """The current app's Redis client (for the few non-RQ uses: sign-in throttling). RQ data goes
    through get_console()."""
    return current_app.extensions["redis"]


def get_console() -> Console:
    """The current app's front door to the RQ layer (dashboard/rqlayer/console.py)."""
    return current_app.extensions["console"]
