"""Schedules: cron in words and DST-aware next runs; rq-scheduler schedules created, paused, resumed,
run now, deleted and rescheduled against the real private Redis; default schedules registered
idempotently; scheduler health; and the pages: validation (422), permissions (403), escaping."""

from __future__ import annotations

import pickle
import re
import warnings
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rq import Queue

from dashboard.rqlayer import cron, keys, schedules
from dashboard.rqlayer.payloads import decode
from dashboard.web import schedule_forms
from tasks.registry import get_task
from tests.helpers import csrf_token

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning:rq_scheduler")

PARIS = ZoneInfo("Europe/Paris")
CLEANUP = "tasks.maintenance.cleanup_old_files"
EMAIL = "tasks.notifications.send_email_notification"
SCRIPT = "<script>alert('xss')</script>"

# The declaration format the lead adds to tasks/ (e.g. tasks/schedules.py: DEFAULT_SCHEDULES = [...]).
EXAMPLE_DEFAULTS = [
    schedules.DefaultSchedule(
        name="nightly-cleanup",
        task=CLEANUP,
        cron="30 3 * * *",
        kwargs={"max_age_hours": 48.0},
        timezone="Europe/Paris",
        description="Nightly clean-up of generated files",
    ),
    schedules.DefaultSchedule(
        name="exchange-rate",
        task="tasks.external.fetch_exchange_rate",
        interval=3600,
        kwargs={"base": "EUR", "quote": "USD"},
    ),
]


def rq_scheduler(conn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from rq_scheduler import Scheduler

    return Scheduler(connection=conn)


def meta_of(conn, schedule_id: str) -> dict:
    shown = decode(conn.hget(keys.job(schedule_id), "meta"), pretty=False)
    assert shown.safe
    return shown.value


def score(conn, schedule_id: str) -> float | None:
    return conn.zscore(keys.RQ_SCHEDULER_JOBS, schedule_id)


def queued_ids(conn, queue: str) -> list[str]:
    return [i.decode() for i in conn.lrange(keys.queue(queue), 0, -1)]


# ---------------------------------------------------------------- cron.py


def test_cron_in_words_and_validation():
    assert cron.describe("0 8 * * 1-5") == "At 08:00, Monday through Friday"
    assert cron.describe("*/15 * * * *") == "Every 15 minutes"
    assert cron.describe("@daily") == "At 00:00"
    assert cron.validate("0 8 * * 1-5") is None
    assert cron.validate("0 8 * * mon-fri") is None
    assert "minute field" in cron.validate("61 * * * *")
    assert "hour field" in cron.validate("0 25 * * *")
    assert "5 fields" in cron.validate("* * * * * *")
    assert "5 fields" in cron.validate("0 8 * *")
    assert "never matches" in cron.validate("0 0 31 4 *")
    assert "not both" in cron.validate("0 9 1 * 1"), "rq-scheduler would read day-of-month AND day-of-week"
    assert cron.validate("") and cron.validate("@sometimes")
    assert cron.validate("0 8 * * 1-5; rm -rf /")


def test_next_runs_follow_daylight_saving_time_in_europe_paris():
    # Spring forward, Sunday 2026-03-29 02:00 -> 03:00: 08:00 Paris moves from 07:00 to 06:00 UTC.
    runs = cron.next_runs("0 8 * * *", "Europe/Paris", 3, now=datetime(2026, 3, 27, 12, tzinfo=UTC))
    assert [r.strftime("%m-%d %H:%M %Z") for r in runs] == ["03-28 08:00 CET", "03-29 08:00 CEST", "03-30 08:00 CEST"]
    assert [r.astimezone(UTC).hour for r in runs] == [7, 6, 6]
    # 02:30 does not exist that night: it runs at the first minute after the jump.
    skipped = cron.next_runs("30 2 * * *", "Europe/Paris", 2, now=datetime(2026, 3, 28, 12, tzinfo=UTC))
    assert [r.isoformat() for r in skipped] == ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]
    # Fall back, 2026-10-25 03:00 -> 02:00: a fixed-hour job runs once, an hourly wildcard twice.
    fixed = cron.next_runs("30 2 * * *", "Europe/Paris", 3, now=datetime(2026, 10, 23, 12, tzinfo=UTC))
    assert [r.isoformat() for r in fixed] == [
        "2026-10-24T02:30:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
    ]
    halves = cron.next_runs("*/30 * * * *", "Europe/Paris", 5, now=datetime(2026, 10, 24, 23, 40, tzinfo=UTC))
    assert [r.isoformat() for r in halves] == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]
    assert all(b.timestamp() > a.timestamp() for a, b in zip(halves, halves[1:], strict=False)), "time moves on"
    with pytest.raises(ValueError, match="unknown timezone"):
        cron.next_runs("0 8 * * *", "Mars/Olympus_Mons")
    with pytest.raises(ValueError):
        cron.next_runs("0 8 * *", "UTC")


