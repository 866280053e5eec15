"""Every Redis key name the console reads or writes, built from RQ's own key prefix.

RQ 3 reads `RQ_KEY_PREFIX` from the environment at import time (for Redis Cluster hash tags such as
`{rq}`); taking it from `rq.defaults` keeps the console on the same keys as the workers. No other
module spells a key.
"""

from __future__ import annotations

from rq.defaults import RQ_KEY_PREFIX

PREFIX = RQ_KEY_PREFIX

# Registry names as RQ spells them in its key templates (`rq:wip:<q>` is the started registry).
REGISTRY_SEGMENTS = {
    "started": "wip",
    "finished": "finished",
    "failed": "failed",
    "deferred": "deferred",
    "scheduled": "scheduled",
    "canceled": "canceled",
    "ready_to_enqueue": "ready",
}


def queues() -> str:
    return f"{PREFIX}:queues"


def queue(name: str) -> str:
    return f"{PREFIX}:queue:{name}"


def queue_prefix() -> str:
    return f"{PREFIX}:queue:"


def queue_name_from_key(key: str) -> str:
    return key[len(queue_prefix()) :] if key.startswith(queue_prefix()) else key


def registry(state: str, queue_name: str) -> str:
    return f"{PREFIX}:{REGISTRY_SEGMENTS[state]}:{queue_name}"


