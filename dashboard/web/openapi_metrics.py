"""The OpenAPI description of GET /api/v1/metrics (dashboard/web/functions.py), kept beside openapi.py so
that module stays small; openapi.py passes its response helpers in."""

from __future__ import annotations

from collections.abc import Callable

from dashboard.history.timeline import WINDOWS

_COUNTS = ("finished", "failed", "retried", "stopped")
_SECONDS = ("run_p50", "run_p95", "run_max", "wait_p50", "wait_p95")


def metrics_path(response: Callable[..., dict], error: dict, errors: dict) -> dict:
    seconds = {"type": ["number", "null"], "description": "seconds"}
    point = {
        "type": "object",
        "properties": {
            "bucket": {"type": "integer", "description": "bucket start, epoch seconds"},
            **{k: {"type": ["integer", "null"]} for k in _COUNTS},
            **{k: seconds for k in _SECONDS},
            "depth": {"type": ["integer", "null"], "description": "queued jobs (collector samples)"},
            "oldest_age_s": {"type": ["number", "null"], "description": "oldest queued job's age"},
        },
    }
    body = {
        "type": "object",
        "properties": {
            "window": {"type": "string"},
            "step_seconds": {"type": "integer"},
            "source": {"type": "string", "enum": ["extension", "registry", "none"]},
            "missing": {"type": ["string", "null"], "description": "what to run when nothing writes this data"},
            "queue": {"type": ["string", "null"]},
            "function": {"type": ["string", "null"]},
            "points": {"type": "array", "items": point},
        },
    }
    return {
        "get": {
            "summary": "Throughput, run time and queue wait over a window, in buckets (the charts' data)",
            "description": "1h: one-minute buckets (the worker extension's metrics in Redis, filled from the SQL "
            "rollups); 24h: 10-minute buckets; 7d and 30d: hours (the SQL rollups the history collector writes). "
            "Without `queue` and `function`: every queue's total. Buckets before the first data point have null "
            "values; later empty buckets are zeros.",
            "parameters": [
                {"name": "window", "in": "query", "schema": {"type": "string", "enum": list(WINDOWS), "default": "1h"}},
                {"name": "queue", "in": "query", "schema": {"type": "string"}},
                {"name": "function", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": {
                "200": response("The buckets, oldest first", body),
                "400": response("An unknown window", error),
                **errors,
            },
        }
    }