def test_intervals_in_words():
    assert cron.to_words(300) == "every 5 minutes"
    assert cron.to_words(3600) == "every hour"
    assert cron.to_words(90) == "every 90 seconds"
    assert cron.to_words(2 * 86400, repeat=3) == "every 2 days, 3 runs left"


# ---------------------------------------------------------------- the RQ layer


def test_create_cron_and_interval_schedules_of_a_registered_task(conn):
    spec = get_task(CLEANUP)
    now = datetime(2026, 3, 27, 12, tzinfo=UTC)
    cron_id = schedules.create_cron(conn, spec, {"dry_run": True}, "0 8 * * 1-5", "Europe/Paris", "low", now=now)
    assert score(conn, cron_id) == datetime(2026, 3, 30, 8, tzinfo=PARIS).timestamp(), "08:00 Paris, after DST"
    meta = meta_of(conn, cron_id)
    assert meta["cron_string"] == "0 8 * * 1-5" and meta["console_timezone"] == "Europe/Paris"
    job = conn.hgetall(keys.job(cron_id))
    assert job[b"origin"] == b"low" and job[b"result_ttl"] == b"-1" and job[b"status"] == b"scheduled"

    interval_id = schedules.create_interval(conn, spec, {"max_age_hours": 2.0}, 300, "low", repeat=3)
    assert meta_of(conn, interval_id)["interval"] == 300 and meta_of(conn, interval_id)["repeat"] == 3
    assert score(conn, interval_id) <= datetime.now(UTC).timestamp() + 1, "first run at the next pass"

    book = schedules.read_schedules(conn)
    by_id = {s.id: s for s in book.recurring}
    assert by_id[cron_id].words == "At 08:00, Monday through Friday" and by_id[cron_id].kind == "cron"
    assert by_id[cron_id].timezone == "Europe/Paris" and by_id[cron_id].args_preview == "dry_run=True"
    assert by_id[interval_id].words == "every 5 minutes" and by_id[interval_id].repeats_left == 3
    assert {s.id for s in schedules.list_schedules(conn)} >= {cron_id, interval_id}

    # An end date becomes a repeat count: weekdays 08:00 Paris from Fri 27 March to Fri 3 April = 5 runs.
    ending = schedules.create_cron(
        conn, spec, {}, "0 8 * * 1-5", "Europe/Paris", "low", now=now, end=datetime(2026, 4, 3, 9, tzinfo=PARIS)
    )
    assert meta_of(conn, ending)["repeat"] == 5

    # The schedule fires through rq-scheduler itself: a due cron schedule lands on its queue.
    conn.zadd(keys.RQ_SCHEDULER_JOBS, {cron_id: 1})
    rq_scheduler(conn).enqueue_jobs()
    assert cron_id in queued_ids(conn, "low")
    assert score(conn, cron_id) > datetime.now(UTC).timestamp(), "and rq-scheduler put it back for its next run"


def test_only_registered_tasks_can_be_scheduled(conn):
    fake = get_task(CLEANUP).__class__(**{**get_task(CLEANUP).__dict__, "name": "os.system"})
    with pytest.raises(schedules.ScheduleError, match="registered"):
        schedules.create_cron(conn, fake, {}, "0 8 * * *", "UTC", "default")
    with pytest.raises(schedules.ScheduleError, match="registered"):
        schedules.create_interval(conn, None, {}, 60, "default")
    _, errors, _ = schedule_forms.parse_form({"task": "os.system", "kind": "cron", "cron": "0 8 * * *"})
    assert "not a registered task" in errors["task"]
    assert conn.zcard(keys.RQ_SCHEDULER_JOBS) == 0 and not conn.keys("rq:job:*")


