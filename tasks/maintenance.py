"""Housekeeping of the files other tasks leave in the data directory."""

from __future__ import annotations

import math
import os
import stat
import time

from .registry import task
from .settings import SUBDIRS, data_dir

# The result lists individual files only up to this many, to keep it small.
MAX_LISTED = 50
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def _open_dir(name: str, dir_fd: int) -> int | None:
    """Open a sub-folder relative to an open folder, refusing symlinks; None if it is not a folder
    (any more): a name swapped for a link between listing and opening is skipped, not followed."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None


class _Sweep:
    """One clean-up pass. Every step is relative to an open folder descriptor, never a path
    string, so a folder swapped for a symlink mid-walk cannot redirect a deletion outside."""

    def __init__(self, cutoff: float, dry_run: bool) -> None:
        self.cutoff, self.dry_run = cutoff, dry_run
        self.summary = {"scanned": 0, "deleted": 0, "bytes_freed": 0, "kept": 0, "skipped": 0, "errors": 0}
        self.by_dir: dict[str, dict] = {}
        self.deleted_files: list[str] = []
        self.problems: list[str] = []

    def top(self, root_fd: int, name: str) -> None:
        counts = self.by_dir.setdefault(name, {"deleted": 0, "bytes_freed": 0})
        try:
            st = os.stat(name, dir_fd=root_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        top_fd = _open_dir(name, root_fd) if stat.S_ISDIR(st.st_mode) else None
        if top_fd is None:
            # A folder that is itself a symlink could lead anywhere: leave it alone.
            self.summary["skipped"] += 1
            self.problems.append(f"{name}: is a link or not a folder; skipped")
            return
        # Depth first with one open descriptor per level (not per folder seen), so a wide tree
        # cannot exhaust the worker's descriptors.
        stack: list[tuple[int, str, list[str]]] = [(top_fd, name, [])]
        try:
            stack[0] = (top_fd, name, self.folder(top_fd, name, counts))
            while stack:
                dir_fd, rel, subfolders = stack[-1]
                if not subfolders:
                    os.close(dir_fd)
                    stack.pop()
                    continue
                sub = subfolders.pop()
                sub_fd = _open_dir(sub, dir_fd)
                if sub_fd is not None:
                    stack.append((sub_fd, f"{rel}/{sub}", []))
                    stack[-1] = (sub_fd, f"{rel}/{sub}", self.folder(sub_fd, f"{rel}/{sub}", counts))
        finally:
            for dir_fd, _rel, _subs in stack:
                os.close(dir_fd)

    def folder(self, dir_fd: int, rel: str, counts: dict) -> list[str]:
        """Handle the files directly in dir_fd; returns the names of its sub-folders."""
        with os.scandir(dir_fd) as entries:
            names = [entry.name for entry in entries]
        subfolders = []
        for name in names:
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed concurrently, e.g. by another clean-up
            if stat.S_ISDIR(st.st_mode):
                subfolders.append(name)
            else:
                self.file(dir_fd, name, f"{rel}/{name}", st, counts)
        return subfolders

    def file(self, dir_fd: int, name: str, rel: str, st: os.stat_result, counts: dict) -> None:
        self.summary["scanned"] += 1
        if not stat.S_ISREG(st.st_mode):
            self.summary["skipped"] += 1  # symlinks, sockets, fifos
            return
        if st.st_mtime >= self.cutoff:
            self.summary["kept"] += 1
            return
        if not self.dry_run:
            try:
                # unlink never follows a final symlink, and dir_fd pins the folder it happens in.
                os.unlink(name, dir_fd=dir_fd)
            except FileNotFoundError:
                return
            except OSError as exc:
                self.summary["errors"] += 1
                if len(self.problems) < MAX_LISTED:
                    self.problems.append(f"{rel}: {exc.strerror or exc}")
                return
        self.summary["deleted"] += 1
        self.summary["bytes_freed"] += st.st_size
        counts["deleted"] += 1
        counts["bytes_freed"] += st.st_size
        if len(self.deleted_files) < MAX_LISTED:
            self.deleted_files.append(rel)


@task(queue="low", timeout=900)
def cleanup_old_files(max_age_hours: float = 24.0, dry_run: bool = False) -> dict:
    """Delete generated files older than max_age_hours from the data directory.

    Only the outbox, reports and images folders are cleaned; folders
    themselves are kept. Symbolic links are never followed or deleted, and
    nothing outside the data directory is touched, even when a folder is
    swapped for a link while the clean-up runs.

    - max_age_hours: files last modified longer ago than this are deleted
    - dry_run: delete nothing; the counts then show what would be deleted
    """
    if isinstance(max_age_hours, bool) or not isinstance(max_age_hours, (int, float)):
        raise ValueError(f"max_age_hours must be a number, got {max_age_hours!r}")
    if not math.isfinite(max_age_hours) or max_age_hours < 0:
        raise ValueError(f"max_age_hours must be 0 or more, got {max_age_hours!r}")

    root = data_dir().resolve()
    sweep = _Sweep(time.time() - max_age_hours * 3600, bool(dry_run))
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in SUBDIRS:
            sweep.top(root_fd, name)
    finally:
        os.close(root_fd)

    return {
        "dry_run": bool(dry_run),
        "max_age_hours": max_age_hours,
        "data_dir": str(root),
        **sweep.summary,
        "by_dir": sweep.by_dir,
        "deleted_files": sweep.deleted_files,
        "problems": sweep.problems,
    }
