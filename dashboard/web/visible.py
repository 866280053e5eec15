"""The visibility policy (dashboard/visibility.py) for the principal of the current request."""

from __future__ import annotations

from dashboard.auth import can
from dashboard.permissions import VIEW_JOB_VALUES
from dashboard.visibility import Visibility


def visibility() -> Visibility:
    """Built from the permissions, never the role name: a role gains or loses sight in permissions.py."""
    return Visibility(values=can(VIEW_JOB_VALUES))