def test_pause_keeps_it_from_firing_and_resume_brings_it_back(conn):
    spec = get_task(CLEANUP)
    sid = schedules.create_interval(conn, spec, {"dry_run": True}, 60, "low")
    conn.zadd(keys.RQ_SCHEDULER_JOBS, {sid: 1})  # due long ago

    remembered = schedules.pause(conn, sid)
    assert remembered == datetime.fromtimestamp(1, UTC)
    assert score(conn, sid) is None and conn.hexists(keys.paused_schedules(), sid)
    rq_scheduler(conn).enqueue_jobs()
    assert queued_ids(conn, "low") == [], "a paused schedule does not fire"
    assert [s.id for s in schedules.read_schedules(conn).paused] == [sid]
    with pytest.raises(schedules.ScheduleConflict):
        schedules.pause(conn, sid)
    assert meta_of(conn, sid)["interval"] == 60, "it keeps its definition"

    next_run = schedules.resume(conn, sid)
    assert next_run > datetime.now(UTC) - timedelta(seconds=1), "its rhythm continues in the future"
    assert not conn.hexists(keys.paused_schedules(), sid) and score(conn, sid) is not None
    with pytest.raises(schedules.ScheduleConflict):
        schedules.resume(conn, sid)
    conn.zadd(keys.RQ_SCHEDULER_JOBS, {sid: 1})  # when due, it fires again
    rq_scheduler(conn).enqueue_jobs()
    assert queued_ids(conn, "low") == [sid]

    # A one-off that came due while paused runs at the scheduler's next pass after resume.
    one_off = rq_scheduler(conn).enqueue_at(datetime(2020, 1, 1), CLEANUP, dry_run=True, queue_name="default").id
    schedules.pause(conn, one_off)
    assert schedules.resume(conn, one_off) <= datetime.now(UTC)
    rq_scheduler(conn).enqueue_jobs()
    assert queued_ids(conn, "default") == [one_off]


def test_resume_of_a_cron_schedule_uses_its_timezone(conn):
    spec = get_task(CLEANUP)
    sid = schedules.create_cron(conn, spec, {}, "0 8 * * *", "Europe/Paris", "low")
    schedules.pause(conn, sid)
    now = datetime(2026, 3, 28, 12, tzinfo=UTC)
    assert schedules.resume(conn, sid, now=now) == datetime(2026, 3, 29, 8, tzinfo=PARIS)


def test_run_now_enqueues_a_copy_and_leaves_the_schedule_alone(conn):
    spec = get_task(CLEANUP)
    sid = schedules.create_cron(conn, spec, {"dry_run": True, "max_age_hours": 5.0}, "0 8 * * *", "UTC", "low")
    before = (score(conn, sid), conn.hgetall(keys.job(sid)))
    job_id = schedules.run_now(conn, sid)
    assert job_id != sid and queued_ids(conn, "low") == [job_id]
    assert (score(conn, sid), conn.hgetall(keys.job(sid))) == before
    from dashboard.rqlayer.payloads import decode_job_data

    call = decode_job_data(conn.hget(keys.job(job_id), "data"))
    assert (call.func_name, call.kwargs.value) == (CLEANUP, {"dry_run": True, "max_age_hours": 5.0})
    with pytest.raises(schedules.ScheduleNotFound):
        schedules.run_now(conn, "no-such-schedule")


def test_run_now_refuses_unregistered_functions(conn):
    sid = rq_scheduler(conn).cron("0 8 * * *", func="os.system", args=["true"], id="legacy").id
    with pytest.raises(schedules.ScheduleConflict, match="not a registered task"):
        schedules.run_now(conn, sid)
    assert conn.llen(keys.queue("default")) == 0


def test_delete_removes_every_trace(conn):
    spec = get_task(CLEANUP)
    sid = schedules.create_cron(conn, spec, {}, "0 8 * * *", "UTC", "low")
    conn.zadd(keys.registry("finished", "low"), {sid: "+inf"})
    conn.xadd(keys.results(sid), {"type": 1})
    schedules.delete(conn, sid)
    assert score(conn, sid) is None and not conn.exists(keys.job(sid), keys.results(sid))
    assert conn.zscore(keys.registry("finished", "low"), sid) is None
    with pytest.raises(schedules.ScheduleNotFound):
        schedules.delete(conn, sid)
    paused = schedules.create_cron(conn, spec, {}, "0 8 * * *", "UTC", "low")
    schedules.pause(conn, paused)
    schedules.delete(conn, paused)
    assert not conn.hexists(keys.paused_schedules(), paused) and not conn.exists(keys.job(paused))
    running = schedules.create_cron(conn, spec, {}, "0 8 * * *", "UTC", "low")
    conn.hset(keys.job(running), "status", "started")
    with pytest.raises(schedules.ScheduleConflict, match="executing"):
        schedules.delete(conn, running)


