"""The console. Importing this package loads no web framework: RQ workers import `dashboard.rqlayer`
(and `tasks`), so Flask is loaded only when `create_app()` builds the app (dashboard/factory.py)."""

from __future__ import annotations


def create_app(settings=None, **overrides):
    """Build the Flask app: settings (default: the environment), extensions, blueprints, error pages.
    `overrides` go into app.config (tests use them)."""
    from dashboard.factory import create_app as build

    return build(settings, **overrides)
