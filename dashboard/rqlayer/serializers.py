"""Which serializer the console writes new jobs with, per connection profile (REDIS_PROFILE_SERIALIZERS).

    PICKLE  RQ's default: workers started as `rq worker` read it. The console writes it through
            payloads.RestrictedSerializer (pickle out, plain data only in).
    JSON    RQ's `rq.serializers.JSONSerializer`: what `rq worker --serializer
            rq.serializers.JSONSerializer` reads. JSON holds text, numbers, booleans, null, lists and
            objects with text keys only: `check` refuses anything else (a datetime, bytes, a set) before a
            single byte is written, naming the field and the type (InvalidInput, 422).

Reading is not affected: payloads.decode tells JSON from pickle per job and never unpickles by default.
rq-scheduler writes pickle only (it has no serializer option), so a JSON instance cannot have its
schedules: `refuse_rq_scheduler` (409) says why and what works instead. Flask-free, Redis-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rq.serializers import JSONSerializer

from dashboard.rqlayer.errors import Conflict, InvalidInput
from dashboard.rqlayer.payloads import RestrictedSerializer

PICKLE = "pickle"
JSON = "json"
NAMES = (PICKLE, JSON)
# What a worker of the instance must be started with (README, snippets, messages).
WORKER_OPTION = {PICKLE: "", JSON: "--serializer rq.serializers.JSONSerializer"}
SCHEDULER_REFUSAL = (
    "this instance writes jobs as JSON (REDIS_PROFILE_SERIALIZERS), and rq-scheduler can only write "
    "pickled jobs, which its JSON workers cannot read. Use RQ's own delayed jobs instead (enqueue with "
    "'run at' or 'run after'; workers started with --with-scheduler run them) or `rq cron` for recurring work"
)
_MAX_DEPTH = 64  # as params.MAX_JSON_DEPTH: deeper values were refused before they got here


def rq_serializer(name: str) -> Any:
    """The RQ serializer class for `name` (pickle or json), for Queue(..., serializer=...). Reading
    through it is safe either way: RestrictedSerializer builds plain data only, JSON is only parsed."""
    return JSONSerializer if name == JSON else RestrictedSerializer


def dumps(name: str, value: object) -> bytes:
    """`value` as the instance's workers read it; call `check` first for a message naming the field."""
    data: bytes = rq_serializer(name).dumps(value)
    return data


def check(name: str, kwargs: Mapping[str, Any], args: Sequence[Any] = ()) -> None:
    """Raise InvalidInput (422) naming the first argument JSON cannot hold, on a JSON instance; nothing on
    a pickle one. Pure, O(size of the arguments)."""
    if name != JSON:
        return
    values = [(f"argument {i + 1}", value, str(i)) for i, value in enumerate(args)]
    values += [(str(key), value, str(key)) for key, value in kwargs.items()]
    for label, value, field in values:
        problem = unfit(value)
        if problem:
            message = (
                f"{label}: {problem}: this instance writes jobs as JSON (its workers run with "
                f"{WORKER_OPTION[JSON]}), and JSON has no such type"
            )
            raise InvalidInput(message, fields={field: message})


def unfit(value: object, depth: int = 0) -> str:
    """Why JSON cannot hold `value` exactly ("" when it can): the type and where it sits."""
    if value is None or isinstance(value, str | bool | int | float):
        return ""
    if depth >= _MAX_DEPTH:
        return f"nested more than {_MAX_DEPTH} levels"
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            inner = unfit(item, depth + 1)
            if inner:
                return f"item {index}: {inner}"
        return ""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"a key of type {type(key).__name__} ({_short(key)}): JSON object keys are text"
            inner = unfit(item, depth + 1)
            if inner:
                return f"key {_short(key)}: {inner}"
        return ""
    return f"a value of type {type(value).__name__} ({_short(value)})"


def _short(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def refuse_rq_scheduler(name: str, error: type[Conflict] = Conflict) -> None:
    """Raise `error` (a Conflict, 409) on a JSON instance: rq-scheduler cannot write its jobs. No Redis."""
    if name == JSON:
        raise error(f"rq-scheduler schedules cannot be created or edited on this instance: {SCHEDULER_REFUSAL}")
