"""The four flow actions on a queue: every fact about each once (its name in URLs and the audit log, its
event type, label, past tense, confirmation), and the calls that perform them and append their event.

    pause             audit queue.pause             event queue_paused              (extra until)
    resume            audit queue.resume            event queue_resumed
    rate-limit        audit queue.rate-limit        event queue_rate_limited        (extra limit)
    clear-rate-limit  audit queue.clear-rate-limit  event queue_rate_limit_cleared

Pausing or limiting needs an existing queue (in RQ's queue set, or with jobs or registries under its
name): a typo would otherwise pause nothing anyone sees. Resuming and clearing work on any name, so
state left behind by a deleted queue can always be removed. Pure data plus thin calls; no web framework.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from dashboard.rqlayer import feed
from dashboard.rqlayer.errors import NotFound
from dashboard.rqlayer.flow import state
from dashboard.rqlayer.flow.model import limit_from
from dashboard.rqlayer.jobs import queue_exists
from dashboard.rqlayer.vocabulary import lookup_queue_name

PAUSED, RESUMED, LIMITED, CLEARED = feed.QUEUE_FLOW_TYPES

# The reads, beside the writes, for the front door (console.flow.read_queue(name), .read_book()).
read_queue = state.read_queue
read_book = state.read_book


@dataclass(frozen=True)
class FlowAction:
    name: str  # URL segment (/queues/<q>/<name>) and audit action (queue.<name>)
    event: str  # the event stream's type
    label: str
    past: str
    confirm: str = ""  # "{queue}" is the queue's name

    @property
    def audit_name(self) -> str:
        return f"queue.{self.name}"


ACTIONS: dict[str, FlowAction] = {
    a.name: a
    for a in (
        FlowAction(
            "pause",
            PAUSED,
            "Pause",
            "paused",
            confirm="Pause queue {queue}? Workers running the console's extension stop taking its jobs within a "
            "second (running jobs finish; jobs can still be enqueued). Stock RQ workers ignore it.",
        ),
        FlowAction("resume", RESUMED, "Resume", "resumed"),
        FlowAction("rate-limit", LIMITED, "Set limit", "rate limited"),
        FlowAction("clear-rate-limit", CLEARED, "Clear limit", "no longer rate limited"),
    )
}


def get(name: str) -> FlowAction:
    action = ACTIONS.get(name)
    if action is None:
        raise NotFound(f"No such queue action {name[:40]!r}.")
    return action


def _existing(connection: redis.Redis, queue: str) -> str:
    if not queue_exists(connection, queue):  # also refuses names no queue can have
        raise NotFound(f"There is no queue named {queue[:80]!r}.")
    return queue


def _known(queue: str) -> str:
    if not lookup_queue_name(queue):
        raise NotFound(f"There is no queue named {queue[:80]!r}.")
    return queue


def pause(connection: redis.Redis, queue: str, actor: str, until: datetime | None = None) -> state.Change:
    """Pause an existing queue, until `until` (aware) or until resumed; append queue_paused.
    Cost: three round trips (existence, the MULTI, the event). NotFound / InvalidInput refuse it."""
    ends = None if until is None else until.astimezone(UTC).timestamp()
    change = state.pause(connection, _existing(connection, queue), actor, ends, time.time())
    extra = {"until": until.astimezone(UTC).isoformat()} if until is not None else {}
    feed.record(connection, PAUSED, actor, queue=queue, extra=extra)
    return change


def _lift(
    connection: redis.Redis, queue: str, actor: str, write: Callable[[redis.Redis, str], state.Change], event: str
) -> state.Change:
    """Resume or clear: any name that may be a queue's, the event only when something was lifted."""
    change = write(connection, _known(queue))
    if change.changed:
        feed.record(connection, event, actor, queue=queue)
    return change


def resume(connection: redis.Redis, queue: str, actor: str) -> state.Change:
    """End a queue's pause; appends queue_resumed only when it was paused. Cost: two round trips."""
    return _lift(connection, queue, actor, state.resume, RESUMED)


def set_limit(
    connection: redis.Redis, queue: str, actor: str, per_second: object = None, per_minute: object = None
) -> state.Change:
    """Limit an existing queue to `per_second` or `per_minute` jobs (exactly one; validated, InvalidInput
    naming the field otherwise); append queue_rate_limited with the limit as entered."""
    amount, unit = limit_from(per_second, per_minute)
    change = state.set_limit(connection, _existing(connection, queue), amount, unit, actor)
    words = change.flow.limit.words if change.flow.limit is not None else ""
    feed.record(connection, LIMITED, actor, queue=queue, extra={"limit": words})
    return change


def clear_limit(connection: redis.Redis, queue: str, actor: str) -> state.Change:
    """Remove a queue's rate limit; appends queue_rate_limit_cleared only when it had one."""
    return _lift(connection, queue, actor, state.clear_limit, CLEARED)
