"""Which tasks subscribe to which event names: read from the task registry (@task(on=...)), and an example
payload for the test form. No I/O.

The `tasks` package is imported on first use (as the console's TaskCatalogue does), so every task module
has registered its tasks before anyone asks."""

from __future__ import annotations

import importlib
import json
import typing

from tasks.registry import TaskParam, TaskSpec, event_names, subscribers


def _registered() -> None:
    importlib.import_module("tasks")


def subscribers_of(name: str) -> list[TaskSpec]:
    """The tasks subscribed to event `name`, by dotted name."""
    _registered()
    return subscribers(name)


def subscriptions() -> dict[str, list[TaskSpec]]:
    """{event name: its subscribers}, names sorted."""
    _registered()
    return {name: subscribers(name) for name in event_names()}


def _placeholder(param: TaskParam) -> object:
    """A value of the parameter's type for an example (the operator edits it)."""
    tp = param.annotation
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return typing.get_args(tp)[0]
    for kind, value in ((bool, False), (int, 0), (float, 0), (list, []), (tuple, []), (dict, {})):
        if tp is kind or origin is kind:
            return value
    return ""


def example_payload(specs: list[TaskSpec]) -> str:
    """A JSON object with every parameter of the subscribers (their defaults, or a placeholder of the
    type): what the test form starts from."""
    example: dict[str, object] = {}
    for spec in specs:
        for param in spec.params:
            if param.name in example:
                continue
            value = _placeholder(param) if param.required else param.default
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                value = ""
            example[param.name] = value
    return json.dumps(example, indent=2)
