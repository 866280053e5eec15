"""Named permissions and the roles that hold them.

Features declare the permission they need (`@requires("jobs.retry")`), never a role: adding a role
or moving a permission is one edit here. What a principal without VIEW_JOB_VALUES still sees of a job
(and what it does not) is decided in one place: dashboard/visibility.py.
"""

from __future__ import annotations

VIEW = "console.view"
VIEW_JOB_VALUES = "jobs.view_values"
JOBS_ACT = "jobs.act"
JOBS_ENQUEUE = "jobs.enqueue"
QUEUES_EMPTY = "queues.empty"
WORKERS_CONTROL = "workers.control"
SCHEDULES_MANAGE = "schedules.manage"
USERS_MANAGE = "users.manage"
AUDIT_VIEW = "audit.view"
QUEUES_FLOW = "queues.flow"  # pause / resume a queue, set or clear its rate limit
ALERTS_MANAGE = "alerts.manage"  # alert rules: create, edit, enable, delete, test (everyone sees their state)
WEBHOOKS_VIEW = "webhooks.view"  # endpoints (URLs without their query) and the delivery log
WEBHOOKS_REDELIVER = "webhooks.redeliver"
WEBHOOKS_MANAGE = "webhooks.manage"  # create, edit, enable, rotate the secret, test, delete; full URLs

_VIEWER = frozenset({VIEW, VIEW_JOB_VALUES})
_OPERATOR = _VIEWER | {JOBS_ACT, JOBS_ENQUEUE, SCHEDULES_MANAGE, QUEUES_FLOW, WEBHOOKS_VIEW, WEBHOOKS_REDELIVER}
_ADMIN = _OPERATOR | {QUEUES_EMPTY, WORKERS_CONTROL, USERS_MANAGE, AUDIT_VIEW, ALERTS_MANAGE, WEBHOOKS_MANAGE}

ROLES: dict[str, frozenset[str]] = {"viewer": _VIEWER, "operator": _OPERATOR, "admin": _ADMIN}


def permissions_for(role: str, hide_values_from_viewers: bool = False) -> frozenset[str]:
    """The permissions of `role`; viewers lose sight of argument/result values when configured."""
    perms = ROLES.get(role, frozenset())
    if role == "viewer" and hide_values_from_viewers:
        perms = perms - {VIEW_JOB_VALUES}
    return perms
