"""Checking an alert rule's fields, one message per field: the form's inline validation (one field) and the
save (all of them) use the same functions. Pure: no SQL, no Redis."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dashboard.alerts.models import NAME, SUBJECT
from dashboard.alerts.rules import (
    FIELDS,
    KINDS,
    MAX_COOLDOWN,
    MAX_EMAILS,
    MAX_WEBHOOKS,
    MAX_WINDOW,
    SCHEDULERS,
    SEVERITIES,
    Kind,
    number_text,
)

EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,188}[A-Za-z0-9])?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class RuleInput:
    """A rule as the form or the API gave it, checked: `errors` maps a field to its message."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def _split(raw: Any) -> list[str]:
    if isinstance(raw, (list, tuple)):
        return [str(v).strip() for v in raw if str(v).strip()]
    return [part.strip() for part in re.split(r"[,;\s]+", str(raw or "")) if part.strip()]


def _name(text: str) -> tuple[str, str]:
    if not text:
        return "", "give the rule a name"
    if len(text) > NAME:
        return text, f"at most {NAME} characters"
    if _CONTROL.search(text):
        return text, "no control characters (line breaks, tabs)"
    return text, ""


def _threshold(spec: Kind, text: str) -> tuple[Any, str]:
    if not spec.threshold:
        return 0.0, ""
    try:
        value = float(text or number_text(spec.default_threshold))
    except ValueError:
        return text, f"a number of {spec.threshold}"
    if value != value or abs(value) == float("inf"):  # NaN, infinities
        return text, f"a number of {spec.threshold}"
    if value < spec.minimum or (spec.threshold == "percent" and value > 100):
        high = " and at most 100" if spec.threshold == "percent" else ""
        return value, f"at least {number_text(spec.minimum)}{high}"
    if value > 1e12:
        return value, "too large"
    return value, ""


def _window(spec: Kind, text: str) -> tuple[Any, str]:
    if not spec.window:
        return 0, ""
    return _integer(text or str(spec.default_window), 1, MAX_WINDOW, "minutes")


def _choice(text: str, choices: tuple[str, ...] | dict[str, Kind]) -> tuple[str, str]:
    return text, "" if text in choices else f"choose one of: {', '.join(choices)}"


def check_field(name: str, raw: Any, kind: str = "") -> tuple[Any, str]:
    """One field's value from its raw form/API value, and its message ("" when valid). `kind` is the rule's
    kind (target, threshold and window depend on it)."""
    text = "" if raw is None or isinstance(raw, (list, tuple)) else str(raw).strip()
    spec = KINDS.get(kind)
    plain = {
        "name": lambda: _name(text),
        "kind": lambda: _choice(text, KINDS),
        "severity": lambda: _choice(text, SEVERITIES),
        "cooldown_seconds": lambda: _integer(text or "300", 0, MAX_COOLDOWN, "seconds"),
        "webhooks": lambda: _webhook_ids(raw),
        "emails": lambda: _emails(raw),
    }
    if name in plain:
        return plain[name]()
    if spec is None:  # the kind's own message says what is wrong
        return text, ""
    by_kind = {
        "target": lambda: _target(spec, text),
        "threshold": lambda: _threshold(spec, text),
        "window_minutes": lambda: _window(spec, text),
    }
    return by_kind[name]() if name in by_kind else (text, "")


def _integer(text: str, low: int, high: int, unit: str) -> tuple[Any, str]:
    if not re.fullmatch(r"\d{1,9}", text):
        return text, f"a whole number of {unit}"
    value = int(text)
    if not low <= value <= high:
        return value, f"between {low:,} and {high:,} {unit}"
    return value, ""


def _target(spec: Kind, text: str) -> tuple[str, str]:
    if len(text) > SUBJECT - 20:
        return text, f"at most {SUBJECT - 20} characters"
    if _CONTROL.search(text):
        return text, "no control characters"
    if spec.target == "":
        return "", ""
    if spec.target == "scheduler":
        return text, "" if text in SCHEDULERS else f"choose one of: {', '.join(SCHEDULERS)}"
    if spec.target == "scope" and text:
        scope, sep, name = text.partition(":")
        if not sep or scope not in ("queue", "function") or not name.strip():
            return text, "queue:<name>, function:<dotted.name>, or empty for every job"
        return f"{scope}:{name.strip()}", ""
    return text, ""


def _webhook_ids(raw: Any) -> tuple[tuple[int, ...], str]:
    parts = _split(raw)
    if len(parts) > MAX_WEBHOOKS:
        return (), f"at most {MAX_WEBHOOKS} endpoints"
    ids = []
    for part in parts:
        if not re.fullmatch(r"\d{1,9}", part) or int(part) == 0:
            return (), f"{part[:20]!r} is not an endpoint id (the numbers on the Webhooks page)"
        ids.append(int(part))
    return tuple(dict.fromkeys(ids)), ""


def _emails(raw: Any) -> tuple[tuple[str, ...], str]:
    parts = _split(raw)
    if len(parts) > MAX_EMAILS:
        return (), f"at most {MAX_EMAILS} addresses"
    for part in parts:
        # Line breaks would let an address add mail headers; the pattern refuses them with anything odd.
        if len(part) > 254 or not EMAIL.fullmatch(part):
            return (), f"{part[:60]!r} is not an e-mail address"
    return tuple(dict.fromkeys(parts)), ""


def check(raw: Mapping[str, Any]) -> RuleInput:
    """Every field of a rule, checked. `raw`: form or JSON values by FIELDS name; `enabled` a boolean."""
    result = RuleInput()
    kind, kind_error = check_field("kind", raw.get("kind"))
    for name in FIELDS:
        value, error = (kind, kind_error) if name == "kind" else check_field(name, raw.get(name), kind)
        result.values[name] = value
        if error:
            result.errors[name] = error
    result.values["enabled"] = bool(raw.get("enabled", True))
    return result
