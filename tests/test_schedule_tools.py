"""A schedule's backfill and test fire (history/backfill.py, web/schedule_tools.py): the missed times of a
window from the run history (cron walked in its zone, intervals anchored on the last run), the count to
confirm, one fresh job per missed time marked with it, a payload checked against the task's parameters,
roles, CSRF, the audit. SQL on both backends for the missed times; pages on the app's SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from rq import Queue

from dashboard.extensions import db
from dashboard.history import backfill, missed_runs
from dashboard.history.models import job_outcomes
from dashboard.models import AuditEvent
from dashboard.rqlayer import schedules
from tasks.registry import get_task
from tests.fixtures import CLEANUP_TASK
from tests.helpers import csrf_token
from tests.test_schedule_pages import outcome

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=1)


def test_missed_times_for_cron_and_interval(engine):
    fired = [T0 + timedelta(minutes=5 * k, seconds=20) for k in range(12) if k not in (3, 4, 7)]
    with engine.begin() as conn:
        conn.execute(sa.insert(job_outcomes), [outcome("cron-1", t) for t in fired])
        conn.execute(
            sa.insert(job_outcomes), [outcome("every-10", T0 + timedelta(minutes=10 * k, seconds=40)) for k in range(3)]
        )
        every5 = missed_runs.Definition(cron="*/5 * * * *", timezone="UTC")
        found = backfill.missed_times(conn, ["cron-1"], every5, T0, T0 + timedelta(minutes=55), now=LATER)
        assert found == [T0 + timedelta(minutes=m) for m in (15, 20, 35)]
        # An interval: anchored on the last run before the window (10:20:40), then every 10 minutes.
        ten = missed_runs.Definition(interval=600)
        found = backfill.missed_times(
            conn, ["every-10"], ten, T0 + timedelta(minutes=25), T0 + timedelta(minutes=61), now=LATER
        )
        assert found == [T0 + timedelta(minutes=m, seconds=40) for m in (30, 40, 50, 60)]
        # Recent times are not missed yet (a run may still come within the tolerance).
        assert (
            backfill.missed_times(
                conn, ["cron-1"], every5, T0 + timedelta(minutes=56), LATER, now=T0 + timedelta(minutes=61)
            )
            == []
        )
        for since, until in ((T0, T0), (T0, T0 + timedelta(days=40))):
            try:
                backfill.missed_times(conn, ["cron-1"], every5, since, until, now=LATER)
            except ValueError:
                continue
            raise AssertionError("a reversed or too long window is refused")


def test_backfill_and_test_fire_from_the_schedule_page(app, conn, client_as):
    sid = schedules.create_cron(conn, get_task(CLEANUP_TASK), {"dry_run": True}, "0 * * * *", "UTC", "low")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with app.app_context(), db.engine.begin() as sql:  # ran 5 and 4 hours ago; missed 3 and 2 hours ago
        sql.execute(sa.insert(job_outcomes), [outcome(sid, now - timedelta(hours=h)) for h in (5, 4)])
    operator, viewer = client_as("operator"), client_as("viewer")
    page = operator.get(f"/schedules/{sid}").get_data(as_text=True)
    assert 'id="schedule-tools"' in page and 'id="schedule-tools"' not in viewer.get(f"/schedules/{sid}").get_data(
        as_text=True
    )
    token = {"X-CSRFToken": csrf_token(operator), "HX-Request": "true"}
    window = {
        "since": (now - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M"),
        "until": (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
    }

    assert (
        viewer.post(
            f"/schedules/{sid}/backfill/preview", data=window, headers={"X-CSRFToken": csrf_token(viewer)}
        ).status_code
        == 403
    )
    assert operator.post(f"/schedules/{sid}/backfill/preview", data=window).status_code == 400  # no CSRF token
    assert (
        operator.post(f"/schedules/{sid}/backfill/preview", data={**window, "until": "soon"}, headers=token).status_code
        == 422
    )
    preview = operator.post(f"/schedules/{sid}/backfill/preview", data=window, headers=token)
    body = preview.get_data(as_text=True)
    assert (
        preview.status_code == 200 and 'name="confirmed" value="2"' in body and "<strong>2</strong> missed runs" in body
    )
    queue = Queue("low", connection=conn)
    assert queue.count == 0  # a preview enqueues nothing
    assert operator.post(f"/schedules/{sid}/backfill", data=window, headers=token).status_code == 422  # unconfirmed
    done = operator.post(f"/schedules/{sid}/backfill", data={**window, "confirmed": "1"}, headers=token)
    assert done.status_code == 200 and "Backfilled 1 run" in done.get_data(as_text=True)
    [job] = queue.get_jobs()
    assert job.meta["backfill_for"] == (now - timedelta(hours=3)).isoformat() and job.kwargs == {"dry_run": True}
    assert job.description.startswith("backfill for ")

    bad = operator.post(f"/schedules/{sid}/test-fire", data={"payload": '{"dry_run": true, "nope": 1}'}, headers=token)
    assert bad.status_code == 422 and "nope" in bad.get_data(as_text=True)
    assert operator.post(f"/schedules/{sid}/test-fire", data={"payload": "[1]"}, headers=token).status_code == 422
    fired = operator.post(
        f"/schedules/{sid}/test-fire", data={"payload": '{"max_age_hours": 2, "dry_run": true}'}, headers=token
    )
    assert fired.status_code == 200 and "Test run enqueued" in fired.get_data(as_text=True)
    test_job = next(j for j in queue.get_jobs() if j.meta.get("test_fire"))
    assert test_job.kwargs == {"max_age_hours": 2.0, "dry_run": True}
    assert schedules.get_schedule(conn, sid).kwargs == {"dry_run": True}  # the schedule is not written
    with app.app_context():
        logged = {(e.action, e.job_count) for e in db.session.scalars(sa.select(AuditEvent))}
    assert {("schedule.backfill", 1), ("schedule.test_fire", 1)} <= logged
