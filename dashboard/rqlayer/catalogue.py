"""The action catalogue: every action on jobs is defined here once.

Per action: its name (the one spelling used in URLs, forms and audit rows: `/jobs/<id>/<name>`, bulk
`action=<name>`, audit `job.<name>` / `bulk.<name>`), the job statuses it applies to, the Lua script that
performs it, its past tense, label and confirmation text, the permission it needs and whether it is
destructive. The single-job routes, the bulk routes and toolbar, the row and job-page buttons and the API
all read it; nothing else lists which action applies to which status.

Pure data, Flask-free: importing it costs nothing and touches no Redis.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from dashboard.permissions import JOBS_ACT, QUEUES_EMPTY
from dashboard.rqlayer.errors import NotFound
from dashboard.rqlayer.vocabulary import JOB_STATUSES

RETRYABLE = ("failed", "stopped", "canceled", "finished")
CANCELABLE = ("queued", "deferred", "scheduled", "ready_to_enqueue", "rate_limited")
DELETABLE = (
    "queued",
    "deferred",
    "scheduled",
    "ready_to_enqueue",
    "rate_limited",
    "failed",
    "stopped",
    "finished",
    "canceled",
    "created",
)
RUNNABLE_NOW = ("scheduled", "deferred")
ANY_STATUS = "*"  # delete whatever the job's status (but a running job, still refused)

# The registry (named by its state) a job of each status lives in, besides the queue list for "queued".
# Generated into the Lua prelude too (rqlayer/scripts.py), so the scripts and Python agree.
STATUS_REGISTRY = {
    "failed": "failed",
    "stopped": "failed",
    "finished": "finished",
    "canceled": "canceled",
    "deferred": "deferred",
    "scheduled": "scheduled",
    "ready_to_enqueue": "ready_to_enqueue",
}


def statuses_of(state: str) -> tuple[str, ...]:
    """The job statuses found in a queue state (the failed registry also holds stopped jobs)."""
    return ("failed", "stopped") if state == "failed" else (state,)


@dataclass(frozen=True)
class Action:
    name: str
    statuses: tuple[str, ...]
    script: str | None  # the Lua script (lua/<script>.lua); None for a command sent to a worker
    past: str
    label: str
    confirm: str = ""  # "{job}" is "job <id>" on a row, "this job" on the job page
    permission: str = JOBS_ACT
    destructive: bool = False
    single: bool = True  # offered on one job: row buttons, job page, POST /jobs/<id>/<name>
    bulk: bool = False  # offered on a selection: bulk toolbar, POST /queues/<q>/<state>/bulk
    default_position: str = "back"  # where a job goes when the form does not say (front / back)
    labels: dict[str, str] = field(default_factory=dict)  # a status whose label differs
    # Also offered on a job whose status is none of RQ's (planted, corrupt, expired row): the operator
    # gets an answer (the script refuses it, 409) instead of a row without a button.
    offered_on_unknown: bool = False

    def applies_to(self, status: str) -> bool:
        return status in self.statuses or (self.offered_on_unknown and status not in JOB_STATUSES)

    def applies_to_state(self, state: str) -> bool:
        """Whether some job of a queue state (a tab) may be acted on."""
        return any(s in self.statuses for s in statuses_of(state))

    def expected_in(self, state: str) -> tuple[str, ...]:
        """The statuses of `state` this action may move: a job that left them meanwhile is left alone."""
        return tuple(s for s in statuses_of(state) if s in self.statuses)

    def label_for(self, status: str = "") -> str:
        return self.labels.get(status, self.label)

    def confirm_for(self, job_id: str | None = None) -> str:
        return self.confirm.format(job=f"job {job_id}" if job_id else "this job")


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("retry", RETRYABLE, "retry", "retried", "Retry", bulk=True, labels={"finished": "Run again"}),
        Action("requeue", ("queued",), "requeue", "moved", "To front", default_position="front"),
        Action("move", ("queued",), "requeue", "moved", "Move", bulk=True),
        Action("run-now", RUNNABLE_NOW, "run_now", "queued to run now", "Run now", bulk=True),
        Action(
            "cancel",
            CANCELABLE,
            "cancel",
            "canceled",
            "Cancel",
            bulk=True,
            confirm="Cancel {job}? It moves to the canceled registry.",
        ),
        Action(
            "stop",
            ("started",),
            None,
            "stopped",
            "Stop",
            destructive=True,
            confirm="Stop {job}? It is running: its worker kills it, and it ends as stopped.",
        ),
        Action(
            "delete",
            DELETABLE,
            "delete",
            "deleted",
            "Delete",
            destructive=True,
            bulk=True,
            offered_on_unknown=True,
            confirm="Delete {job} and all its data? This cannot be undone.",
        ),
        # Emptying deletes every job of a state; it has its own route and asks for the queue's name.
        Action(
            "empty", DELETABLE, "delete", "deleted", "Empty", permission=QUEUES_EMPTY, destructive=True, single=False
        ),
    )
}

# Earlier spellings still accepted from forms and old bookmarks.
ALIASES = {"run_now": "run-now"}

# Long operations that are not job actions, for progress messages ("3 of 5 enqueued").
OPERATION_PAST = {"enqueue": "enqueued"}


class UnknownAction(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"No such action {name[:40]!r}.")


def get(name: str) -> Action:
    """The action spelled `name` (or an alias of it); UnknownAction (404) otherwise."""
    action = ACTIONS.get(ALIASES.get(name, name))
    if action is None:
        raise UnknownAction(name)
    return action


def find(name: str) -> Action | None:
    return ACTIONS.get(ALIASES.get(name, name))


def past_tense(name: str) -> str:
    action = find(name)
    return action.past if action else OPERATION_PAST.get(name, name.replace("-", " ").replace("_", " "))


@functools.lru_cache(maxsize=64)  # bounded: a planted status only costs one slot
def for_status(status: str) -> tuple[Action, ...]:
    """The actions offered on one job in `status` (row buttons and job page), in catalogue order.
    Cached: a page asks once per row."""
    return tuple(a for a in ACTIONS.values() if a.single and a.applies_to(status))


def for_state(state: str) -> tuple[Action, ...]:
    """The actions the bulk toolbar offers on a queue state (tab)."""
    return tuple(a for a in ACTIONS.values() if a.bulk and a.applies_to_state(state))


def names_for_status(status: str) -> frozenset[str]:
    return frozenset(a.name for a in for_status(status))


def names_for_state(state: str) -> frozenset[str]:
    return frozenset(a.name for a in for_state(state))
