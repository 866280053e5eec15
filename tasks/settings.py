"""Where tasks keep the files they produce.

Everything lives under one data directory so that the clean-up task has a
single, well-defined boundary it must never step outside of. The location is
read from the environment on every call (not at import time) so a worker, the
web app and the tests can each point it somewhere else.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

ENV_VAR = "CONSOLE_DATA_DIR"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

OUTBOX = "outbox"
REPORTS = "reports"
IMAGES = "images"
SUBDIRS = (OUTBOX, REPORTS, IMAGES)
DEFAULT_SENDER = "console@localhost"


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


class NotInDataDir(FileNotFoundError):
    """A path that is missing, not a regular file, or outside the data directory: one error for all
    three, so a task's failure never tells whether some file elsewhere on the worker exists."""


def open_inside(user_path: str, base: Path) -> tuple[BinaryIO, str]:
    """Open a regular file for reading, confined to the data directory: (file, path relative to it).

    `user_path` is relative to `base` (a folder of the data directory) or absolute. It is resolved,
    then checked to lie inside the data directory; then it is opened component by component from
    the data directory with O_NOFOLLOW, so a symlink swapped in after the check is never followed.
    Raises NotInDataDir (same message whatever the cause). Cost: one open per path component."""
    root = data_dir()
    message = f"not found in the data directory: {user_path!r}"
    try:
        candidate = (base / user_path).resolve()
    except (OSError, RuntimeError, ValueError):
        raise NotInDataDir(message) from None
    if not candidate.is_relative_to(root) or candidate == root:
        raise NotInDataDir(message)
    parts = candidate.relative_to(root).parts
    dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            os.close(dir_fd)
            dir_fd = next_fd
        # O_NONBLOCK: opening a FIFO planted in the folder must not hang the worker.
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        raise NotInDataDir(message) from None
    finally:
        os.close(dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotInDataDir(message)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb"), "/".join(parts)


def allowed_senders() -> tuple[str, ...]:
    """The sender addresses e-mail tasks may use: $MAIL_ALLOWED_SENDERS (comma-separated), by
    default only DEFAULT_SENDER. Compared case-insensitively, display names aside."""
    raw = os.environ.get("MAIL_ALLOWED_SENDERS", "").strip()
    senders = [s.strip().lower() for s in raw.split(",") if s.strip()] if raw else [DEFAULT_SENDER]
    return tuple(senders)