def test_reschedule_a_one_off(conn):
    now = datetime.now(UTC)
    later = now + timedelta(hours=2)
    one_off = rq_scheduler(conn).enqueue_in(timedelta(minutes=5), CLEANUP, dry_run=True).id
    assert schedules.reschedule(conn, one_off, later) == "rq-scheduler"
    assert score(conn, one_off) == int(later.timestamp())
    rq_job = Queue("default", connection=conn).enqueue_in(timedelta(minutes=5), CLEANUP)
    assert schedules.reschedule(conn, rq_job.id, later) == "rq"
    assert conn.zscore(keys.registry("scheduled", "default"), rq_job.id) == int(later.timestamp())
    schedules.pause(conn, one_off)
    assert schedules.reschedule(conn, one_off, later + timedelta(hours=1)) == "paused"
    assert score(conn, one_off) is None, "it stays paused"
    with pytest.raises(schedules.ScheduleError, match="past"):
        schedules.reschedule(conn, rq_job.id, now - timedelta(minutes=1))
    with pytest.raises(schedules.ScheduleNotFound):
        schedules.reschedule(conn, "nope", later)


def test_edit_in_place_keeps_the_id_and_the_last_outcome(conn):
    spec = get_task(CLEANUP)
    sid = schedules.create_cron(conn, spec, {"dry_run": True}, "0 8 * * *", "UTC", "low")
    conn.hset(keys.job(sid), mapping={"status": "failed", "ended_at": "2026-01-01T08:00:05.000000Z"})
    assert (
        schedules.create_cron(conn, spec, {"dry_run": False}, "*/10 * * * *", "Europe/Paris", "low", schedule_id=sid)
        == sid
    )
    edited = schedules.get_schedule(conn, sid)
    assert (edited.cron, edited.timezone, edited.kwargs) == ("*/10 * * * *", "Europe/Paris", {"dry_run": False})
    assert edited.last_outcome == "failed" and edited.last_run_at == datetime(2026, 1, 1, 8, 0, 5, tzinfo=UTC)
    assert conn.zcard(keys.RQ_SCHEDULER_JOBS) == 1
    schedules.pause(conn, sid)
    schedules.create_interval(conn, spec, {}, 120, "low", schedule_id=sid)
    assert score(conn, sid) is None and schedules.get_schedule(conn, sid).paused, "an edit keeps the pause"
    schedules.resume(conn, sid)
    conn.hset(keys.job(sid), "status", "started")
    with pytest.raises(schedules.ScheduleConflict, match="started"):
        schedules.create_interval(conn, spec, {}, 60, "low", schedule_id=sid)


def test_default_schedules_are_registered_idempotently_and_a_pause_survives(conn):
    first = schedules.register_defaults(conn, EXAMPLE_DEFAULTS)
    assert first.created == ["default-nightly-cleanup", "default-exchange-rate"] and not first.errors
    assert conn.zcard(keys.RQ_SCHEDULER_JOBS) == 2
    again = schedules.register_defaults(conn, EXAMPLE_DEFAULTS)
    assert again.created == [] and again.unchanged == first.created
    assert conn.zcard(keys.RQ_SCHEDULER_JOBS) == 2, "a restart never duplicates them"

    schedules.pause(conn, "default-nightly-cleanup")
    restart = schedules.register_defaults(conn, EXAMPLE_DEFAULTS)
    assert restart.paused == ["default-nightly-cleanup"]
    assert score(conn, "default-nightly-cleanup") is None, "the operator's pause survives a restart"

    changed = [
        EXAMPLE_DEFAULTS[0],
        schedules.DefaultSchedule(
            name="exchange-rate", task=EXAMPLE_DEFAULTS[1].task, interval=600, kwargs={"base": "EUR", "quote": "GBP"}
        ),
    ]
    updated = schedules.register_defaults(conn, changed)
    assert updated.updated == ["default-exchange-rate"]
    assert schedules.get_schedule(conn, "default-exchange-rate").kwargs == {"base": "EUR", "quote": "GBP"}
    assert conn.zcard(keys.RQ_SCHEDULER_JOBS) == 1

    # An operator's edit of a default survives restarts too (until the declaration itself changes).
    schedules.resume(conn, "default-nightly-cleanup")
    schedules.create_cron(conn, get_task(CLEANUP), {}, "0 4 * * *", "UTC", "low", schedule_id="default-nightly-cleanup")
    kept = schedules.register_defaults(conn, changed)
    assert kept.unchanged == ["default-nightly-cleanup", "default-exchange-rate"]
    assert schedules.get_schedule(conn, "default-nightly-cleanup").cron == "0 4 * * *"

    broken = schedules.register_defaults(
        conn,
        [
            {"name": "bad", "task": "os.system", "cron": "* * * * *"},
            {"name": "worse", "task": CLEANUP, "cron": "61 * * * *"},
        ],
    )
    assert set(broken.errors) == {"default-bad", "default-worse"} and not broken.created
    with pytest.raises(schedules.ScheduleError):
        schedules.register_defaults(conn, [{"name": "bad", "task": "os.system", "cron": "* * * * *"}], strict=True)


