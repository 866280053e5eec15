"""Registry of functions that operators may enqueue from the console.

The registry is plain, static metadata about code: which functions are
enqueueable, what parameters they take and how RQ should run them. It has no
Flask or Redis dependency so it can be imported by the web app, the workers
and the tests alike.

Usage::

    @task
    def ping() -> str: ...

    @task(queue="high", retry_max=3, retry_intervals=(5, 15, 60))
    def send(to: str, subject: str, body: str = "") -> dict: ...

    @task(on="order.created")          # or on=["order.created", "order.updated"]
    def confirm(order_id: str) -> None: ...

``on=`` subscribes the task to incoming events of those names (dashboard/inbound): publishing one
enqueues every subscriber with the event's payload as keyword arguments.

The decorator returns the function unchanged, so RQ imports and runs it by its
dotted path (``module.qualname``) exactly as if the decorator were absent.

No parameter name is reserved: a parameter may be called ``queue``, ``delay`` or
``timeout``. The console keeps parameters in their own namespace everywhere (form
fields ``arg-<name>``, the API's ``params`` object apart from ``options``, batch
files that carry parameters only), and always passes them to RQ as ``kwargs=``,
never mixed with RQ's own keyword options.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Union

# The console's one queue-name rule (a pure module: importing it loads no console code).
from dashboard.rqlayer.vocabulary import QUEUE_NAME_RULE, valid_queue_name

if TYPE_CHECKING:  # the registry itself needs no RQ at run time (see TaskSpec.retry)
    from rq import Retry

__all__ = [
    "EVENT_NAME_RULE",
    "REQUIRED",
    "TaskParam",
    "TaskSpec",
    "all_tasks",
    "event_names",
    "format_annotation",
    "get_task",
    "is_registered",
    "subscribers",
    "task",
    "unregister",
    "valid_event_name",
]


class _Required:
    """Sentinel type for "this parameter has no default"."""

    _instance: _Required | None = None

    def __new__(cls) -> _Required:
        # A singleton, so `default is REQUIRED` works even after copying.
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "REQUIRED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class TaskParam:
    """One parameter of a registered task, as the console needs to know it."""

    name: str
    annotation: Any  # the resolved type object, or None when unannotated/unresolvable
    annotation_text: str  # human-readable form, e.g. "int", "list[str]", "Literal['a', 'b']"
    default: Any  # REQUIRED when the parameter has no default
    required: bool
    kind: inspect._ParameterKind


@dataclass(frozen=True)
class TaskSpec:
    """Everything the console knows about one enqueueable function."""

    name: str  # dotted path, identical to RQ's job.func_name
    func: Callable[..., Any]
    title: str
    doc: str
    summary: str
    queue: str
    timeout: int
    retry_max: int
    retry_intervals: tuple[int, ...]
    result_ttl: int | None
    params: tuple[TaskParam, ...]
    description: str = ""
    on: tuple[str, ...] = ()  # the incoming event names it subscribes to (@task(on=...))

    def retry(self) -> Retry | None:
        """Return the ``rq.Retry`` policy for this task, or None if it never retries."""
        if self.retry_max == 0:
            return None
        from rq import Retry  # imported lazily: the registry itself needs no RQ

        return Retry(max=self.retry_max, interval=list(self.retry_intervals))

    def enqueue_options(self) -> dict[str, Any]:
        """Keyword arguments for ``Queue.enqueue_call``/``enqueue`` that apply this spec.

        Only options that differ from RQ's own defaults are included, so the
        result can be merged with per-call overrides.
        """
        options: dict[str, Any] = {"job_timeout": self.timeout}
        retry = self.retry()
        if retry is not None:
            options["retry"] = retry
        if self.result_ttl is not None:
            options["result_ttl"] = self.result_ttl
        return options

    def param(self, name: str) -> TaskParam | None:
        """Return the parameter called ``name``, or None."""
        for p in self.params:
            if p.name == name:
                return p
        return None


_REGISTRY: dict[str, TaskSpec] = {}

# Event names are dotted lowercase words ("order.created"): they appear in URLs, form selects and the
# event stream, and one spelling per name keeps "Order.Created" from silently having no subscriber.
EVENT_NAME_MAX = 100
EVENT_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
EVENT_NAME_RULE = f"dotted lowercase words such as 'order.created' (a-z, 0-9, _; at most {EVENT_NAME_MAX})"


def valid_event_name(name: object) -> bool:
    """True when `name` may name an incoming event (EVENT_NAME_RULE)."""
    return isinstance(name, str) and len(name) <= EVENT_NAME_MAX and bool(EVENT_NAME_RE.match(name))


def _check_on(name: str, on: str | typing.Iterable[str] | None) -> tuple[str, ...]:
    if on is not None and not isinstance(on, str | typing.Iterable):
        raise TypeError(f"@task {name}: on= takes an event name or a list of them, got {on!r}")
    names = [on] if isinstance(on, str) else list(on or ())
    bad = [n for n in names if not valid_event_name(n)]
    if bad:
        raise TypeError(f"@task {name}: on= takes event names, {EVENT_NAME_RULE}; got {bad[0]!r}")
    return tuple(dict.fromkeys(names))  # duplicates once, order kept


def format_annotation(tp: Any) -> str:
    """Render a type annotation the way an operator would write it."""
    if tp is None or tp is inspect.Parameter.empty:
        return ""
    if tp is type(None):
        return "None"
    if tp is Ellipsis:
        return "..."
    if isinstance(tp, str):
        return tp
    if isinstance(tp, typing.ForwardRef):
        return tp.__forward_arg__
    if isinstance(tp, list):  # the argument list of Callable[[...], R]
        return "[" + ", ".join(format_annotation(a) for a in tp) + "]"

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return "Literal[" + ", ".join(repr(a) for a in args) + "]"
    if origin is Union or origin is types.UnionType:
        return " | ".join(format_annotation(a) for a in args)
    if origin is not None and args and isinstance(origin, type):
        inner = ", ".join(format_annotation(a) for a in args)
        return f"{origin.__name__}[{inner}]"
    # Checked after get_origin: `list[str]` pretends to be a type in 3.11.
    if isinstance(tp, type):
        return tp.__name__
    return re.sub(r"\btyping\.", "", repr(tp))


def _resolve_hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception:
        # An unresolvable forward reference should not make the module
        # unimportable; such parameters are shown with their raw text.
        return {}


def _build_params(func: Callable[..., Any], name: str) -> tuple[TaskParam, ...]:
    signature = inspect.signature(func)
    hints = _resolve_hints(func)
    params: list[TaskParam] = []
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            star = "*" if p.kind is p.VAR_POSITIONAL else "**"
            raise TypeError(
                f"@task {name}: parameter {star}{p.name} is not allowed; the console "
                f"can only fill in named parameters, so list each one explicitly"
            )
        if p.kind is p.POSITIONAL_ONLY:
            raise TypeError(
                f"@task {name}: parameter {p.name!r} is positional-only; the console "
                f"passes arguments by keyword, so remove the '/' marker"
            )
        if p.name in hints:
            annotation = hints[p.name]
            text = format_annotation(annotation)
        elif p.annotation is not p.empty:
            annotation = None
            text = format_annotation(p.annotation)
        else:
            annotation, text = None, ""
        default = REQUIRED if p.default is p.empty else p.default
        params.append(
            TaskParam(
                name=p.name,
                annotation=annotation,
                annotation_text=text,
                default=default,
                required=default is REQUIRED,
                kind=p.kind,
            )
        )
    return tuple(params)


def _check_options(name, queue, timeout, retry_max, retry_intervals, result_ttl) -> tuple[int, ...]:
    def is_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if not isinstance(queue, str) or not valid_queue_name(queue):
        raise TypeError(f"@task {name}: {QUEUE_NAME_RULE}, got {queue!r}")
    if not is_int(timeout) or timeout <= 0:
        raise TypeError(f"@task {name}: timeout must be a positive number of seconds, got {timeout!r}")
    if not is_int(retry_max) or retry_max < 0:
        raise TypeError(f"@task {name}: retry_max must be an int >= 0, got {retry_max!r}")
    if isinstance(retry_intervals, (str, bytes)) or not isinstance(retry_intervals, typing.Iterable):
        raise TypeError(f"@task {name}: retry_intervals must be a sequence of seconds, got {retry_intervals!r}")
    intervals = tuple(retry_intervals)
    if not all(is_int(i) and i >= 0 for i in intervals):
        raise TypeError(f"@task {name}: retry_intervals must be non-negative ints, got {intervals!r}")
    if intervals and retry_max == 0:
        raise TypeError(f"@task {name}: retry_intervals given but retry_max is 0; set retry_max too")
    if result_ttl is not None and (not is_int(result_ttl) or result_ttl < -1):
        raise TypeError(f"@task {name}: result_ttl must be None, -1 (keep forever) or seconds >= 0, got {result_ttl!r}")
    return intervals


def _register(func, queue, timeout, retry_max, retry_intervals, result_ttl, description, on):
    if not inspect.isfunction(func):
        raise TypeError(f"@task can only decorate plain functions, got {func!r}")
    name = f"{func.__module__}.{func.__qualname__}"
    intervals = _check_options(name, queue, timeout, retry_max, retry_intervals, result_ttl)
    events = _check_on(name, on)
    params = _build_params(func, name)

    existing = _REGISTRY.get(name)
    # Re-executing the same source file (importlib.reload, a module run twice) legitimately redefines
    # the function; anything else is two different functions fighting over one dotted name.
    if (
        existing is not None
        and existing.func is not func
        and existing.func.__code__.co_filename != func.__code__.co_filename
    ):
        raise TypeError(
            f"@task {name}: a different task is already registered under this name "
            f"(from {existing.func.__code__.co_filename})"
        )

    doc = inspect.getdoc(func) or ""
    summary = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    _REGISTRY[name] = TaskSpec(
        name=name,
        func=func,
        title=func.__name__,
        doc=doc,
        summary=summary,
        queue=queue,
        timeout=timeout,
        retry_max=retry_max,
        retry_intervals=intervals,
        result_ttl=result_ttl,
        params=params,
        description=description or summary,
        on=events,
    )
    return func


def task(
    func: Callable[..., Any] | None = None,
    *,
    queue: str = "default",
    timeout: int = 180,
    retry_max: int = 0,
    retry_intervals: typing.Iterable[int] = (),
    result_ttl: int | None = None,
    description: str | None = None,
    on: str | typing.Iterable[str] | None = None,
):
    """Register a function as a console task; usable as ``@task`` or ``@task(...)``.

    ``on`` is an event name or a list of them (EVENT_NAME_RULE) the task subscribes to.
    Raises TypeError at decoration time for *args/**kwargs or positional-only
    parameters, invalid options or event names, or a dotted name already taken by another task.
    """
    options = dict(
        queue=queue,
        timeout=timeout,
        retry_max=retry_max,
        retry_intervals=retry_intervals,
        result_ttl=result_ttl,
        description=description,
        on=on,
    )
    if func is not None:
        return _register(func, **options)

    def decorator(f: Callable[..., Any]) -> Callable[..., Any]:
        return _register(f, **options)

    return decorator


def all_tasks() -> list[TaskSpec]:
    """All registered tasks, sorted by dotted name."""
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get_task(name: str) -> TaskSpec | None:
    """The task registered under dotted ``name`` (RQ's func_name), or None."""
    return _REGISTRY.get(name)


def is_registered(name: str) -> bool:
    """Whether ``name`` is an enqueueable task; use it to refuse arbitrary callables."""
    return name in _REGISTRY


def subscribers(event_name: str) -> list[TaskSpec]:
    """The tasks subscribed to `event_name` (@task(on=...)), sorted by dotted name."""
    return [spec for spec in all_tasks() if event_name in spec.on]


def event_names() -> list[str]:
    """Every event name some task subscribes to, sorted."""
    return sorted({n for spec in _REGISTRY.values() for n in spec.on})


def unregister(name: str) -> bool:
    """Remove a task from the registry (meant for tests); True if it was present."""
    return _REGISTRY.pop(name, None) is not None
