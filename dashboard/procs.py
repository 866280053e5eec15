"""Process bookkeeping for `make run`: adopt orphans, list descendants, reap, kill what is left.

Flask-free, Linux-first. RQ forks each job's work horse into its own process group (os.setpgrp in
rq's fork_work_horse), so signalling a worker's group misses the horse; when its worker dies the
horse is re-parented. Marking the runner a child subreaper makes such orphans our children instead
of init's, so walking /proc from our pid finds every process `make run` started, however it hid.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
_PROC = Path("/proc")


def become_subreaper() -> bool:
    """Ask the kernel to re-parent our orphaned descendants to us. Cost: one syscall.
    Returns False where prctl is unavailable (not Linux); the /proc walk then finds fewer orphans."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or parentheses.
    return raw[raw.rindex(")") + 2 :].split()


def process_table() -> dict[int, tuple[int, str]]:
    """{pid: (ppid, state)} for every process visible in /proc. Cost: one read per process."""
    table = {}
    for entry in _PROC.iterdir() if _PROC.is_dir() else ():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields:
                table[int(entry.name)] = (int(fields[1]), fields[0])
    return table


def start_time(pid: int) -> str | None:
    """The kernel's start time of pid (clock ticks since boot): with the pid it names one process
    for ever, so a recycled pid is not mistaken for the one recorded."""
    fields = _stat_fields(pid)
    return fields[19] if fields else None


def descendants(root: int, table: dict[int, tuple[int, str]] | None = None) -> list[int]:
    """Living (non-zombie) descendants of root, parents before children."""
    table = process_table() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (ppid, _state) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], list(children.get(root, ()))
    while todo:
        pid = todo.pop(0)
        if table[pid][1] != "Z":
            found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def reap_adopted(keep: set[int]) -> None:
    """Collect the exit status of orphans that died as our children, except the pids in keep
    (those belong to subprocess.Popen objects, which must read their own status)."""
    me = os.getpid()
    for pid, (ppid, state) in process_table().items():
        if ppid == me and state == "Z" and pid not in keep:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def kill_all(pids: list[int], sig: int = signal.SIGKILL) -> int:
    """Signal each pid; returns how many were still there to receive it."""
    hit = 0
    for pid in pids:
        try:
            os.kill(pid, sig)
            hit += 1
        except (ProcessLookupError, PermissionError):
            pass
    return hit