def test_health_banners_with_and_without_scheduler_locks(conn):
    assert schedules.health(conn).banners == []
    spec = get_task(CLEANUP)
    sid = schedules.create_cron(conn, spec, {}, "0 8 * * *", "UTC", "low")
    health = schedules.health(conn)
    assert health.banners == [] and health.rq_scheduler_running is None, "nothing is due yet: cannot tell"

    conn.zadd(keys.RQ_SCHEDULER_JOBS, {sid: datetime.now(UTC).timestamp() - 600})
    health = schedules.health(conn)
    assert health.rq_scheduler_running is False and health.overdue == 1
    assert [b.level for b in health.banners] == ["danger"]
    expected = "rq-scheduler jobs exist but no rq-scheduler process is running — nothing will fire"
    assert expected in health.banners[0].text
    conn.set(keys.RQ_SCHEDULER_LOCK, datetime.now(UTC).timestamp(), ex=70)
    assert schedules.health(conn).banners == [] and schedules.health(conn).rq_scheduler_running is True

    Queue("default", connection=conn).enqueue_in(timedelta(minutes=5), CLEANUP)
    banners = schedules.health(conn).banners
    assert [b.text for b in banners] == [
        "1 scheduled job(s) in queue default but no worker runs RQ's scheduler "
        "(--with-scheduler): they will not be queued."
    ]
    conn.set(keys.builtin_scheduler_lock("default"), "worker-1", ex=60)
    assert schedules.health(conn).banners == []
    book = schedules.read_schedules(conn)
    default_queue = next(q for q in book.queues if q.queue == "default")
    assert default_queue.count == 1 and default_queue.scheduler == "worker-1" and len(default_queue.next_due) == 1


def test_rq_cron_processes_are_listed_read_only(conn):
    import json

    now = datetime.now(UTC)
    conn.zadd(keys.cron_schedulers(), {"host:42:abc": now.timestamp()})
    conn.hset(
        keys.cron_scheduler("host:42:abc"),
        mapping={
            "hostname": "host",
            "pid": "42",
            "name": "host:42:abc",
            "config_file": "cron_config.py",
            "cron_jobs": json.dumps(
                [
                    {
                        "func_name": CLEANUP,
                        "name": "cleanup",
                        "queue_name": "low",
                        "args": None,
                        "kwargs": json.dumps({"dry_run": True}),
                        "interval": None,
                        "cron": "0 3 * * *",
                        "latest_enqueue_time": None,
                        "next_enqueue_time": "2026-01-02T03:00:00Z",
                    }
                ]
            ),
        },
    )
    [process] = schedules.read_schedules(conn).cron_processes
    assert process.alive and process.hostname == "host"
    [job] = process.jobs
    assert (job.source, job.words, job.queue, job.args_preview) == ("rq-cron", "At 03:00", "low", "dry_run=True")
    assert schedules.health(conn).cron_processes_alive == 1


class Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_hostile_meta_pickle_is_never_run(conn, tmp_path):
    marker = tmp_path / "pwned"
    spec = get_task(CLEANUP)
    sid = schedules.create_cron(conn, spec, {}, "0 8 * * *", "UTC", "low")
    conn.hset(keys.job(sid), "meta", pickle.dumps(Exploit(marker)))
    row = schedules.get_schedule(conn, sid)
    assert not row.meta_safe and "not displayable safely" in row.note and not row.editable
    schedules.pause(conn, sid)
    schedules.resume(conn, sid)
    schedules.register_defaults(conn, [{"name": "x", "task": CLEANUP, "cron": "0 8 * * *"}])
    schedules.health(conn)
    schedules.read_schedules(conn)
    assert not marker.exists()


