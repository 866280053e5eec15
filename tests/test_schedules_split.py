"""The Schedules layer after its split (issue 12): one rule for "can this schedule be edited / run now"
used by the layer, the routes and the buttons alike; every refusal is a member of the layer's error
family, so its status comes from dashboard/errors.py; the modules stay small (and Flask-free:
tests/test_flask_free_layer.py imports each of them in a fresh interpreter)."""

from __future__ import annotations

import ast
import warnings
from datetime import timedelta
from fractions import Fraction

import pytest

from dashboard.errors import layer_status
from dashboard.rqlayer import keys, schedules
from dashboard.rqlayer.errors import LayerError
from tasks.registry import get_task
from tests.helpers import PROJECT_ROOT, csrf_token

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning:rq_scheduler")

CLEANUP = "tasks.maintenance.cleanup_old_files"
PACKAGE = PROJECT_ROOT / "dashboard" / "rqlayer" / "schedules"
OWN_MODULES = [
    *sorted(PACKAGE.glob("*.py")),
    PROJECT_ROOT / "dashboard" / "web" / "schedules.py",
    PROJECT_ROOT / "dashboard" / "web" / "schedule_forms.py",
    PROJECT_ROOT / "dashboard" / "rqlayer" / "cron.py",
    PROJECT_ROOT / "tasks" / "schedules.py",
]


def rq_scheduler(conn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from rq_scheduler import Scheduler

    return Scheduler(connection=conn)


def post(client, url, **data):
    return client.post(url, data=data, headers={"X-CSRFToken": csrf_token(client)})


# ---------------------------------------------------------------- one rule each


def test_run_now_button_and_action_follow_one_rule(conn, client_as):
    """The Run now button and the action ask the same question (Schedule.run_refusal): before, the
    button had its own test and the action another, with its own messages."""
    spec = get_task(CLEANUP)
    healthy = schedules.create_cron(conn, spec, {"dry_run": True}, "0 9 * * *", "UTC", "low")
    unreadable = rq_scheduler(conn).cron("0 8 * * *", func=CLEANUP, args=[Fraction(1, 3)], id="unreadable").id
    legacy = rq_scheduler(conn).cron("0 8 * * *", func="os.system", args=["true"], id="legacy").id
    gone = schedules.create_cron(conn, spec, {}, "0 7 * * *", "UTC", "low")
    conn.delete(keys.job(gone))
    expected = {
        healthy: "",
        unreadable: "cannot be read safely",
        legacy: "not a registered task",
        gone: "no such schedule",
    }
    page = client_as("operator").get("/schedules").get_data(as_text=True)
    for sid, reason in expected.items():
        row = schedules.get_schedule(conn, sid)
        assert reason in row.run_refusal and row.runnable == (reason == ""), sid
        assert (f"/schedules/{sid}/run-now" in page) == row.runnable, sid
        if row.runnable:
            assert schedules.run_now(conn, sid)
            continue
        with pytest.raises(schedules.ScheduleNotFound if sid == gone else schedules.ScheduleConflict) as refused:
            schedules.run_now(conn, sid)
        assert str(refused.value) == row.run_refusal, sid


def test_edit_button_and_edit_routes_follow_one_rule(conn, client_as):
    spec = get_task(CLEANUP)
    cases = {
        schedules.create_cron(conn, spec, {}, "0 8 * * *", "UTC", "low"): "",
        rq_scheduler(conn).cron("0 8 * * *", func="os.system", args=["true"], id="legacy"): "not a task registered",
        rq_scheduler(conn).cron("0 8 * * *", func=CLEANUP, args=[1], id="positional"): "positional arguments",
        rq_scheduler(conn).enqueue_in(timedelta(hours=1), CLEANUP): "one-off",
    }
    oscar = client_as("operator")
    page = oscar.get("/schedules").get_data(as_text=True)
    for job, reason in cases.items():
        sid = job if isinstance(job, str) else job.id
        row = schedules.get_schedule(conn, sid)
        assert (row.edit_refusal == "") == (reason == ""), sid
        assert reason in row.edit_refusal, sid
        assert (f"/schedules/{sid}/edit" in page) == row.editable, sid
        shown = oscar.get(f"/schedules/{sid}/edit")
        posted = post(oscar, f"/schedules/{sid}", task=CLEANUP, kind="cron", cron="0 9 * * *", timezone="UTC")
        if row.editable:
            assert shown.status_code == 200 and posted.status_code == 303, sid
        else:
            assert shown.status_code == posted.status_code == 409, sid
            assert reason in shown.get_data(as_text=True), sid


# ---------------------------------------------------------------- one error family


def test_every_schedule_refusal_is_a_family_member_with_its_status(conn):
    """Each refusal maps through dashboard/errors.py (before: ValueError subclasses outside the family,
    each view choosing 404/409/422 by hand)."""
    with pytest.raises(schedules.ScheduleNotFound) as missing:
        schedules.pause(conn, "no-such-schedule")
    sid = schedules.create_cron(conn, get_task(CLEANUP), {}, "0 8 * * *", "UTC", "low")
    schedules.pause(conn, sid)
    with pytest.raises(schedules.ScheduleConflict) as conflict:
        schedules.pause(conn, sid)
    with pytest.raises(schedules.ScheduleError) as invalid:
        schedules.create_interval(conn, get_task(CLEANUP), {}, 0, "low")
    assert [layer_status(e.value)[0] for e in (missing, conflict, invalid)] == [404, 409, 422]
    for create in (
        lambda: schedules.create_cron(conn, get_task(CLEANUP), {}, "0 8 * * *", "Mars/Olympus", "low"),
        lambda: schedules.create_interval(conn, get_task(CLEANUP), {}, 60, "low", tz_name="Mars/Olympus"),
    ):
        with pytest.raises(schedules.ScheduleInvalid, match="unknown timezone"):  # was a bare ValueError: a 500
            create()
    assert all(isinstance(e.value, LayerError | ValueError) for e in (missing, conflict, invalid))


def test_the_layer_never_raises_the_bare_base_class():
    """A bare ScheduleError belongs to no family member, so dashboard/errors.py would answer 400."""
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                name = getattr(node.exc.func, "id", getattr(node.exc.func, "attr", ""))
                assert name != "ScheduleError", f"{path.name}:{node.lineno} raises the bare ScheduleError"


def test_a_refused_action_answers_its_family_status(conn, client_as):
    oscar = client_as("operator")
    assert post(oscar, "/schedules/no-such-schedule/pause").status_code == 404
    sid = schedules.create_cron(conn, get_task(CLEANUP), {}, "0 8 * * *", "UTC", "low")
    assert post(oscar, f"/schedules/{sid}/pause").status_code == 303
    assert post(oscar, f"/schedules/{sid}/pause").status_code == 409
    assert post(oscar, f"/schedules/{sid}/reschedule", run_at="2000-01-01T00:00", timezone="UTC").status_code == 422
    assert post(oscar, f"/schedules/{sid}/reschedule", run_at="tomorrow-ish", timezone="UTC").status_code == 422


# ---------------------------------------------------------------- layout


@pytest.mark.parametrize("path", OWN_MODULES, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_schedule_modules_stay_under_400_lines(path):
    assert len(path.read_text().splitlines()) <= 400
