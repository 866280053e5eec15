"""Flask extensions, created unbound here and bound to the app in create_app()."""

from __future__ import annotations

from flask import current_app
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx

from dashboard.rqlayer.connection import connect

db = SQLAlchemy()
migrate = Migrate()
htmx = Htmx()
csrf = CSRFProtect()
login_manager = LoginManager()


class RedisConnections:
    """One Redis client (with its own pool) per app, not per module: tests and, later, several
    Redis instances each get their own."""

    def init_app(self, app, url: str, timeout: float) -> None:
        app.extensions["redis"] = connect(url, timeout=timeout)
        app.extensions["redis_url"] = url


redis_connections = RedisConnections()


def get_redis():
    """The current app's Redis client."""
    return current_app.extensions["redis"]
