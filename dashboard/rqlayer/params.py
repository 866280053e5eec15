"""Turning what an operator typed (form text, JSON values, CSV cells) into a registered task's
typed arguments, with one clear message per field. Nothing is enqueued unless every field is valid.

Parameters and enqueue options never share a namespace: in HTML forms a parameter's field is named
PARAM_PREFIX + name (never a Python identifier, so no option, CSRF or helper field can collide with
it); the API takes {"params": {...}, "options": {...}}; a batch file carries parameters only.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Union

from tasks.registry import TaskParam, TaskSpec

PARAM_PREFIX = "arg-"
# Deeper values are refused: nothing a task needs is nested this far, and deep values make pickling,
# previews and repr() recurse until they fail in places far from the form.
MAX_JSON_DEPTH = 64


def check_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise ValueError when lists/dicts nest deeper than `limit`. Iterative: O(nodes), no recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth > limit:
                raise ValueError(f"nested too deeply (at most {limit} levels)")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def parse_json(raw: str) -> Any:
    """Parse operator-supplied JSON text. Every failure is a ValueError with a message for the operator:
    syntax errors with their position, nesting past MAX_JSON_DEPTH (including nesting deep enough to
    exhaust the parser's recursion) and integers longer than Python's digit limit."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ValueError(f"not valid JSON: nested too deeply (at most {MAX_JSON_DEPTH} levels)") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})") from None
    except ValueError:  # int() past sys.get_int_max_str_digits(): a plain ValueError without a position
        raise ValueError("not valid JSON: a number has too many digits") from None
    check_depth(value)
    return value


def form_values(spec: TaskSpec, form: Mapping[str, Any]) -> dict[str, Any]:
    """A task's raw parameter values from an HTML form whose parameter fields carry PARAM_PREFIX."""
    return {p.name: form.get(PARAM_PREFIX + p.name, "") for p in spec.params}


@dataclass(frozen=True)
class FieldKind:
    """How a parameter is entered in a form."""

    widget: str  # text, number, integer, checkbox, select, date, datetime, json
    choices: tuple[str, ...] = ()
    optional: bool = False


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def field_kind(param: TaskParam) -> FieldKind:
    tp, optional = _unwrap_optional(param.annotation)
    origin = typing.get_origin(tp)
    if origin is Literal:
        return FieldKind("select", tuple(str(a) for a in typing.get_args(tp)), optional)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return FieldKind("select", tuple(str(m.value) for m in tp), optional)
    if tp is bool:
        return FieldKind("checkbox", (), optional)
    if tp is int:
        return FieldKind("integer", (), optional)
    if tp is float:
        return FieldKind("number", (), optional)
    if tp is datetime:
        return FieldKind("datetime", (), optional)
    if tp is date:
        return FieldKind("date", (), optional)
    if tp in (list, dict, tuple) or origin in (list, dict, tuple):
        return FieldKind("json", (), optional)
    return FieldKind("text", (), optional)


def default_text(param: TaskParam) -> str:
    """The default as the form shows it pre-filled."""
    if param.required or param.default is None:
        return ""
    value = param.default
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, list | dict | tuple):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _is_blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip() == "")


def _bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on", "y"):
        return True
    if text in ("0", "false", "no", "off", "n"):
        return False
    raise ValueError("expected true or false")


def _int(raw: object) -> int:
    if isinstance(raw, bool):
        raise ValueError("expected a whole number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ValueError("expected a whole number") from None


def _float(raw: object) -> float:
    if isinstance(raw, bool):
        raise ValueError("expected a number")
    try:
        value = float(raw) if isinstance(raw, int | float) else float(str(raw).strip())
    except (ValueError, OverflowError):
        raise ValueError("expected a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("expected a finite number")
    return value


def _datetime(raw: object) -> datetime:
    try:
        return raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw).strip())
    except ValueError:
        raise ValueError("expected a date and time like 2026-01-31T08:00") from None


