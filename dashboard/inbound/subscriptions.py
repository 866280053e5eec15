"""Which tasks subscribe to which event names: read from the task registry (@task(on=...)). No I/O.

The `tasks` package is imported on first use (as the console's TaskCatalogue does), so every task module
has registered its tasks before anyone asks."""

from __future__ import annotations

import importlib

from tasks.registry import TaskSpec, event_names, subscribers


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
