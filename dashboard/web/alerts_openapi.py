"""The OpenAPI description of GET /api/v1/alerts (web/alerts.py), kept beside its view's module; the document
itself is web/openapi.py's."""

from __future__ import annotations

from dashboard.alerts.rules import KINDS, SEVERITIES

_ERROR = {"$ref": "#/components/schemas/Error"}
_TIME = {"type": ["string", "null"], "format": "date-time"}


def _response(description: str, schema: dict | None = None) -> dict:
    body: dict = {"description": description}
    if schema is not None:
        body["content"] = {"application/json": {"schema": schema}}
    return body


_SUBJECT = {
    "type": "object",
    "properties": {
        "subject": {
            "type": "string",
            "description": "a queue, a fingerprint, a schedule id… ('all' for one-subject rules)",
        },
        "state": {"type": "string", "enum": ["ok", "firing"]},
        "breached": {
            "type": "boolean",
            "description": "the condition holds now (true and state ok: held by the cooldown)",
        },
        "value": {"type": ["number", "null"]},
        "detail": {"type": "string"},
        "since": {"type": "string", "format": "date-time"},
        "last_fired_at": _TIME,
        "last_resolved_at": _TIME,
        "last_notified_at": _TIME,
        "held_until": _TIME,
    },
}
_RULE = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "kind": {"type": "string", "enum": list(KINDS)},
        "target": {"type": "string"},
        "threshold": {"type": "number"},
        "window_minutes": {"type": "integer"},
        "condition": {"type": "string", "description": "the rule in words"},
        "severity": {"type": "string", "enum": list(SEVERITIES)},
        "cooldown_seconds": {"type": "integer"},
        "enabled": {"type": "boolean"},
        "status": {"type": "string", "enum": ["ok", "firing", "held", "disabled"]},
        "channels": {
            "type": "object",
            "properties": {
                "webhooks": {"type": "array", "items": {"type": "integer"}},
                "emails": {"type": ["array", "null"], "items": {"type": "string"}, "description": "null unless admin"},
            },
        },
        "evaluated_at": _TIME,
        "error": {"type": ["string", "null"], "description": "why the last evaluation of this rule failed"},
        "subjects": {"type": "array", "items": _SUBJECT},
    },
}
_EVENT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "rule_id": {"type": "integer"},
        "rule_name": {"type": "string"},
        "severity": {"type": "string"},
        "subject": {"type": "string"},
        "change": {"type": "string", "enum": ["firing", "resolved", "test"]},
        "value": {"type": ["number", "null"]},
        "detail": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
        "channels": {"type": "array", "items": {"type": "object"}, "description": "webhook deliveries, e-mail jobs"},
        "errors": {"type": "array", "items": {"type": "string"}},
    },
}
ALERTS_PATH = {
    "get": {
        "summary": "Alert rules with the state of their subjects, and the newest alert events (keyset pages)",
        "parameters": [
            {
                "name": "after",
                "in": "query",
                "schema": {"type": "string"},
                "description": "The `next` of the previous answer: older events (an edited one is a 400)",
            }
        ],
        "responses": {
            "200": _response(
                "Rules and events",
                {
                    "type": "object",
                    "properties": {
                        "rules": {"type": "array", "items": _RULE},
                        "events": {"type": "array", "items": _EVENT},
                        "next": {"type": ["string", "null"], "description": "cursor of the next (older) events"},
                    },
                },
            ),
            "400": _response("A bad cursor", _ERROR),
            "401": _response("No or invalid bearer token", _ERROR),
            "403": _response("The token's role lacks the permission", _ERROR),
            "503": _response("The console's database is unreachable", _ERROR),
        },
    }
}
