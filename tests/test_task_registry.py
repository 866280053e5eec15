"""The @task decorator and the registry lookups."""

from __future__ import annotations

import inspect
from typing import Literal

import pytest
from rq import Retry
from rq.utils import import_attribute

import tasks
from tasks import registry
from tasks.registry import REQUIRED, all_tasks, get_task, is_registered, task

EXPECTED_TASKS = {
    "tasks.notifications.send_email_notification",
    "tasks.reports.generate_sales_report",
    "tasks.images.make_thumbnail",
    "tasks.batches.process_batch",
    "tasks.maintenance.cleanup_old_files",
    "tasks.external.fetch_exchange_rate",
    "tasks.notifications.send_digest",
}


@pytest.fixture
def isolated_registry(monkeypatch):
    """Let a test register throw-away tasks without leaking them into the real registry."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    return registry._REGISTRY


def test_parameterised_form_records_everything(isolated_registry):
    def greet(name: str, times: int = 2, *, tags: list[str] | None = None, mode: Literal["a", "b"] = "a") -> str:
        """Say hello.

        Longer help text for operators.
        """
        return name * times

    returned = task(
        queue="high", timeout=30, retry_max=2, retry_intervals=[1, 4], result_ttl=600, description="Greeter"
    )(greet)
    assert returned is greet  # the function itself, so RQ imports the real thing

    spec = get_task(f"{__name__}.test_parameterised_form_records_everything.<locals>.greet")
    assert spec is not None
    assert spec.func is greet
    assert spec.title == "greet"
    assert spec.doc == "Say hello.\n\nLonger help text for operators."
    assert spec.summary == "Say hello."
    assert spec.description == "Greeter"
    assert (spec.queue, spec.timeout, spec.result_ttl) == ("high", 30, 600)
    assert spec.retry_max == 2 and spec.retry_intervals == (1, 4)

    names = [p.name for p in spec.params]
    assert names == ["name", "times", "tags", "mode"]
    name, times, tags, mode = spec.params
    assert name.annotation is str and name.annotation_text == "str"
    assert name.required and name.default is REQUIRED
    assert times.annotation is int and times.default == 2 and not times.required
    assert tags.annotation == (list[str] | None)  # resolved from the string annotation
    assert tags.annotation_text == "list[str] | None"
    assert tags.kind is inspect.Parameter.KEYWORD_ONLY
    assert mode.annotation == Literal["a", "b"]
    assert mode.annotation_text == "Literal['a', 'b']"
    assert spec.param("mode") is mode and spec.param("nope") is None


def test_bare_form_uses_defaults(isolated_registry):
    def ping():
        return "pong"

    assert task(ping) is ping
    spec = get_task(f"{ping.__module__}.{ping.__qualname__}")
    assert spec.queue == "default" and spec.timeout == 180
    assert spec.retry_max == 0 and spec.retry_intervals == () and spec.result_ttl is None
    assert spec.retry() is None
    assert spec.params == ()
    assert spec.doc == "" and spec.summary == "" and spec.description == ""
    assert spec.enqueue_options() == {"job_timeout": 180}


def test_unannotated_parameter(isolated_registry):
    @task
    def loose(x, y=3):
        return x

    spec = get_task(f"{loose.__module__}.{loose.__qualname__}")
    assert [(p.annotation, p.annotation_text, p.required) for p in spec.params] == [(None, "", True), (None, "", False)]


def test_retry_builds_rq_retry():
    spec = get_task("tasks.external.fetch_exchange_rate")
    retry = spec.retry()
    assert isinstance(retry, Retry)
    assert retry.max == 3 and retry.intervals == [5, 15, 60]
    options = spec.enqueue_options()
    assert options["job_timeout"] == spec.timeout and isinstance(options["retry"], Retry)


@pytest.mark.parametrize("bad", ["args", "kwargs", "posonly"])
def test_rejects_parameters_the_console_cannot_fill(isolated_registry, bad):
    def with_args(a, *args):
        pass

    def with_kwargs(a, **kwargs):
        pass

    def with_posonly(a, /, b):
        pass

    func = {"args": with_args, "kwargs": with_kwargs, "posonly": with_posonly}[bad]
    with pytest.raises(TypeError, match=r"\*args|\*\*kwargs|positional-only"):
        task(func)
    assert not is_registered(f"{func.__module__}.{func.__qualname__}")


@pytest.mark.parametrize(
    "options",
    [
        {"queue": ""},
        {"queue": "has space"},
        {"timeout": 0},
        {"retry_max": -1},
        {"retry_max": 2, "retry_intervals": (5, -1)},
        {"retry_intervals": (5,)},  # intervals without retries is a mistake
        {"result_ttl": -5},
    ],
)
def test_rejects_bad_options(isolated_registry, options):
    def job():
        pass

    with pytest.raises(TypeError):
        task(**options)(job)


def test_rejects_duplicate_name_from_another_file(isolated_registry):
    def first():
        pass

    task(first)
    # Same dotted name, but compiled from a different file: a real clash.
    namespace: dict = {"__name__": first.__module__}
    exec(
        compile(f"def first():\n    pass\nfirst.__qualname__ = {first.__qualname__!r}\n", "<other>", "exec"), namespace
    )
    with pytest.raises(TypeError, match="already registered"):
        task(namespace["first"])
    assert get_task(f"{first.__module__}.{first.__qualname__}").func is first


def test_rejects_non_functions(isolated_registry):
    with pytest.raises(TypeError):
        task(print)


def test_all_tasks_contains_the_examples_sorted():
    names = [spec.name for spec in all_tasks()]
    assert EXPECTED_TASKS <= set(names)
    assert names == sorted(names)
    assert tasks.all_tasks is all_tasks and tasks.get_task is get_task and tasks.task is task


def test_lookup_by_dotted_name():
    spec = get_task("tasks.notifications.send_email_notification")
    assert spec is not None and spec.queue == "high"
    assert [p.name for p in spec.params if p.required] == ["to", "subject"]
    assert is_registered(spec.name)
    assert get_task("os.system") is None and not is_registered("os.system")


@pytest.mark.parametrize("name", sorted(EXPECTED_TASKS))
def test_registered_names_import_to_the_same_function(name):
    spec = get_task(name)
    assert import_attribute(name) is spec.func
    assert spec.doc, "operators see the docstring as help text"


def test_example_task_metadata():
    expected = {
        "tasks.notifications.send_email_notification": "high",
        "tasks.reports.generate_sales_report": "low",
        "tasks.images.make_thumbnail": "default",
        "tasks.batches.process_batch": "low",
        "tasks.maintenance.cleanup_old_files": "low",
        "tasks.external.fetch_exchange_rate": "default",
    }
    for name, queue in expected.items():
        assert get_task(name).queue == queue
    assert get_task("tasks.reports.generate_sales_report").timeout == 600
    assert get_task("tasks.batches.process_batch").timeout == 3600
    region = get_task("tasks.reports.generate_sales_report").param("region")
    assert region.annotation_text == "Literal['north', 'south', 'east', 'west', 'all']"
    assert region.default == "all"
    seed = get_task("tasks.external.fetch_exchange_rate").param("seed")
    assert seed.annotation_text == "int | None" and seed.default is None and not seed.required
    assert get_task("tasks.notifications.send_digest").param("recipients").annotation == list[str]
