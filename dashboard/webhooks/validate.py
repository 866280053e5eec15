"""What an operator may register as an endpoint (the form and POST /api/v1/webhooks share it). Flask-free.

`clean` returns the values to store or raises Invalid with one message per field: the URL is checked for SSRF
here too (ssrf.check: one DNS lookup), so a private or unresolvable destination is refused with a clear
reason before anything is written. Lists arrive as JSON arrays (API) or as comma / space separated text
(the form's fields).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from dashboard.rqlayer.errors import InvalidInput
from dashboard.rqlayer.vocabulary import QUEUE_NAME_RULE, valid_queue_name
from dashboard.webhooks import ssrf
from dashboard.webhooks.outbox import EVENT_TYPES

MAX_ITEMS = 50
FUNCTION_RE = re.compile(r"^[A-Za-z0-9_.:*?<>\[\]-]{1,200}$")
DESCRIPTION_MAX = 500


class Invalid(InvalidInput):
    """Field -> message (a 422 with `fields` for the API, through the app's error handler); nothing was written."""

    def __init__(self, fields: dict[str, str]) -> None:
        message = "; ".join(f"{name}: {text}" for name, text in fields.items())
        super().__init__(f"Nothing was saved: {message}", fields=fields)


def items(raw: Any) -> list[str] | None:
    """A list of strings from a JSON array or from text separated by commas, spaces or new lines; None when
    the value is neither (an API client sent a number, an object...)."""
    if raw is None:
        return []
    if isinstance(raw, str):
        return [part for part in re.split(r"[\s,]+", raw) if part]
    if isinstance(raw, list) and all(isinstance(v, str) for v in raw):
        return [v.strip() for v in raw if v.strip()]
    return None


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def clean_url(url: Any, allowed_hosts: tuple[str, ...]) -> str:
    """The URL, stripped, if it may receive webhooks now; Invalid({"url": why}) otherwise."""
    if not isinstance(url, str):
        raise Invalid({"url": "a URL (text) is required"})
    url = url.strip()
    try:
        ssrf.check(url, allowed_hosts)
    except ssrf.Refused as refused:
        raise Invalid({"url": str(refused)}) from None
    except ssrf.Unresolvable as failure:
        raise Invalid({"url": f"{failure} (check the host name)"}) from None
    return url


def _events(raw: Any) -> list[str]:
    events = items(raw)
    if not events:
        raise Invalid({"events": f"choose at least one event: {', '.join(EVENT_TYPES)}"})
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise Invalid({"events": f"unknown event {unknown[0][:40]!r} (one of {', '.join(EVENT_TYPES)})"})
    return _unique(events)


def _names(name: str, raw: Any) -> list[str]:
    listed = items(raw)
    if listed is None:
        raise Invalid({name: "a list of names"})
    if len(listed) > MAX_ITEMS:
        raise Invalid({name: f"at most {MAX_ITEMS}"})
    check, rule = NAME_RULES[name]
    bad = [v for v in listed if not check(v)]
    if bad:
        raise Invalid({name: f"{bad[0][:60]!r}: {rule}"})
    return _unique(listed)


def _description(raw: Any) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str) or len(raw) > DESCRIPTION_MAX:
        raise Invalid({"description": f"text of at most {DESCRIPTION_MAX} characters"})
    return raw.strip()


NAME_RULES = {
    "queues": (valid_queue_name, QUEUE_NAME_RULE),
    "functions": (lambda f: bool(FUNCTION_RE.match(f)), "a function name or pattern (e.g. reports.*)"),
}


def clean(values: dict[str, Any], allowed_hosts: tuple[str, ...]) -> dict[str, Any]:
    """{"url", "events", "queues", "functions", "description"} checked and normalised (lists deduplicated,
    text stripped). Invalid lists every bad field at once."""
    errors: dict[str, str] = {}
    found: dict[str, Any] = {}
    checks = (
        ("url", lambda: clean_url(values.get("url"), allowed_hosts)),
        ("events", lambda: _events(values.get("events"))),
        ("queues", lambda: _names("queues", values.get("queues"))),
        ("functions", lambda: _names("functions", values.get("functions"))),
        ("description", lambda: _description(values.get("description"))),
    )
    for name, check in checks:
        try:
            found[name] = check()
        except Invalid as error:
            errors.update(error.fields)
    if errors:
        raise Invalid(errors)
    return found
