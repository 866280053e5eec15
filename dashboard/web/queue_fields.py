"""Queue fields (enqueue, batch enqueue, schedules): a name nobody knows needs the operator's confirmation.

The form shows the existing queues as suggestions (<datalist>); on submit, a queue that is not in RQ's
queue set, that no worker listens to, that no registered task declares and that is not one of the
standard queues (high, default, low) — a typo such as "hihg" — is not used until the operator presses
"Create queue X and …", which resubmits the same form with `confirm_queue=X`: that confirms exactly
that name, so editing the field afterwards asks again. Moves have their own step (actions.UnknownQueue)."""

from __future__ import annotations

from flask import request

from dashboard.extensions import get_console
from dashboard.rqlayer.vocabulary import PRIORITY_ORDER

CONFIRM_FIELD = "confirm_queue"


def unconfirmed_new_queue(queue: str, known: str = "") -> str | None:
    """`queue` when it is new and this request did not confirm it, else None. `known`: a queue the
    thing already used (an edited schedule's own), which needs no confirmation. Cost: one round trip."""
    if not queue or queue in (known, *PRIORITY_ORDER) or request.form.get(CONFIRM_FIELD, "") == queue:
        return None
    console = get_console()
    if any(spec.queue == queue for spec in console.tasks.all()):  # declared in tasks/: not a typo
        return None
    return None if console.actions.queue_known(queue) else queue
