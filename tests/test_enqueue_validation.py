"""Enqueue input through the API and the layer: odd options and parameter values are 422 with the field,
unknown options are refused, a dependency is never unpickled, a retry count keeps the task's backoff."""

from __future__ import annotations

import pickle
import zlib

import pytest

from dashboard.rqlayer import keys


def test_enqueue_with_a_dependency_never_unpickles_the_parent(app, client, conn, tmp_path):
    import os

    from dashboard import accounts

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    conn.hset(
        keys.job("parent1"),
        mapping={
            "status": "queued",
            "origin": "default",
            "meta": pickle.dumps(Exploit()),
            "data": zlib.compress(pickle.dumps(("f", None, (), {}))),
        },
    )
    with app.app_context():
        _, secret = accounts.create_token("dep", "operator")
    response = client.post(
        "/api/v1/jobs",
        headers={"Authorization": f"Bearer {secret}"},
        json={"task": "tasks.reports.generate_sales_report", "options": {"depends_on": "parent1"}},
    )
    assert response.status_code in (201, 422)
    assert not marker.exists()


@pytest.mark.parametrize(
    "options, field",
    [
        ({"run_at": "2999-01-01T00:00", "timezone": "America"}, "options.timezone"),
        ({"run_at": "2999-01-01T00:00", "timezone": "A" * 5000}, "options.timezone"),
        ({"run_at": "9999-12-31T23:59", "timezone": "America/New_York"}, "options.run_at"),
        ({"delay": "60", "at_front": True}, "options.at_front"),
    ],
)
def test_odd_enqueue_options_are_422_not_500(app, client, options, field):
    from dashboard import accounts

    with app.app_context():
        _, secret = accounts.create_token("odd", "operator")
    response = client.post(
        "/api/v1/jobs",
        headers={"Authorization": f"Bearer {secret}"},
        json={"task": "tasks.reports.generate_sales_report", "options": options},
    )
    assert response.status_code == 422 and field in response.json["fields"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"recipients": "[" * 100000}, "recipients"),
        ({"recipients": ["a@b.io"], "subject": 5}, "subject"),
    ],
)
def test_odd_parameter_values_are_422_not_500(app, client, params, field):
    from dashboard import accounts

    with app.app_context():
        _, secret = accounts.create_token("odd2", "operator")
    response = client.post(
        "/api/v1/jobs",
        headers={"Authorization": f"Bearer {secret}"},
        json={"task": "tasks.notifications.send_digest", "params": params},
    )
    assert response.status_code == 422 and field in response.json["fields"]


def test_json_numbers_for_floats_are_checked_too():
    import tasks
    from dashboard.rqlayer.params import coerce

    param = tasks.get_task("tasks.external.fetch_exchange_rate").param("failure_rate")
    for value in (float("nan"), float("inf"), 10**400):
        with pytest.raises(ValueError):
            coerce(param, value)


def test_a_retry_count_alone_keeps_the_task_backoff(conn):
    import tasks
    from dashboard.rqlayer import enqueue as enqueuing

    spec = tasks.get_task("tasks.external.fetch_exchange_rate")
    options, errors = enqueuing.validate_options(conn, spec, {"retry_max": "2"})
    assert not errors and options.retry_intervals == [5, 15, 60]


def test_unknown_api_options_are_refused(app, client):
    from dashboard import accounts

    with app.app_context():
        _, secret = accounts.create_token("opts", "operator")
    response = client.post(
        "/api/v1/jobs",
        headers={"Authorization": f"Bearer {secret}"},
        json={"task": "tasks.reports.generate_sales_report", "options": {"ttl": 5}},
    )
    assert response.status_code == 422 and "options.ttl" in response.json["fields"]
