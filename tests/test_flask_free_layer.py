"""What an `rq worker` process imports (the RQ layer, `tasks`) loads no web framework, checked in a fresh
interpreter per module (a module imported by an earlier test would hide a regression)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import PROJECT_ROOT

WEB = (
    "flask",
    "werkzeug",
    "jinja2",
    "sqlalchemy",
    "flask_sqlalchemy",
    "flask_login",
    "flask_wtf",
    "flask_migrate",
    "htmx_flask",
    "alembic",
    "gunicorn",
)
# Every module below the layer, subpackages included (dashboard.rqlayer.schedules.writes, ...).
LAYER = sorted(
    ".".join(p.relative_to(PROJECT_ROOT).with_suffix("").parts).removesuffix(".__init__")
    for p in (PROJECT_ROOT / "dashboard" / "rqlayer").rglob("*.py")
    if p.parent.name != "rqlayer" or p.stem != "__init__"
)

PROBE = """
import importlib, sys
importlib.import_module(sys.argv[1])
web = sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[2].split(',')))
print(','.join(web))
"""


# dashboard.alerts.mail: the alert e-mail job, run by workers; dashboard.rqconfig: the workers' `rq -c` settings.
@pytest.mark.parametrize(
    "module", ["dashboard", "dashboard.rqlayer", "tasks", "dashboard.alerts.mail", "dashboard.rqconfig", *LAYER]
)
def test_importing_loads_no_web_framework(module):
    result = subprocess.run(
        [sys.executable, "-c", PROBE, module, ",".join(WEB)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"importing {module} loads {result.stdout.strip()}"


def test_the_app_still_builds_through_the_package(tmp_path: Path, redis_url, sqlite_url):
    from tests.helpers import build_app, make_env

    app = build_app(make_env(redis_url, sqlite_url, tmp_path))
    assert app.name == "dashboard" and "overview.index" in app.view_functions