# ---------------------------------------------------------------- the pages


@pytest.fixture(autouse=True)
def schedules_blueprint(request):
    """Until the lead registers the blueprint in dashboard/web/__init__.py, register it here."""
    if "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    from dashboard.web import schedules as views

    if "schedules" not in app.blueprints:
        app.register_blueprint(views.bp)
    yield


def post(client, url, **data):
    return client.post(url, data=data, headers={"X-CSRFToken": csrf_token(client)})


def form(task=CLEANUP, **overrides):
    data = {
        "task": task,
        "kind": "cron",
        "cron": "0 8 * * 1-5",
        "timezone": "Europe/Paris",
        "queue": "",
        "arg-max_age_hours": "24",
        "arg-dry_run": "true",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def audit_actions(app):
    from dashboard.models import AuditEvent

    with app.app_context():
        return [(e.actor, e.action, e.target, e.outcome) for e in AuditEvent.query.order_by(AuditEvent.id)]


def test_create_a_schedule_from_the_form(app, client_as, conn):
    oscar = client_as("operator")
    page = oscar.get("/schedules/new?task=" + CLEANUP).get_data(as_text=True)
    assert 'name="arg-max_age_hours"' in page and 'name="arg-dry_run"' in page and "Delete generated files" in page
    response = post(oscar, "/schedules", **form())
    assert response.status_code == 303, response.get_data(as_text=True)
    [(sid, _)] = conn.zrange(keys.RQ_SCHEDULER_JOBS, 0, -1, withscores=True)
    sid = sid.decode()
    row = schedules.get_schedule(conn, sid)
    assert row.kwargs == {"max_age_hours": 24.0, "dry_run": True}
    assert row.queue == "low" and row.timezone == "Europe/Paris"
    assert ("oscar", "schedule.create", sid, "ok") in audit_actions(app)
    listing = oscar.get("/schedules").get_data(as_text=True)
    assert f'id="schedule-{sid}"' in listing and "At 08:00, Monday through Friday" in listing
    assert 'data-action="pause"' in listing and 'data-action="run-now"' in listing

    edit_page = oscar.get(f"/schedules/{sid}/edit").get_data(as_text=True)
    assert 'value="0 8 * * 1-5"' in edit_page and "Next 5 runs in Europe/Paris" in edit_page
    assert post(oscar, f"/schedules/{sid}", **form(cron="*/5 * * * *", kind="cron")).status_code == 303
    assert schedules.get_schedule(conn, sid).cron == "*/5 * * * *" and conn.zcard(keys.RQ_SCHEDULER_JOBS) == 1
    assert ("oscar", "schedule.update", sid, "ok") in audit_actions(app)

    interval = post(oscar, "/schedules", **form(kind="interval", cron="", interval="90", repeat="4"))
    assert interval.status_code == 303
    assert conn.zcard(keys.RQ_SCHEDULER_JOBS) == 2


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"cron": "61 * * * *"}, "cron", "the minute field &#39;61&#39; is not valid"),
        ({"cron": "0 9 1 * 1"}, "cron", "not both"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "unknown timezone"),
        ({"task": EMAIL, "arg-to": "", "arg-subject": "hi"}, "arg-to", "this field is required"),
        ({"task": "tasks.notifications.send_digest", "arg-recipients": "[oops"}, "arg-recipients", "not valid JSON"),
        ({"task": "tasks.batches.process_batch", "arg-items": "many"}, "arg-items", "expected a whole number"),
        ({"arg-max_age_hours": "soon"}, "arg-max_age_hours", "expected a number"),
        ({"kind": "interval", "interval": "0"}, "interval", "from 1 to"),
        ({"kind": "interval", "interval": "ten"}, "interval", "a whole number of seconds"),
        ({"end": "2020-01-01T00:00"}, "end", "this time is in the past"),
        ({"repeat": "0"}, "repeat", "a whole number from 1"),
        ({"queue": "bad queue name"}, "queue", "a queue name is"),
        ({"task": "os.system"}, "task", "is not a registered task"),
        ({"task": ""}, "task", "choose a registered task"),
        ({"kind": "sometimes"}, "kind", "choose cron or interval"),
    ],
)
def test_every_bad_input_is_refused_with_its_message_and_nothing_is_created(client_as, conn, overrides, field, message):
    oscar = client_as("operator")
    data = form(**overrides)
    if data["task"] != CLEANUP:
        data = {k: v for k, v in data.items() if not k.startswith("arg-") or k in overrides}
    response = post(oscar, "/schedules", **data)
    body = response.get_data(as_text=True)
    assert response.status_code == 422, body
    match = re.search(rf'id="error-{re.escape(field)}">([^<]*)<', body)
    assert match and message in match.group(1), (field, match and match.group(1))
    assert "Nothing saved" in body
    assert conn.zcard(keys.RQ_SCHEDULER_JOBS) == 0 and not conn.keys("rq:job:*")


