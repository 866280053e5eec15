"""The OpenAPI description of /api/v1/limits (web/limits.py) and of GET /api/v1/jobs/{job_id}'s long
poll (`wait`, rqlayer/jobwait.py), kept beside their views; the document itself is web/openapi.py's."""

from __future__ import annotations

from dashboard.rqlayer import jobwait, limits
from dashboard.web.errors_openapi import _ERROR, _response  # the same two helpers, not another copy

_KEY = {"name": "key", "in": "path", "required": True, "schema": {"type": "string", "maxLength": limits.MAX_KEY_CHARS}}
_PAGE = {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}}
_SUMMARY = {
    "type": "object",
    "properties": {
        "key": {"type": "string"},
        "concurrency": {"type": ["integer", "null"], "description": "null when unset or not a number"},
        "holding": {"type": "integer", "description": "jobs holding a slot (queued or running, or stale)"},
        "held_back": {"type": "integer"},
        "broken_keys": {"type": "array", "items": {"type": "string"}},
    },
}
_JOB = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string", "description": "RQ status, or 'expired' when the job is gone"},
        "origin": {"type": "string"},
        "func_name": {"type": "string"},
        "since": {"type": ["string", "null"], "format": "date-time"},
    },
}

LIMITS_PATH = {
    "get": {
        "summary": "RQ 3 concurrency limits (RateLimit): a page of limit keys with their counts and stale slots",
        "parameters": [_PAGE],
        "responses": {
            "200": _response(
                "Limits, by key",
                {
                    "type": "object",
                    "properties": {
                        "limits": {"type": "array", "items": _SUMMARY},
                        "page": {"type": "integer"},
                        "pages": {"type": "integer"},
                        "total": {"type": "integer"},
                    },
                },
            ),
            "400": _response("Bad page", _ERROR),
        },
    }
}

LIMIT_PATH = {
    "get": {
        "summary": "One limit: the jobs holding its slots (stale ones with why) and a page of its held-back line",
        "parameters": [_KEY, _PAGE],
        "responses": {
            "200": _response(
                "The limit",
                {
                    "type": "object",
                    "properties": {
                        "limit": _SUMMARY,
                        "slots": {"type": "array", "items": _JOB},
                        "held_back": {"type": "array", "items": _JOB, "description": "oldest (next) first"},
                    },
                },
            ),
            "404": _response("No such limit (RQ drops a limit nobody uses)", _ERROR),
        },
    },
    "put": {
        "summary": "Set a limit's concurrency (operator; audited): held-back jobs take the slots a raise frees",
        "description": "RQ reads the concurrency at every release, so the value holds at once; but RQ's next "
        "enqueue with a RateLimit of this key writes its own value back. `expected`: the value you read "
        "(409 when it changed meanwhile).",
        "parameters": [_KEY],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["concurrency"],
                        "properties": {
                            "concurrency": {"type": "integer", "minimum": 1, "maximum": limits.MAX_CONCURRENCY},
                            "expected": {"type": "integer", "minimum": 1},
                        },
                    }
                }
            },
        },
        "responses": {
            "200": _response(
                "Changed",
                {
                    "type": "object",
                    "properties": {
                        "before": {"type": ["integer", "null"]},
                        "concurrency": {"type": "integer"},
                        "promoted": {"type": "array", "items": {"type": "string"}},
                        "message": {"type": "string"},
                    },
                },
            ),
            "400": _response("Body is not a JSON object with concurrency", _ERROR),
            "404": _response("No such limit", _ERROR),
            "409": _response("It changed meanwhile (expected), or one of its keys holds another type", _ERROR),
            "422": _response("Concurrency is not a whole number in range", _ERROR),
        },
    },
}

WAIT_PARAM = {
    "name": "wait",
    "in": "query",
    "schema": {"type": "number", "minimum": 0, "maximum": jobwait.MAX_WAIT},
    "description": "Long poll: wait up to this many seconds for the job to be finished, failed, stopped or "
    "canceled, then answer (the answer's `wait` says how it ended). Woken by the worker extension's event, "
    f"else the job's status is re-read every {jobwait.FALLBACK} s (stock workers). When the server has no "
    "free waiting slot it answers at once with the job as it is, `wait.busy` true and `Retry-After: 1`.",
}