def job(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def job_dependents(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:dependents"


def job_dependencies(job_id: str) -> str:
    # Two colons: RQ's Job.dependencies_key really is spelled this way.
    return f"{PREFIX}:job::{job_id}:dependencies"


def results(job_id: str) -> str:
    return f"{PREFIX}:results:{job_id}"


def workers() -> str:
    return f"{PREFIX}:workers"


def workers_of_queue(queue_name: str) -> str:
    return f"{PREFIX}:workers:{queue_name}"


def worker_prefix() -> str:
    return f"{PREFIX}:worker:"


def worker(name: str) -> str:
    return f"{PREFIX}:worker:{name}"


def worker_name_from_key(key: str) -> str:
    return key[len(worker_prefix()) :] if key.startswith(worker_prefix()) else key


def worker_executions(name: str) -> str:
    return f"{PREFIX}:worker:{name}:executions"


def suspended() -> str:
    return f"{PREFIX}:suspended"


def builtin_scheduler_lock(queue_name: str) -> str:
    return f"{PREFIX}:scheduler-lock:{queue_name}"


def rate_limit_keys() -> str:
    return f"{PREFIX}:rl-keys"


def rate_limit_config(limit_key: str) -> str:
    return f"{PREFIX}:rl:{limit_key}"


def rate_limit_allowed(limit_key: str) -> str:
    return f"{PREFIX}:rl:{limit_key}:allowed"


def rate_limited(limit_key: str) -> str:
    return f"{PREFIX}:rl:{limit_key}:rate_limited"


def intermediate_queue(name: str) -> str:
    """RQ's intermediate list of a queue (a worker on exactly one queue BLMOVEs each job id into it)."""
    return f"{PREFIX}:queue:{name}:intermediate"


# rq-scheduler hard-codes its keys: it does not follow RQ_KEY_PREFIX (checked in 0.14.0).
RQ_SCHEDULER_JOBS = "rq:scheduler:scheduled_jobs"
RQ_SCHEDULER_LOCK = "rq:scheduler_lock"


# The console's own keys live under RQ's prefix too, so a Redis Cluster hash tag keeps them together.
def login_failures(kind: str, subject: str) -> str:
    return f"{PREFIX}:console:login-failures:{kind}:{subject}"


def bulk_operation(op_id: str) -> str:
    return f"{PREFIX}:console:bulk:{op_id}"


def bulk_operations() -> str:
    return f"{PREFIX}:console:bulk-operations"


def paused_schedules() -> str:
    """Hash of paused rq-scheduler schedules: id -> JSON {"score": epoch, "paused_at": epoch}."""
    return f"{PREFIX}:console:paused-schedules"


def cron_schedulers() -> str:
    """RQ 3's registry of `rq cron` processes (zset: name -> last heartbeat)."""
    return f"{PREFIX}:cron_schedulers"


def cron_scheduler(name: str) -> str:
    return f"{PREFIX}:cron_scheduler:{name}"


def cron_job_history(name: str) -> str:
    """RQ 3's history of one `rq cron` entry (zset: id of each job it enqueued -> enqueue epoch; RQ keeps
    the newest DEFAULT_CRON_JOB_HISTORY_LIMIT, 1,000)."""
    return f"{PREFIX}:cron_job:{name}:jobs"


# Keys only the Lua action scripts touch (their Lua spelling is generated from these: rqlayer/scripts.py).
def job_executions(job_id: str) -> str:
    return f"{PREFIX}:executions:{job_id}"


def group(group_id: str) -> str:
    return f"{PREFIX}:group:{group_id}"


def worker_commands(name: str) -> str:
    """The pub/sub channel a worker listens on for commands (stop-job, shutdown, kill-horse)."""
    return f"{PREFIX}:pubsub:{name}"


# Telemetry written by the worker extension (dashboard/rqlayer/telemetry/): per-minute metrics and one
# event stream. Queue and function names never appear in these keys (a series is named by a digest).
def metrics_minute(minute: int, series_id: str) -> str:
    """Hash of one series' counters for one minute (`minute` = epoch seconds // 60); expires."""
    return f"{PREFIX}:console:metrics:{minute}:{series_id}"


def metrics_flush(token: str) -> str:
    """String: the number of the last in-memory count flush applied for one worker process (telemetry/buffer.py),
    so a flush whose reply was lost and that is sent again is not counted twice; expires."""
    return f"{PREFIX}:console:metrics-flush:{token}"


def metrics_series() -> str:
    """Zset of the series seen recently: JSON [queue, function or null] -> last minute written."""
    return f"{PREFIX}:console:metrics-series"


def metrics_totals() -> str:
    """Hash of every series' monotonic totals (Prometheus counters): "<totals id>:<field>" -> integer."""
    return f"{PREFIX}:console:metrics-totals"


def metrics_totals_index() -> str:
    """Zset of the series that have totals (at most SERIES_CAP): JSON [queue, function or null] -> minute."""
    return f"{PREFIX}:console:metrics-totals-series"


def events() -> str:
    """The capped stream of job lifecycle events (workers) and console actions."""
    return f"{PREFIX}:console:events"


# The history collector (dashboard/history): its status for the history page, and its cursors (registry
# sweep positions, rollup minutes, when each periodic task is next due).
def history_collector() -> str:
    """Hash: the collector's last batch, lag, pending, gap and error (telemetry/consumer.py)."""
    return f"{PREFIX}:console:history-collector"


def history_state() -> str:
    """Hash: the collector's cursors and due times (field names are the collector's own)."""
    return f"{PREFIX}:console:history-state"


def webhook_endpoints_version() -> str:
    """String set to a new random value at every change of a webhook endpoint: outbox.send re-reads the
    endpoints from SQL only when it changed (dashboard/webhooks/endpoints.py)."""
    return f"{PREFIX}:console:webhook-endpoints-version"


# Per-queue pause and rate limit (dashboard/rqlayer/flow/): the console writes them, ConsoleWorker honours them.
def flow_state() -> str:
    """Hash of every queue's flow state: "pause:<q>" and "limit:<q>" -> JSON (flow/model.py)."""
    return f"{PREFIX}:console:flow"


def flow_limiter(queue_name: str) -> str:
    """Hash of one rate-limited queue's shared limiter (GCRA time and rate counters, flow/take.lua)."""
    return f"{PREFIX}:console:flow-limiter:{queue_name}"


def flow_changes() -> str:
    """Pub/sub channel the console publishes on after each flow change: extension workers refresh at once."""
    return f"{PREFIX}:console:flow-changes"


def replays() -> str:
    """Zset of replay operations (bulk operation ids) by start time: the replay history page."""
    return f"{PREFIX}:console:replays"


def replay_touched(op_id: str) -> str:
    """Set of the job ids one replay retried: the job lists' "touched by this operation" filter."""
    return f"{PREFIX}:console:replay:{op_id}:touched"


def saved_views(user: str) -> str:
    """Hash of one user's saved views: name -> console-relative URL (rqlayer/views.py)."""
    return f"{PREFIX}:console:views:{user}"


def overview_generation() -> str:
    """String counter every successful console action increments: a process's cached overview is served
    only while it is unchanged (rqlayer/readcache.py)."""
    return f"{PREFIX}:console:overview-generation"
