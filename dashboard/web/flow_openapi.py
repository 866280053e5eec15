"""The OpenAPI description of the per-queue flow routes (web/flow.py), kept beside its view's module; the
document itself is web/openapi.py's."""

from __future__ import annotations

from dashboard.rqlayer.flow.model import MAX_PER_SECOND, MIN_PER_SECOND

_ERROR = {"$ref": "#/components/schemas/Error"}
_QUEUE = {"name": "queue", "in": "path", "required": True, "schema": {"type": "string"}}
_NOTE = (
    " Only workers running the console's extension (ConsoleWorker, ConsoleSimpleWorker) honour it; stock RQ "
    "workers do not. `workers_told` says how many of them were notified."
)


def _response(description: str, schema: dict | None = None) -> dict:
    body: dict = {"description": description}
    if schema is not None:
        body["content"] = {"application/json": {"schema": schema}}
    return body


_STATE_PROPERTIES: dict[str, dict] = {
    "queue": {"type": "string"},
    "paused": {"type": "boolean", "description": "a pause whose `until` passed counts as resumed"},
    "pause": {
        "type": ["object", "null"],
        "properties": {
            "by": {"type": "string"},
            "at": {"type": "string", "format": "date-time"},
            "until": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "rate_limit": {
        "type": ["object", "null"],
        "properties": {
            "per_second": {"type": "number", "description": "normalised"},
            "amount": {"type": "number", "description": "as entered"},
            "unit": {"type": "string", "enum": ["second", "minute"]},
            "words": {"type": "string", "description": "e.g. 600/min"},
            "by": {"type": "string"},
            "at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "changed": {"type": "boolean", "description": "false: it already was so (changes only)"},
    "workers_told": {"type": "integer", "description": "extension workers notified (changes only)"},
    "note": {"type": "string"},
}
_STATE = {"type": "object", "properties": _STATE_PROPERTIES}
_VIEW = {
    "type": "object",
    "properties": {
        **_STATE_PROPERTIES,
        "current_rate_per_second": {"type": ["number", "null"], "description": "jobs let through, last ~10 s"},
        "throttled": {"type": "boolean", "description": "a worker was refused a token within the last 2 s"},
        "waiting": {"type": "integer", "description": "queued jobs held back by the pause or the limit"},
        "queued": {"type": "integer"},
        "workers": {"type": "integer", "description": "live workers listening on the queue"},
        "workers_honouring": {"type": "integer", "description": "of them, those running the extension"},
    },
}
_CHANGE_ERRORS = {
    "401": _response("No or invalid bearer token", _ERROR),
    "403": _response("The token's role lacks the queues.flow permission (operators and admins)", _ERROR),
    "404": _response("No such queue (pause and limit need an existing queue)", _ERROR),
    "409": _response("The flow state key holds another type of value (nothing changed)", _ERROR),
    "503": _response("Redis is unreachable", _ERROR),
}


def _change(summary: str, body: dict | None = None, extra: dict | None = None) -> dict:
    operation: dict = {
        "summary": summary,
        "description": "Audited (queue.<action>) and appended to the event stream." + _NOTE,
        "parameters": [_QUEUE],
        "responses": {
            "200": _response("The queue's state after the change", _STATE),
            **(extra or {}),
            **_CHANGE_ERRORS,
        },
    }
    if body is not None:
        operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
    return operation


_LIMIT_BODY = {
    "type": "object",
    "description": "Exactly one of the two.",
    "properties": {
        "per_second": {"type": "number", "exclusiveMinimum": 0, "minimum": MIN_PER_SECOND, "maximum": MAX_PER_SECOND},
        "per_minute": {"type": "number", "minimum": MIN_PER_SECOND * 60, "maximum": MAX_PER_SECOND * 60},
    },
}
_INVALID = {"422": _response("Invalid body: `fields` names what is wrong; nothing changed", _ERROR)}

FLOW_PATHS = {
    "/queues/{queue}/pause": {
        "post": _change(
            "Pause a queue: extension workers stop taking its jobs within a second (running jobs finish)",
            {
                "type": "object",
                "properties": {
                    "until": {
                        "type": "string",
                        "format": "date-time",
                        "description": "ISO 8601; without an offset it is UTC. In the future, at most a year ahead. "
                        "Omitted: until resumed.",
                    }
                },
            },
            {**_INVALID, "400": _response("The body is not a JSON object", _ERROR)},
        )
    },
    "/queues/{queue}/resume": {"post": _change("End a queue's pause (`changed` false when it was not paused)")},
    "/queues/{queue}/rate-limit": {
        "put": _change(
            "Limit a queue to N jobs per second or per minute, shared by all its workers (GCRA, atomic in Redis)",
            _LIMIT_BODY,
            {**_INVALID, "400": _response("The body is not a JSON object", _ERROR)},
        ),
        "delete": _change("Remove a queue's rate limit (`changed` false when it had none)"),
    },
    "/queues/{queue}/flow": {
        "get": {
            "summary": "A queue's pause and limit, its current rate, the jobs waiting because of them, and how many "
            "of its workers honour them",
            "parameters": [_QUEUE],
            "responses": {
                "200": _response("The queue's flow", _VIEW),
                "404": _response("No such queue", _ERROR),
                "401": _response("No or invalid bearer token", _ERROR),
                "503": _response("Redis is unreachable", _ERROR),
            },
        }
    },
}