def test_viewers_see_the_page_without_buttons_and_every_post_is_403(app, client_as, conn):
    spec = get_task(CLEANUP)
    sid = schedules.create_cron(conn, spec, {}, "0 8 * * *", "UTC", "low")
    one_off = rq_scheduler(conn).enqueue_in(timedelta(hours=1), CLEANUP).id
    vera = client_as("viewer")
    page = vera.get("/schedules")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and f'id="schedule-{sid}"' in body
    assert "data-action=" not in body and "New schedule" not in body and "reschedule-form" not in body
    assert vera.get("/schedules/new").status_code == 403
    assert vera.get(f"/schedules/{sid}/edit").status_code == 403
    for url, data in [
        ("/schedules", form()),
        (f"/schedules/{sid}", form()),
        (f"/schedules/{sid}/run-now", {}),
        (f"/schedules/{sid}/pause", {}),
        (f"/schedules/{sid}/resume", {}),
        (f"/schedules/{sid}/delete", {}),
        (f"/schedules/{one_off}/reschedule", {"run_at": "2099-01-01T00:00", "timezone": "UTC"}),
    ]:
        assert post(vera, url, **data).status_code == 403, url
    assert score(conn, sid) is not None and conn.zcard(keys.RQ_SCHEDULER_JOBS) == 2
    assert conn.llen(keys.queue("low")) == 0
    assert not [a for a in audit_actions(app) if a[1].startswith("schedule.")]


def test_no_state_change_on_get(client_as, conn):
    sid = schedules.create_cron(conn, get_task(CLEANUP), {}, "0 8 * * *", "UTC", "low")
    oscar = client_as("operator")
    for action in ("run-now", "pause", "resume", "delete", "reschedule"):
        assert oscar.get(f"/schedules/{sid}/{action}").status_code == 405
    assert post(oscar, f"/schedules/{sid}/pause").status_code == 303
    assert oscar.post(f"/schedules/{sid}/resume").status_code == 400, "no CSRF token, no change"
    assert score(conn, sid) is None


def test_actions_from_the_page_act_audit_and_refuse_stale_state(app, client_as, conn):
    spec = get_task(CLEANUP)
    sid = schedules.create_cron(conn, spec, {"dry_run": True}, "0 8 * * *", "UTC", "low")
    oscar = client_as("operator")

    assert post(oscar, f"/schedules/{sid}/pause").status_code == 303 and score(conn, sid) is None
    page = oscar.get("/schedules").get_data(as_text=True)
    assert "paused: it keeps its definition" in page and 'data-action="resume"' in page
    again = post(oscar, f"/schedules/{sid}/pause")
    assert again.status_code == 409 and "Nothing done: it is paused already." in again.get_data(as_text=True)
    assert post(oscar, f"/schedules/{sid}/resume").status_code == 303 and score(conn, sid) is not None

    run = post(oscar, f"/schedules/{sid}/run-now")
    assert run.status_code == 303
    [job_id] = queued_ids(conn, "low")
    assert job_id in oscar.get("/schedules").get_data(as_text=True)

    one_off = rq_scheduler(conn).enqueue_in(timedelta(hours=1), CLEANUP).id
    assert 'id="reschedule-' + one_off in oscar.get("/schedules").get_data(as_text=True)
    moved = post(oscar, f"/schedules/{one_off}/reschedule", run_at="2099-06-01T09:30", timezone="Europe/Paris")
    assert moved.status_code == 303
    assert score(conn, one_off) == datetime(2099, 6, 1, 9, 30, tzinfo=PARIS).timestamp()
    past = post(oscar, f"/schedules/{one_off}/reschedule", run_at="2001-01-01T00:00", timezone="UTC")
    assert past.status_code == 422 and "in the past" in past.get_data(as_text=True)

    assert post(oscar, f"/schedules/{sid}/delete").status_code == 303 and not conn.exists(keys.job(sid))
    missing = post(oscar, f"/schedules/{sid}/delete")
    assert missing.status_code == 404 and "Nothing done" in missing.get_data(as_text=True)
    assert oscar.get(f"/schedules/{sid}/edit").status_code == 404

    logged = audit_actions(app)
    for action in ("schedule.pause", "schedule.resume", "schedule.run_now", "schedule.reschedule", "schedule.delete"):
        assert any(a[1] == action and a[3] == "ok" for a in logged), action
    assert ("oscar", "schedule.pause", sid, "conflict") in logged


