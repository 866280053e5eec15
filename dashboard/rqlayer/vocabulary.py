"""The console's vocabulary: the words and rules every other module imports instead of spelling them.

States (the tabs a queue page shows) and job statuses (what RQ writes in a job hash), the one rule for a
queue name the console writes, the job-id rules, the one RQ time format, and the sizes of chunks and
pages. Which action applies to which status is the action catalogue's business (actions.py), not this
module's. Pure Python: no Redis, no web framework.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# ---------------------------------------------------------------- states and statuses

# States in the order pages show them. "queued" is the queue list; the rest are RQ's registries.
STATES = ("queued", "started", "deferred", "scheduled", "finished", "failed", "canceled", "ready_to_enqueue")
REGISTRY_STATES = STATES[1:]
# Queues a stock `rq worker high default low` drains first come first on the overview.
PRIORITY_ORDER = ("high", "default", "low")
# States whose jobs may carry an exception, so a list of them offers the exception filter.
EXCEPTION_FILTER_STATES = ("failed", "finished", "canceled")
# States whose rows carry a failure (exception type and message read from the latest result).
FAILURE_STATES = frozenset({"failed"})

# Every status RQ 3 writes into a job hash ("created" only briefly, before the first enqueue).
JOB_STATUSES = (
    "created",
    "queued",
    "started",
    "deferred",
    "scheduled",
    "finished",
    "failed",
    "stopped",
    "canceled",
    "ready_to_enqueue",
    "rate_limited",
)
# Statuses of a job that has not ended: it is still on its way to (or in) a worker.
LIVE_STATUSES = frozenset({"queued", "started", "deferred", "scheduled", "ready_to_enqueue", "rate_limited", "created"})
TERMINAL_STATUSES = ("finished", "failed", "stopped", "canceled")
# RQ 3's result types, as stored in the `type` field of a result stream entry.
RESULT_TYPES = {b"1": "finished", b"2": "failed", b"3": "stopped", b"4": "retried", b"5": "max retries exceeded"}

# ---------------------------------------------------------------- names and ids

# THE queue-name rule, for every name the console writes (move target, enqueue, schedule, @task): plain
# characters only, so a name never needs escaping in a key, a URL or a shell.
QUEUE_NAME_MAX = 100
QUEUE_NAME_RE = re.compile(rf"^[A-Za-z0-9_.:\-]{{1,{QUEUE_NAME_MAX}}}$")
QUEUE_NAME_RULE = f"a queue name is 1 to {QUEUE_NAME_MAX} letters, digits, and _ - . : characters"
# Queues other programs created may have any name RQ accepts (e.g. "队列"): lookups only bound it, so a
# URL cannot make the console build a huge key or one with whitespace.
_LOOKUP_NAME_RE = re.compile(r"^[^\s]{1,200}$")

# Job ids RQ accepts today are [A-Za-z0-9_-]; older ones were UUIDs. Anything else is no job of ours.
# Never a colon: "<id>:dependents" would name the job's sibling keys (sets), not a job.
JOB_ID_MAX = 200
JOB_ID_RE = re.compile(rf"^[A-Za-z0-9_.\-]{{1,{JOB_ID_MAX}}}$")
# An id the console gives a new job: what RQ 3 itself accepts (no dot either).
NEW_JOB_ID_RE = re.compile(rf"^[A-Za-z0-9_\-]{{1,{JOB_ID_MAX}}}$")
NEW_JOB_ID_RULE = f"letters, digits, - and _ only (at most {JOB_ID_MAX})"


def valid_queue_name(name: str) -> bool:
    """True when the console may write `name` as a queue name (QUEUE_NAME_RULE)."""
    return bool(name) and bool(QUEUE_NAME_RE.match(name))


def lookup_queue_name(name: str) -> bool:
    """True when `name` may be looked up as an existing queue (or worker): bounded, no whitespace."""
    return bool(name) and bool(_LOOKUP_NAME_RE.match(name))


def valid_job_id(job_id: str) -> bool:
    """True when `job_id` may name a job (an existing one: dots allowed for old ids)."""
    return bool(job_id) and bool(JOB_ID_RE.match(job_id))


def job_id_of_execution(member: str) -> str:
    """The job id of an RQ 3 execution: started-registry members and a worker's executions set hold
    "<job id>:<execution id>" (job ids carry no colon). A bare job id (RQ 2.x) is returned as is."""
    return member.split(":", 1)[0]


def valid_new_job_id(job_id: str) -> bool:
    """True when the console may give a new job this id (NEW_JOB_ID_RULE)."""
    return bool(job_id) and bool(NEW_JOB_ID_RE.match(job_id))


# ---------------------------------------------------------------- time

# RQ's own timestamp format (rq.utils.utcformat): UTC, microseconds, a literal Z.
RQ_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# Older RQ versions (and rq-scheduler's meta) wrote whole seconds: read both, write RQ_TIME_FORMAT.
RQ_TIME_FORMATS = (RQ_TIME_FORMAT, "%Y-%m-%dT%H:%M:%SZ")
RQ_TIME_FORMAT_SECONDS = RQ_TIME_FORMATS[1]
# What an HTML <input type="datetime-local"> sends and shows: local wall time, minutes.
FORM_DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


def rq_time(moment: datetime | None = None) -> str:
    """`moment` (default: now) in RQ's format, as RQ itself would write it."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime(RQ_TIME_FORMAT)


# ---------------------------------------------------------------- sizes

# Page sizes offered on lists and accepted by the API (a larger request is capped to the largest).
PAGE_SIZES = (25, 50, 100, 500)
DEFAULT_PAGE_SIZE = 50
# Characters a list filter (function, exception, arguments) may have: longer is refused (400).
MAX_FILTER_CHARS = 200
# The orders a list may be read in: RQ's own order ("oldest" first) or reversed.
ORDERS = ("oldest", "newest")
FAILED_PAGE_SIZE = 50  # the dead-letter view across queues
# Ids per Lua call of an action: about 7 ms of Redis time, never near the 50 ms budget.
ACTION_CHUNK = 500
# Ids read per step when a filter scans a registry (one ZRANGE/LRANGE and one pipelined read).
SCAN_CHUNK = 500
# Ids per step of a bulk operation and per pipeline of a batch enqueue or an export.
BULK_CHUNK = 1000
