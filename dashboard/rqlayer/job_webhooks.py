"""RQ 3's per-job webhooks (the job hash field `webhooks`: the JSON list rq.webhook.Webhook.to_dict()
writes — url, job_status, method, headers, timeout), read for display.

Header VALUES never leave this module: only header names are kept, so no page, API answer or export
can show a token a webhook carries; passwords and query values in URLs are masked too. Parsed
defensively: invalid JSON, another shape, huge texts, deep nesting or odd types become a `problem`
(for the whole field or one entry), never an error. Pure: no Redis.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "••••"
MAX_RAW = 256 * 1024  # a longer field is not parsed
MAX_HOOKS = 20  # entries shown (`total` counts them all)
MAX_HEADERS = 30  # header names shown per entry
MAX_TEXT = 2000  # characters of a URL, 100 of a header name or a word
SHORT = 100


@dataclass(frozen=True)
class JobWebhook:
    url: str  # password and query values masked; "" when absent or not text
    job_status: str  # the status it fires on (RQ: finished or failed)
    method: str
    header_names: tuple[str, ...]
    timeout: int | None
    more_headers: int = 0  # header names not shown (over MAX_HEADERS)
    problem: str = ""  # what in this entry cannot be shown


@dataclass(frozen=True)
class JobWebhooks:
    hooks: tuple[JobWebhook, ...] = ()
    total: int = 0  # entries in the field (more than `hooks` when over MAX_HOOKS)
    problem: str = ""  # why the field cannot be read ("" when it is fine or absent)

    def __bool__(self) -> bool:
        return bool(self.hooks) or bool(self.problem)


NONE = JobWebhooks()


def _short(value: Any, limit: int = SHORT) -> str:
    if not isinstance(value, str):
        return ""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def mask_url(url: str) -> str:
    """The URL with its password and every query value replaced by MASK (names stay)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return MASK
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:{MASK}@{host or ''}" + (f":{port}" if port else "")
    query = "&".join(
        (pair.split("=", 1)[0] + "=" + MASK) if "=" in pair else pair for pair in parts.query.split("&") if pair
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _hook(entry: Any) -> JobWebhook:
    if not isinstance(entry, dict):
        return JobWebhook("", "", "", (), None, problem="not a webhook (not a JSON object)")
    problems = []
    raw_url = entry.get("url")
    url = mask_url(raw_url[:MAX_TEXT]) if isinstance(raw_url, str) and raw_url else ""
    if not url:
        problems.append("no URL")
    headers = entry.get("headers")
    names: list[str] = []
    if isinstance(headers, dict):
        names = [_short(str(name)) for name in list(headers)[:MAX_HEADERS]]
    elif headers not in (None, {}):
        problems.append("headers are not a JSON object")
    timeout = entry.get("timeout")
    return JobWebhook(
        url=url,
        job_status=_short(entry.get("job_status")),
        method=_short(entry.get("method")) or "GET",
        header_names=tuple(names),
        timeout=timeout if isinstance(timeout, int) and not isinstance(timeout, bool) and 0 < timeout < 10**9 else None,
        more_headers=max(0, len(headers) - MAX_HEADERS) if isinstance(headers, dict) else 0,
        problem="; ".join(problems),
    )


def parse_webhooks(raw: bytes | str | None) -> JobWebhooks:
    """The webhooks of a job hash's `webhooks` field (NONE when absent or empty). Cost: linear in the
    field, at most MAX_RAW of it."""
    if not raw:
        return NONE
    if len(raw) > MAX_RAW:
        return JobWebhooks(problem=f"too long to show ({len(raw):,} bytes)")
    body = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return JobWebhooks(problem="not valid JSON")
    if value is None or value == []:
        return NONE
    if not isinstance(value, list):
        return JobWebhooks(problem="not a JSON list of webhooks")
    return JobWebhooks(tuple(_hook(entry) for entry in value[:MAX_HOOKS]), total=len(value))
