"""Rendering decoded values as text at a cost bounded by the text shown, not by the value.

`json.dumps`/`repr` of a value walk all of it: a 1 MB argument costs milliseconds per row to show 160
characters, and a value that shares references (`x = [x, x]` twenty levels deep) expands to millions
of items. These renderers stop at a character limit, cut long strings before converting them, detect
cycles, and cap nesting depth. `measure` says whether a value is a tree small enough to hand to code
that walks it whole (repr, json, forms).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator
from typing import Any

MAX_DEPTH = 64  # nesting shown before "…"
TREE_NODES = 200_000  # a value handed to callers whole must expand to no more than this
TEXT_WEIGHT = 64  # a string counts one node per this many characters in that expansion
CONTAINERS = (list, tuple, set, frozenset, dict)


class _Full(Exception):
    pass


def _children(value: object) -> list[object] | None:
    if isinstance(value, dict):
        return [x for pair in value.items() for x in pair]
    if isinstance(value, CONTAINERS):
        return list(value)
    return None


def measure(value: object, max_nodes: int = TREE_NODES, max_depth: int = MAX_DEPTH) -> str:
    """ "" when `value` is a finite tree of at most `max_nodes` (shared references counted each time they
    occur) and `max_depth` levels; else why not. Cost: O(distinct containers + their items)."""
    done: dict[int, tuple[int, int]] = {}
    on_path: set[int] = set()
    pending: list[tuple[object, bool]] = [(value, False)]
    while pending:
        item, finished = pending.pop()
        children = _children(item)
        if children is None:
            continue
        key = id(item)
        if finished:
            on_path.discard(key)
            nodes, depth = 1, 1
            for child in children:
                if isinstance(child, CONTAINERS):
                    child_nodes, child_depth = done[id(child)]
                else:
                    child_nodes, child_depth = _leaf_weight(child), 0
                nodes += child_nodes
                depth = max(depth, child_depth + 1)
            if nodes > max_nodes:
                return f"it expands to more than {max_nodes:,} items (shared references)"
            if depth > max_depth:
                return f"it is nested more than {max_depth} levels deep"
            done[key] = (nodes, depth)
            continue
        if key in done:
            continue
        if key in on_path:
            return "it contains itself (a reference cycle)"
        on_path.add(key)
        pending.append((item, True))
        pending.extend((child, False) for child in children if isinstance(child, CONTAINERS) and id(child) not in done)
    return ""


def _leaf_weight(value: object) -> int:
    if isinstance(value, str | bytes):
        return 1 + len(value) // TEXT_WEIGHT
    return 1


def _scalar(value: object, room: int, python: bool) -> str:
    if isinstance(value, str):
        cut = value[: room + 1]
        return repr(cut) if python else json.dumps(cut, ensure_ascii=False)
    if isinstance(value, bytes):
        return repr(value[: room + 1]) if python else json.dumps(repr(value[: room + 1]))
    if isinstance(value, bool) or value is None:
        return repr(value) if python else json.dumps(value)
    if isinstance(value, int):
        if value.bit_length() > 13_000:  # past Python's 4300-digit str limit: never convert
            return f"<int of {value.bit_length():,} bits>"
        return str(value)
    if isinstance(value, float):
        return repr(value) if python else json.dumps(value)
    try:
        text = str(value) if not python else repr(value)
    except Exception as error:  # unsafe mode only: arbitrary objects may fail to print
        text = f"<{type(value).__name__}: cannot print ({type(error).__name__})>"
    return text[: room + 1] if python else json.dumps(text[: room + 1], ensure_ascii=False)


def _pieces(
    value: object, depth: int, indent: str | None, python: bool, path: set[int], room: Callable[[], int]
) -> Iterator[str]:
    if not isinstance(value, CONTAINERS):
        yield _scalar(value, room(), python)
        return
    if id(value) in path:
        yield "<cycle>"
        return
    if depth >= MAX_DEPTH:
        yield "…"
        return
    items: Collection[Any]
    if isinstance(value, dict):
        opening, closing, items = "{", "}", value.items()
    elif isinstance(value, tuple) and python:
        opening, closing, items = "(", ")", value
    elif isinstance(value, set | frozenset) and python:
        opening, closing, items = "{", "}", value
    else:
        opening, closing, items = "[", "]", value
    if not items:
        yield opening + closing
        return
    path.add(id(value))
    inner = None if indent is None else indent + "  "
    separator = ", " if inner is None else ","
    yield opening
    for index, item in enumerate(items):
        yield ("" if index == 0 else separator) + ("" if inner is None else "\n" + inner)
        if isinstance(value, dict):
            key, item = item
            yield from _key(key, python, room)
            yield ": "
        yield from _pieces(item, depth + 1, inner, python, path, room)
    if isinstance(value, tuple) and python and len(value) == 1:
        yield ","
    yield ("" if indent is None else "\n" + indent) + closing
    path.discard(id(value))


def _key(key: object, python: bool, room: Callable[[], int]) -> Iterator[str]:
    if python or isinstance(key, str):
        yield _scalar(key, room(), python)
    else:  # JSON keys are text
        yield json.dumps(_scalar(key, room(), True), ensure_ascii=False)


def render(value: object, max_chars: int, python: bool = False, pretty: bool = True) -> tuple[str, bool]:
    """(text, complete): JSON-like indented text (`python`: repr-like, one line) of at most about
    `max_chars` characters; `complete` is False when it was cut. Cost: O(max_chars) plus the items
    skipped at the level where it stops, never the whole value."""
    out: list[str] = []
    used = 0

    def room() -> int:
        return max(0, max_chars - used)

    try:
        for piece in _pieces(value, 0, "" if pretty and not python else None, python, set(), room):
            out.append(piece)
            used += len(piece)
            if used > max_chars:
                raise _Full
    except _Full:
        return "".join(out)[:max_chars], False
    except (RecursionError, ValueError, OverflowError, MemoryError):  # whatever is left: show the start
        return "".join(out)[:max_chars], False
    return "".join(out), True


def short(value: object, max_chars: int) -> str:
    """A one-line repr-like preview of at most `max_chars` characters, "…" when cut."""
    text, complete = render(value, max_chars, python=True, pretty=False)
    return text if complete else text[: max(0, max_chars - 1)] + "…"
