"""Schedule rules found in review: writes wait for a scheduler pass, colliding default ids are reported,
far-future times and edits keep pages and rhythms intact, and a cron hour runs once on fall-back nights."""

from __future__ import annotations

import pytest

from dashboard.rqlayer import keys


def test_schedule_writes_wait_for_a_scheduler_pass(conn):
    import tasks
    from dashboard.rqlayer import schedules

    spec = tasks.get_task("tasks.maintenance.cleanup_old_files")
    sid = schedules.create_cron(conn, spec, {}, "0 8 * * *", "UTC", "low")
    conn.set(keys.RQ_SCHEDULER_LOCK, 1, ex=30)  # rq-scheduler is firing due schedules
    with pytest.raises(schedules.ScheduleConflict):
        schedules.pause(conn, sid)
    with pytest.raises(schedules.ScheduleConflict):
        schedules.delete(conn, sid)
    conn.delete(keys.RQ_SCHEDULER_LOCK)
    schedules.pause(conn, sid)
    assert conn.zscore(keys.RQ_SCHEDULER_JOBS, sid) is None


def test_default_declarations_with_colliding_ids_are_reported(conn):
    from dashboard.rqlayer import schedules

    report = schedules.register_defaults(
        conn,
        [
            {"name": "nightly report", "task": "tasks.maintenance.cleanup_old_files", "cron": "0 1 * * *"},
            {"name": "nightly-report", "task": "tasks.maintenance.cleanup_old_files", "cron": "0 2 * * *"},
            {"name": "broken", "task": "tasks.maintenance.cleanup_old_files", "cron": "0 3 * * *", "kwargs": [1, 2]},
        ],
    )
    assert any("nightly-report" in name for name in report.errors)
    assert any("broken" in name for name in report.errors)
    assert len(report.created) == 1


def test_a_far_future_reschedule_does_not_break_the_page(client, conn):
    from datetime import UTC, datetime

    import tasks
    from dashboard.rqlayer import schedules

    spec = tasks.get_task("tasks.maintenance.cleanup_old_files")
    sid = schedules.create_cron(conn, spec, {}, "0 8 * * *", "Asia/Tokyo", "low")
    conn.zadd(keys.RQ_SCHEDULER_JOBS, {sid: datetime(8999, 12, 31, 23, 59, tzinfo=UTC).timestamp()})
    assert client.get("/schedules").status_code == 200


def test_editing_an_interval_schedule_keeps_its_rhythm(conn):
    import tasks
    from dashboard.rqlayer import schedules

    spec = tasks.get_task("tasks.maintenance.cleanup_old_files")
    start = datetime_in(hours=20)
    sid = schedules.create_interval(conn, spec, {}, 86400, "low", start=start)
    schedules.create_interval(conn, spec, {}, 86400, "low", schedule_id=sid, description="edited")
    assert conn.zscore(keys.RQ_SCHEDULER_JOBS, sid) == int(start.timestamp())


def datetime_in(**delta):
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) + timedelta(**delta)).replace(microsecond=0)


def test_fall_back_runs_a_fixed_hour_once():
    from datetime import UTC, datetime

    from dashboard.rqlayer import cron

    paris = cron.next_runs("0,30 2 * * *", "Europe/Paris", count=4, now=datetime(2026, 10, 24, 12, tzinfo=UTC))
    assert [r.strftime("%d %H:%M%z") for r in paris] == [
        "25 02:00+0200",
        "25 02:30+0200",
        "26 02:00+0100",
        "26 02:30+0100",
    ]
    # Starting between the two 01:30s of the night: the second one is not a new run.
    new_york = cron.next_runs("30 1 * * *", "America/New_York", count=1, now=datetime(2026, 11, 1, 5, 45, tzinfo=UTC))
    assert new_york[0].strftime("%m-%d %H:%M") == "11-02 01:30"
