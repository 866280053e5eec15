"""Entry point: `gunicorn app:app`, `flask --app app ...`."""

import sys

from dashboard import create_app
from dashboard.settings import SettingsError

try:
    app = create_app()
except SettingsError as error:
    # One line naming the variable, not a traceback.
    sys.exit(f"error: {error}")
