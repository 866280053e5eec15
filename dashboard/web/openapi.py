"""The OpenAPI 3.1 description of /api/v1/, written by hand next to the code it describes."""

from __future__ import annotations

from flask import url_for

from dashboard.rqlayer import feed
from dashboard.rqlayer.vocabulary import DEFAULT_PAGE_SIZE, ORDERS, PAGE_SIZES, STATES
from dashboard.web.alerts_openapi import ALERTS_PATH
from dashboard.web.errors_openapi import ERROR_GROUPS_PATH
from dashboard.web.flow_openapi import FLOW_PATHS
from dashboard.web.incoming_openapi import EVENTS_POST, INCOMING_EVENTS_PATH
from dashboard.web.openapi_limits import LIMIT_PATH, LIMITS_PATH, WAIT_PARAM
from dashboard.web.openapi_metrics import metrics_path
from dashboard.web.webhooks_openapi import WEBHOOK_PATHS

_ERROR = {"$ref": "#/components/schemas/Error"}


def _response(description: str, schema: dict | None = None) -> dict:
    body = {"description": description}
    if schema is not None:
        body["content"] = {"application/json": {"schema": schema}}
    return body


_ERRORS = {
    "401": _response("No or invalid bearer token", _ERROR),
    "403": _response("The token's role lacks the permission", _ERROR),
    "503": _response("Redis is unreachable", _ERROR),
}

_LIST_PARAMS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
    {
        "name": "size",
        "in": "query",
        "schema": {"type": "integer", "enum": list(PAGE_SIZES), "default": DEFAULT_PAGE_SIZE},
        "description": "Larger values are capped to the largest allowed size.",
    },
    {"name": "order", "in": "query", "schema": {"type": "string", "enum": list(ORDERS)}},
    {
        "name": "func",
        "in": "query",
        "schema": {"type": "string", "maxLength": 200},
        "description": "Function name contains (filter: the response is a bounded scan, see next_offset).",
    },
    {
        "name": "exc",
        "in": "query",
        "schema": {"type": "string", "maxLength": 200},
        "description": "Exception type or message contains (failed jobs).",
    },
    *(
        {
            "name": f"{name}_match",
            "in": "query",
            "schema": {"type": "string", "enum": ["contains", "is"], "default": "contains"},
            "description": f"How `{name}` matches: 'contains' (any case) or 'is' (the whole {what}, exactly).",
        }
        for name, what in (("func", "function name"), ("exc", "exception type"))
    ),
    {
        "name": "args",
        "in": "query",
        "schema": {"type": "string", "maxLength": 200},
        "description": "Argument preview contains.",
    },
    {
        "name": "offset",
        "in": "query",
        "schema": {"type": "integer", "minimum": 0},
        "description": "With a filter: where the scan continues (next_offset of the previous answer).",
    },
]