def test_the_cron_preview_fragment(client_as):
    vera = client_as("viewer")
    body = vera.get(
        "/schedules/preview?cron=0+8+*+*+1-5&timezone=Europe/Paris", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert "At 08:00, Monday through Friday" in body and body.count("<li>") == 5 and "CET" in body + "CEST"
    assert "<html" not in body
    bad = vera.get("/schedules/preview?cron=61+*+*+*+*&timezone=UTC").get_data(as_text=True)
    assert 'id="cron-error"' in bad and "minute field" in bad and "<li>" not in bad
    zone = vera.get("/schedules/preview?cron=0+8+*+*+*&timezone=Nowhere/Land").get_data(as_text=True)
    assert 'id="tz-error"' in zone and "unknown timezone" in zone
    hostile = vera.get("/schedules/preview", query_string={"cron": SCRIPT, "timezone": SCRIPT}).get_data(as_text=True)
    assert SCRIPT not in hostile


def test_unregistered_or_unreadable_schedules_cannot_be_edited(client_as, conn):
    legacy = rq_scheduler(conn).cron("0 8 * * *", func="os.system", args=["true"], id="legacy").id
    oscar = client_as("operator")
    page = oscar.get("/schedules").get_data(as_text=True)
    assert "unregistered" in page and f'href="/schedules/{legacy}/edit"' not in page
    response = oscar.get(f"/schedules/{legacy}/edit")
    assert response.status_code == 409 and "not a task registered" in response.get_data(as_text=True)
    assert post(oscar, f"/schedules/{legacy}", **form()).status_code == 409
    assert schedules.get_schedule(conn, legacy).func_name == "os.system"
    one_off = rq_scheduler(conn).enqueue_in(timedelta(hours=1), CLEANUP).id
    refused = oscar.get(f"/schedules/{one_off}/edit")
    assert refused.status_code == 409 and "reschedule it instead" in refused.get_data(as_text=True)


def test_hostile_strings_in_kwargs_and_descriptions_render_escaped(client_as, conn, tmp_path):
    from tests.test_hostile_data import PAYLOADS, assert_inert

    spec = get_task(EMAIL)
    ids = [
        schedules.create_cron(
            conn,
            spec,
            {"to": payload, "subject": payload, "body": payload},
            "0 8 * * *",
            "UTC",
            "high",
            description=payload[:200],
        )
        for payload in PAYLOADS
    ]
    one_off = (
        rq_scheduler(conn).enqueue_in(timedelta(hours=1), EMAIL, to=SCRIPT, subject=SCRIPT, job_description=SCRIPT).id
    )
    schedules.pause(conn, ids[0])
    Queue("default", connection=conn).enqueue_in(timedelta(hours=1), EMAIL, to=SCRIPT, subject=SCRIPT)
    marker = tmp_path / "pwned"
    conn.hset(keys.job(ids[4]), "meta", pickle.dumps(Exploit(marker)))
    conn.hset(keys.job(ids[5]), "data", zlib.compress(pickle.dumps((EMAIL, None, (Exploit(marker),), {}))))
    oscar = client_as("operator")
    for url in ["/schedules", f"/schedules/{ids[1]}/edit", f"/schedules/{ids[0]}/edit", "/schedules/health"]:
        for headers in ({}, {"HX-Request": "true"}):
            response = oscar.get(url, headers=headers)
            assert response.status_code == 200, url
            assert_inert(response.get_data(as_text=True), url)
    listing = oscar.get("/schedules").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in listing
    assert "not displayable safely" in listing and one_off in listing
    edit = oscar.get(f"/schedules/{ids[1]}/edit").get_data(as_text=True)
    assert 'value="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"' in edit
    assert not marker.exists()
