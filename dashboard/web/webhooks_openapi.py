"""The OpenAPI description of /api/v1/webhooks… (web/webhooks_api.py), kept beside its view's module; the
document itself is web/openapi.py's."""

from __future__ import annotations

from dashboard.web.errors_openapi import _ERROR, _response  # the same two helpers, not another copy
from dashboard.webhooks.models import STATUSES
from dashboard.webhooks.outbox import EVENT_TYPES

_TIME = {"type": ["string", "null"], "format": "date-time"}
_ERRORS = {
    "401": {"description": "No or invalid bearer token"},
    "403": {"description": "The token's role lacks the permission"},
    "503": {"description": "Redis or the database is unreachable"},
}


_LIST = {"type": "array", "items": {"type": "string"}}
_ENDPOINT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "url": {"type": "string", "description": "without its query string unless the token is an admin's"},
        "description": {"type": "string"},
        "events": {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}},
        "queues": {**_LIST, "description": "job events of these queues only; empty: every queue"},
        "functions": {**_LIST, "description": "job events of these functions only (wildcards); empty: every one"},
        "enabled": {"type": "boolean"},
        "disabled_reason": {"type": "string", "description": "set when the console disabled it (410 Gone)"},
        "created_by": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "previous_secret_expires_at": {**_TIME, "description": "after a rotation: the old secret signs until then"},
    },
}
_DELIVERY = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "endpoint_id": {"type": "integer"},
        "webhook_id": {"type": "string", "description": "the webhook-id header: the same on every attempt"},
        "type": {"type": "string"},
        "status": {"type": "string", "enum": list(STATUSES)},
        "attempts": {"type": "integer"},
        "next_attempt_at": _TIME,
        "response_status": {"type": ["integer", "null"]},
        "response_ms": {"type": ["integer", "null"]},
        "response_body": {"type": "string", "description": "the first 1,024 bytes of the last answer"},
        "error": {"type": "string"},
        "redelivery_of": {"type": ["integer", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
_ID = {"name": "endpoint_id", "in": "path", "required": True, "schema": {"type": "integer"}}

WEBHOOK_PATHS = {
    "/webhooks": {
        "get": {
            "summary": "Every webhook endpoint (webhooks.view: operators and admins)",
            "responses": {
                "200": _response(
                    "Endpoints", {"type": "object", "properties": {"webhooks": {"type": "array", "items": _ENDPOINT}}}
                ),
                **_ERRORS,
            },
        },
        "post": {
            "summary": "Register an endpoint (webhooks.manage: admins); the answer carries its signing secret, once",
            "description": "Deliveries are signed as the Standard Webhooks specification says. The URL must be "
            "http(s) without user:password, and every address its host resolves to must be public, unless the "
            "host (or host:port) is in WEBHOOK_ALLOWED_HOSTS.",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["url", "events"],
                            "properties": {
                                "url": {"type": "string", "maxLength": 2000},
                                "events": {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}},
                                "queues": _LIST,
                                "functions": _LIST,
                                "description": {"type": "string", "maxLength": 500},
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": _response(
                    "Created",
                    {"allOf": [_ENDPOINT, {"type": "object", "properties": {"secret": {"type": "string"}}}]},
                ),
                "400": _response("Not a JSON object", _ERROR),
                "422": _response("A field is invalid or the URL is refused (`fields` says which)", _ERROR),
                **_ERRORS,
            },
        },
    },
    "/webhooks/{endpoint_id}": {
        "get": {
            "summary": "One endpoint",
            "parameters": [_ID],
            "responses": {
                "200": _response("The endpoint", _ENDPOINT),
                "404": _response("No such endpoint", _ERROR),
                **_ERRORS,
            },
        },
        "delete": {
            "summary": "Delete an endpoint and its delivery log (webhooks.manage)",
            "parameters": [_ID],
            "responses": {"204": {"description": "Deleted"}, "404": _response("No such endpoint", _ERROR), **_ERRORS},
        },
    },
    "/webhooks/{endpoint_id}/deliveries": {
        "get": {
            "summary": "An endpoint's deliveries, newest first, in keyset pages",
            "parameters": [
                _ID,
                {
                    "name": "after",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "`next` of the last page",
                },
                {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(STATUSES)}},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                },
            ],
            "responses": {
                "200": _response(
                    "Deliveries",
                    {
                        "type": "object",
                        "properties": {
                            "deliveries": {"type": "array", "items": _DELIVERY},
                            "next": {"type": ["string", "null"]},
                        },
                    },
                ),
                "400": _response("Bad cursor or status", _ERROR),
                "404": _response("No such endpoint", _ERROR),
                **_ERRORS,
            },
        }
    },
    "/webhooks/deliveries/{delivery_id}/redeliver": {
        "post": {
            "summary": "Send a delivery's message again, as a new delivery (webhooks.redeliver: operators)",
            "parameters": [{"name": "delivery_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "responses": {
                "202": _response("Queued", {"type": "object", "properties": {"id": {"type": "integer"}}}),
                "404": _response("No such delivery", _ERROR),
                **_ERRORS,
            },
        }
    },
}
