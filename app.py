"""Entry point: `gunicorn app:app`, `flask --app app ...`."""

import sys

from dashboard import create_app
from dashboard.settings import SettingsError

APP_LOAD_ERROR = 4  # gunicorn's code for "the app cannot load": its master stops instead of respawning

try:
    app = create_app()
except SettingsError as error:
    # One line naming the variable, not a traceback.
    print(f"error: {error}", file=sys.stderr)
    sys.exit(APP_LOAD_ERROR)