_EVENT = {
    "type": "object",
    "required": ["id", "type", "job_id", "queue", "function", "at"],
    "properties": {
        "id": {"type": "string", "description": "Stream id, e.g. 1700000000000-0"},
        "type": {"type": "string", "enum": sorted(feed.TYPES)},
        "job_id": {"type": "string", "description": "Empty for a bulk operation's summary"},
        "queue": {"type": "string"},
        "function": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
        "at_ms": {"type": "integer"},
        "worker": {"type": "string"},
        "exc_type": {"type": "string", "description": "failed events: the exception type (never its message)"},
        "actor": {"type": "string", "description": "console actions: who acted"},
        "extra": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_EVENTS_PATH = {
    "get": {
        "summary": "Job events after a cursor, long-polled: worker lifecycle events and console actions",
        "description": "Pass the answer's `cursor` back as `after`: no event is returned twice, and the cursor "
        "moves past events the filters leave out. Without `after` the feed starts now. With `wait` the answer "
        "comes as soon as an event matches, or after `wait` seconds; `busy` says the server had no free waiting "
        "slot and answered at once: poll again a little later.",
        "parameters": [
            {"name": "after", "in": "query", "schema": {"type": "string", "pattern": "^[0-9]+-[0-9]+$"}},
            {"name": "wait", "in": "query", "schema": {"type": "number", "minimum": 0, "maximum": feed.MAX_WAIT}},
            {"name": "queue", "in": "query", "schema": {"type": "string", "maxLength": 200}},
            {"name": "function", "in": "query", "schema": {"type": "string", "maxLength": 200}},
            {
                "name": "type",
                "in": "query",
                "schema": {"type": "string"},
                "description": "Comma-separated event types (see Event.type).",
            },
        ],
        "responses": {
            "200": _response(
                "Events, oldest first",
                {
                    "type": "object",
                    "properties": {
                        "events": {"type": "array", "items": _EVENT},
                        "cursor": {"type": "string"},
                        "more": {"type": "boolean", "description": "more events are ready: poll again at once"},
                        "busy": {"type": "boolean"},
                    },
                },
            ),
            "400": _response("A malformed cursor, wait or type", _ERROR),
            **_ERRORS,
        },
    }
}


def _query(name: str, description: str, **schema) -> dict:
    return {"name": name, "in": "query", "schema": {"type": "string", **schema}, "description": description}


_HISTORY_PARAMS = [
    _query("window", "The last 15m, 1h, 6h, 24h, 7d or 30d (default 1h)", enum=["15m", "1h", "6h", "24h", "7d", "30d"]),
    _query("from", "Start (ISO 8601, UTC unless it has an offset); replaces window", format="date-time"),
    _query("to", "End, exclusive (ISO 8601); with only `to`, the window ends then", format="date-time"),
    _query("queue", "Queue name, exactly", maxLength=200),
    _query("function", "Function name, exactly", maxLength=200),
    _query("status", "Outcome", enum=["finished", "failed", "retried", "stopped", "abandoned"]),
    _query("fingerprint", "Error fingerprint (error group id)", maxLength=32),
    _query("worker", "Worker name, exactly", maxLength=200),
    _query("attr", "One promoted meta attribute, `name:value` (403 for roles that may not see job meta)"),
    _query("after", "The `next` cursor of the previous page (opaque; an edited one is a 400)"),
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
]
_TIME = {"type": ["string", "null"], "format": "date-time"}
_OUTCOME = {
    "type": "object",
    "properties": {
        "outcome_id": {"type": "integer"},
        "job_id": {"type": "string"},
        "queue": {"type": "string"},
        "function": {"type": "string"},
        "status": {"type": "string", "enum": ["finished", "failed", "retried", "stopped", "abandoned"]},
        "enqueued_at": _TIME,
        "started_at": _TIME,
        "ended_at": {"type": "string", "format": "date-time"},
        "wait_seconds": {"type": ["number", "null"]},
        "run_seconds": {"type": ["number", "null"]},
        "worker": {"type": "string"},
        "exc_type": {"type": ["string", "null"]},
        "exc_message": {"type": ["string", "null"], "description": "null when hidden for the role"},
        "fingerprint": {"type": ["string", "null"]},
        "source": {"type": "string", "description": "stream (worker extension) or registry (swept)"},
        "job_exists": {"type": "boolean", "description": "the job is still in Redis (GET /jobs/{job_id})"},
    },
}


def openapi_document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "RQ Console API",
            "version": "1",
            "description": "Read RQ queues, workers and jobs. Authenticate with `Authorization: Bearer "
            "<token>` (tokens: `flask --app app tokens create NAME --role viewer`).",
        },
        "servers": [{"url": url_for("api.openapi").removesuffix("/openapi.json")}],  # under any URL prefix
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                },
                "Outcome": _OUTCOME,
                "JobRow": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "exists": {"type": "boolean"},
                        "status": {"type": "string", "description": "RQ status, or 'expired' when the hash is gone"},
                        "func_name": {"type": "string"},
                        "args_preview": {"type": ["string", "null"]},
                        "origin": {"type": "string"},
                        "enqueued_at": {"type": ["string", "null"], "format": "date-time"},
                        "started_at": {"type": ["string", "null"], "format": "date-time"},
                        "ended_at": {"type": ["string", "null"], "format": "date-time"},
                        "duration_seconds": {"type": ["number", "null"]},
                        "worker_name": {"type": "string"},
                        "failure": {
                            "type": ["object", "null"],
                            "properties": {
                                "exc_type": {"type": "string"},
                                "message": {"type": ["string", "null"]},
                                "frames": {"type": "array", "items": {"type": "string"}},  # innermost, file:function
                            },
                        },
                    },
                },
            },
        },
        "paths": {
            "/queues": {
                "get": {
                    "summary": "Every queue with its count per state, its pause and rate limit, and concurrency limits",
                    "responses": {"200": _response("Queues"), **_ERRORS},
                }
            },
            "/workers": {
                "get": {
                    "summary": "Workers with state, queues, current jobs and heartbeats",
                    "responses": {"200": _response("Workers"), **_ERRORS},
                }
            },
            "/queues/{queue}/jobs/{state}": {
                "get": {
                    "summary": "A page of one queue state (O(page) at any depth), or a bounded filtered scan",
                    "parameters": [
                        {"name": "queue", "in": "path", "required": True, "schema": {"type": "string"}},
                        {
                            "name": "state",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": list(STATES)},
                        },
                        *_LIST_PARAMS,
                    ],
                    "responses": {
                        "200": _response(
                            "Jobs",
                            {
                                "type": "object",
                                "properties": {
                                    "total": {"type": "integer"},
                                    "page": {"type": "integer"},
                                    "pages": {"type": "integer"},
                                    "next_offset": {"type": ["integer", "null"]},
                                    "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/JobRow"}},
                                },
                            },
                        ),
                        "400": _response("Bad parameter", _ERROR),
                        "404": _response("No such queue or state", _ERROR),
                        **_ERRORS,
                    },
                }
            },
            "/jobs": {
                "post": {
                    "summary": "Enqueue a task registered in tasks/ (never an arbitrary function)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["task"],
                                    "properties": {
                                        "task": {"type": "string", "description": "dotted name of a registered task"},
                                        "params": {"type": "object", "description": "the task's parameters by name"},
                                        "options": {
                                            "type": "object",
                                            "properties": {
                                                "queue": {"type": "string"},
                                                "at_front": {"type": "boolean"},
                                                "run_at": {
                                                    "type": "string",
                                                    "description": "local date-time in `timezone`",
                                                },
                                                "timezone": {"type": "string"},
                                                "delay": {"type": "integer"},
                                                "timeout": {"type": "integer"},
                                                "retry_max": {"type": "integer"},
                                                "retry_intervals": {"type": "string", "description": "e.g. '10, 60'"},
                                                "result_ttl": {"type": "integer"},
                                                "failure_ttl": {"type": "integer"},
                                                "job_id": {"type": "string"},
                                                "depends_on": {"type": "string"},
                                                "description": {"type": "string"},
                                            },
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _response("Enqueued: id and links"),
                        "400": _response("Body is not a JSON object", _ERROR),
                        "422": _response(
                            "Per-field errors; nothing enqueued",
                            {
                                "type": "object",
                                "properties": {"error": {"type": "string"}, "fields": {"type": "object"}},
                            },
                        ),
                        **_ERRORS,
                    },
                }
            },
            "/history": {
                "get": {
                    "summary": "Job outcomes kept in SQL, newest first: a window, exact filters, keyset pages "
                    "(never OFFSET, never a count); exception messages only for roles that see job values",
                    "parameters": _HISTORY_PARAMS,
                    "responses": {
                        "200": _response(
                            "Outcomes",
                            {
                                "type": "object",
                                "properties": {
                                    "outcomes": {"type": "array", "items": {"$ref": "#/components/schemas/Outcome"}},
                                    "next": {
                                        "type": ["string", "null"],
                                        "description": "cursor of the next (older) page, for `after`",
                                    },
                                },
                            },
                        ),
                        "400": _response("Bad window, filter, limit or cursor", _ERROR),
                        "403": _response("attr asked by a role that may not see job meta", _ERROR),
                        **_ERRORS,
                    },
                }
            },
            "/jobs/{job_id}": {
                "get": {
                    "summary": "Everything RQ knows about a job; values decoded safely (never unpickled); "
                    "webhooks with header values masked; `wait` long-polls for its end",
                    "parameters": [
                        {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}},
                        WAIT_PARAM,
                    ],
                    "responses": {
                        "200": _response("The job"),
                        "400": _response("Bad wait", _ERROR),
                        "404": _response("No such job (or it was deleted while the request waited)", _ERROR),
                        **_ERRORS,
                    },
                }
            },
            "/events": {**_EVENTS_PATH, **EVENTS_POST},
            "/incoming-events": INCOMING_EVENTS_PATH,
            "/error-groups": ERROR_GROUPS_PATH,
            "/limits": LIMITS_PATH,
            "/limits/{key}": LIMIT_PATH,
            "/alerts": ALERTS_PATH,
            **FLOW_PATHS,
            **WEBHOOK_PATHS,
            "/metrics": metrics_path(_response, _ERROR, _ERRORS),
        },
    }
