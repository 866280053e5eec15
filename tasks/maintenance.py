"""Housekeeping of the files other tasks leave in the data directory."""

from __future__ import annotations

import math
import os
import stat
import time
from pathlib import Path

from .registry import task
from .settings import SUBDIRS, data_dir

# The result lists individual files only up to this many, to keep it small.
MAX_LISTED = 50


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


@task(queue="low", timeout=900)
def cleanup_old_files(max_age_hours: float = 24.0, dry_run: bool = False) -> dict:
    """Delete generated files older than max_age_hours from the data directory.

    Only the outbox, reports and images folders are cleaned; folders
    themselves are kept. Symbolic links are never followed or deleted, and
    nothing outside the data directory is touched.

    - max_age_hours: files last modified longer ago than this are deleted
    - dry_run: delete nothing; the counts then show what would be deleted
    """
    if isinstance(max_age_hours, bool) or not isinstance(max_age_hours, (int, float)):
        raise ValueError(f"max_age_hours must be a number, got {max_age_hours!r}")
    if not math.isfinite(max_age_hours) or max_age_hours < 0:
        raise ValueError(f"max_age_hours must be 0 or more, got {max_age_hours!r}")

    root = data_dir().resolve()
    cutoff = time.time() - max_age_hours * 3600
    summary = {"scanned": 0, "deleted": 0, "bytes_freed": 0, "kept": 0, "skipped": 0, "errors": 0}
    by_dir: dict[str, dict] = {}
    deleted_files: list[str] = []
    problems: list[str] = []

    for name in SUBDIRS:
        top = root / name
        counts = by_dir.setdefault(name, {"deleted": 0, "bytes_freed": 0})
        if not top.exists():
            continue
        # A folder that is itself a symlink could lead anywhere: leave it alone.
        if top.is_symlink() or not _inside(top.resolve(), root):
            summary["skipped"] += 1
            problems.append(f"{name}: is a link or points outside the data directory; skipped")
            continue
        # os.walk with followlinks=False never descends into linked folders.
        for dirpath, _dirnames, filenames in os.walk(top, followlinks=False):
            for filename in filenames:
                path = Path(dirpath) / filename
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    continue  # removed concurrently, e.g. by another clean-up
                summary["scanned"] += 1
                if not stat.S_ISREG(st.st_mode):
                    summary["skipped"] += 1  # symlinks, sockets, fifos
                    continue
                if st.st_mtime >= cutoff:
                    summary["kept"] += 1
                    continue
                if not dry_run:
                    try:
                        os.unlink(path)
                    except FileNotFoundError:
                        continue
                    except OSError as exc:
                        summary["errors"] += 1
                        if len(problems) < MAX_LISTED:
                            problems.append(f"{path.relative_to(root)}: {exc.strerror or exc}")
                        continue
                summary["deleted"] += 1
                summary["bytes_freed"] += st.st_size
                counts["deleted"] += 1
                counts["bytes_freed"] += st.st_size
                if len(deleted_files) < MAX_LISTED:
                    deleted_files.append(str(path.relative_to(root)))

    return {
        "dry_run": bool(dry_run),
        "max_age_hours": max_age_hours,
        "data_dir": str(root),
        **summary,
        "by_dir": by_dir,
        "deleted_files": deleted_files,
        "problems": problems,
    }
