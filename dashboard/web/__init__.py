"""One blueprint per area of the console."""

from __future__ import annotations


def register_blueprints(app) -> None:
    from dashboard.web import formatting, health, overview

    formatting.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(overview.bp)
