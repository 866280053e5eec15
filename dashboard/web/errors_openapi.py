"""The OpenAPI description of GET /api/v1/error-groups (web/errors.py), kept beside its view's module; the
document itself is web/openapi.py's."""

from __future__ import annotations

_ERROR = {"$ref": "#/components/schemas/Error"}


def _response(description: str, schema: dict | None = None) -> dict:
    body: dict = {"description": description}
    if schema is not None:
        body["content"] = {"application/json": {"schema": schema}}
    return body


_GROUP_STATUSES = ["open", "regressed", "resolved", "ignored"]
ERROR_GROUPS_PATH = {
    "get": {
        "summary": "Error groups (failures by fingerprint), newest failure first, keyset pages (never a count)",
        "parameters": [
            {"name": "status", "in": "query", "schema": {"type": "string", "enum": [*_GROUP_STATUSES, "all"]}},
            {
                "name": "after",
                "in": "query",
                "schema": {"type": "string"},
                "description": "The `next` of the previous page (an edited one is a 400)",
            },
        ],
        "responses": {
            "200": _response(
                "A page of groups",
                {
                    "type": "object",
                    "properties": {
                        "groups": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "fingerprint": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                                    "exc_type": {"type": "string"},
                                    "message": {
                                        "type": ["string", "null"],
                                        "description": "the normalised message; null when hidden for the role",
                                    },
                                    "count": {"type": "integer"},
                                    "first_seen": {"type": "string", "format": "date-time"},
                                    "last_seen": {"type": "string", "format": "date-time"},
                                    "status": {"type": "string", "enum": _GROUP_STATUSES},
                                    "status_changed_at": {"type": ["string", "null"], "format": "date-time"},
                                    "status_changed_by": {"type": ["string", "null"]},
                                    "resolved_at": {"type": ["string", "null"], "format": "date-time"},
                                    "regressed_at": {"type": ["string", "null"], "format": "date-time"},
                                    "functions": {
                                        "type": "array",
                                        "items": {"type": "string"},
                                        "description": "where it failed in the last 24 h, most first (20 at most)",
                                    },
                                    "queues": {"type": "array", "items": {"type": "string"}},
                                },
                            },
                        },
                        "next": {"type": ["string", "null"], "description": "cursor of the next (older) page"},
                    },
                },
            ),
            "400": _response("An unknown status or a bad cursor", _ERROR),
            "401": _response("No or invalid bearer token", _ERROR),
            "403": _response("The token's role lacks the permission", _ERROR),
            "503": _response("The history database is unreachable", _ERROR),
        },
    }
}
