"""The state file `make run` leaves in the data directory (run.env): which Redis and database the
running console uses, so `make demo` and every `flask --app app ...` beside it reach the same ones.

Flask-free. The file is trusted only while it is live: the recorded runner pid is alive with the
recorded start time (a recycled pid does not count) and the recorded Redis answers. An explicit
environment variable always wins over it.
"""

from __future__ import annotations

import os
from pathlib import Path

from dashboard import procs

FILENAME = "run.env"
SHARED = ("REDIS_URL", "DATABASE_URL")


def path_in(data_dir: Path) -> Path:
    return data_dir / FILENAME


def write(data_dir: Path, values: dict[str, str]) -> Path:
    """Record values for this process (mode 0600: a URL may carry a password). Atomic: readers see
    the old file or the new one, never half of one."""
    pid = os.getpid()
    lines = [
        f"# written by `make run` (pid {pid}); removed when it stops",
        f"RUNNER_PID={pid}",
        f"RUNNER_START={procs.start_time(pid) or ''}",
    ]
    lines += [f"{key}={value}" for key, value in values.items()]
    target = path_in(data_dir)
    temp = target.with_name(f".{FILENAME}.{pid}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(temp, target)
    return target


def remove_if_mine(data_dir: Path) -> None:
    """Delete the file if this process wrote it (a second runner's file is left alone)."""
    target = path_in(data_dir)
    if read(target).get("RUNNER_PID") == str(os.getpid()):
        target.unlink(missing_ok=True)


def read(target: Path) -> dict[str, str]:
    try:
        text = target.read_text()
    except (OSError, UnicodeDecodeError):
        return {}
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            values[key.strip()] = value.strip()
    return values


def live(data_dir: Path) -> tuple[dict[str, str], str]:
    """(values, why): the recorded values when the runner that wrote them still runs and its Redis
    answers, else ({}, the reason). Cost: a /proc read and, when the file exists, one Redis PING
    with a 0.5 s timeout."""
    target = path_in(data_dir)
    values = read(target)
    if not values:
        return {}, f"no `make run` is running here ({target} absent)"
    pid = values.get("RUNNER_PID", "")
    if (
        not pid.isdigit()
        or procs.start_time(int(pid)) in (None, "")
        or procs.start_time(int(pid)) != values.get("RUNNER_START")
    ):
        return {}, f"{target} is stale: the `make run` that wrote it (pid {pid}) has stopped"
    if not redis_answers(values.get("REDIS_URL", "")):
        return {}, f"{target} is stale: its Redis does not answer"
    return {key: values[key] for key in SHARED if values.get(key)}, f"the running `make run` (pid {pid}, {target})"


def redis_answers(url: str, timeout: float = 0.5) -> bool:
    """True when a Redis answers PING at url. Cost: one connection, at most ~2 x timeout."""
    import redis

    from dashboard.rqlayer.connection import connect  # redis+sentinel:// URLs too

    if not url:
        return False
    try:
        return bool(connect(url, timeout=timeout).ping())
    except (redis.exceptions.RedisError, OSError, ValueError):
        return False


def resolve(env, data_dir: Path) -> tuple[dict, str]:
    """(env with REDIS_URL/DATABASE_URL filled from a live run.env where env lacks them, where the
    Redis URL comes from, in words)."""
    if env.get("REDIS_URL") and env.get("DATABASE_URL"):
        return env, "REDIS_URL"
    values, why = live(data_dir)
    merged = dict(env)
    for key, value in values.items():
        if not merged.get(key):
            merged[key] = value
    if env.get("REDIS_URL"):
        return merged, "REDIS_URL"
    if values.get("REDIS_URL"):
        return merged, why
    return merged, f"the default: REDIS_URL is not set and {why}"
