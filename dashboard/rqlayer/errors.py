"""The one error family the RQ layer raises. Views never pick a status: dashboard/errors.py maps each
family member to its HTTP status in one place (HTML, HTMX fragment and JSON alike).

    LayerError          base: a message fit to show the operator (no traceback, no internals)
      NotFound    404   the queue / job / schedule / worker / operation named does not exist
      Conflict    409   it exists, but its current state refuses the request (wrong status, running,
                        wrong key type, a pass of the scheduler in progress, id taken)
      InvalidInput 422  the request itself is malformed (bad name, bad option, bad form field)

A layer module's own error class derives from one of these (e.g. `class UnknownQueue(NotFound)`), so
`except actions.ActionError` keeps working where a caller wants it, and nobody needs a try/except just
to choose a status. `fields` carries per-field messages for forms and the API (`{"queue": "..."}`).
These derive from ValueError: existing `except ValueError` callers keep catching them.
"""

from __future__ import annotations


class LayerError(ValueError):
    """A refusal by the RQ layer, with a message the operator can act on."""

    status = 400

    def __init__(self, message: str = "", *, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = str(message)
        self.fields = dict(fields or {})


class NotFound(LayerError):
    """What was named does not exist (HTTP 404)."""

    status = 404


class Conflict(LayerError):
    """It exists, but its current state refuses the request (HTTP 409)."""

    status = 409


class InvalidInput(LayerError):
    """The request is malformed: a bad name, option or field (HTTP 422)."""

    status = 422
