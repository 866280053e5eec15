"""Presentation helpers for the job page: the Python call that re-enqueues a job, and tracebacks
split into the application's frames and library frames."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dashboard.rqlayer.jobdetail import JobDetail

LIBRARY_MARKERS = ("site-packages", "dist-packages", "/lib/python3", "<frozen ")
MAX_SNIPPET = 20_000  # beyond this, "copy as code" would paste megabytes into the page
FRAME_RE = re.compile(r'^\s*File "(?P<file>[^"]+)", line \d+')


def enqueue_snippet(job: JobDetail, serializer: str = "pickle") -> str:
    """Python that would enqueue the same call again, or "" when the arguments are not readable; on an
    instance writing JSON (`serializer`, console.capabilities') with RQ's JSONSerializer, as its workers read."""
    call = job.call
    if not call.func_name or not call.args.safe or not call.kwargs.safe:
        return ""
    options = [repr(call.func_name)]
    if call.args.value:
        options.append(f"args={tuple(call.args.value)!r}")
    if call.kwargs.value:
        options.append(f"kwargs={call.kwargs.value!r}")
    if job.timeout:
        options.append(f"timeout={job.timeout}")
    queue = job.row.origin or "default"
    if sum(len(option) for option in options) > MAX_SNIPPET:
        return ""
    imports, queue_options = "from redis import Redis\nfrom rq import Queue\n", ""
    if serializer == "json":
        imports += "from rq.serializers import JSONSerializer\n"
        queue_options = ", serializer=JSONSerializer"
    return (
        f"{imports}\nQueue({queue!r}, connection=Redis.from_url(REDIS_URL){queue_options}).enqueue_call(\n    "
        + ",\n    ".join(options)
        + ",\n)"
    )


@dataclass(frozen=True)
class TracebackPart:
    text: str
    library: bool


def split_traceback(tb: str) -> list[TracebackPart]:
    """Consecutive lines grouped into parts; a frame in an installed library is a library part, so
    the page can fold them and keep the application's own frames in view."""
    parts: list[TracebackPart] = []
    current: list[str] = []
    current_library = False
    for line in tb.splitlines():
        match = FRAME_RE.match(line)
        if match:
            library = any(marker in match.group("file") for marker in LIBRARY_MARKERS)
            if current and library != current_library:
                parts.append(TracebackPart("\n".join(current), current_library))
                current = []
            current_library = library
        elif not line.startswith(" ") and current_library:
            # The exception line after library frames belongs to the visible part.
            parts.append(TracebackPart("\n".join(current), True))
            current, current_library = [], False
        current.append(line)
    if current:
        parts.append(TracebackPart("\n".join(current), current_library))
    return parts
