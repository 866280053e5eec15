"""Where tasks keep the files they produce.

Everything lives under one data directory so that the clean-up task has a
single, well-defined boundary it must never step outside of. The location is
read from the environment on every call (not at import time) so a worker, the
web app and the tests can each point it somewhere else.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "CONSOLE_DATA_DIR"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

OUTBOX = "outbox"
REPORTS = "reports"
IMAGES = "images"
SUBDIRS = (OUTBOX, REPORTS, IMAGES)


def data_dir() -> Path:
    """The root data directory: $CONSOLE_DATA_DIR, or ``var/`` in the project root."""
    raw = os.environ.get(ENV_VAR, "").strip()
    # Resolved to an absolute path because the web app and the workers may
    # run from different working directories.
    path = Path(raw).expanduser().resolve() if raw else PROJECT_ROOT / "var"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _subdir(name: str) -> Path:
    path = data_dir() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def outbox_dir() -> Path:
    """Local mail outbox (a Maildir) used when no SMTP server is configured."""
    return _subdir(OUTBOX)


def reports_dir() -> Path:
    """Generated CSV reports."""
    return _subdir(REPORTS)


def images_dir() -> Path:
    """Generated sample images and thumbnails."""
    return _subdir(IMAGES)
