"""The OpenAPI description of POST /api/v1/events and GET /api/v1/incoming-events (web/incoming.py), kept beside
its view's module; the document itself is web/openapi.py's."""

from __future__ import annotations

from dashboard.inbound.publish import KEY_RULE, MAX_PAYLOAD_BYTES
from dashboard.web.errors_openapi import _ERROR, _response  # the same two helpers, not a third copy
from tasks.registry import EVENT_NAME_RULE

_FIELDS = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "fields": {"type": "object"}},
}
_JOB = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "task": {"type": "string"}, "queue": {"type": "string"}},
}
_PUBLISHED = {
    "type": "object",
    "properties": {
        "event_id": {"type": "integer"},
        "name": {"type": "string"},
        "jobs": {"type": "array", "items": _JOB},
        "replayed": {"type": "boolean", "description": "true: an earlier event with this idempotency key"},
    },
}

EVENTS_POST = {
    "post": {
        "summary": "Publish an incoming event: enqueue every task that subscribes to its name (@task(on=...)), "
        "with the payload's keys as their parameters — all of them or none",
        "description": "Needs the jobs.enqueue permission (operator). A payload key a subscriber does not take, a "
        "missing or mistyped parameter of any subscriber, or a name no task subscribes to is a 422 and nothing is "
        "enqueued. An idempotency key (the `Idempotency-Key` header or `id`) names one event for 24 hours: sending "
        "it again answers 200 with the first event's jobs (`Idempotent-Replayed: true`); with another payload, 409.",
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "schema": {"type": "string", "maxLength": 200},
                "description": KEY_RULE,
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "maxLength": 100, "description": EVENT_NAME_RULE},
                            "payload": {
                                "type": "object",
                                "description": f"at most {MAX_PAYLOAD_BYTES // 1024} KiB of JSON",
                            },
                            "id": {
                                "type": "string",
                                "maxLength": 200,
                                "description": "idempotency key (or the header)",
                            },
                            "allow_empty": {
                                "type": "boolean",
                                "description": "record a name without subscribers (0 jobs)",
                            },
                        },
                    }
                }
            },
        },
        "responses": {
            "201": _response("Published: the event and the jobs it enqueued", _PUBLISHED),
            "200": _response("A replay of an idempotency key: the first event's answer", _PUBLISHED),
            "400": _response("Body is not a JSON object", _ERROR),
            "409": _response(
                "The idempotency key names another event, or its first request is still enqueueing", _ERROR
            ),
            "413": _response("The payload is over the size limit", _ERROR),
            "422": _response("Per-field errors (payload.<key>, naming each task); nothing enqueued", _FIELDS),
        },
    }
}

INCOMING_EVENTS_PATH = {
    "get": {
        "summary": "Incoming events, newest first (keyset pages), each with the jobs it started and their outcome "
        "(live from Redis, else the SQL history, else 'expired'); payloads only for roles that see job values",
        "parameters": [
            {"name": "name", "in": "query", "schema": {"type": "string", "maxLength": 100}},
            {"name": "after", "in": "query", "schema": {"type": "string"}, "description": "the previous page's `next`"},
            {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 25},
            },
        ],
        "responses": {
            "200": _response(
                "A page of events",
                {"type": "object", "properties": {"events": {"type": "array"}, "next": {"type": ["string", "null"]}}},
            ),
            "400": _response("Bad limit or cursor", _ERROR),
            "422": _response("Bad event name", _ERROR),
        },
    }
}