def _date(raw: object) -> date:
    try:
        return raw if isinstance(raw, date) else date.fromisoformat(str(raw).strip())
    except ValueError:
        raise ValueError("expected a date like 2026-01-31") from None


# Annotations read from text by one function each (compared by identity, as annotations are).
_SCALARS: tuple[tuple[object, Callable[[object], Any]], ...] = (
    (bool, _bool),
    (int, _int),
    (float, _float),
    (datetime, _datetime),
    (date, _date),
)


def _choice(allowed: tuple[Any, ...], raw: object) -> Any:
    """A Literal's value: the choice equal to `raw` or spelled like it."""
    for choice in allowed:
        if raw == choice or str(raw) == str(choice):
            return choice
    raise ValueError(f"choose one of: {', '.join(str(a) for a in allowed)}")


def _enum_value(tp: type[enum.Enum], raw: object) -> Any:
    for member in tp:
        if raw == member.value or str(raw) == str(member.value) or raw == member.name:
            return member.value  # plain value: jobs stay readable without the enum class
    raise ValueError(f"choose one of: {', '.join(str(m.value) for m in tp)}")


def _container(tp: Any, origin: Any, raw: object) -> Any:
    """A list/dict/tuple parameter: JSON text (or an already-parsed value) of that shape; a list of one
    scalar type is checked item by item."""
    value = parse_json(raw) if isinstance(raw, str) else raw
    check_depth(value)
    expected = origin or tp
    if expected is tuple:
        expected = list
    if not isinstance(value, expected):
        raise ValueError(f"expected a JSON {'object' if expected is dict else 'list'}")
    item_types = typing.get_args(tp)
    if (
        expected is list
        and len(item_types) == 1
        and item_types[0] in (str, int, float, bool)
        and not all(isinstance(v, item_types[0]) and not (item_types[0] is int and isinstance(v, bool)) for v in value)
    ):
        raise ValueError(f"expected a list of {item_types[0].__name__}")
    return value


def _unknown(raw: object) -> Any:
    """An annotation we cannot build from text: JSON when it parses, else the text itself."""
    if isinstance(raw, str):
        try:
            return parse_json(raw)
        except ValueError:
            return raw
    check_depth(raw)
    return raw


def coerce(param: TaskParam, raw: object) -> Any:
    """The typed value of one parameter; raises ValueError with a message for the operator."""
    tp, optional = _unwrap_optional(param.annotation)
    if _is_blank(raw):
        if optional:
            return None
        raise ValueError("this field is required")
    origin = typing.get_origin(tp)
    if origin is Literal:
        return _choice(typing.get_args(tp), raw)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_value(tp, raw)
    reader = next((read for scalar, read in _SCALARS if tp is scalar), None)
    if reader is not None:
        return reader(raw)
    if tp in (list, dict, tuple) or origin in (list, dict, tuple):
        return _container(tp, origin, raw)
    if tp is str or tp is None or tp is typing.Any:
        if not isinstance(raw, str):
            raise ValueError("expected text")
        return raw
    return _unknown(raw)


def validate_call(
    spec: TaskSpec, raw: Mapping[str, Any], *, checkbox_form: bool = False
) -> tuple[dict[str, Any], dict[str, str]]:
    """(kwargs, errors) for a task from raw values. Missing optional parameters take their
    defaults; `checkbox_form` treats an absent bool field as False (HTML forms omit unchecked boxes)."""
    kwargs: dict[str, Any] = {}
    errors: dict[str, str] = {}
    known = {p.name for p in spec.params}
    for name in raw:
        if name not in known:
            errors[name] = f"{spec.title} has no parameter {name!r}"
    for param in spec.params:
        value = raw.get(param.name)
        if _is_blank(value) and field_kind(param).widget == "checkbox" and checkbox_form:
            value = False
        if _is_blank(value) and not param.required:
            continue
        try:
            kwargs[param.name] = coerce(param, value)
        except ValueError as error:
            errors[param.name] = str(error)
    return kwargs, errors
