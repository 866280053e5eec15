"""Tracebacks as RQ stores them: zlib text in the job hash's `exc_info` (plain text before RQ 1.x), or, in
RQ 3, base64 of zlib text in the newest results-stream entry. Bounded like every other decoded field."""

from __future__ import annotations

import base64
from typing import Any

from dashboard.rqlayer.payloads import MAX_TEXT, decompress


def decode_exc_info(raw: bytes | None) -> str:
    """A traceback as text: RQ stores it zlib-compressed (older versions: plain text)."""
    if not raw:
        return ""
    data = decompress(raw, MAX_TEXT * 4)
    text = (data if data is not None else raw[: MAX_TEXT * 4]).decode("utf-8", errors="replace")
    return text[:MAX_TEXT]


def decode_b64_exc_string(raw: bytes | None) -> str:
    """The `exc_string` of a results-stream entry: base64 of zlib of the traceback text."""
    if not raw:
        return ""
    try:
        return decode_exc_info(base64.b64decode(raw))
    except (ValueError, TypeError):
        return ""


def latest_traceback(exc_info: bytes | None, latest_results: list[Any] | None) -> str:
    """The job's traceback: its hash's `exc_info`, else (RQ 3) the newest results-stream entry, as
    XREVRANGE COUNT 1 returned it. No Redis call; never raises on odd entries."""
    tb = decode_exc_info(exc_info)
    if tb or not latest_results:
        return tb
    try:
        return decode_b64_exc_string(latest_results[0][1].get(b"exc_string"))
    except (AttributeError, IndexError, TypeError):
        return ""
